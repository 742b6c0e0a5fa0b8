from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from pipeline.ingest.camera import CameraReader
from pipeline.ingest.frames import CameraState, Frame
from pipeline.ingest.spec import BackoffConfig, CameraSpec
from pipeline.netutil import LOOPBACK, free_port

from .clip_server import ClipServer, wait_until

FAST_BACKOFF = BackoffConfig(initial_s=0.05, factor=2, max_s=0.3, jitter=0.1)


class Recorder:
    """Collects frames and state transitions of one reader."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.states: list[CameraState] = []

    def sink(self, frame: Frame) -> None:
        self.frames.append(frame)

    def on_state(self, camera_id: str, old: CameraState, new: CameraState) -> None:
        self.states.append(new)


def _reader(spec: CameraSpec) -> tuple[CameraReader, Recorder]:
    rec = Recorder()
    return CameraReader(spec, rec.sink, on_state=rec.on_state, seed=0), rec


def test_camera_reader_file_without_loop_runs_then_stops(clip_mp4: Path) -> None:
    reader, rec = _reader(CameraSpec(camera_id="c", url=str(clip_mp4), fps=10, realtime=False, loop=False))
    reader.start()
    assert wait_until(lambda: reader.state is CameraState.STOPPED and rec.states, 10)
    assert rec.states == [CameraState.CONNECTING, CameraState.RUNNING, CameraState.STOPPED]
    assert len(rec.frames) == 20 and reader.decoded == 60 and reader.errors == 0
    assert reader.stop(1.0)


def test_camera_reader_wrong_url_backs_off_with_redacted_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"tcp://admin:hunter2@{LOOPBACK}:{free_port()}?token=s3cr3t"
    reader, rec = _reader(CameraSpec(camera_id="c", url=url, open_timeout_s=2, backoff=FAST_BACKOFF))
    reader.start()
    try:
        assert wait_until(lambda: reader.reconnects >= 2, 10)
        assert reader.state in (CameraState.BACKING_OFF, CameraState.CONNECTING)
        assert CameraState.BACKING_OFF in rec.states and CameraState.RUNNING not in rec.states
    finally:
        assert reader.stop(3.0)
    assert reader.last_error is not None and "cannot open" in reader.last_error
    assert "***@127.0.0.1" in reader.last_error
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "camera c" in logged
    for secret in ("hunter2", "s3cr3t", "admin"):
        assert secret not in reader.last_error and secret not in logged


def test_camera_reader_missing_file_backs_off_and_counts_errors(tmp_path: Path) -> None:
    spec = CameraSpec(camera_id="c", url=str(tmp_path / "missing.mp4"), backoff=FAST_BACKOFF)
    reader, rec = _reader(spec)
    reader.start()
    try:
        assert wait_until(lambda: reader.errors >= 3, 10)
    finally:
        assert reader.stop(2.0)
    assert "No such file" in (reader.last_error or "")
    assert rec.states[:3] == [CameraState.CONNECTING, CameraState.BACKING_OFF, CameraState.CONNECTING]
    assert rec.states[-1] is CameraState.STOPPED


def test_camera_reader_corrupt_file_backs_off_with_error(corrupt_file: Path) -> None:
    spec = CameraSpec(camera_id="c", url=str(corrupt_file), open_timeout_s=1, backoff=FAST_BACKOFF)
    reader, rec = _reader(spec)
    reader.start()
    try:
        assert wait_until(lambda: reader.errors >= 2, 10)
    finally:
        # An open in progress ends within open_timeout_s; the margin is for a loaded machine.
        assert reader.stop(5.0)
    assert "cannot open" in (reader.last_error or "") and not rec.frames


def test_camera_reader_server_stops_and_returns_is_resumed(clip_ts: Path) -> None:
    server = ClipServer(clip_ts).start()
    spec = CameraSpec(
        camera_id="c", url=server.url, fps=None, open_timeout_s=2, read_timeout_s=2, backoff=FAST_BACKOFF
    )
    reader, rec = _reader(spec)
    reader.start()
    try:
        assert wait_until(lambda: len(rec.frames) >= 10, 15)
        server.stop()
        assert wait_until(lambda: reader.state is CameraState.BACKING_OFF and reader.errors >= 2, 10)
        before = len(rec.frames)
        server.start()  # same port
        assert wait_until(lambda: len(rec.frames) >= before + 10, 15)
        assert reader.state is CameraState.RUNNING
    finally:
        reader.stop(3.0)
        server.stop()
    assert reader.reconnects >= 2
    ids = [f.frame_id for f in rec.frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # ids keep increasing across reconnects
    running = [i for i, s in enumerate(rec.states) if s is CameraState.RUNNING]
    assert len(running) >= 2


def test_camera_reader_stop_while_read_blocks_returns_within_read_timeout() -> None:
    # A server that accepts and never sends: av.open blocks until its timeout interrupts it.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    try:
        spec = CameraSpec(
            camera_id="c",
            url=f"tcp://{LOOPBACK}:{port}",
            open_timeout_s=1.0,
            read_timeout_s=1.0,
            backoff=BackoffConfig(initial_s=10, max_s=10),
        )
        reader, _ = _reader(spec)
        reader.start()
        time.sleep(0.3)
        start = time.monotonic()
        assert reader.stop(5.0)
        assert time.monotonic() - start < 2.5
    finally:
        listener.close()


def test_camera_reader_stop_during_long_backoff_is_prompt(tmp_path: Path) -> None:
    spec = CameraSpec(
        camera_id="c", url=str(tmp_path / "missing.mp4"), backoff=BackoffConfig(initial_s=30, max_s=30)
    )
    reader, _ = _reader(spec)
    reader.start()
    assert wait_until(lambda: reader.state is CameraState.BACKING_OFF, 5)
    start = time.monotonic()
    assert reader.stop(2.0)
    assert time.monotonic() - start < 0.5
    assert threading.active_count() >= 1


def test_camera_reader_bug_in_sink_fails_once_with_traceback_and_no_reconnect(
    clip_mp4: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_sink(frame: Frame) -> None:
        raise KeyError("a bug in camfleet, not in the stream")

    spec = CameraSpec(
        camera_id="c", url=str(clip_mp4), fps=10, realtime=False, loop=True, backoff=FAST_BACKOFF
    )
    rec = Recorder()
    reader = CameraReader(spec, broken_sink, on_state=rec.on_state, seed=0)
    reader.start()
    try:
        assert wait_until(lambda: reader.state is CameraState.FAILED, 10)
        time.sleep(0.3)  # a reconnect would have happened by now with FAST_BACKOFF
    finally:
        assert reader.stop(3.0)
    assert reader.bugs == 1 and reader.reconnects == 0 and CameraState.BACKING_OFF not in rec.states
    assert "bug: KeyError" in (reader.last_error or "")
    assert any("Traceback" in r.getMessage() or "broken_sink" in r.getMessage() for r in caplog.records)
