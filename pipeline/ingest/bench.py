"""Ingest benchmark: decode cost per core, and one actor per camera against one actor per group of cameras.

Both are measured on the same clips in one run. Each layout (e.g. ``8x1``: 8 actors of 1 camera, ``2x4``,
``1x8``) decodes every frame of looping 360p clips as fast as it can, resized to the model input; the driver
collects with one ``take_batch`` call per actor per tick (every call in flight at once, bounded with
``ray.wait``). Reported per layout: aggregate decoded fps, decoded frames per CPU-second of the actors, Ray
calls, frames per call, the wall time of one tick (all calls of the tick run in parallel) and the driver's
time blocked in Ray calls per delivered frame.

Run: ``python -m pipeline.ingest.bench --cameras 8 --layouts 8x1,2x4,1x8 --seconds 8``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import ray

from pipeline.ingest.actor import create_camera_group
from pipeline.ingest.clips import write_test_clip
from pipeline.ingest.source import PyAVSource
from pipeline.ingest.spec import CameraSpec

logger = logging.getLogger(__name__)

CALL_TIMEOUT_S = 30.0
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@dataclass(frozen=True)
class LayoutResult:
    """Figures of one layout (``actors`` x ``per_actor`` cameras)."""

    layout: str
    actors: int
    per_actor: int
    seconds: float
    decoded_fps: float
    delivered_fps: float
    decoded_per_cpu_s: float
    calls: int
    frames_per_call: float
    tick_ms: float
    driver_us_per_frame: float
    dropped: int


def make_clips(workdir: Path, count: int, *, size: tuple[int, int] = (640, 360), fps: int = 30) -> list[Path]:
    """Write (or reuse) ``count`` 4 s clips: the world's scene clips when available, else test clips."""
    workdir.mkdir(parents=True, exist_ok=True)
    clips = []
    for k in range(count):
        path = workdir / f"bench{k}_{size[0]}x{size[1]}_{fps}.mp4"
        if not path.is_file():
            try:
                from pipeline.world.clips import write_clip

                write_clip(path, condition="day", seconds=4.0, size=size, fps=fps, seed=k)
            except ImportError:
                write_test_clip(path, seconds=4.0, size=size, fps=fps, seed=k)
        clips.append(path)
    return clips


def decode_per_core(clip: Path, *, frames: int = 600, size: tuple[int, int] = (160, 160)) -> dict[str, float]:
    """Decode + resize ``frames`` frames of ``clip`` on one thread in this process; return fps per CPU-s."""
    spec = CameraSpec(camera_id="bench", url=str(clip), fps=None, width=size[0], height=size[1],
                      realtime=False, loop=True, decode_threads=1)  # fmt: skip
    source = PyAVSource(spec)
    source.open()
    try:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        count = sum(1 for _ in itertools.islice(source.frames(itertools.count(), threading.Event()), frames))
        wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    finally:
        source.close()
    return {"frames": count, "fps_wall": count / wall, "fps_per_cpu_s": count / cpu}


def _specs(clips: list[Path], cameras: int, size: tuple[int, int]) -> list[CameraSpec]:
    return [
        CameraSpec(
            camera_id=f"cam{i}",
            url=str(clips[i % len(clips)]),
            fps=None,
            width=size[0],
            height=size[1],
            realtime=False,
            loop=True,
            queue_size=256,
        )  # fmt: skip
        for i in range(cameras)
    ]


def run_layout(
    specs: list[CameraSpec], actors: int, *, seconds: float, tick_s: float = 0.05, max_frames: int = 256
) -> LayoutResult:
    """Run ``specs`` split over ``actors`` group actors for ``seconds``; collect once per tick per actor."""
    per_actor = -(-len(specs) // actors)
    handles = [create_camera_group(specs[i * per_actor : (i + 1) * per_actor]) for i in range(actors)]
    try:
        ray.get([h.ready.remote() for h in handles], timeout=CALL_TIMEOUT_S)
        time.sleep(1.0)  # warm-up: open streams, first key frames
        stats0 = ray.get([h.stats.remote() for h in handles], timeout=CALL_TIMEOUT_S)
        cpu0 = ray.get([h.cpu_seconds.remote() for h in handles], timeout=CALL_TIMEOUT_S)
        ray.get([h.take_batch.remote(100_000) for h in handles], timeout=CALL_TIMEOUT_S)
        frames = calls = ticks = 0
        blocked = 0.0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            sent = time.perf_counter()
            pending = {h.take_batch.remote(max_frames): h for h in handles}
            # One call in flight per actor: the tick waits for all of them (bounded), never a get-in-a-loop.
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=CALL_TIMEOUT_S)
            for batch in ray.get(ready, timeout=CALL_TIMEOUT_S):
                frames += 0 if batch is None else len(batch)
            blocked += time.perf_counter() - sent
            calls += len(ready)
            ticks += 1
            time.sleep(max(0.0, tick_s - (time.perf_counter() - sent)))
        elapsed = time.perf_counter() - start
        stats1 = ray.get([h.stats.remote() for h in handles], timeout=CALL_TIMEOUT_S)
        cpu1 = ray.get([h.cpu_seconds.remote() for h in handles], timeout=CALL_TIMEOUT_S)
    finally:
        for handle in handles:
            ray.kill(handle)
    decoded = sum(s.decoded for st in stats1 for s in st.values()) - sum(
        s.decoded for st in stats0 for s in st.values()
    )
    dropped = sum(s.dropped for st in stats1 for s in st.values()) - sum(
        s.dropped for st in stats0 for s in st.values()
    )
    cpu = sum(cpu1) - sum(cpu0)
    return LayoutResult(
        layout=f"{actors}x{per_actor}",
        actors=actors,
        per_actor=per_actor,
        seconds=elapsed,
        decoded_fps=decoded / elapsed,
        delivered_fps=frames / elapsed,
        decoded_per_cpu_s=decoded / cpu if cpu > 0 else 0.0,
        calls=calls,
        frames_per_call=frames / max(calls, 1),
        tick_ms=1000 * blocked / max(ticks, 1),
        driver_us_per_frame=1e6 * blocked / max(frames, 1),
        dropped=dropped,
    )


def run(
    *, cameras: int, layouts: list[int], seconds: float, rounds: int, workdir: Path, size: tuple[int, int]
) -> dict[str, Any]:
    """Run the decode-per-core figure and every layout (``rounds`` times, interleaved); Ray must be up."""
    clips = make_clips(workdir, min(cameras, 4))
    report: dict[str, Any] = {"decode_per_core": decode_per_core(clips[0], size=size), "layouts": []}
    specs = _specs(clips, cameras, size)
    for _ in range(rounds):
        for actors in layouts:
            result = run_layout(specs, actors, seconds=seconds)
            report["layouts"].append(asdict(result))
            print(_row(result), flush=True)
    return report


def _row(r: LayoutResult) -> str:
    return (
        f"{r.layout:>5}  decoded {r.decoded_fps:7.0f} fps  delivered {r.delivered_fps:7.0f} fps  "
        f"{r.decoded_per_cpu_s:6.0f} frames/CPU-s  {r.calls:5d} calls  {r.frames_per_call:5.1f} frames/call  "
        f"{r.tick_ms:6.2f} ms/tick  {r.driver_us_per_frame:5.0f} us/frame in Ray calls  dropped {r.dropped}"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: start a local Ray (loopback, capped object store, own temp dir), run, print, shut down."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--layouts", default="8,2,1", help="actor counts, e.g. 8,2,1 for 8x1, 2x4, 1x8")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--size", type=int, default=160, help="model input (square)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "camfleet-ingest-bench")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    layouts = [int(x) for x in str(args.layouts).replace("x", ",").split(",") if x]
    os.environ.update(RAY_ENV)
    temp_dir = tempfile.mkdtemp(prefix="rayb", dir="/tmp")
    ray.init(num_cpus=os.cpu_count() or 2, object_store_memory=300 * 1024 * 1024, include_dashboard=False,
             _temp_dir=temp_dir, _node_ip_address="127.0.0.1", log_to_driver=False)  # fmt: skip
    try:
        report = run(cameras=args.cameras, layouts=layouts, seconds=args.seconds, rounds=args.rounds,
                     workdir=args.workdir, size=(args.size, args.size))  # fmt: skip
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
    d = report["decode_per_core"]
    print(
        f"decode+resize on one thread: {d['fps_per_cpu_s']:.0f} frames/CPU-s ({d['fps_wall']:.0f} fps wall)"
    )
    best = max(report["layouts"], key=lambda r: r["decoded_fps"])
    print(f"fastest layout: {best['layout']} ({best['decoded_fps']:.0f} decoded fps)")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
