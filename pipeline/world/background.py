"""The static street background (sky, houses, trees, sidewalks, road, driveway) as an albedo image.

The background is built once per scene and frame size; only the objects are drawn per frame. Street lamp
positions are returned too, because at night they light pools on the ground.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.world.shapes import FloatArray

logger = logging.getLogger(__name__)

HORIZON = 0.47
ROAD = (0.53, 0.78)
NEAR_WALK = (0.79, 0.88)


@dataclass(frozen=True)
class Background:
    """A background albedo image and where its street lamps are.

    Attributes:
        albedo: float32 (h, w, 3) in 0..1.
        lamps: (u, v) frame fractions of each street lamp's light.
    """

    albedo: FloatArray
    lamps: tuple[tuple[float, float], ...]


def _band(img: FloatArray, v0: float, v1: float, colour: tuple[float, float, float]) -> None:
    h = img.shape[0]
    img[int(v0 * h) : max(int(v1 * h), int(v0 * h) + 1)] = colour


def _rect(img: FloatArray, u0: float, v0: float, u1: float, v1: float, colour: tuple[float, ...]) -> None:
    h, w = img.shape[:2]
    x0, x1 = max(int(u0 * w), 0), min(int(np.ceil(u1 * w)), w)
    y0, y1 = max(int(v0 * h), 0), min(int(np.ceil(v1 * h)), h)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = colour


def make_background(seed: int, width: int, height: int) -> Background:
    """Render the background of scene ``seed`` at ``width`` x ``height`` pixels.

    Args:
        seed: the scene seed (houses, colours, lamps and textures follow from it).
        width: frame width in pixels.
        height: frame height in pixels.

    Returns:
        The albedo image and the street lamp positions.
    """
    rng = np.random.default_rng([seed, 11])
    img = np.zeros((height, width, 3), dtype=np.float32)
    v = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
    u = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
    sky_top, sky_low = np.array([0.45, 0.62, 0.88], np.float32), np.array([0.78, 0.86, 0.95], np.float32)
    mix = np.clip(v / HORIZON, 0, 1)[..., None]
    img[:] = sky_top * (1 - mix) + sky_low * mix
    u_pos = float(rng.uniform(-0.1, 0.05))
    while u_pos < 1.0:  # houses side by side until the frame is full (each is at least 0.18 wide)
        house_w = float(rng.uniform(0.18, 0.35))
        top = float(rng.uniform(0.2, 0.3))
        wall = tuple(float(c) for c in rng.uniform([0.5, 0.4, 0.3], [0.9, 0.85, 0.8]))
        roof = tuple(float(c) for c in rng.uniform(0.15, 0.4, 3))
        _rect(img, u_pos, top, u_pos + house_w, HORIZON, wall)
        half_width = np.abs(u - (u_pos + house_w / 2)) / (house_w / 2 + 0.02)
        roof_mask = (v < top) & (half_width * 0.12 < v - (top - 0.12))
        img[roof_mask] = roof
        for k in range(int(rng.integers(1, 4))):
            wx = u_pos + house_w * (0.12 + 0.3 * k)
            _rect(img, wx, top + 0.04, wx + house_w * 0.16, top + 0.1, (0.2, 0.28, 0.35))
        _rect(img, u_pos + house_w * 0.42, HORIZON - 0.09, u_pos + house_w * 0.55, HORIZON, (0.35, 0.2, 0.1))
        u_pos += house_w + float(rng.uniform(0.0, 0.12))
    for _ in range(int(rng.integers(1, 4))):
        cu, cv, r = float(rng.uniform(0, 1)), float(rng.uniform(0.3, 0.4)), float(rng.uniform(0.05, 0.09))
        tree = ((u - cu) / r) ** 2 + ((v - cv) / (r * width / height)) ** 2 < 1.0
        img[tree] = (0.12, 0.35, 0.12)
        _rect(img, cu - 0.006, cv, cu + 0.006, HORIZON, (0.3, 0.2, 0.1))
    _band(img, HORIZON, ROAD[0], (0.62, 0.62, 0.6))
    _band(img, ROAD[0], ROAD[1], (0.28, 0.28, 0.3))
    _band(img, ROAD[1], NEAR_WALK[0], (0.75, 0.75, 0.72))
    _band(img, NEAR_WALK[0], NEAR_WALK[1], (0.6, 0.6, 0.58))
    _band(img, NEAR_WALK[1], 1.0, (0.25, 0.5, 0.2))
    drive_u = float(rng.uniform(0.1, 0.6))
    _rect(img, drive_u, NEAR_WALK[0], drive_u + 0.35, 1.0, (0.68, 0.66, 0.62))
    dashes = (np.floor(u * 12) % 2 == 0) & (np.abs(v - sum(ROAD) / 2) < 0.006)
    img[dashes] = (0.9, 0.9, 0.85)
    lamps = []
    for lu in rng.uniform(0.05, 0.95, int(rng.integers(1, 3))):
        _rect(img, float(lu) - 0.004, 0.22, float(lu) + 0.004, ROAD[0], (0.2, 0.2, 0.22))
        _rect(img, float(lu) - 0.02, 0.21, float(lu) + 0.02, 0.23, (0.9, 0.9, 0.8))
        lamps.append((float(lu), 0.23))
    grain = rng.normal(0.0, 0.035, (height, width, 1)).astype(np.float32)
    img += grain * (v > HORIZON)[..., None]
    np.clip(img, 0.0, 1.0, out=img)
    return Background(img, tuple(lamps))
