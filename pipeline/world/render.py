"""Render frames of a scene with their ground-truth boxes.

Objects are painted far to near over a lit background; a per-pixel id buffer records which object won each
pixel, so an object that ends up (almost) fully hidden or outside the frame gets no box. Boxes are the
object's full extent clipped to the frame, as annotators label partly occluded objects.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.models.classes import CLASS_NAMES
from pipeline.world.art import ART, display_size
from pipeline.world.background import Background, make_background
from pipeline.world.lighting import NOISE_MARGIN, Light, add_glare, lit_background, make_light, noise_bank
from pipeline.world.scene import VIEW_UNITS, Scene, SceneObject
from pipeline.world.shapes import FIXED, BoolArray, FloatArray, Sprite, build_sprite, colour_table

logger = logging.getLogger(__name__)

MIN_VISIBLE_FRACTION = 0.1
"""An object with less than this share of its pixels visible gets no box: a detector cannot see a sliver,
and labelling one would teach it to hallucinate."""

SPRITE_CACHE = 512
"""Sprites kept per renderer; objects keep their size, so a clip needs about one per object."""

_FIXED = {key: np.array(rgb, dtype=np.float32) for key, rgb in FIXED.items()}


@dataclass(frozen=True)
class Box:
    """A ground-truth box in pixels (x1, y1, x2, y2), clipped to the frame."""

    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def class_name(self) -> str:
        """The class name."""
        return CLASS_NAMES[self.class_id]

    def xyxy(self) -> tuple[float, float, float, float]:
        """The corners as a tuple."""
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class Frame:
    """One rendered frame: uint8 RGB image (h, w, 3), its condition and its boxes."""

    image: npt.NDArray[np.uint8]
    condition: str
    boxes: tuple[Box, ...]


def _visible(ids: npt.NDArray[np.int16], box: tuple[float, float, float, float], index: int) -> int:
    x0, y0, x1, y1 = (int(c) for c in box)
    return int(np.count_nonzero(ids[y0:y1, x0:x1] == index))


class Renderer:
    """Renders one scene at one size; backgrounds and lights are computed once per condition and cached."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        """Prepare to render ``scene`` at ``width`` x ``height`` (the background is built on first use)."""
        if width < 16 or height < 16:
            raise ValueError(f"frame size {width}x{height} is too small; use at least 16x16")
        self.scene = scene
        self.width = width
        self.height = height
        self._background: Background | None = None
        self._sprites: dict[tuple[str, int, int, bool], Sprite] = {}
        self._tables_cache: dict[int, tuple[FloatArray, BoolArray]] = {}
        self._lights: dict[str, tuple[Light, npt.NDArray[np.uint8], npt.NDArray[np.int16] | None]] = {}

    def _light(self, condition: str) -> tuple[Light, npt.NDArray[np.uint8], npt.NDArray[np.int16] | None]:
        if condition not in self._lights:
            if self._background is None:
                self._background = make_background(self.scene.seed, self.width, self.height)
            light = make_light(condition, self._background, self.scene.seed, ir_night=self.scene.ir_night)
            self._lights[condition] = (
                light,
                lit_background(light, self._background),
                noise_bank(light, self.width, self.height, self.scene.seed),
            )
        return self._lights[condition]

    def render(self, t: float, condition: str, frame_index: int = 0) -> Frame:
        """Render the scene at time ``t`` (s) under ``condition``; ``frame_index`` varies the noise."""
        light, background, noise = self._light(condition)
        image = background.copy()
        ids = np.zeros((self.height, self.width), dtype=np.int16)
        drawn: list[tuple[SceneObject, tuple[float, float, float, float], int]] = []
        glares: list[tuple[float, float, float]] = []
        for obj in self.scene.visible_at(t):
            painted = self._paint(obj, t, light, image, ids, len(drawn) + 1, glares)
            if painted is not None:
                drawn.append((obj, painted[0], painted[1]))
        boxes = tuple(
            Box(obj.class_id, *box)
            for i, (obj, box, area) in enumerate(drawn, start=1)
            if _visible(ids, box, i) >= max(2.0, MIN_VISIBLE_FRACTION * area)
        )
        if noise is not None or (glares and light.glare > 0):
            wide = image.astype(np.int16)
            for cx, cy, radius in glares if light.glare > 0 else ():
                add_glare(wide, cx, cy, radius, light.glare)
            if noise is not None:
                rng = np.random.default_rng([self.scene.seed, frame_index, 19])
                dy, dx = (int(d) for d in rng.integers(0, NOISE_MARGIN, 2))
                wide += noise[dy : dy + self.height, dx : dx + self.width]
            image = np.clip(wide, 0, 255).astype(np.uint8)
        return Frame(image, condition, boxes)

    def _sprite(self, obj: SceneObject, width: int, height: int) -> Sprite:
        key = (obj.name, width, height, obj.velocity < 0)
        if key not in self._sprites:
            if len(self._sprites) >= SPRITE_CACHE:
                self._sprites.clear()
            art = ART[obj.name]
            self._sprites[key] = build_sprite(art.parts, art.size, width, height, flip=obj.velocity < 0)
        return self._sprites[key]

    def _paint(
        self,
        obj: SceneObject,
        t: float,
        light: Light,
        image: npt.NDArray[np.uint8],
        ids: npt.NDArray[np.int16],
        index: int,
        glares: list[tuple[float, float, float]],
    ) -> tuple[tuple[float, float, float, float], int] | None:
        """Paint one object; return its clipped box and drawn pixel count, or None if nothing is in frame."""
        pixels_per_unit = self.width / VIEW_UNITS * obj.scale
        dw, dh = display_size(obj.name)
        pw, ph = max(round(dw * pixels_per_unit), 1), max(round(dh * pixels_per_unit), 1)
        bx0, by1 = round(obj.left(t) * self.width), round(obj.ground * self.height)
        bx1, by0 = bx0 + pw, by1 - ph
        x0, x1 = max(bx0, 0), min(bx1, self.width)
        y0, y1 = max(by0, 0), min(by1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        sprite = self._sprite(obj, pw, ph)
        labels = sprite.labels[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0]
        cover = labels >= 0
        area = int(cover.sum())
        if area == 0:
            return None
        table, emissive = self._tables(obj)
        level = float(light.field[(y0 + y1) // 2, (x0 + x1) // 2])
        canvas = light.lut(table, emissive, level)[labels + 1]
        np.copyto(image[y0:y1, x0:x1], canvas, where=cover[..., None])
        ids[y0:y1, x0:x1][cover] = index
        for cx, cy, count in sprite.lamps:
            glares.append((bx0 + cx, by0 + cy, max(2.0, 2.5 * math.sqrt(count))))
        return (float(x0), float(y0), float(x1), float(y1)), area

    def _tables(self, obj: SceneObject) -> tuple[FloatArray, BoolArray]:
        key = id(obj)  # the scene owns its objects for the renderer's lifetime, so ids stay unique
        if key not in self._tables_cache:
            colours: dict[str, FloatArray] = dict(_FIXED)
            for name, rgb in zip(("body", "body2", "skin"), obj.colours, strict=True):
                colours[name] = np.array(rgb, dtype=np.float32)
            self._tables_cache[key] = colour_table(ART[obj.name].parts, colours)
        return self._tables_cache[key]
