"""Encode rendered scenes to H.264 clips with a ``<clip>.labels.json`` of the ground truth per frame.

Clips are yuv420p H.264 in MP4 with a keyframe every second (``gop_s``), no B-frames and no scene-cut
keyframes, so a reader that joins a looped or live-relayed stream waits at most one second for a picture and
packets can be relayed in decode order without reordering.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError, StreamError
from pipeline.models.classes import CLASS_NAMES, CONDITIONS
from pipeline.world.render import Renderer
from pipeline.world.scene import make_scene

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """Conditions over time: ``segments`` are (start second, condition), sorted, the first at 0.

    With ``period_s`` set the schedule repeats (a day -> dusk -> night cycle of a looped clip).
    """

    segments: tuple[tuple[float, str], ...]
    period_s: float | None = None

    def __post_init__(self) -> None:
        """Check the segments."""
        if not self.segments or self.segments[0][0] != 0:
            raise ConfigError("a schedule needs a first segment starting at 0 s, e.g. ((0, 'day'),)")
        for _, condition in self.segments:
            if condition not in CONDITIONS:
                raise ConfigError(f"unknown condition {condition!r} in schedule; use {', '.join(CONDITIONS)}")

    @classmethod
    def cycle(cls, period_s: float) -> Schedule:
        """Day, dusk and night for a third of ``period_s`` each, repeating."""
        if period_s <= 0:
            raise ConfigError(f"cycle period must be > 0 s, got {period_s}")
        third = period_s / 3
        return cls(((0.0, "day"), (third, "dusk"), (2 * third, "night")), period_s)

    def condition_at(self, t: float) -> str:
        """The condition at time ``t`` (s)."""
        if self.period_s:
            t %= self.period_s
        current = self.segments[0][1]
        for start, condition in self.segments:
            if t >= start:
                current = condition
        return current


@dataclass(frozen=True)
class ClipInfo:
    """What :func:`write_clip` wrote."""

    path: Path
    labels_path: Path
    frames: int
    fps: int
    width: int
    height: int
    seed: int
    conditions: tuple[str, ...]


def labels_path_for(path: Path) -> Path:
    """The labels file of clip ``path`` (``<path>.labels.json``)."""
    return path.with_name(path.name + ".labels.json")


def write_clip(
    path: Path,
    *,
    condition: str = "day",
    seconds: float = 10.0,
    size: tuple[int, int] = (640, 360),
    fps: int = 10,
    seed: int = 0,
    schedule: Schedule | None = None,
    gop_s: float = 1.0,
) -> ClipInfo:
    """Render a scene and encode it to an H.264 MP4 clip plus ``<path>.labels.json``.

    Args:
        path: output ``.mp4`` path (parent folders are created).
        condition: lighting for the whole clip, unless ``schedule`` is given.
        seconds: clip length.
        size: (width, height) in pixels, both even (yuv420p).
        fps: frames per second.
        seed: scene seed; the same seed gives the same clip.
        schedule: conditions over time (overrides ``condition``).
        gop_s: seconds between keyframes.

    Returns:
        A :class:`ClipInfo`.

    Raises:
        ConfigError: for an odd size, a non-positive length or fps, or an unknown condition.
    """
    width, height = size
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ConfigError(f"clip size {width}x{height} must be even and at least 16x16, e.g. 640x360")
    if fps <= 0 or seconds <= 0:
        raise ConfigError(f"fps ({fps}) and seconds ({seconds}) must be > 0")
    plan = schedule or Schedule(((0.0, condition),))
    frames = max(round(seconds * fps), 1)
    renderer = Renderer(make_scene(seed, duration_s=seconds), width, height)
    gop = max(round(gop_s * fps), 1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"preset": "superfast", "crf": "25", "bf": "0", "g": str(gop),
                          "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}  # fmt: skip
        for index in range(frames):
            t = index / fps
            frame = renderer.render(t, plan.condition_at(t), index)
            video = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
            video.pts = index
            container.mux(stream.encode(video))
            records.append({
                "index": index, "t": round(t, 4), "condition": frame.condition,
                "boxes": [list(b.xyxy()) for b in frame.boxes],
                "class_ids": [b.class_id for b in frame.boxes],
                "classes": [b.class_name for b in frame.boxes],
            })  # fmt: skip
        container.mux(stream.encode(None))
    labels = {"clip": path.name, "fps": fps, "size": [width, height], "seed": seed,
              "condition": plan.condition_at(0.0), "ir_night": renderer.scene.ir_night,
              "class_names": list(CLASS_NAMES), "frames": records}  # fmt: skip
    labels_path = labels_path_for(path)
    labels_path.write_text(json.dumps(labels))
    conditions = tuple(dict.fromkeys(r["condition"] for r in records))
    logger.info("wrote %s (%d frames, %dx%d @ %d fps, %s)", path, frames, width, height, fps, conditions)
    return ClipInfo(path, labels_path, frames, fps, width, height, seed, conditions)


def load_labels(path: Path) -> dict[str, Any]:
    """Read the labels of clip ``path`` (or the labels file itself).

    Raises:
        StreamError: if the labels file is missing or not valid JSON.
    """
    path = Path(path)
    labels_path = path if path.name.endswith(".labels.json") else labels_path_for(path)
    try:
        data: dict[str, Any] = json.loads(labels_path.read_text())
    except FileNotFoundError as exc:
        raise StreamError(f"no labels at {labels_path}; write the clip with `camfleet world clip`") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StreamError(f"labels file {labels_path} is not valid JSON ({exc}); rewrite the clip") from exc
    return data


def iter_clip_frames(path: Path) -> Iterator[npt.NDArray[np.uint8]]:
    """Decode clip ``path`` and yield its frames as uint8 RGB (h, w, 3).

    Raises:
        StreamError: if the file is missing or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise StreamError(f"clip {path} does not exist; write one with `camfleet world clip --out {path}`")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise StreamError(f"{path} has no video stream; rewrite it with `camfleet world clip`")
            for frame in container.decode(video=0):
                rgb: npt.NDArray[np.uint8] = frame.to_ndarray(format="rgb24")  # type: ignore[assignment]
                yield rgb
    except av.FFmpegError as exc:
        raise StreamError(f"cannot decode clip {path} ({exc}); it is corrupt, rewrite it") from exc
