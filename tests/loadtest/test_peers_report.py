"""The peer benchmark's summaries: capacity from the slowest camera, saturated fps, camfleet's ratios."""

from __future__ import annotations

from loadtest.peers.bench import PeerPoint, PeerReport


def _point(system: str, cameras: int, fps: float, slowest: float) -> PeerPoint:
    return PeerPoint(
        system=system,
        design="monolith",
        model="monolith",
        cameras=cameras,
        offered_fps=cameras * 10.0,
        aggregate_fps=fps,
        min_camera_fps=slowest,
        mean_camera_fps=fps / cameras,
        latency_p50_ms=50.0,
        latency_p95_ms=80.0,
        latency_p99_ms=90.0,
        cpu_ms_per_frame=10.0,
    )


def test_capacity_counts_only_points_where_every_camera_keeps_up_and_ratios_are_camfleet_over_peer():
    report = PeerReport(
        points=[
            _point("camfleet", 8, 80.0, 9.9),
            _point("camfleet", 12, 118.0, 9.6),
            _point("camfleet", 16, 130.0, 7.9),
            _point("roboflow", 8, 79.0, 9.5),
            _point("roboflow", 12, 100.0, 9.4),  # the mean is 8.3, and one camera is below 9.5: not kept up
            _point("roboflow", 16, 104.0, 5.0),
        ],
        skipped={},
    )
    summaries = {s.system: s for s in report.summaries()}
    assert summaries["camfleet"].capacity == 12 and summaries["camfleet"].saturated_fps == 130.0
    assert summaries["roboflow"].capacity == 8 and summaries["roboflow"].saturated_fps == 104.0
    assert report.ratios() == {"monolith": {"roboflow": {"capacity": 1.5, "saturated_fps": 1.25}}}
    assert report.to_json()["points"][2]["keeps_up"] is False
