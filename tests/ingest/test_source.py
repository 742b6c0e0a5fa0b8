from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import StreamError
from pipeline.ingest.source import FpsSampler, PyAVSource
from pipeline.ingest.spec import CameraSpec


def _read(spec: CameraSpec, limit: int = 1000) -> list:
    source = PyAVSource(spec)
    source.open()
    try:
        return list(itertools.islice(source.frames(itertools.count(), threading.Event()), limit))
    finally:
        source.close()


def test_pyav_source_clip_decodes_at_target_fps_and_model_size_uint8(clip_mp4: Path) -> None:
    spec = CameraSpec(
        camera_id="c", url=str(clip_mp4), fps=5, width=160, height=96, realtime=False, loop=False
    )
    frames = _read(spec)
    assert len(frames) == 10  # 2 s at 5 fps, from a 30 fps clip
    assert all(f.image.shape == (96, 160, 3) and f.image.dtype == np.uint8 for f in frames)
    times = np.array([f.media_time_s for f in frames])
    np.testing.assert_allclose(np.diff(times), 0.2, atol=1e-3)
    assert [f.frame_id for f in frames] == list(range(10))
    assert frames[0].source_size == (320, 180)
    assert frames[0].scale == pytest.approx((2.0, 1.875))
    assert frames[0].image.std() > 5  # real pixels, not a blank buffer


def test_pyav_source_fps_none_keeps_every_frame(clip_mp4: Path) -> None:
    spec = CameraSpec(camera_id="c", url=str(clip_mp4), fps=None, realtime=False, loop=False)
    assert len(_read(spec)) == 60


def test_pyav_source_looping_file_keeps_media_time_increasing(clip_mp4: Path) -> None:
    spec = CameraSpec(camera_id="c", url=str(clip_mp4), fps=10, realtime=False, loop=True)
    frames = _read(spec, limit=30)  # 3 s from a 2 s clip: one restart
    gaps = np.diff([f.media_time_s for f in frames])
    assert len(frames) == 30
    np.testing.assert_allclose(gaps, 0.1, atol=0.02)


def test_pyav_source_realtime_file_is_paced_at_clip_rate(clip_ts: Path) -> None:
    spec = CameraSpec(camera_id="c", url=str(clip_ts), fps=10, realtime=True, loop=False)
    start = time.monotonic()
    frames = _read(spec)
    elapsed = time.monotonic() - start
    assert len(frames) == 10
    assert elapsed >= 0.85  # 1 s clip: the last frame is due 0.9 s after the first


def test_pyav_source_missing_file_raises_stream_error(tmp_path: Path) -> None:
    source = PyAVSource(CameraSpec(camera_id="c", url=str(tmp_path / "nope.mp4")))
    with pytest.raises(StreamError, match="cannot open"):
        source.open()


def test_pyav_source_credentials_in_url_are_redacted_in_errors() -> None:
    from pipeline.netutil import free_port

    url = f"tcp://admin:hunter2@127.0.0.1:{free_port()}?timeout=500000"
    source = PyAVSource(CameraSpec(camera_id="c", url=url, open_timeout_s=2))
    with pytest.raises(StreamError) as info:
        source.open()
    assert "hunter2" not in str(info.value)
    assert "***@127.0.0.1" in str(info.value)


def test_fps_sampler_irregular_timestamps_keeps_by_time_not_count() -> None:
    sampler = FpsSampler(2.0)
    # ~25 fps with irregular gaps: the kept rate is 2 fps on average (no drift), each kept frame is the
    # first one at or after its slot, so gaps are 0.5 s give or take one source gap (<= 0.06 s).
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.02, 0.06, size=400))
    kept = [t for t in times if sampler.keep(float(t))]
    gaps = np.diff(kept)
    assert abs(len(kept) - (times[-1] - times[0]) * 2) <= 1.5
    assert (gaps > 0.44).all() and (gaps < 0.56).all()


def test_fps_sampler_timestamp_jumps_back_restarts_schedule() -> None:
    sampler = FpsSampler(1.0)
    assert sampler.keep(100.0)
    assert not sampler.keep(100.5)
    assert sampler.keep(0.0)  # stream restarted at 0
    assert not sampler.keep(0.5)
    assert sampler.keep(1.0)
