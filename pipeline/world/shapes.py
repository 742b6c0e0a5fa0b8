"""Vectorised 2-D primitives that the class sprites are built from.

A sprite is a list of :class:`Part` records in the class's own frame: metres, origin at the top-left corner
of the class box, y pointing down. :func:`build_sprite` rasterises the parts once per pixel size into a map
of which part owns each pixel; colouring an object is then one table look-up, which is what keeps a frame
with many objects within a few milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

EMISSIVE_KEYS = frozenset({"lamp", "tail"})
"""Colour keys that glow by themselves at night (head and tail lamps)."""


@dataclass(frozen=True)
class Part:
    """One primitive of a sprite.

    Attributes:
        kind: ``rect`` (x0, y0, x1, y1), ``ellipse`` (cx, cy, rx, ry), ``upper`` (upper half of an ellipse,
            same parameters), ``ring`` (cx, cy, r_outer, r_inner), ``line`` (x0, y0, x1, y1, thickness) or
            ``poly`` (x0, y0, x1, y1, ... of a convex polygon, clockwise or not).
        params: the numbers of the primitive, in metres.
        colour: a key resolved per object (``body``, ``body2``, ``skin``) or a fixed key of :data:`FIXED`.
        pattern: empty, or ``v``/``h``/``c`` (vertical stripes, horizontal stripes, checker) darkening every
            other band of width ``period``; it gives each class a texture, not only a colour.
        period: band width of the pattern in metres.
    """

    kind: str
    params: tuple[float, ...]
    colour: str
    pattern: str = ""
    period: float = 0.1


FIXED: Mapping[str, tuple[float, float, float]] = {
    "dark": (0.06, 0.06, 0.07),
    "grey": (0.45, 0.45, 0.47),
    "glass": (0.22, 0.32, 0.42),
    "white": (0.92, 0.92, 0.9),
    "lamp": (1.0, 0.95, 0.78),
    "tail": (0.85, 0.06, 0.05),
    "tape": (0.86, 0.8, 0.62),
    "yellow": (0.96, 0.76, 0.1),
    "antler": (0.72, 0.62, 0.45),
}
"""Colours that do not vary per object."""


def _mask(part: Part, x: FloatArray, y: FloatArray) -> BoolArray:
    """Return the pixels (``x`` is a row vector, ``y`` a column vector) covered by ``part``."""
    p = part.params
    if part.kind == "rect":
        return ((x >= p[0]) & (x < p[2])) & ((y >= p[1]) & (y < p[3]))
    if part.kind in ("ellipse", "upper"):
        inside: BoolArray = ((x - p[0]) / p[2]) ** 2 + ((y - p[1]) / p[3]) ** 2 <= 1.0
        return inside & (y <= p[1]) if part.kind == "upper" else inside
    if part.kind == "ring":
        d2 = (x - p[0]) ** 2 + (y - p[1]) ** 2
        return (d2 <= p[2] ** 2) & (d2 >= p[3] ** 2)
    if part.kind == "line":
        dx, dy = p[2] - p[0], p[3] - p[1]
        length2 = max(dx * dx + dy * dy, 1e-9)
        s = np.clip(((x - p[0]) * dx + (y - p[1]) * dy) / length2, 0.0, 1.0)
        dist2 = (x - p[0] - s * dx) ** 2 + (y - p[1] - s * dy) ** 2
        return dist2 <= (p[4] / 2) ** 2
    if part.kind == "poly":
        xs, ys = p[0::2], p[1::2]
        n = len(xs)
        pos = np.ones(np.broadcast_shapes(x.shape, y.shape), dtype=bool)
        neg = pos.copy()
        for i in range(n):
            j = (i + 1) % n
            cross = (xs[j] - xs[i]) * (y - ys[i]) - (ys[j] - ys[i]) * (x - xs[i])
            pos &= cross >= 0
            neg &= cross <= 0
        either: BoolArray = pos | neg
        return either
    raise ValueError(f"unknown part kind {part.kind!r}")


def _dark_bands(part: Part, x: FloatArray, y: FloatArray) -> BoolArray | None:
    """Return where ``part``'s pattern darkens the part, or None without a pattern."""
    if not part.pattern:
        return None
    if part.pattern == "v":
        band = np.floor(x / part.period) % 2
    elif part.pattern == "h":
        band = np.floor(y / part.period) % 2
    elif part.pattern == "c":
        band = (np.floor(x / part.period) + np.floor(y / part.period)) % 2
    else:
        raise ValueError(f"unknown pattern {part.pattern!r}")
    dark: BoolArray = np.asarray(band > 0)
    return dark


@dataclass(frozen=True)
class Sprite:
    """A class sprite rasterised at one pixel size, ready to be coloured per object.

    Attributes:
        labels: int16 (h, w): for part ``i`` of ``n``, ``i`` on its plain pixels and ``n + i`` on the dark
            bands of its pattern; -1 where the sprite is empty. Row ``label + 1`` of :func:`colour_table`
            is the pixel's albedo.
        lamps: (x, y, pixel count) of each head lamp, in sprite pixels; lamps cast glare at night.
    """

    labels: npt.NDArray[np.int16]
    lamps: tuple[tuple[float, float, int], ...]


PATTERN_DARK = 0.55
"""Brightness of the dark bands of a pattern."""


def build_sprite(
    parts: Sequence[Part], size_m: tuple[float, float], width: int, height: int, *, flip: bool
) -> Sprite:
    """Rasterise ``parts`` (drawn in order, later parts on top) into a ``width`` x ``height`` sprite.

    Args:
        parts: the sprite parts in the class frame (metres).
        size_m: the class box (width, height) in metres, mapped onto the whole sprite.
        width: sprite width in pixels.
        height: sprite height in pixels.
        flip: mirror horizontally (for objects moving left).

    Returns:
        The rasterised sprite.
    """
    x = ((np.arange(width, dtype=np.float32) + 0.5) * (size_m[0] / width))[None, :]
    if flip:
        x = size_m[0] - x
    y = ((np.arange(height, dtype=np.float32) + 0.5) * (size_m[1] / height))[:, None]
    labels = np.full((height, width), -1, dtype=np.int16)
    for index, part in enumerate(parts):
        mask = np.broadcast_to(_mask(part, x, y), labels.shape)
        labels[mask] = index
        dark = _dark_bands(part, x, y)
        if dark is not None:
            labels[mask & dark] = len(parts) + index
    lamps = []
    for index, part in enumerate(parts):
        if part.colour == "lamp":
            rows, cols = np.nonzero(labels == index)
            if rows.size:
                lamps.append((float(cols.mean()) + 0.5, float(rows.mean()) + 0.5, int(rows.size)))
    return Sprite(labels, tuple(lamps))


def colour_table(parts: Sequence[Part], colours: Mapping[str, FloatArray]) -> tuple[FloatArray, BoolArray]:
    """Return the albedo per sprite label (see :class:`Sprite`) and which labels are emissive lamps."""
    n = len(parts)
    table = np.zeros((2 * n + 1, 3), dtype=np.float32)
    emissive = np.zeros(2 * n + 1, dtype=bool)
    for index, part in enumerate(parts, start=1):
        table[index] = colours[part.colour]
        table[n + index] = table[index] * PATTERN_DARK
        emissive[index] = emissive[n + index] = part.colour in EMISSIVE_KEYS
    return table, emissive
