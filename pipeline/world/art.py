"""How each of the 20 classes looks and moves: size, colours, sprite parts, where it goes, how fast.

Sizes are real side-view sizes in metres; :func:`display_size` compresses them (a bus stays bigger than a car,
a car bigger than a dog) so that a cat is still a few pixels wide at 160 px. Sprites face right (+x); the
renderer mirrors them for objects moving left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.models.classes import CLASS_NAMES
from pipeline.world.shapes import Part

logger = logging.getLogger(__name__)

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class ClassArt:
    """Appearance and motion of one class.

    Attributes:
        size: side-view (width, height) in metres; every sprite touches all four sides of this box.
        palette: candidate ``body`` colours (one is drawn per object).
        palette2: candidate ``body2`` colours.
        parts: the sprite, drawn in order.
        habitats: lanes kinds it appears in: ``road``, ``walk``, ``air`` or ``static`` (parked or placed).
        speed: (min, max) speed in display units per second (0 for static objects).
    """

    size: tuple[float, float]
    palette: tuple[RGB, ...]
    palette2: tuple[RGB, ...]
    parts: tuple[Part, ...]
    habitats: tuple[str, ...]
    speed: tuple[float, float]


def _p(kind: str, colour: str, *params: float, pattern: str = "", period: float = 0.1) -> Part:
    return Part(kind, tuple(params), colour, pattern, period)


def _wheels(xs: tuple[float, ...], cy: float, r: float) -> tuple[Part, ...]:
    parts: list[Part] = []
    for x in xs:
        parts += [_p("ellipse", "dark", x, cy, r, r), _p("ellipse", "grey", x, cy, r * 0.45, r * 0.45)]
    return tuple(parts)


def _lamps(width: float, y0: float, y1: float) -> tuple[Part, ...]:
    return (_p("rect", "lamp", width - 0.14, y0, width, y1), _p("rect", "tail", 0.0, y0, 0.12, y1))


_CAR_COLOURS: tuple[RGB, ...] = (
    (0.75, 0.1, 0.1),
    (0.1, 0.2, 0.6),
    (0.8, 0.8, 0.82),
    (0.1, 0.1, 0.12),
    (0.2, 0.45, 0.25),
    (0.55, 0.55, 0.6),
)
_CLOTHES: tuple[RGB, ...] = (
    (0.8, 0.2, 0.2),
    (0.2, 0.3, 0.7),
    (0.9, 0.75, 0.2),
    (0.2, 0.6, 0.3),
    (0.9, 0.9, 0.9),
)
_TROUSERS: tuple[RGB, ...] = ((0.15, 0.18, 0.35), (0.1, 0.1, 0.1), (0.4, 0.3, 0.2))

ART: dict[str, ClassArt] = {
    "person": ClassArt(
        (0.5, 1.75),
        _CLOTHES,
        _TROUSERS,
        (
            _p("ellipse", "skin", 0.25, 0.14, 0.11, 0.13),
            _p("ellipse", "dark", 0.25, 0.07, 0.11, 0.07),
            _p("rect", "body", 0.08, 0.27, 0.42, 0.97),
            _p("rect", "body", 0.0, 0.3, 0.08, 0.9),
            _p("rect", "body", 0.42, 0.3, 0.5, 0.9),
            _p("rect", "body2", 0.1, 0.95, 0.23, 1.75),
            _p("rect", "body2", 0.27, 0.95, 0.4, 1.75),
        ),
        ("walk",),
        (0.35, 0.7),
    ),
    "child": ClassArt(
        (0.4, 1.1),
        _CLOTHES,
        _TROUSERS,
        (
            _p("ellipse", "skin", 0.2, 0.12, 0.12, 0.12),
            _p("upper", "yellow", 0.2, 0.1, 0.12, 0.1),
            _p("rect", "body", 0.07, 0.24, 0.33, 0.66, pattern="h", period=0.06),
            _p("rect", "body", 0.0, 0.27, 0.07, 0.6),
            _p("rect", "body", 0.33, 0.27, 0.4, 0.6),
            _p("rect", "body2", 0.09, 0.65, 0.18, 1.1),
            _p("rect", "body2", 0.22, 0.65, 0.31, 1.1),
        ),
        ("walk",),
        (0.3, 0.6),
    ),
    "cyclist": ClassArt(
        (1.7, 1.75),
        _CLOTHES,
        ((0.9, 0.9, 0.1), (0.1, 0.7, 0.9)),
        (
            _p("ring", "dark", 0.35, 1.4, 0.35, 0.28),
            _p("ring", "dark", 1.35, 1.4, 0.35, 0.28),
            _p("line", "body2", 0.35, 1.4, 0.75, 1.0, 0.06),
            _p("line", "body2", 0.75, 1.0, 1.35, 1.4, 0.06),
            _p("line", "body2", 0.65, 0.95, 1.25, 0.95, 0.06),
            _p("line", "dark", 0.75, 0.95, 0.9, 1.4, 0.12),
            _p("line", "body", 0.72, 0.95, 0.92, 0.35, 0.3),
            _p("line", "body", 0.92, 0.45, 1.25, 0.9, 0.09),
            _p("ellipse", "skin", 0.96, 0.2, 0.12, 0.14),
            _p("upper", "body2", 0.96, 0.14, 0.15, 0.14),
        ),
        ("road", "walk"),
        (1.0, 1.8),
    ),
    "motorcyclist": ClassArt(
        (2.1, 1.6),
        ((0.1, 0.1, 0.1), (0.6, 0.05, 0.05)),
        ((0.95, 0.95, 0.95),),
        (
            _p("ring", "dark", 0.42, 1.22, 0.38, 0.2),
            _p("ring", "dark", 1.7, 1.22, 0.38, 0.2),
            _p("rect", "grey", 0.8, 0.95, 1.3, 1.3),
            _p("ellipse", "body", 1.05, 0.95, 0.6, 0.2),
            _p("line", "dark", 0.95, 0.85, 1.15, 0.35, 0.34),
            _p("line", "dark", 1.15, 0.45, 1.55, 0.8, 0.1),
            _p("ellipse", "body2", 1.2, 0.17, 0.17, 0.17),
            _p("rect", "dark", 1.22, 0.12, 1.37, 0.22),
            _p("ellipse", "lamp", 1.98, 0.85, 0.1, 0.08),
        ),
        ("road",),
        (2.0, 3.5),
    ),
    "car": ClassArt(
        (4.4, 1.45),
        _CAR_COLOURS,
        ((0.2, 0.2, 0.2),),
        (
            _p("rect", "body", 0.0, 0.55, 4.4, 1.15),
            _p("poly", "body", 0.9, 0.56, 1.4, 0.0, 3.0, 0.0, 3.6, 0.56),
            _p("poly", "glass", 1.1, 0.52, 1.5, 0.08, 2.9, 0.08, 3.35, 0.52),
            _p("rect", "body", 2.15, 0.05, 2.25, 0.55),
            *_wheels((0.95, 3.45), 1.12, 0.33),
            *_lamps(4.4, 0.65, 0.8),
        ),
        ("road",),
        (2.0, 4.0),
    ),
    "pickup": ClassArt(
        (5.3, 1.85),
        _CAR_COLOURS,
        ((0.25, 0.25, 0.25),),
        (
            _p("rect", "body", 0.0, 0.75, 5.3, 1.45),
            _p("poly", "body", 2.5, 0.76, 2.6, 0.0, 3.7, 0.0, 4.1, 0.76),
            _p("poly", "glass", 2.7, 0.7, 2.75, 0.1, 3.6, 0.1, 3.9, 0.7),
            _p("rect", "body2", 0.0, 0.55, 2.4, 0.76),
            _p("rect", "body", 4.1, 0.6, 5.3, 0.76),
            *_wheels((1.0, 4.3), 1.45, 0.4),
            *_lamps(5.3, 0.8, 0.95),
        ),
        ("road",),
        (2.0, 3.8),
    ),
    "minivan": ClassArt(
        (5.0, 1.75),
        _CAR_COLOURS,
        ((0.3, 0.3, 0.32),),
        (
            _p("rect", "body", 0.0, 0.45, 5.0, 1.35),
            _p("poly", "body", 0.2, 0.46, 0.5, 0.0, 3.9, 0.0, 4.8, 0.46),
            _p("rect", "glass", 0.6, 0.12, 3.9, 0.5, pattern="v", period=0.8),
            _p("line", "body2", 2.2, 0.6, 2.2, 1.2, 0.04),
            *_wheels((1.0, 4.0), 1.4, 0.35),
            *_lamps(5.0, 0.6, 0.75),
        ),
        ("road",),
        (2.0, 3.5),
    ),
    "suv": ClassArt(
        (4.8, 1.8),
        ((0.1, 0.1, 0.12), (0.25, 0.3, 0.35), (0.45, 0.1, 0.1), (0.9, 0.9, 0.9)),
        ((0.1, 0.1, 0.1),),
        (
            _p("rect", "body", 0.0, 0.6, 4.8, 1.35),
            _p("rect", "body", 0.3, 0.08, 3.9, 0.62),
            _p("rect", "body2", 0.6, 0.0, 3.4, 0.08),
            _p("rect", "glass", 0.5, 0.15, 3.6, 0.55, pattern="v", period=0.9),
            *_wheels((0.95, 3.8), 1.38, 0.42),
            *_lamps(4.8, 0.7, 0.88),
        ),
        ("road",),
        (2.0, 3.8),
    ),
    "van": ClassArt(
        (5.2, 2.3),
        ((0.95, 0.95, 0.95), (0.8, 0.82, 0.85)),
        ((0.1, 0.3, 0.7), (0.8, 0.1, 0.1)),
        (
            _p("rect", "body", 0.0, 0.0, 4.2, 1.95),
            _p("poly", "body", 4.19, 0.25, 4.6, 0.25, 5.2, 1.0, 5.2, 1.95, 4.19, 1.95),
            _p("poly", "glass", 4.25, 0.35, 4.55, 0.35, 5.0, 0.95, 4.25, 0.95),
            _p("rect", "body2", 0.0, 1.2, 5.2, 1.35),
            *_wheels((1.0, 4.3), 1.9, 0.4),
            *_lamps(5.2, 1.1, 1.25),
        ),
        ("road",),
        (1.8, 3.2),
    ),
    "delivery_truck": ClassArt(
        (7.0, 3.2),
        ((0.4, 0.25, 0.1), (0.9, 0.9, 0.88)),
        ((0.9, 0.75, 0.2), (0.7, 0.1, 0.1)),
        (
            _p("rect", "body", 0.0, 0.0, 5.2, 2.6),
            _p("rect", "body2", 0.3, 1.0, 4.9, 1.5),
            _p("rect", "body", 5.3, 1.0, 7.0, 2.75),
            _p("poly", "glass", 5.5, 1.1, 6.5, 1.1, 6.95, 1.7, 5.5, 1.7),
            _p("rect", "dark", 0.0, 2.6, 7.0, 2.85),
            *_wheels((1.2, 2.2, 6.0), 2.75, 0.45),
            *_lamps(7.0, 2.1, 2.35),
        ),
        ("road",),
        (1.5, 3.0),
    ),
    "bus": ClassArt(
        (12.0, 3.2),
        ((0.95, 0.75, 0.1), (0.85, 0.15, 0.1), (0.9, 0.9, 0.9)),
        ((0.1, 0.3, 0.6),),
        (
            _p("rect", "body", 0.0, 0.0, 12.0, 2.8),
            _p("rect", "glass", 0.5, 0.4, 10.2, 1.4, pattern="v", period=1.1),
            _p("rect", "glass", 11.4, 0.3, 11.9, 1.6),
            _p("rect", "glass", 10.4, 0.4, 11.1, 2.5),
            _p("rect", "body2", 0.0, 2.1, 12.0, 2.35),
            *_wheels((2.0, 9.8), 2.75, 0.45),
            *_lamps(12.0, 2.3, 2.55),
        ),
        ("road",),
        (1.5, 2.8),
    ),
    "motorcycle": ClassArt(
        (2.1, 1.1),
        ((0.7, 0.05, 0.05), (0.1, 0.1, 0.1), (0.1, 0.2, 0.6)),
        ((0.1, 0.1, 0.1),),
        (
            _p("ring", "dark", 0.42, 0.72, 0.38, 0.2),
            _p("ring", "dark", 1.7, 0.72, 0.38, 0.2),
            _p("rect", "grey", 0.8, 0.4, 1.3, 0.75),
            _p("ellipse", "body", 1.05, 0.35, 0.45, 0.16),
            _p("rect", "body2", 0.45, 0.26, 0.9, 0.36),
            _p("line", "grey", 1.55, 0.02, 1.65, 0.45, 0.06),
            _p("ellipse", "lamp", 1.98, 0.42, 0.1, 0.08),
        ),
        ("road", "static"),
        (2.0, 3.5),
    ),
    "bicycle": ClassArt(
        (1.7, 1.0),
        ((0.1, 0.6, 0.9), (0.9, 0.2, 0.5), (0.2, 0.8, 0.3)),
        ((0.1, 0.1, 0.1),),
        (
            _p("ring", "dark", 0.35, 0.65, 0.35, 0.29),
            _p("ring", "dark", 1.35, 0.65, 0.35, 0.29),
            _p("line", "body", 0.35, 0.65, 0.75, 0.65, 0.05),
            _p("line", "body", 0.75, 0.65, 1.2, 0.3, 0.05),
            _p("line", "body", 0.6, 0.3, 1.2, 0.3, 0.05),
            _p("line", "body", 0.6, 0.3, 0.75, 0.65, 0.05),
            _p("line", "body", 1.2, 0.3, 1.35, 0.65, 0.05),
            _p("line", "body", 0.35, 0.65, 0.6, 0.3, 0.05),
            _p("line", "body2", 0.5, 0.2, 0.72, 0.2, 0.07),
            _p("line", "body2", 1.2, 0.3, 1.2, 0.05, 0.05),
            _p("line", "body2", 1.1, 0.04, 1.32, 0.04, 0.07),
        ),
        ("walk", "static"),
        (0.9, 1.6),
    ),
    "dog": ClassArt(
        (0.9, 0.6),
        ((0.45, 0.28, 0.12), (0.8, 0.65, 0.4), (0.1, 0.1, 0.1)),
        ((0.2, 0.12, 0.05),),
        (
            _p("line", "body", 0.15, 0.2, 0.01, 0.04, 0.05),
            _p("ellipse", "body", 0.42, 0.25, 0.3, 0.12),
            _p("ellipse", "body", 0.75, 0.15, 0.11, 0.09),
            _p("ellipse", "body2", 0.84, 0.18, 0.06, 0.04),
            _p("ellipse", "body2", 0.71, 0.08, 0.04, 0.07),
            _p("rect", "body", 0.18, 0.3, 0.25, 0.6),
            _p("rect", "body", 0.3, 0.3, 0.36, 0.6),
            _p("rect", "body", 0.5, 0.3, 0.56, 0.6),
            _p("rect", "body", 0.6, 0.3, 0.67, 0.6),
        ),
        ("walk",),
        (0.4, 1.2),
    ),
    "cat": ClassArt(
        (0.45, 0.3),
        ((0.5, 0.5, 0.52), (0.9, 0.55, 0.2), (0.12, 0.12, 0.12)),
        ((0.95, 0.95, 0.9),),
        (
            _p("line", "body", 0.07, 0.13, 0.015, 0.015, 0.025),
            _p("ellipse", "body", 0.2, 0.14, 0.14, 0.065, pattern="v", period=0.04),
            _p("ellipse", "body", 0.38, 0.09, 0.055, 0.05),
            _p("poly", "body", 0.33, 0.07, 0.35, 0.0, 0.37, 0.05),
            _p("poly", "body", 0.39, 0.05, 0.42, 0.0, 0.43, 0.07),
            _p("ellipse", "body2", 0.41, 0.11, 0.02, 0.015),
            _p("rect", "body", 0.1, 0.17, 0.13, 0.3),
            _p("rect", "body", 0.27, 0.17, 0.3, 0.3),
        ),
        ("walk",),
        (0.3, 0.9),
    ),
    "deer": ClassArt(
        (1.7, 1.4),
        ((0.55, 0.38, 0.2), (0.65, 0.45, 0.25)),
        ((0.95, 0.92, 0.85),),
        (
            _p("ellipse", "body2", 0.2, 0.58, 0.06, 0.05),
            _p("ellipse", "body", 0.8, 0.65, 0.55, 0.2),
            _p("ellipse", "body2", 0.8, 0.77, 0.38, 0.07),
            _p("line", "body", 1.25, 0.6, 1.4, 0.3, 0.14),
            _p("ellipse", "body", 1.48, 0.28, 0.14, 0.08),
            _p("ellipse", "dark", 1.62, 0.31, 0.08, 0.05),
            _p("line", "antler", 1.4, 0.22, 1.3, 0.01, 0.03),
            _p("line", "antler", 1.35, 0.1, 1.2, 0.02, 0.03),
            _p("line", "antler", 1.45, 0.22, 1.55, 0.01, 0.03),
            _p("line", "body", 0.4, 0.8, 0.38, 1.4, 0.06),
            _p("line", "body", 0.55, 0.8, 0.57, 1.4, 0.06),
            _p("line", "body", 1.05, 0.8, 1.03, 1.4, 0.06),
            _p("line", "body", 1.2, 0.8, 1.22, 1.4, 0.06),
        ),
        ("walk",),
        (0.6, 2.0),
    ),
    "bird": ClassArt(
        (0.3, 0.2),
        ((0.1, 0.1, 0.12), (0.8, 0.1, 0.1), (0.2, 0.4, 0.8)),
        ((0.3, 0.3, 0.3),),
        (
            _p("poly", "body2", 0.0, 0.06, 0.07, 0.1, 0.0, 0.14),
            _p("ellipse", "body", 0.15, 0.11, 0.1, 0.055),
            _p("ellipse", "body", 0.25, 0.07, 0.045, 0.045),
            _p("poly", "yellow", 0.28, 0.055, 0.3, 0.075, 0.28, 0.09),
            _p("poly", "body2", 0.08, 0.1, 0.17, 0.0, 0.2, 0.1),
            _p("line", "dark", 0.15, 0.16, 0.15, 0.2, 0.015),
        ),
        ("air", "walk"),
        (1.5, 3.0),
    ),
    "package": ClassArt(
        (0.45, 0.35),
        ((0.62, 0.45, 0.25), (0.7, 0.52, 0.3)),
        ((0.95, 0.95, 0.95),),
        (
            _p("rect", "body", 0.0, 0.0, 0.45, 0.35),
            _p("rect", "tape", 0.2, 0.0, 0.25, 0.35),
            _p("rect", "body2", 0.04, 0.05, 0.16, 0.13),
            _p("rect", "dark", 0.0, 0.32, 0.45, 0.35),
        ),
        ("static",),
        (0, 0),
    ),
    "trash_bin": ClassArt(
        (0.6, 1.05),
        ((0.1, 0.4, 0.15), (0.1, 0.2, 0.5), (0.15, 0.15, 0.15)),
        ((0.3, 0.3, 0.3), (0.9, 0.7, 0.1)),
        (
            _p("poly", "body", 0.03, 0.09, 0.57, 0.09, 0.53, 0.97, 0.07, 0.97, pattern="v", period=0.06),
            _p("rect", "body2", 0.0, 0.0, 0.6, 0.1),
            _p("ellipse", "dark", 0.12, 0.98, 0.07, 0.07),
        ),
        ("static",),
        (0, 0),
    ),
    "stroller": ClassArt(
        (0.9, 1.05),
        ((0.1, 0.1, 0.3), (0.5, 0.1, 0.3), (0.2, 0.2, 0.2)),
        ((0.8, 0.75, 0.7),),
        (
            _p("line", "dark", 0.68, 0.35, 0.88, 0.02, 0.04),
            _p("poly", "body", 0.05, 0.3, 0.72, 0.3, 0.6, 0.75, 0.15, 0.75),
            _p("upper", "body2", 0.3, 0.31, 0.28, 0.3),
            _p("line", "grey", 0.4, 0.74, 0.6, 0.93, 0.03),
            _p("ring", "dark", 0.2, 0.93, 0.12, 0.06),
            _p("ring", "dark", 0.6, 0.93, 0.12, 0.06),
        ),
        ("walk",),
        (0.3, 0.6),
    ),
}
"""Appearance of every class in :data:`CLASS_NAMES`, keyed by class name."""

SKIN: tuple[RGB, ...] = ((0.95, 0.8, 0.65), (0.8, 0.6, 0.45), (0.55, 0.38, 0.25), (0.35, 0.24, 0.16))

if set(ART) != set(CLASS_NAMES):  # pragma: no cover - a guard for whoever edits the class list
    raise RuntimeError(f"world art and CLASS_NAMES disagree: {sorted(set(ART) ^ set(CLASS_NAMES))}")


def display_size(name: str) -> tuple[float, float]:
    """Return the (width, height) of class ``name`` in display units (compressed metres, see module doc)."""
    width, height = ART[name].size
    factor = max(width, height) ** -0.4
    return width * factor, height * factor
