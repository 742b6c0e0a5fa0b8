"""The hardware profile the planner predicts from: operator cost lines, serving and pipeline overheads.

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
from pipeline.planner.operators import KindFit, OperatorModel
from pipeline.planner.speed import SpeedReference

logger = logging.getLogger(__name__)

HARDWARE_SCHEMA_VERSION: Literal[2] = 2
DEFAULT_PROFILE_PATH = Path(__file__).with_name("default_cpu_profile.json")
MB = 1e6


class DecodePoint(BaseModel):
    """One measured decode figure: H.264 decode plus resize to the model input, on one core."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(gt=0, description="Source width in pixels.")
    height: int = Field(gt=0, description="Source height in pixels.")
    fps_per_core: float = Field(gt=0, description="Frames decoded and resized per second on one core.")


class HardwareProfile(BaseModel):
    """Figures of one machine for the planner's system model (``docs/planner.md``).

    Every figure comes from a probe that does not depend on any model config: sampled operators (the
    operator model), the bundled Triton serving no-op python models (request and ensemble-step costs), and
    the real pipeline running a no-op model (per-frame CPU of the workers and of everything else). Times
    are in seconds of one core unless named otherwise.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = HARDWARE_SCHEMA_VERSION
    device: str = Field("cpu", description="Device name, e.g. 'cpu (2 cores)' or 'NVIDIA H100 80GB HBM3'.")
    device_kind: Literal["cpu", "cuda"] = Field("cpu", description="Where inference runs.")
    cores: int = Field(
        1, ge=1, description="Host CPU cores (decode, workers, Triton and, on CPU, inference)."
    )
    usable_cores: float = Field(
        1.0, gt=0, description="Cores' worth of work the machine does in parallel (measured with threads)."
    )
    threads: int = Field(1, ge=1, description="Torch threads of one model instance when calibrated.")
    operators: OperatorModel = Field(default_factory=OperatorModel, description="Per-operator cost lines.")
    serving_scale: float = Field(
        1.0, gt=0, description="Served layers' time and CPU over the operator model's prediction (slope)."
    )
    serving_fixed_s: float = Field(0.0, ge=0, description="A Triton execution's fixed time (intercept).")
    serving_rms_error: float | None = Field(None, description="Of that line on the probe networks served.")
    decode: list[DecodePoint] = Field(default_factory=list, description="Decode + resize, per resolution.")
    decode_in_worker: float = Field(
        1.0, gt=0, description="Decode CPU in a camera worker over the bare decode probe (threads, sampling)."
    )
    triton_request_cpu_s: float = Field(
        4e-4, ge=0, description="Server CPU of one request to a python model (gRPC, shared memory, stub)."
    )
    triton_step_cpu_s: float = Field(
        3e-4, ge=0, description="Server CPU of each further ensemble step (a python-backend execution)."
    )
    triton_cpu_s_per_mb: float = Field(
        2e-4, ge=0, description="Server CPU per MB of frames a request carries."
    )
    triton_feature_cpu_s_per_mb: float | None = Field(
        None,
        ge=0,
        description="Server CPU per MB of features an ensemble step reads from the step before it "
        "(out of one stub, into the next); None in profiles from before the hand-off probe.",
    )
    client_request_cpu_s: float = Field(
        3e-4, ge=0, description="Worker CPU of one request (Triton client threads, shared-memory copies)."
    )
    worker_fixed_cores: float = Field(
        0.0,
        ge=0,
        description="Cores one camera worker process uses beside its frame threads (Ray runtime, status).",
    )
    worker_frame_cpu_s: float = Field(
        5e-4, ge=0, description="Worker loop CPU per inferred frame (routing, batching, results), no boxes."
    )
    worker_detection_cpu_s: float = Field(
        1e-5, ge=0, description="Worker loop CPU per detection kept (decoding, ByteTrack, events)."
    )
    other_frame_cpu_s: float = Field(
        2e-4, ge=0, description="CPU per frame outside workers and Triton (Redis, Ray, controller)."
    )
    other_fixed_cores: float = Field(
        0.05, ge=0, description="Cores the idle rest of the stack uses (Ray, Redis, controller, monitors)."
    )
    speed: SpeedReference | None = Field(
        None,
        description="The machine-speed reference timed around the calibration (pipeline.planner.speed); "
        "`plan validate --scale-speed` scales the CPU costs by a load test's reading against it.",
    )
    created: str = Field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )
    camfleet_version: str = Field(__version__, description="camfleet version that calibrated it.")
    calibration_s: float = Field(0.0, ge=0, description="Wall seconds the calibration took.")
    notes: str = Field("", description="How it was calibrated.")

    def decode_s(self, width: int, height: int) -> float:
        """Seconds of one core to decode and resize one frame of ``width`` x ``height`` in a worker.

        Interpolates linearly in pixels between the measured resolutions (cost = a + b * pixels, fitted
        through the nearest two points); with one point, scales it by pixels.
        """
        if not self.decode:
            raise ConfigError("the hardware profile has no decode figures; run `camfleet plan calibrate`")
        points = sorted((p.width * p.height, 1.0 / p.fps_per_core) for p in self.decode)
        pixels = width * height
        if len(points) == 1:
            return self.decode_in_worker * points[0][1] * pixels / points[0][0]
        upper = next((i for i in range(1, len(points)) if pixels <= points[i][0]), len(points) - 1)
        (x0, y0), (x1, y1) = points[upper - 1], points[upper]
        slope = (y1 - y0) / (x1 - x0) if x1 != x0 else 0.0
        # Below the smallest resolution the line may reach zero; never go below a pixel-scaled floor.
        bare = max(y0 + slope * (pixels - x0), 0.1 * y0 * pixels / x0)
        return self.decode_in_worker * bare

    def scaled(self, factor: float) -> HardwareProfile:
        """This profile on a machine ``factor`` times slower (every CPU cost times ``factor``).

        Cores stay as they are: a slower machine does the same work in more CPU, not on fewer cores.
        """
        if factor <= 0:
            raise ConfigError(f"a speed factor must be positive, got {factor}")

        def kind(fit: KindFit) -> KindFit:
            return fit.model_copy(update={name: getattr(fit, name) * factor for name in KindFit.COSTS})

        ops = self.operators
        cpu_figures = (
            "serving_fixed_s",
            "triton_request_cpu_s",
            "triton_step_cpu_s",
            "triton_cpu_s_per_mb",
            "client_request_cpu_s",
            "worker_fixed_cores",
            "worker_frame_cpu_s",
            "worker_detection_cpu_s",
            "other_frame_cpu_s",
            "other_fixed_cores",
        )
        update: dict[str, object] = {name: getattr(self, name) * factor for name in cpu_figures}
        update["operators"] = ops.model_copy(
            update={
                "call_s": ops.call_s * factor,
                "conv": kind(ops.conv),
                "elementwise": kind(ops.elementwise),
                "decoder": kind(ops.decoder),
            }
        )
        if self.triton_feature_cpu_s_per_mb is not None:
            update["triton_feature_cpu_s_per_mb"] = self.triton_feature_cpu_s_per_mb * factor
        update["decode"] = [
            point.model_copy(update={"fps_per_core": point.fps_per_core / factor}) for point in self.decode
        ]
        return self.model_copy(update=update)

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
