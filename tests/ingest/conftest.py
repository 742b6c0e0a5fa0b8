"""Fixtures of the ingest tests: one Ray session for the folder, and small synthetic clips."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from pipeline.ingest.clips import write_test_clip

RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A local Ray for these tests: 2 CPUs, ~200 MB object store, own short temp dir, loopback only."""
    if ray.is_initialized():  # another folder's session fixture already started one: share it
        yield
        return
    # Short path: Ray's unix sockets live under it and socket paths are limited to ~107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="rayi", dir="/tmp")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in RAY_ENV.items():
            mp.setenv(key, value)
        ray.init(
            num_cpus=2,
            object_store_memory=200 * 1024 * 1024,
            include_dashboard=False,
            _temp_dir=temp_dir,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
        try:
            yield
        finally:
            ray.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def clip_dir() -> Iterator[Path]:
    """A folder for the session's clips."""
    path = Path(tempfile.mkdtemp(prefix="ingest-clips-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def clip_mp4(clip_dir: Path) -> Path:
    """2 s of 320x180 H.264 at 30 fps in MP4."""
    return write_test_clip(clip_dir / "clip.mp4", seconds=2.0, size=(320, 180), fps=30)


@pytest.fixture(scope="session")
def clip_ts(clip_dir: Path) -> Path:
    """1 s of 320x180 H.264 at 30 fps in MPEG-TS (streamable over a plain TCP socket)."""
    return write_test_clip(clip_dir / "clip.ts", seconds=1.0, size=(320, 180), fps=30, gop=10)


@pytest.fixture()
def corrupt_file(tmp_path: Path) -> Path:
    """A file named like a clip that holds random bytes."""
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(os.urandom(64 * 1024))
    return path
