"""Typed configuration of the scheduler: the per-stream policy (a union on ``type:``) and the motion gate.

The lead includes :data:`PolicyConfig` and :class:`MotionGateConfig` (or the whole :class:`SchedulerConfig`)
in the ``cameras.yaml`` tree; everything is validated once at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError
from pipeline.models.designs import DESIGNS

logger = logging.getLogger(__name__)

Condition = Literal["day", "dusk", "night"]
"""A lighting condition; the same values as :data:`pipeline.models.classes.CONDITIONS`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticPolicyConfig(_Strict):
    """Always the same condition (a camera's own fixed condition still wins)."""

    type: Literal["static"] = "static"
    condition: Condition = Field("day", description="Condition used for every frame.")


class TimeOfDayPolicyConfig(_Strict):
    """Condition from the sun's elevation at the camera's location and the frame's time."""

    type: Literal["time_of_day"] = "time_of_day"
    day_above_deg: float = Field(
        6.0, ge=-18.0, le=90.0, description="Sun elevation (degrees) at or above which it is day."
    )
    night_below_deg: float = Field(
        -6.0, ge=-90.0, le=18.0, description="Sun elevation (degrees) below which it is night (civil dusk)."
    )
    refresh_s: float = Field(
        60.0, ge=0.0, le=3600.0, description="Recompute the elevation at most this often per stream (s)."
    )
    fallback_condition: Condition = Field("day", description="Condition for a camera without a location.")

    @model_validator(mode="after")
    def _ordered(self) -> TimeOfDayPolicyConfig:
        if self.night_below_deg >= self.day_above_deg:
            raise ValueError("night_below_deg must be below day_above_deg")
        return self


class BrightnessPolicyConfig(_Strict):
    """Condition from the frame's mean luma, with hysteresis; grey (IR) frames read as night."""

    type: Literal["brightness"] = "brightness"
    night_below: float = Field(
        40.0, gt=0.0, lt=255.0, description="Mean luma (0-255) below which it is night."
    )
    day_above: float = Field(100.0, gt=0.0, lt=255.0, description="Mean luma at or above which it is day.")
    hysteresis_margin: float = Field(
        8.0,
        ge=0.0,
        le=64.0,
        description="Luma a frame must go past a threshold by to leave the current band.",
    )
    min_frames: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Consecutive frames that must agree on a new condition before a switch.",
    )
    grey_tolerance: float = Field(
        4.0,
        ge=0.0,
        le=255.0,
        description="A frame whose mean per-pixel channel spread (max-min) is at most this is grey (IR).",
    )
    fallback_condition: Condition = Field("day", description="Condition before any luma has been seen.")

    @model_validator(mode="after")
    def _bands(self) -> BrightnessPolicyConfig:
        if self.night_below + self.hysteresis_margin > self.day_above - self.hysteresis_margin:
            raise ValueError("night_below + hysteresis_margin must not exceed day_above - hysteresis_margin")
        return self


BaseConditionConfig = Annotated[
    StaticPolicyConfig | TimeOfDayPolicyConfig | BrightnessPolicyConfig,
    Field(discriminator="type"),
]
"""A policy that picks a condition only: what ``load_aware`` wraps."""


class LoadAwarePolicyConfig(_Strict):
    """Wraps a condition policy; under sustained load moves streams to a cheaper design or a lower fps."""

    type: Literal["load_aware"] = "load_aware"
    base: BaseConditionConfig = Field(
        default_factory=StaticPolicyConfig, description="The condition policy this one wraps."
    )
    queue_budget_ms: float = Field(
        50.0, gt=0.0, le=60_000.0, description="Triton queue time (ms) above which the server is overloaded."
    )
    lag_budget_s: float = Field(
        2.0,
        gt=0.0,
        le=3600.0,
        description="A camera's lag behind real time (s) above which it is overloaded.",
    )
    fallback_design: str | None = Field(
        None, description="Cheaper design for overloaded streams; None keeps the configured design."
    )
    fallback_fps_factor: float = Field(
        0.5, gt=0.0, le=1.0, description="Multiplies a stream's target fps while it is overloaded."
    )
    degrade_after_s: float = Field(
        5.0, ge=0.0, le=3600.0, description="Load must stay over budget this long (s) before degrading."
    )
    recover_ratio: float = Field(
        0.7, gt=0.0, lt=1.0, description="Load must fall below this fraction of each budget to recover."
    )
    recover_after_s: float = Field(
        30.0, ge=0.0, le=3600.0, description="Load must stay below the recovery level this long (s)."
    )

    @field_validator("fallback_design")
    @classmethod
    def _known_design(cls, value: str | None) -> str | None:
        if value is not None and value not in DESIGNS:
            raise ValueError(f"unknown design {value!r}; known: {', '.join(DESIGNS)}")
        return value

    @model_validator(mode="after")
    def _has_fallback(self) -> LoadAwarePolicyConfig:
        if self.fallback_design is None and self.fallback_fps_factor == 1.0:
            raise ValueError("set fallback_design or a fallback_fps_factor below 1, or nothing would change")
        return self


PolicyConfig = Annotated[
    StaticPolicyConfig | TimeOfDayPolicyConfig | BrightnessPolicyConfig | LoadAwarePolicyConfig,
    Field(discriminator="type"),
]
"""Any scheduler policy, chosen by its ``type:`` field."""


def reads_frame_stats(policy: PolicyConfig) -> bool:
    """Whether ``policy`` reads a frame's luma and chroma (only then are they computed per frame)."""
    if isinstance(policy, LoadAwarePolicyConfig):
        return reads_frame_stats(policy.base)
    return isinstance(policy, BrightnessPolicyConfig)


class MotionGateConfig(_Strict):
    """Skip inference on frames that barely differ from the last frame sent to inference."""

    enabled: bool = Field(False, description="Gate frames on motion; off sends every frame to inference.")
    downscale_width: int = Field(
        160, ge=8, le=1920, description="Width (px) the frame is reduced to before differencing."
    )
    threshold: float = Field(
        2.0,
        ge=0.0,
        le=255.0,
        description="Mean grey difference (0-255) at or above which a frame passes (a global change).",
    )
    pixel_threshold: int = Field(
        15, ge=1, le=255, description="Grey difference at which one pixel counts as changed."
    )
    min_changed_fraction: float = Field(
        0.001,
        gt=0.0,
        le=1.0,
        description="Share of changed pixels at or above which a frame passes (a small object moving).",
    )
    max_skip_s: float = Field(
        2.0, gt=0.0, le=3600.0, description="Force inference when no frame passed for this long (s)."
    )


class SchedulerConfig(_Strict):
    """The scheduler section of the camera config: policy and motion gate."""

    policy: PolicyConfig = Field(default_factory=StaticPolicyConfig, description="Per-stream policy.")
    motion: MotionGateConfig = Field(default_factory=MotionGateConfig, description="Motion gate.")


_POLICY_ADAPTER: TypeAdapter[PolicyConfig] = TypeAdapter(PolicyConfig)


def _format(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if str(part))
        lines.append(f"{path}: {item['msg']}")
    return "; ".join(lines)


def parse_policy_config(data: Mapping[str, object], *, key: str = "policy") -> PolicyConfig:
    """Validate a policy mapping (as read from YAML).

    Args:
        data: The mapping under ``key``, e.g. ``{"type": "brightness", "min_frames": 5}``.
        key: Key path of ``data`` in the config file, used in error messages.

    Returns:
        The typed policy config.

    Raises:
        ConfigError: naming every bad key path, e.g. ``policy.brightness.min_frames: ...``.
    """
    try:
        return _POLICY_ADAPTER.validate_python(data)
    except ValidationError as error:
        raise ConfigError(f"invalid scheduler policy: {_format(error, key)}") from None
