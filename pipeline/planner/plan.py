"""Predict, per design, how many cameras a machine serves at a target fps, and what limits it.

The load model (stated here because the predictions stand on it):

* Arrivals: ``lambda = cameras * fps`` frames/s; route ``r`` (a served Triton model) gets ``share_r * lambda``
  and each model step ``m`` the sum over the routes that run it (``lambda_m``).
* Batches grow with load. Frames that arrive during one batching window form one batch, and the window is
  the client batcher's ``max_delay`` plus one service time of the model (frames that arrive while a batch
  is served wait for the next): ``b_m = lambda_m * (max_delay + l_m(b_m))``, solved by fixed-point
  iteration, at least 1 and at most ``max_batch``. A route's request batch is the same window over its own
  arrivals. So idle systems run at batch ~1 and loaded ones at the cap.
* Utilisation per resource (1.0 = fully busy):
  ``inference``: busiest model instance, ``lambda_m * (l_m(b_m) + exec) / b_m / instances`` (on a GPU, the
  device time of every model summed, since instances share one device);
  ``decode``: ``cameras * source_fps * decode_s / cores``;
  ``transport``: Triton requests/s times the request cost (one lane: the client's calls share the GIL);
  ``driver``: the driver thread's Ray ``take_batch`` calls (one per camera actor per round trip) plus its
  per-frame Python work; ``cpu``: every core-second of the host (on a CPU machine inference included)
  over ``cores``.
* Max cameras: the largest ``N`` with every utilisation <= ``max_utilisation`` (and the batching latency
  under ``latency_target_ms`` when given). Above it, achieved fps is ``lambda / max utilisation``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.errors import ConfigError
from pipeline.models.designs import DESIGNS
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import (
    DesignCost,
    decode_core_s_per_camera,
    design_cost,
    ray_call_s,
    transport_s,
)
from pipeline.planner.hardware import HardwareProfile

logger = logging.getLogger(__name__)

RESOURCES = ("inference", "decode", "transport", "driver", "cpu")


@dataclass(frozen=True)
class PlanSettings:
    """What the plan is for: stream settings and the serving stack's batching."""

    fps: float = 10.0
    resolution: tuple[int, int] = (640, 360)
    source_fps: float | None = None
    mix: Mapping[str, float] | None = None
    specialists: int | None = None
    max_batch: int = 32
    max_delay_s: float = 0.02
    cameras_per_actor: int = 4
    shared_memory: bool = True
    max_utilisation: float = 1.0
    latency_target_ms: float | None = None
    max_cameras: int = 4096

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.max_batch < 1 or self.max_delay_s < 0 or self.cameras_per_actor < 1:
            raise ConfigError("fps and max_batch must be positive, max_delay_s >= 0, cameras_per_actor >= 1")
        if not 0 < self.max_utilisation <= 1.5:
            raise ConfigError(f"max_utilisation must be in (0, 1.5], got {self.max_utilisation}")


@dataclass(frozen=True)
class OperatingPoint:
    """A design at one camera count: batches, utilisations, achieved fps and latency."""

    cameras: int
    offered_fps: float
    achieved_fps: float
    per_camera_fps: float
    batches: dict[str, float]
    utilisation: dict[str, float]
    frame_cost_ms: float
    latency_ms: float

    @property
    def bottleneck(self) -> str:
        """The resource with the highest utilisation."""
        return max(self.utilisation, key=lambda name: self.utilisation[name])


@dataclass(frozen=True)
class DesignPlan:
    """The prediction for one design."""

    design: str
    max_cameras: int
    capacity_fps: float
    bottleneck: str
    batches: dict[str, float]
    weight_mb: float
    frame_cost_ms: float
    recommendation: str
    at_request: OperatingPoint
    at_max: OperatingPoint | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = asdict(self)
        for key in ("at_request", "at_max"):
            point = getattr(self, key)
            if point is not None:
                data[key]["bottleneck"] = point.bottleneck
        return data


def _window_batch(rate: float, delay_s: float, service: Any, cap: int) -> float:
    """Fixed point of ``b = rate * (delay + service(b))`` in ``[1, cap]`` (iterated from below)."""
    batch = 1.0
    for _ in range(60):
        nxt = min(float(cap), max(1.0, rate * (delay_s + service(batch))))
        if abs(nxt - batch) < 1e-6:
            break
        batch = nxt
    return batch


def operating_point(
    cost: DesignCost, hardware: HardwareProfile, config: ModelConfig, cameras: int, settings: PlanSettings
) -> OperatingPoint:
    """Predict batches, utilisations and achieved throughput of ``cost``'s design at ``cameras``."""
    rate = cameras * settings.fps
    width, height = settings.resolution
    k = config.head.max_detections
    batches: dict[str, float] = {}
    busiest, device_s = 0.0, 0.0
    for model, share in cost.model_shares().items():
        model_rate = rate * share
        batch = _window_batch(
            model_rate,
            settings.max_delay_s,
            lambda b, m=model: cost.models[m].latency_s(hardware, b),
            settings.max_batch,
        )
        batches[model] = batch
        busy = model_rate * cost.step_frame_cost_s(hardware, model, batch)
        busiest = max(busiest, busy / hardware.instances)
        device_s += busy
    requests_s, route_latency = 0.0, 0.0
    for route in cost.routes:
        route_rate = rate * route.share
        route_batch = min(batches[step] for step in route.steps)
        requests_s += route_rate / route_batch
        transport = transport_s(
            hardware, route_batch, config.input_size, k, shared_memory=settings.shared_memory
        )
        route_latency = max(
            route_latency,
            settings.max_delay_s
            + transport
            + sum(cost.models[s].latency_s(hardware, batches[s]) for s in route.steps),
        )
    transport_busy = requests_s * transport_s(
        hardware, rate / max(requests_s, 1e-9), config.input_size, k, shared_memory=settings.shared_memory
    )
    actors = math.ceil(cameras / settings.cameras_per_actor)
    actor_rate = rate / actors
    # One take call per actor per round trip; a call carries every frame that arrived meanwhile.
    calls_per_actor = min(actor_rate, 1.0 / max(hardware.ray_fixed_s, 1e-4))
    frames_per_call = actor_rate / calls_per_actor
    driver_busy = actors * calls_per_actor * ray_call_s(hardware, frames_per_call, config.input_size)
    driver_busy += rate * hardware.driver_frame_s
    source_fps = settings.source_fps or settings.fps
    decode_core_s = cameras * decode_core_s_per_camera(hardware, width, height, source_fps)
    host_core_s = decode_core_s + transport_busy + driver_busy
    if hardware.device_kind == "cpu":
        host_core_s += device_s
        inference = busiest
    else:
        inference = device_s
    utilisation = {
        "inference": inference,
        "decode": decode_core_s / hardware.cores,
        "transport": transport_busy,
        "driver": driver_busy,
        "cpu": host_core_s / hardware.cores,
    }
    peak = max(utilisation.values())
    achieved = rate / max(1.0, peak)
    return OperatingPoint(
        cameras=cameras,
        offered_fps=rate,
        achieved_fps=achieved,
        per_camera_fps=achieved / cameras,
        batches={m: round(b, 2) for m, b in batches.items()},
        utilisation={r: round(u, 4) for r, u in utilisation.items()},
        frame_cost_ms=1e3 * cost.frame_cost_s(hardware, batches),
        latency_ms=1e3 * route_latency,
    )


def _fits(point: OperatingPoint, settings: PlanSettings) -> bool:
    if max(point.utilisation.values()) > settings.max_utilisation:
        return False
    return settings.latency_target_ms is None or point.latency_ms <= settings.latency_target_ms


def max_cameras(
    cost: DesignCost, hardware: HardwareProfile, config: ModelConfig, settings: PlanSettings
) -> tuple[int, OperatingPoint | None]:
    """Largest camera count that fits (0 if even one does not), scanning up then bisecting."""
    point = operating_point(cost, hardware, config, 1, settings)
    if not _fits(point, settings):
        return 0, None
    low, high, best = 1, 2, point
    while high <= settings.max_cameras:
        candidate = operating_point(cost, hardware, config, high, settings)
        if not _fits(candidate, settings):
            break
        low, best, high = high, candidate, high * 2
    high = min(high, settings.max_cameras + 1)
    while high - low > 1:
        mid = (low + high) // 2
        candidate = operating_point(cost, hardware, config, mid, settings)
        if _fits(candidate, settings):
            low, best = mid, candidate
        else:
            high = mid
    return low, best


def _recommend(design: str, cameras: int, fits: int, point: OperatingPoint) -> str:
    advice = {
        "inference": "a smaller model, fewer models per frame or more instances/GPU",
        "decode": "more decode cores or a lower camera resolution",
        "transport": "shared memory and bigger batches",
        "driver": "more cameras per actor or fewer, larger Ray calls",
        "cpu": "more cores (decode, transport and inference share them)",
    }[point.bottleneck]
    if fits >= cameras:
        return f"{design}: fits {cameras} cameras ({fits} at most); first limit: {point.bottleneck}"
    return f"{design}: only {fits} of {cameras} cameras; {point.bottleneck}-bound: try {advice}"


def plan(
    config: ModelConfig,
    hardware: HardwareProfile,
    *,
    cameras: int,
    settings: PlanSettings,
    designs: Sequence[str] | None = None,
) -> list[DesignPlan]:
    """Predict every design at ``cameras`` cameras and find its max cameras at ``settings.fps``.

    Returns:
        One :class:`DesignPlan` per design, best first (most cameras, then highest capacity).

    Raises:
        ConfigError: for an unknown design, a bad mix or a non-positive camera count.
    """
    if cameras < 1:
        raise ConfigError(f"--cameras must be >= 1, got {cameras}")
    plans = []
    for name in designs or list(DESIGNS):
        cost = design_cost(name, config, mix=settings.mix, specialists=settings.specialists)
        at_request = operating_point(cost, hardware, config, cameras, settings)
        fits, at_max = max_cameras(cost, hardware, config, settings)
        saturated = operating_point(cost, hardware, config, max(cameras, fits, 1) * 4, settings)
        capacity = max(at_request.achieved_fps, saturated.achieved_fps, at_max.achieved_fps if at_max else 0)
        # The bottleneck is what stops growth: the busiest resource just past the last camera that fits.
        shown = operating_point(cost, hardware, config, fits + 1, settings)
        plans.append(
            DesignPlan(
                design=name,
                max_cameras=fits,
                capacity_fps=round(capacity, 1),
                bottleneck=shown.bottleneck,
                batches=at_request.batches,
                weight_mb=round(cost.weight_bytes / 1e6, 2),
                frame_cost_ms=round(at_request.frame_cost_ms, 3),
                recommendation=_recommend(name, cameras, fits, shown),
                at_request=at_request,
                at_max=at_max,
            )
        )
    plans.sort(key=lambda p: (-p.max_cameras, -p.capacity_fps))
    logger.debug("plan ranking: %s", [p.design for p in plans])
    return plans
