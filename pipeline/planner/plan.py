"""The system model: predict, per design, what the whole pipeline does at a camera count, and what limits it.

The model follows the pipeline as it runs (``docs/planner.md`` states it with the evidence):

* **Serving shape.** Triton's CPU models get the instances and torch threads that
  :func:`pipeline.serving.cpu_plan.plan_cpu` gives this machine and these cameras (the rule the server
  itself applies at start-up); on a GPU every model step shares one device.
* **Batches.** Cameras fill camera workers of ``cameras_per_worker`` in order. Each worker batches per
  served model: a request closes after ``window_s`` or at the batch target, the largest batch whose
  service time (transport, every ensemble step, slowed by the CPU the rest of the pipeline takes) fits half
  the latency budget. While the design keeps up, a request carries the frames that arrive in one window;
  when it cannot at those batches, frames queue and requests grow toward the target just as far as
  serves the offered rate (or to the target). A worker's arrivals on a condition route are its own
  cameras' on it, laid out condition by condition.
* **Executions.** Triton's dynamic batcher merges the requests that queue at a model step while its
  instances are busy (from every worker, and for a shared trunk from every route), so an execution runs
  ``max(1, requests/s x execution time / instances)`` requests: one while the server idles between
  requests, more as it stays busy, at most ``MAX_BATCH_SIZE`` frames. Inference costs follow the execution
  batch; the client's and the server's per-request costs follow the request.
* **Costs per frame.** Every stage is a CPU cost: decode (per camera frame, paid even for frames dropped
  later), the worker's loop (per frame and per detection kept), the Triton client and server per request
  (and per ensemble step), inference (each model step at its batch, ``torch threads x latency / batch``)
  and the rest of the stack. On a CPU machine all of them share ``usable_cores``; on a GPU inference is
  device time instead.
* **Throughput** at ``N`` cameras is the offered rate or, if less, the rate the cores sustain after
  decoding all ``N`` cameras (so throughput falls past saturation, as measured), and no more than each
  model's instances can run. The knee is the most cameras whose whole rate the model carries (the
  pipeline's own losses near capacity are the load tester's 5% allowance).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.config import BatchingConfig, RayConfig
from pipeline.errors import ConfigError
from pipeline.models.designs import DESIGNS
from pipeline.models.model_config import ModelConfig
from pipeline.planner.cost import DesignCost, Route, assign_conditions, design_cost, frame_bytes
from pipeline.planner.hardware import MB, HardwareProfile
from pipeline.serving.repository import MAX_BATCH_SIZE

logger = logging.getLogger(__name__)

STAGES = ("decode", "worker", "client", "server", "inference", "rest")
"""Where a frame's CPU goes, in the order ``--explain`` prints it."""
_FIXED_POINT_ROUNDS = 8
_MERGE_ROUNDS = 20
_FILL_ROUNDS = 12
_BATCHING = BatchingConfig()
"""The pipeline's batching defaults, which a plan assumes unless told otherwise."""
_WORKERS = RayConfig()
"""The pipeline's default spread of cameras over camera workers."""


@dataclass(frozen=True)
class PlanSettings:
    """What the plan is for: the cameras and the pipeline's batching settings."""

    fps: float = 10.0
    resolution: tuple[int, int] = (640, 360)
    source_fps: float | None = None
    mix: Mapping[str, float] | None = None
    specialists: int | None = None
    max_batch: int = _BATCHING.max_batch
    latency_budget_s: float = _BATCHING.latency_budget_s
    window_s: float = _BATCHING.window_s
    cameras_per_worker: int = _WORKERS.cameras_per_worker
    max_in_flight: int = _BATCHING.max_in_flight
    """Most requests a worker keeps in flight per model (the batching config's cap)."""
    detections_per_frame: float | None = 4.0
    """Detections kept per frame (tracked, evented): a few for a trained detector on a street scene;
    None: every one of the K rows (the worst case, near what some untrained weights give)."""
    inference_cores: int | None = None
    latency_target_ms: float | None = None
    max_cameras: int = 512

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.max_batch < 1 or self.window_s < 0 or self.cameras_per_worker < 1:
            raise ConfigError("fps and max_batch must be positive, window_s >= 0, cameras_per_worker >= 1")
        if self.latency_budget_s <= 2 * self.window_s:
            raise ConfigError("the latency budget must exceed twice the batching window")


@dataclass(frozen=True)
class StageCosts:
    """Core-milliseconds per inferred frame of every stage, at one operating point."""

    decode: float
    worker: float
    client: float
    server: float
    inference: float
    rest: float

    @property
    def total(self) -> float:
        """All stages together."""
        return self.decode + self.worker + self.client + self.server + self.inference + self.rest

    def as_dict(self) -> dict[str, float]:
        """Stage -> core-ms per frame, rounded for printing."""
        return {stage: round(getattr(self, stage), 3) for stage in STAGES}


@dataclass(frozen=True)
class OperatingPoint:
    """A design at one camera count: batches, costs, achieved fps, latency and what binds."""

    cameras: int
    offered_fps: float
    achieved_fps: float
    per_camera_fps: float
    batches: dict[str, float]
    """Frames per request of each served model (what the batcher sends)."""
    stage_ms: StageCosts
    inference_ms: dict[str, float]
    """Core-ms per frame of each model step (its share of the frames included)."""
    slowdown: float
    """How much slower a model runs than alone, because the rest of the pipeline takes CPU."""
    utilisation: float
    latency_ms: float
    binding: str
    """``cpu``, ``device``, ``instances:<model>`` or ``in-flight``: what caps throughput here (``none``
    below it)."""
    executions: dict[str, float] = field(default_factory=dict)
    """Frames per Triton execution of each model step (requests merged by Triton's dynamic batcher)."""

    @property
    def bottleneck(self) -> str:
        """What limits the design at this point (the binding limit, or the biggest cost below it)."""
        if self.binding != "none":
            return self.binding
        return max(STAGES, key=lambda stage: getattr(self.stage_ms, stage))

    @property
    def frame_cost_ms(self) -> float:
        """Inference core-ms per frame (all model steps)."""
        return self.stage_ms.inference

    @property
    def meets_target(self) -> bool:
        """True when the model carries every camera's whole rate: the load tester's 95% of the target fps.

        The model is a fluid one (throughput is the offered rate up to capacity), and the pipeline is
        not: near capacity, bursts of frames that arrive together and the stale-frame drops of the
        latency budget already cost cameras about 5% of their frames (load tests of 2026-12-07/08: 0.91
        to 0.95 of the target at an offered rate equal to the capacity). So the model's 100% is the
        tester's 95%. Counting the model's 95% put knees 1-5 cameras high: of 20 knees of 2026-12-08,
        60% within a sweep step against 85% this way; of two sets of 2026-12-07, 70% and 55% against 85%
        and 60%.
        """
        return self.achieved_fps >= self.offered_fps * (1.0 - 1e-9)


@dataclass(frozen=True)
class DesignPlan:
    """The prediction for one design."""

    design: str
    max_cameras: int
    capacity_fps: float
    bottleneck: str
    batches: dict[str, float]
    weight_mb: float
    memory_mb: float
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


@dataclass(frozen=True)
class _Served:
    """What the design's batches come to at one camera count (:meth:`_DesignModel.served`)."""

    batches: dict[str, float]
    executions: dict[str, float]
    capacity: float
    limit: str
    queued: bool
    """Frames wait in the workers for a request (it cannot keep up at one window's batches)."""


@dataclass(frozen=True)
class _Serving:
    instances: int
    threads: int


def _serving(hardware: HardwareProfile, cameras: int, settings: PlanSettings) -> _Serving:
    if hardware.device_kind == "cuda":
        return _Serving(instances=1, threads=hardware.threads)
    from pipeline.serving.cpu_plan import plan_cpu

    cpu = plan_cpu(
        [settings.source_fps or settings.fps] * cameras,
        cores=hardware.cores,
        inference_cores=settings.inference_cores,
    )
    return _Serving(instances=cpu.instances, threads=cpu.torch_threads)


def _thread_scale(hardware: HardwareProfile, threads: int) -> float:
    """Latency at ``threads`` torch threads over latency at the calibrated threads.

    Intra-op parallelism on these small layers is far from perfect; each doubling past the calibrated count
    is charged 1.7x speed-up (a conservative figure; calibrate at the threads you serve with for better).
    """
    if threads == hardware.threads:
        return 1.0
    return float((threads / hardware.threads) ** -math.log2(1.7))


class _DesignModel:
    """The system model of one design on one machine (the module docstring states it)."""

    def __init__(
        self, cost: DesignCost, hardware: HardwareProfile, config: ModelConfig, settings: PlanSettings
    ) -> None:
        self.cost = cost
        self.hardware = hardware
        self.config = config
        self.settings = settings
        self.detections = (
            settings.detections_per_frame
            if settings.detections_per_frame is not None
            else float(config.head.max_detections)
        )
        self.frame_mb = (frame_bytes(config.input_size) + config.head.max_detections * 24) / MB
        self.lines = {name: model.latency_line(hardware) for name, model in cost.models.items()}

    def step_core_s(self, model: str, batch: float, serving: _Serving) -> float:
        """CPU seconds of one execution of ``model`` on ``batch`` frames: its layers at serving threads.

        The layers are the operator model's sum, times the serving line's scale: composed and served
        by Triton's stub they run slower than the operators timed alone, and the stub computes them on
        its own threads, so the CPU follows the time.
        """
        fixed, per_frame = self.lines[model]
        layers_s = (fixed + per_frame * batch) * _thread_scale(self.hardware, serving.threads)
        seconds = self.hardware.serving_scale * layers_s
        if self.cost.models[model].reads_features:
            seconds += self.feature_handoff_s(batch * self.cost.models[model].input_bytes)
        return seconds

    def feature_handoff_s(self, feature_bytes: float) -> float:
        """CPU seconds of handing ``feature_bytes`` from a trunk's stub to a head's (Triton's hand-off probe).

        Profiles from before that probe charge the two copies at the element-wise operator rate.
        """
        per_mb = self.hardware.triton_feature_cpu_s_per_mb
        if per_mb is None:
            return self.hardware.operators.elementwise.per_byte_s * 2 * feature_bytes
        return per_mb * feature_bytes / MB

    def step_latency_s(self, model: str, batch: float, serving: _Serving) -> float:
        """Wall seconds of one Triton execution: the layers as Triton runs them (calibrated line).

        The line's fixed part is the stub's hand-off, mostly waiting rather than computing, so it
        lengthens service times (and so shrinks the batcher's targets) without costing CPU.
        """
        return self._served_s(self.step_core_s(model, batch, serving))

    def _served_s(self, layers_s: float) -> float:
        """Wall seconds of a Triton execution whose (served) layers take ``layers_s``: the hand-off added."""
        return layers_s + self.hardware.serving_fixed_s

    def server_request_s(self, route: Route, batch: float) -> float:
        """Triton CPU of one request of ``batch`` frames on ``route``: the request, each further step."""
        hw = self.hardware
        server = hw.triton_request_cpu_s + (len(route.steps) - 1) * hw.triton_step_cpu_s
        return server + hw.triton_cpu_s_per_mb * batch * self.frame_mb

    def route_service_s(self, route: Route, batch: float, serving: _Serving) -> float:
        """Seconds from sending a request of ``batch`` frames on ``route`` to its answer, uncontended.

        Sequential steps add up. Triton's ensemble scheduler starts the parallel members together: their
        hand-offs overlap, and their layers share the cores (never faster than the slowest member alone).
        """
        sequential = [step for step in route.steps if step not in route.parallel]
        steps = sum(self.step_latency_s(step, batch, serving) for step in sequential)
        if route.parallel:
            layers = [self.step_core_s(step, batch, serving) for step in route.parallel]
            sharing = min(len(layers), max(self.hardware.usable_cores / serving.threads, 1.0))
            steps += self._served_s(max(max(layers), sum(layers) / sharing))
        return self.hardware.client_request_cpu_s + self.server_request_s(route, batch) + steps

    def batch_target(self, route: Route, slowdown: float, serving: _Serving) -> float:
        """The batcher's target: the largest batch whose slowed service time fits half the budget."""
        budget = self.settings.latency_budget_s / 2
        best = 1
        for batch in range(2, self.settings.max_batch + 1):
            if slowdown * self.route_service_s(route, batch, serving) > budget:
                break
            best = batch
        return float(best)

    def workers(self, cameras: int) -> list[int]:
        """Cameras per worker: workers fill to ``cameras_per_worker`` in order."""
        per = self.settings.cameras_per_worker
        full, rest = divmod(cameras, per)
        return [per] * full + ([rest] if rest else [])

    def route_cameras(self, cameras: int) -> dict[str, list[float]]:
        """Cameras each worker sends on each route (by served model), worker by worker.

        Cameras are laid out condition by condition (:func:`~pipeline.planner.cost.assign_conditions`)
        and workers fill in order, so a condition route gets most of some workers' cameras and none of
        others'. A route no camera takes at this count gets an even split of every worker instead.
        """
        groups = self.workers(cameras)
        layout = assign_conditions(cameras, self.settings.mix)
        shares: dict[str, list[float]] = {}
        for route in self.cost.routes:
            first, mine = 0, []
            for members in groups:
                own = layout[first : first + members]
                first += members
                mine.append(
                    sum(c in route.conditions for c in own) if route.conditions else members * route.share
                )
            if sum(mine) <= 0:
                mine = [members * route.share for members in groups]
            shares[route.served] = mine
        return shares

    def request_batches(self, cameras: int, slowdown: float, serving: _Serving) -> dict[str, float]:
        """Frames per request of each route while the design keeps up: one window's arrivals per worker.

        At most the target (:meth:`served` fills them further when the design cannot keep up). A worker's
        arrivals on a route are its own cameras' on it (:meth:`route_cameras`), so a condition route gets
        fuller requests than an even split. The batch of a route is the frame-weighted harmonic mean over
        workers (what sets requests per frame).
        """
        batches: dict[str, float] = {}
        fps = self.settings.fps
        per_route = self.route_cameras(cameras)
        for route in self.cost.routes:
            target = self.batch_target(route, slowdown, serving)
            shares = per_route[route.served]
            total = sum(shares)
            requests_per_frame = sum(
                (on_route / total) / min(target, 1.0 + on_route * fps * self.settings.window_s)
                for on_route in shares
                if on_route > 0
            )
            batches[route.served] = 1.0 / requests_per_frame
        return batches

    def in_flight_fps(
        self, cameras: int, batches: Mapping[str, float], serving: _Serving, slowdown: float
    ) -> float:
        """Frames/s the workers' requests in flight carry: what the rest of the machine cannot lift.

        A worker keeps at most ``max_in_flight`` requests of a route in flight, and no more than the
        route's model instances (the batcher's rule), each of ``batch`` frames for one slowed service
        time. A route whose service is long against its batch (a wide ensemble in a 200 ms budget) then
        caps what one worker sends, however many cores are free; frames beyond it are dropped.
        """
        allowed = min(self.settings.max_in_flight, serving.instances)
        per_route = self.route_cameras(cameras)
        lost = 0.0
        for route in self.cost.routes:
            batch = batches[route.served]
            carried = allowed * batch / (slowdown * self.route_service_s(route, batch, serving))
            for on_route in per_route[route.served]:
                lost += max(0.0, on_route * self.settings.fps - carried)
        return cameras * self.settings.fps - lost

    def execution_batches(
        self, batches: Mapping[str, float], achieved: float, slowdown: float, serving: _Serving
    ) -> dict[str, float]:
        """Frames per Triton execution of each model step: the requests its dynamic batcher merges.

        A step receives ``rate`` requests/s (from every route that runs it) of ``request`` frames on
        average. The requests that arrive while its instances are busy queue and go out together in the
        next execution, so an execution runs ``n = max(1, rate x wall(n x request) / instances)`` requests,
        ``wall`` the execution's slowed wall time: one while the server idles between requests, more as it
        stays busy (solved by iterating from one up), at most ``MAX_BATCH_SIZE`` frames.
        """
        frames: dict[str, float] = {}
        requests: dict[str, float] = {}
        for route in self.cost.routes:
            rate = achieved * route.share
            for step in route.steps:
                frames[step] = frames.get(step, 0.0) + rate
                requests[step] = requests.get(step, 0.0) + rate / batches[route.served]
        executions: dict[str, float] = {}
        for step, rate in requests.items():
            request = frames[step] / rate if rate > 0 else 1.0
            most = max(MAX_BATCH_SIZE / request, 1.0)
            merged = 1.0
            for _ in range(_MERGE_ROUNDS):
                wall = slowdown * self.step_latency_s(step, merged * request, serving)
                merged = min(most, max(1.0, rate * wall / serving.instances))
            executions[step] = merged * request
        return executions

    def costs(
        self,
        cameras: int,
        batches: Mapping[str, float],
        executions: Mapping[str, float],
        serving: _Serving,
        achieved: float,
    ) -> tuple[StageCosts, dict[str, float], float]:
        """Core-ms per inferred frame of every stage, each step's inference, and the requests per frame.

        Per-request costs follow the request ``batches``; inference follows each step's ``executions``.
        """
        hw = self.hardware
        requests_per_frame, server_s = 0.0, 0.0
        for route in self.cost.routes:
            batch = batches[route.served]
            requests_per_frame += route.share / batch
            server_s += route.share * self.server_request_s(route, batch) / batch
        inference: dict[str, float] = {}
        for step, share in self.cost.model_shares().items():
            batch = executions[step]
            inference[step] = 1e3 * share * serving.threads * self.step_core_s(step, batch, serving) / batch
        width, height = self.settings.resolution
        source_fps = self.settings.source_fps or self.settings.fps
        decode_per_camera = source_fps * hw.decode_s(width, height)
        decode_ms = 1e3 * cameras * decode_per_camera / max(achieved, 1e-9)
        worker_fixed_ms = 1e3 * len(self.workers(cameras)) * hw.worker_fixed_cores / max(achieved, 1e-9)
        worker_ms = worker_fixed_ms + 1e3 * (
            hw.worker_frame_cpu_s + self.detections * hw.worker_detection_cpu_s
        )
        rest_ms = 1e3 * (hw.other_frame_cpu_s + hw.other_fixed_cores / max(achieved, 1e-9))
        on_gpu = hw.device_kind == "cuda"
        stages = StageCosts(
            decode=decode_ms,
            worker=worker_ms,
            client=1e3 * hw.client_request_cpu_s * requests_per_frame,
            server=1e3 * server_s,
            inference=0.0 if on_gpu else sum(inference.values()),
            rest=rest_ms,
        )
        return stages, inference, requests_per_frame

    def capacity(
        self,
        cameras: int,
        batches: Mapping[str, float],
        executions: Mapping[str, float],
        serving: _Serving,
        slowdown: float,
    ) -> tuple[float, str]:
        """Frames/s the machine sustains at these batches with ``cameras`` decoding, and what binds."""
        hw = self.hardware
        probe = max(cameras * self.settings.fps, 1.0)
        stages, inference, _ = self.costs(cameras, batches, executions, serving, probe)
        decode_cores = stages.decode * probe / 1e3
        fixed_cores = hw.other_fixed_cores + len(self.workers(cameras)) * hw.worker_fixed_cores
        per_frame_s = (stages.total - stages.decode) / 1e3 - fixed_cores / probe
        free = hw.usable_cores - decode_cores - fixed_cores
        limits = {"cpu": max(free, 0.0) / max(per_frame_s, 1e-9)}
        if hw.device_kind == "cuda":
            limits["device"] = 1e3 / max(sum(inference.values()), 1e-9)
        else:
            for step, share in self.cost.model_shares().items():
                batch = executions[step]
                busy = share * self.step_latency_s(step, batch, serving) / batch
                limits[f"instances:{step}"] = serving.instances / max(busy, 1e-12)
        limits["in-flight"] = self.in_flight_fps(cameras, batches, serving, slowdown)
        binding = min(limits, key=lambda name: limits[name])
        return limits[binding], binding

    def slowdown(
        self,
        cameras: int,
        achieved: float,
        batches: Mapping[str, float],
        executions: Mapping[str, float],
        serving: _Serving,
    ) -> float:
        """How much slower inference runs because decode, workers and the rest take their share of cores."""
        if self.hardware.device_kind == "cuda":
            return 1.0
        stages, _, _ = self.costs(cameras, batches, executions, serving, achieved)
        other_cores = (stages.total - stages.inference) * achieved / 1e3
        free = self.hardware.usable_cores - other_cores
        return max(1.0, self.hardware.usable_cores / max(free, 0.25))

    def served(self, cameras: int, achieved: float, slowdown: float, serving: _Serving) -> _Served:
        """Request and execution batches, capacity and what binds it at ``cameras`` cameras.

        While the design keeps up, a request carries one window's arrivals (:meth:`request_batches`).
        When it cannot keep up at those batches, frames queue in the workers and each request takes what
        queued, up to the batcher's target: every route's request grows from its window batch toward its
        target (the same fraction of the way for all) just as far as serves the offered rate, or to the
        target when even that does not. Bigger requests cost less per frame, so the design serves more
        than it would at window batches; the load tests measured 9-11 frames a request for default
        specialists-condition at and past its knee, where a window holds 4.
        """
        offered = cameras * self.settings.fps
        window = self.request_batches(cameras, slowdown, serving)
        targets = {
            route.served: max(window[route.served], self.batch_target(route, slowdown, serving))
            for route in self.cost.routes
        }

        def at(fill: float) -> _Served:
            batches = {name: batch + fill * (targets[name] - batch) for name, batch in window.items()}
            executions = self.execution_batches(batches, achieved, slowdown, serving)
            capacity, limit = self.capacity(cameras, batches, executions, serving, slowdown)
            return _Served(batches, executions, capacity, limit, queued=fill > 0)

        keeping_up = at(0.0)
        if keeping_up.capacity >= offered:
            return keeping_up
        full = at(1.0)
        if full.capacity < offered:
            return full
        low, high = 0.0, 1.0  # capacity grows with the fill: bisect for the least fill that serves
        for _ in range(_FILL_ROUNDS):
            middle = (low + high) / 2
            low, high = (middle, high) if at(middle).capacity < offered else (low, middle)
        return at(high)

    def point(self, cameras: int) -> OperatingPoint:
        """The operating point at ``cameras`` cameras."""
        serving = _serving(self.hardware, cameras, self.settings)
        offered = cameras * self.settings.fps
        slowdown = 1.0
        queued = False
        achieved, binding = offered, "none"
        batches: dict[str, float] = {}
        executions: dict[str, float] = {}
        for _ in range(_FIXED_POINT_ROUNDS):
            served = self.served(cameras, achieved, slowdown, serving)
            batches, executions, queued = served.batches, served.executions, served.queued
            new_achieved = min(offered, served.capacity)
            binding = served.limit if served.capacity < offered else "none"
            new_slowdown = self.slowdown(cameras, new_achieved, batches, executions, serving)
            settled = abs(new_slowdown - slowdown) < 1e-3 and abs(new_achieved - achieved) < 1e-3 * offered
            achieved, slowdown = new_achieved, new_slowdown
            if settled:
                break
        stages, inference, _ = self.costs(cameras, batches, executions, serving, achieved)
        utilisation = stages.total * achieved / 1e3 / self.hardware.usable_cores
        latency = self.latency_ms(cameras, batches, serving, slowdown, queued)
        return OperatingPoint(
            cameras=cameras,
            offered_fps=offered,
            achieved_fps=achieved,
            per_camera_fps=achieved / cameras,
            batches={name: round(b, 2) for name, b in batches.items()},
            stage_ms=stages,
            inference_ms={m: round(v, 3) for m, v in inference.items()},
            slowdown=round(slowdown, 3),
            utilisation=round(utilisation, 3),
            latency_ms=latency,
            binding=binding,
            executions={step: round(b, 2) for step, b in executions.items()},
        )

    def latency_ms(
        self, cameras: int, batches: Mapping[str, float], serving: _Serving, slowdown: float, queued: bool
    ) -> float:
        """Capture to result, typical frame: half a window of waiting, then the slowed service time.

        Queued (overloaded), a frame waits for the batch in service and its own, which the budget bounds.
        """
        worst = 0.0
        for route in self.cost.routes:
            service = slowdown * self.route_service_s(route, batches[route.served], serving)
            wait = service if queued else self.settings.window_s / 2
            worst = max(worst, wait + service)
        return round(1e3 * worst, 1)


def operating_point(
    cost: DesignCost, hardware: HardwareProfile, config: ModelConfig, cameras: int, settings: PlanSettings
) -> OperatingPoint:
    """Predict batches, stage costs and achieved throughput of ``cost``'s design at ``cameras``."""
    return _DesignModel(cost, hardware, config, settings).point(cameras)


def _fits(point: OperatingPoint, settings: PlanSettings) -> bool:
    if not point.meets_target:
        return False
    return settings.latency_target_ms is None or point.latency_ms <= settings.latency_target_ms


def max_cameras(
    cost: DesignCost, hardware: HardwareProfile, config: ModelConfig, settings: PlanSettings
) -> tuple[int, OperatingPoint | None]:
    """Most cameras that meet the target (:attr:`OperatingPoint.meets_target`; 0 if even one does not)."""
    model = _DesignModel(cost, hardware, config, settings)
    point = model.point(1)
    if not _fits(point, settings):
        return 0, None
    low, high, best = 1, 2, point
    while high <= settings.max_cameras:
        candidate = model.point(high)
        if not _fits(candidate, settings):
            break
        low, best, high = high, candidate, high * 2
    high = min(high, settings.max_cameras + 1)
    while high - low > 1:
        mid = (low + high) // 2
        candidate = model.point(mid)
        if _fits(candidate, settings):
            low, best = mid, candidate
        else:
            high = mid
    return low, best


def saturated_fps(
    cost: DesignCost,
    hardware: HardwareProfile,
    config: ModelConfig,
    settings: PlanSettings,
    cameras: Sequence[int],
) -> float:
    """The most frames/s the design reaches over ``cameras`` (a load test's swept counts)."""
    model = _DesignModel(cost, hardware, config, settings)
    return max(model.point(count).achieved_fps for count in cameras)


def memory_mb(cost: DesignCost, hardware: HardwareProfile, settings: PlanSettings, cameras: int) -> float:
    """Triton memory: every instance's weights plus a full batch of its largest activation (x2: in/out)."""
    serving = _serving(hardware, cameras, settings)
    total = 0.0
    for model in cost.models.values():
        per_instance = model.weight_bytes + 2 * settings.max_batch * model.peak_activation_bytes()
        total += serving.instances * per_instance
    return round(total / MB, 1)


_ADVICE = {
    "cpu": "more cores, a cheaper design, or a larger latency budget (bigger batches cost less per frame)",
    "device": "a smaller model, fewer models per frame or a second GPU",
    "instances": "more Triton instances (triton.inference_cores) or a GPU",
    "in-flight": "more camera workers (fewer cameras per worker), a larger latency budget or a faster model",
}


def _recommend(design: str, cameras: int, fits: int, point: OperatingPoint) -> str:
    limit = point.binding.split(":")[0] if point.binding != "none" else "cpu"
    if fits >= cameras:
        return f"{design}: fits {cameras} cameras ({fits} at most); first limit: {point.binding}"
    return f"{design}: only {fits} of {cameras} cameras; {point.binding}-bound: try {_ADVICE[limit]}"


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
        model = _DesignModel(cost, hardware, config, settings)
        at_request = model.point(cameras)
        fits, at_max = max_cameras(cost, hardware, config, settings)
        # Past the knee, throughput peaks and then falls as decode takes more cores: scan a few counts.
        scan = sorted({fits, fits + 1, fits + 2, cameras, max(1, fits) * 2} - {0})
        capacity = max(model.point(count).achieved_fps for count in scan)
        shown = model.point(fits + 1)
        plans.append(
            DesignPlan(
                design=name,
                max_cameras=fits,
                capacity_fps=round(capacity, 1),
                bottleneck=shown.bottleneck,
                batches=at_request.batches,
                weight_mb=round(cost.weight_bytes / 1e6, 2),
                memory_mb=memory_mb(cost, hardware, settings, cameras),
                frame_cost_ms=round(at_request.frame_cost_ms, 3),
                recommendation=_recommend(name, cameras, fits, shown),
                at_request=at_request,
                at_max=at_max,
            )
        )
    plans.sort(key=lambda p: (-p.max_cameras, -p.capacity_fps))
    logger.debug("plan ranking: %s", [p.design for p in plans])
    return plans
