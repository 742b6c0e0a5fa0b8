"""The hardware profile the planner predicts from: roofline figures, fitted efficiencies and overheads.

A profile is written by ``camfleet plan calibrate`` (see :mod:`pipeline.planner.calibrate`) as JSON with a
schema version. A default CPU profile, calibrated on the project's 2-core development machine, ships next to
this module so that ``camfleet plan`` answers in seconds with no calibration.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import __version__
from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

HARDWARE_SCHEMA_VERSION: Literal[1] = 1
DEFAULT_PROFILE_PATH = Path(__file__).with_name("default_cpu_profile.json")
MB = 1e6


class DecodePoint(BaseModel):
    """One measured decode figure: H.264 decode plus resize to the model input, on one core."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(gt=0, description="Source width in pixels.")
    height: int = Field(gt=0, description="Source height in pixels.")
    fps_per_core: float = Field(gt=0, description="Frames decoded and resized per second on one core.")


class HardwareProfile(BaseModel):
    """Figures of one machine for the planner's cost model (DESIGN.md, "The planner's cost model").

    Times are in seconds, sizes in bytes, rates per second. ``peak_flops`` and ``bandwidth`` are measured
    by micro-benchmarks at ``threads`` torch threads; ``eta_c``, ``eta_m``, ``kappa_s`` and ``l0_s`` are
    fitted on real layers of the model families.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = HARDWARE_SCHEMA_VERSION
    device: str = Field("cpu", description="Device name, e.g. 'cpu (2 cores)' or 'NVIDIA H100 80GB HBM3'.")
    device_kind: Literal["cpu", "cuda"] = Field("cpu", description="Where inference runs.")
    cores: int = Field(1, ge=1, description="Host CPU cores (decode, transport, Ray and, on CPU, inference).")
    threads: int = Field(1, ge=1, description="Torch threads of one model instance when calibrated.")
    instances: int = Field(1, ge=1, description="Triton instances per model (parallel executions).")
    peak_flops: float = Field(1e10, gt=0, description="P: dense FLOP/s of one model instance.")
    bandwidth: float = Field(1e10, gt=0, description="B: memory bandwidth of one instance, bytes/s.")
    eta_c: float = Field(1.0, gt=0, le=4, description="Fitted fraction of P that layers reach.")
    eta_m: float = Field(1.0, gt=0, le=4, description="Fitted fraction of B that layers reach.")
    kappa_s: float = Field(5e-6, ge=0, description="Fitted cost of one kernel (operator) launch.")
    l0_s: float = Field(1e-4, ge=0, description="Fitted fixed cost of one model call.")
    decode: list[DecodePoint] = Field(default_factory=list, description="Decode + resize, per resolution.")
    triton_fixed_s: float = Field(4e-4, ge=0, description="Triton request, fixed part (client and server).")
    triton_grpc_s_per_mb: float = Field(3e-3, ge=0, description="Triton request over gRPC, per MB.")
    triton_shm_s_per_mb: float = Field(3e-4, ge=0, description="Triton request with system shm, per MB.")
    triton_exec_s: float = Field(2e-4, ge=0, description="Server-side cost of one python-backend execution.")
    driver_frame_s: float = Field(3e-4, ge=0, description="Driver's per-frame work (route, motion, track).")
    ray_fixed_s: float = Field(5e-4, ge=0, description="Ray actor call, fixed part.")
    ray_s_per_mb: float = Field(1e-2, ge=0, description="Ray actor call, per MB returned.")
    created: str = Field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )
    camfleet_version: str = Field(__version__, description="camfleet version that calibrated it.")
    notes: str = Field("", description="How it was calibrated.")

    def decode_s(self, width: int, height: int) -> float:
        """Seconds of one core to decode and resize one frame of ``width`` x ``height``.

        Interpolates linearly in pixels between the measured resolutions (cost = a + b * pixels, fitted
        through the nearest two points); with one point, scales it by pixels.
        """
        if not self.decode:
            raise ConfigError("the hardware profile has no decode figures; run `camfleet plan calibrate`")
        points = sorted((p.width * p.height, 1.0 / p.fps_per_core) for p in self.decode)
        pixels = width * height
        if len(points) == 1:
            return points[0][1] * pixels / points[0][0]
        upper = next((i for i in range(1, len(points)) if pixels <= points[i][0]), len(points) - 1)
        (x0, y0), (x1, y1) = points[upper - 1], points[upper]
        slope = (y1 - y0) / (x1 - x0) if x1 != x0 else 0.0
        # Below the smallest resolution the line may reach zero; never go below a pixel-scaled floor.
        return max(y0 + slope * (pixels - x0), 0.1 * y0 * pixels / x0)

    def triton_request_s(self, megabytes: float, *, shared_memory: bool) -> float:
        """Seconds of one Triton request carrying ``megabytes`` in and out."""
        per_mb = self.triton_shm_s_per_mb if shared_memory else self.triton_grpc_s_per_mb
        return self.triton_fixed_s + per_mb * megabytes

    def ray_call_s(self, megabytes: float) -> float:
        """Seconds of one Ray actor call returning ``megabytes``."""
        return self.ray_fixed_s + self.ray_s_per_mb * megabytes

    def save(self, path: Path | str) -> Path:
        """Write the profile as indented JSON and return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.model_dump(), indent=2) + "\n")
        return out


def load_hardware(path: Path | str | None = None) -> HardwareProfile:
    """Load a hardware profile; ``None`` or ``"auto"`` loads the shipped default CPU profile.

    Raises:
        ConfigError: if the file is missing, not JSON, of another schema version, or invalid.
    """
    source = DEFAULT_PROFILE_PATH if path is None or str(path) == "auto" else Path(path)
    try:
        data = json.loads(source.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"hardware profile {source} does not exist; run `camfleet plan calibrate`") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"hardware profile {source} is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and data.get("schema_version") != HARDWARE_SCHEMA_VERSION:
        raise ConfigError(
            f"hardware profile {source} has schema version {data.get('schema_version')!r}; this camfleet "
            f"reads version {HARDWARE_SCHEMA_VERSION}: run `camfleet plan calibrate` again"
        )
    try:
        profile = HardwareProfile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"hardware profile {source} is invalid: {problems}") from exc
    logger.debug("hardware profile %s: %s", source, profile.device)
    return profile
