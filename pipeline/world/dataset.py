"""Write synthetic data sets in YOLO format, and read any YOLO-format data set back.

Layout (the one Ultralytics documents): ``images/{train,val}/*.png``, ``labels/{train,val}/*.txt`` with one
``class cx cy w h`` line per object (normalised to 0..1), ``data.yaml`` (``path``, ``train``, ``val``, ``nc``,
``names``) and, camfleet's addition, ``conditions.json`` mapping an image stem to its lighting condition.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import yaml
from PIL import Image, UnidentifiedImageError

from pipeline.errors import ConfigError
from pipeline.models.classes import CLASS_NAMES, CONDITIONS
from pipeline.world.render import Renderer
from pipeline.world.scene import make_scene

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class Sample:
    """One labelled image: uint8 RGB (h, w, 3), boxes (n, 4) xyxy pixels, class ids (n,), condition."""

    image: npt.NDArray[np.uint8]
    boxes: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]
    condition: str
    stem: str


def _stretched(image: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """``image`` through yuv420p and swscale to ``size`` square, as the pipeline's decoder delivers it."""
    video = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
    return np.asarray(video.reformat(width=size, height=size, format="rgb24").to_ndarray(), np.uint8)


def write_dataset(
    out: Path,
    *,
    images: int,
    size: int = 160,
    seed: int = 0,
    conditions: Sequence[str] = CONDITIONS,
    val_fraction: float = 0.2,
    progress: Callable[[int], None] | None = None,
    source: tuple[int, int] | None = None,
) -> Path:
    """Render ``images`` square images of independent scenes and write them as a YOLO data set.

    With ``source`` (width, height) each scene is rendered as a camera of that size would film it and
    stretched to ``size`` square the way the pipeline's decoder does (yuv420p, then swscale): objects get
    the proportions the models see at run time, which matters for training (a 640x360 camera stretched to
    160x160 makes every object 1.78x taller than a square render).

    Args:
        out: output folder (created; existing files with the same names are overwritten).
        images: number of images in all.
        size: image side in pixels.
        seed: base seed; image ``i`` uses scene seed ``seed * 1_000_003 + i``.
        conditions: conditions to cycle through (balanced across images).
        val_fraction: share of images in the ``val`` split (every k-th image).
        progress: called with 1 after each image (for a progress bar).
        source: camera frame size to render at before stretching; ``None`` renders square images.

    Returns:
        The path of ``data.yaml``.

    Raises:
        ConfigError: for a non-positive count or size, an unknown condition or a bad fraction.
    """
    if images <= 0 or size < 16:
        raise ConfigError(f"need images > 0 and size >= 16, got images={images}, size={size}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        raise ConfigError(f"unknown or no conditions {unknown}; use some of {', '.join(CONDITIONS)}")
    out = Path(out)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    every = round(1 / val_fraction) if val_fraction > 0 else 0
    width, height = source or (size, size)
    tags: dict[str, str] = {}
    for index in range(images):
        scene_seed = seed * 1_000_003 + index
        condition = conditions[index % len(conditions)]
        frame = Renderer(make_scene(scene_seed), width, height).render(0.0, condition, index)
        split = "val" if every and index % every == every - 1 else "train"
        stem = f"{seed:04d}_{index:06d}"
        Image.fromarray(_stretched(frame.image, size) if source else frame.image).save(
            out / "images" / split / f"{stem}.png"
        )
        lines = [  # YOLO boxes are normalised, so they survive the stretch unchanged
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
    logger.info("wrote %d images to %s", images, out)
    return out / "data.yaml"


def _read_labels(
    path: Path, width: int, height: int, nc: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    rows: list[list[float]] = []
    if path.is_file():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split()
            try:
                cls, cx, cy, w, h = int(fields[0]), *(float(f) for f in fields[1:5])
            except (ValueError, IndexError) as exc:
                raise ConfigError(f"{path}:{number}: expected 'class cx cy w h', got {line!r}") from exc
            if not 0 <= cls < nc:
                raise ConfigError(f"{path}:{number}: class {cls} is outside 0..{nc - 1} of data.yaml names")
            rows.append([cls, (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
                         (cy + h / 2) * height])  # fmt: skip
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return table[:, 1:].astype(np.float32), table[:, 0].astype(np.int64)


def load_yolo_dataset(path: Path, split: str = "train") -> Iterator[Sample]:
    """Iterate over a YOLO-format data set (``data.yaml`` or its folder), in file-name order.

    Images without a ``conditions.json`` entry get the condition ``"unknown"``; an image without a labels
    file has no objects.

    Raises:
        ConfigError: if ``data.yaml`` or the split's image folder is missing, or a label line is malformed.
    """
    path = Path(path)
    yaml_path = path / "data.yaml" if path.is_dir() else path
    try:
        data = yaml.safe_load(yaml_path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"no data set at {yaml_path}; write one with `camfleet world dataset`") from exc
    root = Path(data.get("path") or yaml_path.parent)
    if not root.is_dir():
        root = yaml_path.parent
    if split not in data:
        raise ConfigError(f"{yaml_path} has no {split!r} entry; add e.g. '{split}: images/{split}'")
    image_dir = root / data[split]
    if not image_dir.is_dir():
        raise ConfigError(f"{yaml_path}: {split} folder {image_dir} does not exist")
    names = data.get("names", [])
    nc = int(data.get("nc", len(names)))
    tags_path = root / "conditions.json"
    tags: dict[str, str] = json.loads(tags_path.read_text()) if tags_path.is_file() else {}
    label_dir = root / str(data[split]).replace("images", "labels", 1)
    for image_path in sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            with Image.open(image_path) as img:
                image = np.asarray(img.convert("RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"cannot read image {image_path} ({exc}); remove or replace it") from exc
        boxes, class_ids = _read_labels(
            label_dir / f"{image_path.stem}.txt", image.shape[1], image.shape[0], nc
        )
        yield Sample(image, boxes, class_ids, tags.get(image_path.stem, "unknown"), image_path.stem)
