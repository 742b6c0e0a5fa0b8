"""Lighting per condition: day, dusk (warm, low light), night (dark, lamps, noise) and night in grey IR.

A :class:`Light` turns albedo into pixel values: ``albedo * gain * field`` where ``field`` is a per-pixel
illumination map (street lamp pools at night, an IR illuminator's vignette, the low sun at dusk). Lamps on
vehicles are emissive at dusk and night, and cast glare at night. Sensor noise comes from a pre-drawn bank
sliced at a random offset per frame, because drawing fresh Gaussian noise per frame costs more than the
whole rest of a 640x360 render.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError
from pipeline.models.classes import CONDITIONS
from pipeline.world.background import HORIZON, Background
from pipeline.world.shapes import BoolArray, FloatArray

logger = logging.getLogger(__name__)

NOISE_MARGIN = 16
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Light:
    """How one condition lights one scene at one frame size.

    Attributes:
        condition: one of :data:`CONDITIONS`.
        gain: per-channel RGB gain.
        field: float32 (h, w) illumination map.
        ir: grey infrared rendering (night only).
        lamps_on: vehicle lamps glow regardless of the ambient light.
        glare: strength of headlight glare (0 for none).
        noise_sigma: sensor noise standard deviation in 8-bit levels.
    """

    condition: str
    gain: FloatArray
    field: FloatArray
    ir: bool
    lamps_on: bool
    glare: float
    noise_sigma: float

    def apply(self, albedo: FloatArray, field: FloatArray, emissive: BoolArray | None = None) -> FloatArray:
        """Light an albedo patch (h, w, 3) with its slice of the field (h, w); returns values in 0..255."""
        source = (albedo @ _LUMA)[..., None] if self.ir else albedo
        lit: FloatArray = source * (self.gain * 255.0) * field[..., None]
        if emissive is not None and self.lamps_on and emissive.any():
            lit[emissive] = source[emissive] * 255.0
        return lit

    def lut(self, table: FloatArray, emissive: BoolArray, field: float) -> npt.NDArray[np.uint8]:
        """Light a colour table (k, 3) at one illumination level (the field's value at the object).

        Objects are small against the field's variation, so one level per object is close enough, and it
        keeps colouring an object to a uint8 look-up.
        """
        source = (table @ _LUMA)[:, None].repeat(3, axis=1) if self.ir else table
        lit = source * (self.gain * 255.0 * field)
        if self.lamps_on:
            lit[emissive] = source[emissive] * 255.0
        return np.clip(lit, 0, 255).astype(np.uint8)


def make_light(condition: str, background: Background, seed: int, *, ir_night: bool) -> Light:
    """Build the light of ``condition`` for a scene whose background is ``background``.

    Args:
        condition: ``day``, ``dusk`` or ``night``.
        background: the scene background (its size and street lamps are used).
        seed: the scene seed (day brightness and tint vary with it).
        ir_night: render night in grey infrared instead of colour.

    Raises:
        ConfigError: if ``condition`` is unknown.
    """
    if condition not in CONDITIONS:
        raise ConfigError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")
    rng = np.random.default_rng([seed, 13])
    h, w = background.albedo.shape[:2]
    v = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    u = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    ones = np.ones((h, w), dtype=np.float32)
    if condition == "day":
        gain = rng.uniform(0.88, 1.08) * rng.uniform(0.95, 1.05, 3)
        return Light(condition, gain.astype(np.float32), ones, False, False, 0.0, 0.0)
    if condition == "dusk":
        gain = np.array([0.95, 0.62, 0.42]) * rng.uniform(0.7, 0.85)
        field = (0.7 + 0.35 * (1.0 - u)) * ones
        return Light(condition, gain.astype(np.float32), field.astype(np.float32), False, True, 0.0, 2.5)
    if ir_night:
        r2 = (u - 0.5) ** 2 + ((v - 0.6) * h / w) ** 2
        field = np.clip(1.0 - 1.6 * r2, 0.25, 1.0) * ones
        gain = np.full(3, rng.uniform(0.5, 0.6))
        return Light(condition, gain.astype(np.float32), field.astype(np.float32), True, True, 0.6, 7.0)
    field = ones.copy()
    for lu, _ in background.lamps:
        field += 7.0 * np.exp(-(((u - lu) / 0.09) ** 2) - ((v - 0.55) / 0.12) ** 2)
    gain = np.array([0.08, 0.09, 0.14]) * rng.uniform(0.8, 1.2)
    return Light(condition, gain.astype(np.float32), field.astype(np.float32), False, True, 1.0, 5.0)


def lit_background(light: Light, background: Background) -> npt.NDArray[np.uint8]:
    """Return the background under ``light`` as uint8 RGB (computed once per scene and condition)."""
    lit = light.apply(background.albedo, light.field)
    h = lit.shape[0]
    sky = (np.arange(h) + 0.5) / h < HORIZON
    if light.condition == "dusk":
        glow = np.linspace(0.0, 1.0, int(sky.sum()), dtype=np.float32)[:, None, None]
        lit[sky] += glow * np.array([70.0, 25.0, 0.0], dtype=np.float32)
    if light.lamps_on and not light.ir:
        w = lit.shape[1]
        for lu, lv in background.lamps:
            x, y = int(lu * w), int(lv * h)
            lit[max(y - 2, 0) : y + 1, max(x - 3, 0) : x + 4] = (255.0, 240.0, 190.0)
    return np.clip(lit, 0, 255).astype(np.uint8)


def noise_bank(light: Light, width: int, height: int, seed: int) -> npt.NDArray[np.int16] | None:
    """Pre-draw sensor noise for ``light`` (None when the condition has none); slice it per frame."""
    if light.noise_sigma <= 0:
        return None
    rng = np.random.default_rng([seed, 17])
    channels = 1 if light.ir else 3
    shape = (height + NOISE_MARGIN, width + NOISE_MARGIN, channels)
    bank: npt.NDArray[np.int16] = np.rint(rng.normal(0.0, light.noise_sigma, shape)).astype(np.int16)
    return bank


def add_glare(frame: npt.NDArray[np.int16], cx: float, cy: float, radius: float, strength: float) -> None:
    """Add headlight glare (a soft radial bloom) centred at pixel (cx, cy) to ``frame`` in place."""
    h, w = frame.shape[:2]
    reach = 3.0 * radius
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, w)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    bloom = strength * 230.0 * np.exp(-(dx * dx + dy * dy) / (radius * radius))
    frame[y0:y1, x0:x1] += bloom.astype(np.int16)[..., None]
