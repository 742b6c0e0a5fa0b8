"""The load tester's bisection near the knee."""

from __future__ import annotations

from loadtest.measure import PointRun
from loadtest.runner import refine_counts
from pipeline.report_schema import SweepPoint


def _run(cameras: int, meets: bool) -> PointRun:
    fps = 10.0 if meets else 6.0
    point = SweepPoint(
        cameras=cameras,
        target_fps=10,
        offered_fps=10 * cameras,
        aggregate_fps=fps * cameras,
        per_camera_fps=fps,
        meets_target=meets,
    )
    return PointRun(
        point=point,
        seconds=1.0,
        inferred=0,
        frames_in=0,
        skipped_motion=0,
        decoded=0,
        batch_sizes={},
        cpu_seconds={},
        camera_fps={},
        discarded=0,
        pacing={},
        worker_cpu={},
    )


def test_refine_bisects_until_the_bracket_is_one_step() -> None:
    runs = [_run(2, True), _run(4, True), _run(8, True), _run(16, False)]
    asked = []
    while (count := refine_counts(runs, 2)) is not None:
        asked.append(count)
        runs.append(_run(count, count <= 10))
    assert asked == [12, 10]
    met = max(r.point.cameras for r in runs if r.point.meets_target)
    missed = min(r.point.cameras for r in runs if not r.point.meets_target and r.point.cameras > met)
    assert (met, missed) == (10, 12)


def test_refine_stops_without_a_bracket_or_when_disabled() -> None:
    assert refine_counts([_run(2, True), _run(4, True)], 2) is None
    assert refine_counts([_run(2, False)], 2) is None
    assert refine_counts([_run(2, True), _run(16, False)], 0) is None
