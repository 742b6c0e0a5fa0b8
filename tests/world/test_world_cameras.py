import time

import av
import pytest

from pipeline.errors import StreamError
from pipeline.world.simulator import CameraSimulator
from pipeline.world.tcp import TcpCameraServer


def _read(url: str, frames: int, timeout_s: float = 20.0) -> tuple[list[float], float]:
    """Read ``frames`` frames; return their times (s) and the wall seconds from opening to the last one."""
    times: list[float] = []
    start = time.monotonic()
    with av.open(url, timeout=(10.0, 5.0)) as container:
        for frame in container.decode(video=0):
            times.append(float(frame.time))
            if len(times) >= frames or time.monotonic() > start + timeout_s:
                break
    return times, time.monotonic() - start


def test_camera_file_mode_realtime_paced_and_loops(short_clip):
    with TcpCameraServer(short_clip.path) as server:
        assert server.url.startswith("tcp://127.0.0.1:")
        times, wall = _read(server.url, 45)
    assert len(times) == 45
    assert times[-1] >= 4.0  # a 3 s clip: the stream went on past its end, i.e. it looped
    assert times == sorted(times)  # timestamps keep increasing across loops
    # at most one GOP (10 frames) arrives at once on joining; the other 35 come at 10 fps
    assert 3.3 <= wall <= 9.0, wall


def test_camera_file_mode_two_viewers_both_read(short_clip):
    with TcpCameraServer(short_clip.path) as server:
        first, _ = _read(server.url, 5)
        second, _ = _read(server.url, 5)
    assert len(first) == len(second) == 5


def test_camera_missing_clip_stream_error(tmp_path):
    with pytest.raises(StreamError, match="does not exist"):
        TcpCameraServer(tmp_path / "none.mp4").start()


def test_camera_simulator_rtsp_readable_by_pyav(tmp_path, require_rtsp_server):
    with CameraSimulator(2, tmp_path, rtsp=True, seconds=2, size=(160, 96), fps=10) as simulator:
        assert [c.url.rsplit("/", 1)[1] for c in simulator.cameras] == ["cam0", "cam1"]
        times, wall = _read(simulator.cameras[1].url, 25)
        assert len(times) == 25
        assert wall >= 1.4  # paced: at most a GOP at once, the other 15 frames at 10 fps


def test_camera_simulator_file_mode_urls_and_conditions(tmp_path):
    with CameraSimulator(3, tmp_path, seconds=1, size=(64, 48), fps=5) as simulator:
        cams = simulator.cameras
        assert [c.condition for c in cams] == ["day", "dusk", "night"]
        assert all(c.url.startswith("tcp://127.0.0.1:") and c.labels.is_file() for c in cams)
        assert len({c.url for c in cams}) == 3


def test_simulated_cameras_start_at_their_own_phase_within_a_frame_interval(tmp_path, short_clip):
    simulator = CameraSimulator(8, tmp_path, fps=10)
    phases = [simulator.phase_s(k) for k in range(8)]
    assert all(0.0 <= p < 0.1 for p in phases)
    assert max(phases) - min(phases) > 0.03  # spread over the interval, not in step
    assert phases == [CameraSimulator(8, tmp_path, fps=10).phase_s(k) for k in range(8)]  # seeded
    before = time.monotonic()
    with TcpCameraServer(short_clip.path, phase_s=0.05) as server:
        # The clip clock started 50 ms before the server did: its frames fall 50 ms earlier.
        assert before - 0.05 <= server.epoch <= time.monotonic() - 0.05
        times, _ = _read(server.url, 3)
    assert len(times) == 3
    with pytest.raises(ValueError):
        TcpCameraServer(short_clip.path, phase_s=-1.0)
