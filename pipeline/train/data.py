"""Training data: ``--data synthetic`` (a world data set generated into a cache) or a user's YOLO folder.

Reading goes through the world's YOLO reader (:mod:`pipeline.world.dataset`); this module only picks the
folder, generates the synthetic one on first use and turns the reader's records into :class:`Sample`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.progress import Progress

from pipeline.errors import ConfigError
from pipeline.models.classes import CONDITIONS
from pipeline.train.samples import Sample, resize_sample

logger = logging.getLogger(__name__)

SYNTHETIC = "synthetic"
"""The ``--data`` value that means: generate a synthetic world data set."""


def default_cache_dir() -> Path:
    """Camfleet's cache folder: ``$CAMFLEET_CACHE_DIR``, else ``$XDG_CACHE_HOME/camfleet``, else ~/.cache."""
    if explicit := os.environ.get("CAMFLEET_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "camfleet"


def write_camera_dataset(
    out: Path,
    *,
    images: int,
    size: int,
    seed: int,
    source: tuple[int, int],
    conditions: Sequence[str] = CONDITIONS,
    val_fraction: float = 0.2,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Render frames as a camera would (``source`` = width, height), stretched to ``size`` square, as YOLO.

    The pipeline stretches camera frames (e.g. 640x360) to the square model input, which makes objects
    taller than in frames rendered square; training on frames made the same way (render at the camera's
    size, convert through yuv420p, resize with swscale as :class:`~pipeline.ingest.source.PyAVSource`
    does) removes that mismatch. Same layout and scene seeds as :func:`pipeline.world.dataset.write_dataset`.

    Returns:
        The path of ``data.yaml``.
    """
    import av
    import yaml
    from PIL import Image

    from pipeline.models.classes import CLASS_NAMES
    from pipeline.world.render import Renderer
    from pipeline.world.scene import make_scene

    if images <= 0 or size < 16:
        raise ConfigError(f"need images > 0 and size >= 16, got images={images}, size={size}")
    width, height = source
    every = round(1 / val_fraction) if val_fraction > 0 else 0
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    tags: dict[str, str] = {}
    for index in range(images):
        condition = conditions[index % len(conditions)]
        frame = Renderer(make_scene(seed * 1_000_003 + index), width, height).render(0.0, condition, index)
        video = av.VideoFrame.from_ndarray(frame.image, format="rgb24").reformat(format="yuv420p")
        pixels = video.reformat(width=size, height=size, format="rgb24").to_ndarray()
        split = "val" if every and index % every == every - 1 else "train"
        stem = f"{seed:04d}_{index:06d}"
        Image.fromarray(pixels).save(out / "images" / split / f"{stem}.png")
        lines = [
            f"{b.class_id} {(b.x1 + b.x2) / 2 / width:.6f} {(b.y1 + b.y2) / 2 / height:.6f} "
            f"{(b.x2 - b.x1) / width:.6f} {(b.y2 - b.y1) / height:.6f}"
            for b in frame.boxes
        ]
        (out / "labels" / split / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
        tags[stem] = condition
        if progress is not None:
            progress(1)
    data = {"path": str(out.resolve()), "train": "images/train", "val": "images/val",
            "nc": len(CLASS_NAMES), "names": list(CLASS_NAMES)}  # fmt: skip
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (out / "conditions.json").write_text(json.dumps(tags, indent=0, sort_keys=True))
    return out / "data.yaml"


def synthetic_dataset(
    cache_dir: Path, *, images: int, size: int, seed: int, source: tuple[int, int] | None = None
) -> Path:
    """The synthetic world data set for these settings, generated into ``cache_dir`` on first use.

    Args:
        cache_dir: camfleet's cache folder.
        images: frames in all (train and val).
        size: square frame side.
        seed: base scene seed.
        source: render at this camera size (width, height) and stretch to ``size`` like the pipeline
            (see :func:`write_camera_dataset`); ``None``: render square frames directly.
    """
    from pipeline.world.dataset import write_dataset

    shape = "" if source is None else f"-from{source[0]}x{source[1]}"
    root = cache_dir / "datasets" / f"synthetic-n{images}-s{size}{shape}-seed{seed}"
    if (root / "data.yaml").is_file():
        return root
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    logger.info("generating %d synthetic frames into %s", images, root)
    with Progress(transient=True) as bar:
        task = bar.add_task("render synthetic data set", total=images)
        tick = lambda n: bar.update(task, advance=n)  # noqa: E731
        if source is None:
            write_dataset(partial, images=images, size=size, seed=seed, progress=tick)
        else:
            write_camera_dataset(partial, images=images, size=size, seed=seed, source=source, progress=tick)
    # Rename only when complete, so an interrupted generation is never mistaken for a data set.
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


def resolve_data(data: str, *, cache_dir: Path, images: int, size: int, seed: int = 0) -> Path:
    """The data set folder meant by ``--data`` (``synthetic`` or a path).

    Raises:
        ConfigError: if a path is given that is not a folder.
    """
    if data == SYNTHETIC:
        return synthetic_dataset(cache_dir, images=images, size=size, seed=seed)
    root = Path(data)
    if not root.is_dir():
        raise ConfigError(f"--data {data}: not a folder; pass 'synthetic' or a YOLO data set folder")
    return root


def load_split(root: Path, split: str, *, size: int) -> list[Sample]:
    """Every frame of ``split`` (``train`` or ``val``) in the YOLO data set at ``root``, resized to ``size``.

    Frames without a condition tag get ``condition=None``.

    Raises:
        ConfigError: if the folder is not a readable YOLO data set or the split is empty.
    """
    from pipeline.world.dataset import load_yolo_dataset

    samples = [
        resize_sample(
            Sample(
                image=np.ascontiguousarray(record.image, dtype=np.uint8),
                boxes=np.asarray(record.boxes, dtype=np.float32).reshape(-1, 4),
                classes=np.asarray(record.class_ids, dtype=np.int64),
                # the reader tags untagged frames "unknown"
                condition=record.condition if record.condition in CONDITIONS else None,
            ),
            size,
        )
        for record in load_yolo_dataset(root, split)
    ]
    if not samples:
        raise ConfigError(f"data set {root} has no frames in its {split!r} split")
    tagged = sum(s.condition is not None for s in samples)
    logger.info("%s/%s: %d frames, %d with a condition tag", root, split, len(samples), tagged)
    return samples
