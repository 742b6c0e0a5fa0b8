"""Send times from stream timestamps, and windows counted by them (pipeline.capture_clock)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from pipeline.capture_clock import StreamClock, TimedFrame, WindowCounter
from pipeline.ingest.source import PyAVSource
from pipeline.ingest.spec import CameraSpec
from pipeline.world.tcp import TcpCameraServer


def test_clock_dates_a_backlog_by_the_frames_read_on_time_even_after_it() -> None:
    clock = StreamClock()
    # The reader is 2 s behind from its first frame, then drains the backlog at twice the camera's rate.
    early = TimedFrame(102.0, 102.1, 0.0, clock.observe(0.0, 102.0))
    assert early.sent_t == pytest.approx(102.0)  # all that is known yet: as if sent when read
    for k in range(1, 40):
        clock.observe(0.1 * k, 102.0 + 0.05 * k)
    for k in range(40, 50):  # caught up at t=104: frames now read as they are sent
        clock.observe(0.1 * k, 100.0 + 0.1 * k)
    assert early.sent_t == pytest.approx(100.0)  # re-dated by the frames read on time
    assert TimedFrame(5.0, 5.0).sent_t == 5.0  # no timestamp: its read time


def test_clock_starts_a_new_timeline_when_the_timestamps_jump() -> None:
    clock = StreamClock()
    first = clock.observe(500.0, 1000.0)
    assert clock.observe(500.1, 1000.1) is first
    restarted = clock.observe(0.0, 1001.0)  # a reconnect restarted the timestamps at 0
    assert restarted is not first and restarted is not None
    assert TimedFrame(1001.0, 1001.0, 0.0, restarted).sent_t == pytest.approx(1001.0)
    assert TimedFrame(1000.1, 1000.1, 500.1, first).sent_t == pytest.approx(1000.1)
    assert clock.observe(None, 1002.0) is None


def test_window_counts_by_send_time_and_discards_the_backlog() -> None:
    window = WindowCounter(10.0, 20.0)
    window.add(TimedFrame(read_t=9.0, done_t=9.5))  # done before the window: neither
    window.add(TimedFrame(read_t=9.5, done_t=10.5))  # read before, done inside: discarded
    clock = StreamClock()
    on_time = clock.observe(12.0, 12.0)  # offset 0
    window.add(TimedFrame(11.0, 11.2, 8.0, clock.observe(8.0, 11.0)))  # sent at 8, read at 11: discarded
    window.add(TimedFrame(12.0, 12.1, 12.0, on_time))  # counts
    window.add(TimedFrame(21.0, 21.3, 19.5, clock.observe(19.5, 21.0)))  # sent at 19.5, read late: counts
    window.add(TimedFrame(25.0, 25.1, 25.0, clock.observe(25.0, 25.0)))  # sent after: neither
    window.add(TimedFrame(60.0, 60.1, 19.9, on_time))  # read past MAX_LAG_S after the end: not kept
    count = window.count()
    assert count.counted == 2 and count.discarded == 2
    assert [round(f.done_t - f.sent_t, 3) for f in count.frames] == [0.1, 1.8]
    with pytest.raises(ValueError, match="must end after it starts"):
        WindowCounter(5.0, 5.0)


def test_a_backlog_read_from_a_real_camera_does_not_count_in_the_window(clip_mp4: Path) -> None:
    """A reader that falls 1.5 s behind a live TCP camera, then drains the socket inside the window."""
    fps, window_s = 10, 3.0
    with TcpCameraServer(clip_mp4) as server:
        source = PyAVSource(CameraSpec(camera_id="c", url=server.url, fps=fps, width=160, height=96))
        source.open()
        try:
            opened = time.time()
            time.sleep(1.5)  # the camera keeps sending: its frames wait in the socket
            window = WindowCounter(opened + 0.5, opened + 0.5 + window_s)
            clock = StreamClock()
            read_times: list[float] = []
            for frame in source.frames(itertools.count(), threading.Event()):
                segment = clock.observe(frame.media_time_s, frame.wall_time)
                window.add(TimedFrame(frame.wall_time, time.time(), frame.media_time_s, segment))
                read_times.append(frame.wall_time)
                if frame.wall_time > window.end + 1.0:
                    break
        finally:
            source.close()
    by_read_time = sum(window.start <= t < window.end for t in read_times)
    count = window.count()
    assert by_read_time > window_s * fps + 5  # the backlog was read inside the window
    assert window_s * fps - 2 <= count.counted <= window_s * fps + 1  # by send time: the camera's rate
    assert count.discarded >= 4  # sent before the window opened (at least its first 0.5 s), read inside it


def test_clock_is_steady_once_the_reader_keeps_the_cameras_pace() -> None:
    clock = StreamClock()
    assert clock.steady_for(100.0) == 0.0
    clock.observe(0.0, 102.0)
    for k in range(1, 28):  # draining a 2 s backlog at three times the pace: never steady
        clock.observe(0.1 * k, 102.0 + 0.03 * k)
        assert clock.steady_for(102.0 + 0.03 * k) == 0.0
    for k in range(40, 50):  # on time from t=104
        clock.observe(0.1 * k, 100.0 + 0.1 * k)
    assert clock.steady_for(105.0) == pytest.approx(1.0, abs=0.06)
    for k in range(50, 60):  # 0.2 s behind, at the camera's pace: still steady
        clock.observe(0.1 * k, 100.2 + 0.1 * k)
    assert clock.steady_for(106.0) == pytest.approx(2.0, abs=0.06)
