"""Training data: ``--data synthetic`` (a world data set generated into a cache) or a user's YOLO folder.

Reading goes through the world's YOLO reader (:mod:`pipeline.world.dataset`); this module only picks the
folder, generates the synthetic one on first use and turns the reader's records into :class:`Sample`.
"""

from __future__ import annotations

import logging
import os
import shutil
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
            (see :func:`pipeline.world.dataset.write_dataset`); ``None``: render square frames directly.
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
        write_dataset(partial, images=images, size=size, seed=seed, progress=tick, source=source)
    # Rename only when complete, so an interrupted generation is never mistaken for a data set.
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


def resolve_data(
    data: str,
    *,
    cache_dir: Path,
    images: int,
    size: int,
    seed: int = 0,
    source: tuple[int, int] | None = None,
) -> Path:
    """The data set folder meant by ``--data`` (``synthetic`` or a path).

    ``source`` is the camera frame size synthetic frames are rendered at (see :func:`synthetic_dataset`).

    Raises:
        ConfigError: if a path is given that is not a folder.
    """
    if data == SYNTHETIC:
        return synthetic_dataset(cache_dir, images=images, size=size, seed=seed, source=source)
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
