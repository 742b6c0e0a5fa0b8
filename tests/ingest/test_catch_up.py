"""Skip to live: a reader behind its live camera skips to a keyframe near live (pipeline.ingest.catch_up)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from pipeline.ingest.catch_up import CatchUp
from pipeline.ingest.source import PyAVSource
from pipeline.ingest.spec import CameraSpec
from pipeline.world.tcp import TcpCameraServer


def test_catch_up_skips_until_a_keyframe_near_live_then_decodes_again() -> None:
    catch_up = CatchUp("c", max_lag_s=1.0)
    decoded = []
    for k in range(10):  # 1 s read on time, 10 fps, a keyframe every 5 packets
        decoded.append(catch_up.decode(0.1 * k, k % 5 == 0, 100.0 + 0.1 * k))
    assert all(decoded) and catch_up.skipped == 0
    # The reader stalls for 2 s, then reads the backlog at 20x the camera's pace.
    read_t, kept = 102.9, []
    for k in range(10, 60):
        read_t = max(read_t + 0.005, 100.0 + 0.1 * k)  # never before the camera sent it
        kept.append((k, catch_up.decode(0.1 * k, k % 5 == 0, read_t)))
    first = next(k for k, keep in kept if keep)
    assert first % 5 == 0  # decoding restarts at a keyframe...
    assert catch_up.lag_s(0.1 * first, 100.0 + 0.1 * first + 0.001) <= 0.5  # ...near live
    assert all(keep for k, keep in kept if k >= first)  # and stays on
    assert catch_up.skipped == first - 10 and catch_up.catch_ups == 1
    assert catch_up.decode(None, False, 200.0)  # a packet without a timestamp (a flush) is decoded
    with pytest.raises(ValueError, match="positive"):
        CatchUp("c", max_lag_s=0)


def _read_with_a_stall(url: str, max_lag_s: float | None) -> tuple[list[float], list[float], int]:
    """Read a live camera 1 s, stall 2 s (the camera keeps sending), read 2 s more.

    Returns the lag of each frame after the stall (read time - timestamp above the least such value), the
    lags before it, and the frames skipped to live.
    """
    spec = CameraSpec(camera_id="c", url=url, fps=10, width=96, height=64, max_lag_s=max_lag_s)
    source = PyAVSource(spec)
    source.open()
    before, after = [], []
    try:
        opened = time.monotonic()
        stalled = False
        for frame in source.frames(itertools.count(), threading.Event()):
            assert frame.media_time_s is not None
            (after if stalled else before).append(frame.capture_ts - frame.media_time_s)
            if not stalled and time.monotonic() - opened > 1.0:
                time.sleep(2.0)
                stalled = True
            if time.monotonic() - opened > 5.0:
                break
        skipped = source.skipped_to_live
    finally:
        source.close()
    least = min(before + after)
    return [v - least for v in after], [v - least for v in before], skipped


def test_a_reader_that_stalls_behind_a_real_camera_skips_to_live(clip_mp4: Path) -> None:
    with TcpCameraServer(clip_mp4) as server:
        lags, on_time, skipped = _read_with_a_stall(server.url, max_lag_s=0.5)
        late_lags, _, not_skipped = _read_with_a_stall(server.url, max_lag_s=None)
    # Without skipping, the frames after the stall are the backlog: up to 2 s late (the check can fail).
    assert not_skipped == 0 and max(late_lags) > 1.5
    # With it, the 2 s the camera sent during the stall (30 fps) are mostly skipped, never decoded...
    assert skipped >= 30
    # ...and every frame decoded after it is near live (the first was decoded before the stall).
    assert len(lags) >= 10 and max(lags[1:]) < 0.5
    # Before the stall the reader kept the camera's pace once past the GOP a camera sends on connect.
    assert max(on_time[-3:]) < 0.3


def test_a_camera_clock_running_slow_is_not_a_reader_falling_behind() -> None:
    catch_up = CatchUp("c", max_lag_s=1.0)
    # 0.5% slow: each second of stream time takes 1.005 s of ours; an hour later that is 18 s.
    assert all(catch_up.decode(0.1 * k, k % 10 == 0, 1.005 * 0.1 * k) for k in range(36_000))
    assert catch_up.skipped == 0
    # A reconnect that restarts the timestamps is a new reference, not a lag.
    assert catch_up.decode(0.0, True, 3700.0) and catch_up.decode(0.1, False, 3700.1)
