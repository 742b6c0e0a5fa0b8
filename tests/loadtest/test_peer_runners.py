"""The peer runners as the benchmark orchestrator launches them: subprocesses against live TCP cameras.

Each run uses a real exported TorchScript model (``monolith``, seeded random weights) and two real
:class:`~pipeline.world.tcp.TcpCameraServer` streams (640x360, paced at 10 fps, looping).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from loadtest.peers.common import PeerArgs, Recorder
from pipeline.capture_clock import StreamClock, TimedFrame
from pipeline.models import load_model_config
from pipeline.models.export import export_repository
from pipeline.world.clips import write_clip
from pipeline.world.tcp import TcpCameraServer

REPO = Path(__file__).resolve().parents[2]
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
CAMERA_FPS = 10
SECONDS = 8.0
WARMUP = 2.0


@pytest.fixture(scope="module")
def scripted_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The exported ``monolith`` TorchScript file and the model input size."""
    config = load_model_config()
    repository = tmp_path_factory.mktemp("peer_models")
    export_repository(config, repository, models=["monolith"])
    return repository / "monolith" / "1" / "model.pt", config.input_size


@pytest.fixture(scope="module")
def camera_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two live cameras (different scenes), served for the whole module."""
    folder = tmp_path_factory.mktemp("peer_clips")
    servers: list[TcpCameraServer] = []
    try:
        for seed in range(2):
            clip = folder / f"day-{seed}.mp4"
            write_clip(clip, condition="day", seconds=10, size=(640, 360), fps=CAMERA_FPS, seed=seed)
            servers.append(TcpCameraServer(clip).start())
        yield [server.url for server in servers]
    finally:
        for server in servers:
            server.stop()


def run_peer(python: Path | str, system: str, model: Path, size: int, urls: Sequence[str], out: Path) -> Any:
    command = [
        str(python),
        "-m",
        f"loadtest.peers.{system}",
        "--model",
        str(model),
        "--input-size",
        str(size),
        "--urls",
        *urls,
        "--seconds",
        str(SECONDS),
        "--warmup",
        str(WARMUP),
        "--torch-threads",
        "1",
        "--json",
        str(out),
    ]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=150, check=False)
    assert proc.returncode == 0, f"{system} runner failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == result, "stdout and --json differ"
    return result


def check_result(result: Any, system: str, urls: Sequence[str]) -> None:
    try:
        _check_result(result, system, urls)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nresult: {json.dumps(result, indent=1)}") from None


def _check_result(result: Any, system: str, urls: Sequence[str]) -> None:
    assert result["system"] == system
    assert result["cameras"] == len(urls)
    assert result["seconds"] == pytest.approx(SECONDS, abs=0.5)
    assert result["warmup"] == WARMUP and result["torch_threads"] == 1
    assert set(result["per_camera_fps"]) == set(urls)
    assert all(fps > 0 for fps in result["per_camera_fps"].values()), result["per_camera_fps"]
    # Cameras are paced at 10 fps: more than that offered rate would mean warm-up frames leaked in.
    assert 0 < result["aggregate_fps"] <= len(urls) * CAMERA_FPS * 1.1
    assert result["frames"] == round(result["aggregate_fps"] * result["seconds"])
    assert 0 < result["frames"] <= result["frames_grabbed"]
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    assert result["cpu_seconds"] > 0 and result["cpu_ms_per_frame"] > 0
    assert result["versions"]["torch"].startswith("2.13.0")
    assert result["errors"] == []


def test_recorder_counts_frames_sent_inside_the_window_whenever_their_result_comes() -> None:
    recorder = Recorder(["cam"])
    before = time.monotonic()
    recorder.grabbed("cam", before)
    assert recorder.wait_all_started(0)
    clock = StreamClock()
    on_time = clock.observe(before, before)  # a timestamp on the monotonic clock: offset 0
    recorder.done("cam", TimedFrame(before, before, before, on_time))  # before the window opened: ignored
    recorder.open()
    inside = time.monotonic()
    recorder.grabbed("cam", inside)
    # Sent during warm-up, read and inferred in the window: discarded.
    recorder.done("cam", TimedFrame(inside, inside, before, clock.observe(before, inside)))
    recorder.done("cam", TimedFrame(inside, time.monotonic(), inside, clock.observe(inside, inside)))
    recorder.close()
    recorder.grabbed("cam", time.monotonic())  # after the window
    late = time.monotonic()
    recorder.done(
        "cam", TimedFrame(late, late + 0.5, inside, on_time)
    )  # sent in the window, read late: counts
    args = PeerArgs(Path("m.pt"), 160, ("cam",), 1.0, 0.0, 1, None, 1.0, 1.0)
    result = recorder.result("naive", args, versions={}, dropped_known=False)
    recorder.done("cam", TimedFrame(inside, inside))  # after the result: ignored
    assert result.frames == 2 and result.frames_grabbed == 1
    assert result.extra["discarded"] == 1
    assert result.dropped is None
    assert result.latency_ms["p50"] is not None and result.latency_ms["p50"] >= 0
    assert (
        result.extra["lag_ms"]["p99"] > result.latency_ms["p99"]
    )  # the late read: its wait counts from the send


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_naive_runner_measures_every_camera_within_the_offered_rate(
    scripted_model: tuple[Path, int], camera_urls: list[str], tmp_path: Path
) -> None:
    model, size = scripted_model
    result = run_peer(sys.executable, "naive", model, size, camera_urls, tmp_path / "naive.json")
    check_result(result, "naive", camera_urls)
    assert result["dropped"] is None
    assert result["versions"]["av"]


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(
    not PEERS_PYTHON.exists(),
    reason=f"{PEERS_PYTHON} is absent: the Roboflow peer environment (.venv-peers) is not installed",
)
def test_roboflow_runner_measures_every_camera_within_the_offered_rate(
    scripted_model: tuple[Path, int], camera_urls: list[str], tmp_path: Path
) -> None:
    """Runs in the separate ``.venv-peers`` environment (``inference-cpu==1.8.3``).

    CI does not install that environment, so there this test skips.
    """
    model, size = scripted_model
    result = run_peer(PEERS_PYTHON, "roboflow", model, size, camera_urls, tmp_path / "roboflow.json")
    check_result(result, "roboflow", camera_urls)
    assert result["dropped"] >= 0
    assert result["versions"]["inference"] == "inference-cpu 1.8.3"
    assert result["extra"]["options"] == {"processing_mode": "legacy", "batch_collection_timeout": None}
    assert set(result["extra"]["batch_sizes"]) <= {"1", "2"}
