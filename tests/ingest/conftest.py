"""Fixtures of the ingest tests: one Ray session for the folder, and small synthetic clips."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.ingest.clips import write_test_clip


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
