"""Fixtures of the world tests: short clips written once per session into a temporary folder."""

from __future__ import annotations

import pytest

from pipeline.world.clips import ClipInfo, write_clip


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> ClipInfo:
    """A 3 s, 160x96, 10 fps night clip (keyframe every second)."""
    return write_clip(
        tmp_path_factory.mktemp("clips") / "night.mp4",
        condition="night",
        seconds=3,
        size=(160, 96),
        fps=10,
        seed=5,
    )
