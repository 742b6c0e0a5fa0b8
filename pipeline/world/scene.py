"""The layout of a street scene and the objects that move through it, deterministic for a seed.

Geometry is in frame fractions so one scene renders at any size: ``u`` runs 0..1 across the width, ground
lines are fractions of the height, and an object's pixel size is ``display size * depth scale * width /
VIEW_UNITS``. Each object crosses the frame along its lane at constant speed (or stands still), entering
and leaving at the sides; lanes nearer the camera are drawn later, which is what makes occlusion right.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.models.classes import CLASS_NAMES
from pipeline.world.art import ART, RGB, SKIN, display_size

logger = logging.getLogger(__name__)

VIEW_UNITS = 10.0
"""Display units across the frame width at depth scale 1 (the nearest lane)."""


@dataclass(frozen=True)
class Lane:
    """A horizontal band objects move along: ground line (fraction of height), depth scale and kind."""

    name: str
    ground: float
    scale: float
    kind: str


LANES: tuple[Lane, ...] = (
    Lane("sky", 0.3, 0.7, "air"),
    Lane("far_walk", 0.5, 0.5, "walk"),
    Lane("far_road", 0.61, 0.62, "road"),
    Lane("near_road", 0.73, 0.78, "road"),
    Lane("near_walk", 0.84, 0.9, "walk"),
    Lane("drive", 0.97, 1.0, "static"),
)
"""Lanes from far to near (drawing order); ``drive`` and ``near_walk`` also hold static objects."""


@dataclass(frozen=True)
class SceneObject:
    """One object and its trajectory.

    Attributes:
        class_id: index into :data:`CLASS_NAMES`.
        lane: index into :data:`LANES`.
        ground: its ground line (fraction of height; jittered around the lane's).
        scale: depth scale (jittered around the lane's).
        t0: time (s) at which it starts entering the frame.
        u0: left edge (frame fraction) at ``t0``.
        velocity: frame fractions per second (negative: moving left, sprite mirrored).
        colours: (body, body2, skin) albedo.
    """

    class_id: int
    lane: int
    ground: float
    scale: float
    t0: float
    u0: float
    velocity: float
    colours: tuple[RGB, RGB, RGB]

    @property
    def name(self) -> str:
        """The class name."""
        return CLASS_NAMES[self.class_id]

    def width_frac(self) -> float:
        """Width in frame fractions."""
        return display_size(self.name)[0] * self.scale / VIEW_UNITS

    def left(self, t: float) -> float:
        """Left edge (frame fraction) at time ``t``."""
        return self.u0 + self.velocity * (t - self.t0)

    def crossing_s(self) -> float:
        """Seconds it takes to cross the frame (infinite when static)."""
        return float("inf") if self.velocity == 0 else (1.0 + self.width_frac()) / abs(self.velocity)


def _lane_for(rng: np.random.Generator, name: str) -> tuple[int, bool]:
    """Pick a lane index for class ``name``; the flag says whether the object stands still."""
    habitat = str(rng.choice(ART[name].habitats))
    if habitat == "static":
        return int(rng.choice([4, 5])), True
    choices = [i for i, lane in enumerate(LANES) if lane.kind == habitat]
    return int(rng.choice(choices)), False


def _make_object(rng: np.random.Generator, class_id: int, t_start: float, t_end: float) -> SceneObject:
    name = CLASS_NAMES[class_id]
    art = ART[name]
    lane_id, static = _lane_for(rng, name)
    lane = LANES[lane_id]
    scale = lane.scale * float(rng.uniform(0.93, 1.07))
    ground = lane.ground + float(rng.uniform(-0.012, 0.012))
    if lane.kind == "air":
        ground = float(rng.uniform(0.08, 0.42))
    colours = (
        art.palette[int(rng.integers(len(art.palette)))],
        art.palette2[int(rng.integers(len(art.palette2)))],
        SKIN[int(rng.integers(len(SKIN)))],
    )
    width = display_size(name)[0] * scale / VIEW_UNITS
    if static:
        return SceneObject(
            class_id, lane_id, ground, scale, t_start, float(rng.uniform(-0.1, 1.0)), 0.0, colours
        )
    speed = float(rng.uniform(*art.speed)) * scale / VIEW_UNITS * float(rng.choice([-1.0, 1.0]))
    cross = (1.0 + width) / abs(speed)
    t0 = float(rng.uniform(t_start - cross, t_end))
    u0 = -width if speed > 0 else 1.0
    return SceneObject(class_id, lane_id, ground, scale, t0, u0, speed, colours)


@dataclass(frozen=True)
class Scene:
    """A street scene: background look (from ``seed``), its objects and the night camera mode."""

    seed: int
    objects: tuple[SceneObject, ...]
    ir_night: bool

    def visible_at(self, t: float) -> list[SceneObject]:
        """Objects whose box overlaps the frame horizontally at ``t``, far to near (draw order)."""
        out = [o for o in self.objects if o.left(t) < 1.0 and o.left(t) + o.width_frac() > 0.0]
        return sorted(out, key=lambda o: (o.scale, o.ground))


def make_scene(
    seed: int,
    *,
    duration_s: float = 0.0,
    crowd: float | None = None,
    ir_night: bool | None = None,
    max_objects: int = 400,
) -> Scene:
    """Build a deterministic scene for ``seed``.

    Args:
        seed: selects background, objects and night mode.
        duration_s: the time span the scene must keep populated (0 for a still image).
        crowd: mean number of objects in view at once (default: 3-7, drawn from the seed).
        ir_night: whether night renders in grey infrared (default: drawn from the seed).
        max_objects: upper bound on the number of objects, which bounds the spawning loop.

    Returns:
        The scene; classes are drawn uniformly so every class is equally common.
    """
    rng = np.random.default_rng([seed, 7])
    target = float(rng.uniform(3.0, 7.0)) if crowd is None else crowd
    ir = bool(rng.random() < 0.5) if ir_night is None else ir_night
    objects: list[SceneObject] = []
    expected = 0.0
    while expected < target and len(objects) < max_objects:
        obj = _make_object(rng, int(rng.integers(len(CLASS_NAMES))), 0.0, duration_s)
        objects.append(obj)
        cross = obj.crossing_s()
        expected += 1.0 if cross == float("inf") else cross / (duration_s + cross)
    return Scene(seed, tuple(objects), ir)
