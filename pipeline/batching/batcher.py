"""Batch frames per Triton model across all streams, sized and paced by a latency budget.

A frame the scheduler routed to model M waits in M's queue until a request of M goes out. Two rules,
both driven by M's service time, ``t(b) = fixed + per_frame * b`` (:mod:`pipeline.batching.service_time`):

- **Batch size** (Nexus's rule): the largest batch whose estimated service time fits half the budget.
  A frame may wait for one batch in service before its own batch starts, so waiting plus service stay
  within the budget.
- **Requests in flight** (AIMD): M starts with one request in flight; each answer that did not queue at the
  server (within twice its estimated service time) allows one more, up to ``max_in_flight`` and up to the
  executions of M the servers run at once (``server_concurrency``: M's instances); one that queued halves
  the allowance. More requests in flight than the servers run at once would only wait there, and every
  frame behind them with it. The queueing check alone does not find that limit on a CPU machine: under
  load every execution stretches with the cores it shares, so answers that waited still look unqueued,
  and each extra request in flight carries only the frames that arrived since the last one.

The service time is the server's own execution time per batch size where the caller passes
``server_service`` (Triton's statistics: no queueing in it), else the fastest recent round trips. Round
trips alone let other workers' requests, queued ahead of ours at a shared server, pass for cost: batches
shrank as the server got busier, and smaller batches made it busier still. With the server's line, an
answer counts as queued when it took over twice that line plus the least any of this worker's round trips
took beyond it (the transport, which no batch size changes).

While M is behind (its queue holds more than the next requests can take) the oldest queued frame of the
arriving frame's stream is dropped first, else the oldest frame of M: a live camera wants its newest frame.
Until M catches up (its queue empty and a request slot free) its batch target does not fall below the
target it had while keeping up: the budget is lost by then, and under overload execution times stretch
(cores shared with more work), which would otherwise shrink batches into ever more per-request cost just
when throughput matters most.
At send time, frames older than ``max_age_s`` since capture are dropped too. Every drop is counted per
stream. The worker's client pool has a thread for every request the batcher may keep in flight, so a
request never waits for a thread after its age was checked.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from pipeline.batching.service_time import ServiceLine, ServiceTimeModel

logger = logging.getLogger(__name__)

T = TypeVar("T")
Submit = Callable[[str, npt.NDArray[np.uint8]], "Future[npt.NDArray[np.float32]]"]
ServerService = Callable[[str], ServiceLine | None]
"""The server's own service line of a model (no queueing in it), or None where it has none yet."""
ServerConcurrency = Callable[[str], int | None]
"""Executions of a model the servers run at once (its instances), or None where they are not known yet."""

_QUEUED = 2.0  # an answer this many times its estimated service time waited about one service at the server


@dataclass(frozen=True, eq=False)  # identity equality: frames carry arrays
class RoutedFrame(Generic[T]):
    """A frame on its way to ``model``; ``meta`` travels with it to the result (camera, times...).

    Attributes:
        model: The Triton model that infers it.
        image: ``[H, W, 3]`` uint8.
        meta: Anything the caller needs with the result.
        stream: The stream it came from (drops are counted per stream, and the oldest of a stream go first).
        captured: Monotonic capture time; its age at send time is measured from here.
    """

    model: str
    image: npt.NDArray[np.uint8]
    meta: T
    stream: str = ""
    captured: float | None = None


@dataclass(frozen=True, eq=False)
class InferenceResult(Generic[T]):
    """Detections ``[K, 6]`` for one routed frame."""

    frame: RoutedFrame[T]
    detections: npt.NDArray[np.float32]
    batch_size: int


@dataclass(frozen=True, slots=True)
class ModelPacing:
    """How one model's requests are sized and paced now.

    Attributes:
        batch_target: Frames per request (the largest batch whose service time fits half the budget).
        in_flight_limit: Requests allowed in flight (AIMD).
        service_ms_per_batch: Estimated service time of a ``batch_target`` request, ms (None: not measured).
        service_source: ``server`` (Triton's execution times), ``round trip`` (this worker's answers), or
            empty when not measured.
    """

    batch_target: int
    in_flight_limit: int
    service_ms_per_batch: float | None
    service_source: str = ""


@dataclass
class BatcherStats:
    """Counters of one batcher.

    ``dropped_behind`` counts frames dropped because their model was behind (oldest of a stream first),
    ``dropped_stale`` frames older than ``max_age_s`` at send time; ``dropped_by_stream`` holds both per
    stream.
    """

    frames_in: int = 0
    frames_done: int = 0
    dropped_behind: int = 0
    dropped_stale: int = 0
    dropped_inference_error: int = 0
    requests: int = 0
    request_errors: int = 0
    late_requests: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    dropped_by_stream: dict[str, int] = field(default_factory=dict)
    pacing: dict[str, ModelPacing] = field(default_factory=dict)
    last_error: str = ""


@dataclass(eq=False)
class _InFlight(Generic[T]):
    frames: list[RoutedFrame[T]]
    future: Future[npt.NDArray[np.float32]]
    sent: float
    answered: float | None = None  # set by the future's callback, on the thread that answers


@dataclass
class _ModelLane(Generic[T]):
    """One model's queue, requests in flight, service-time fits and in-flight allowance."""

    model: str
    queue: deque[tuple[float, RoutedFrame[T]]] = field(default_factory=deque)
    in_flight: list[_InFlight[T]] = field(default_factory=list)
    service: ServiceTimeModel = field(default_factory=ServiceTimeModel)
    allowed: int = 1
    transport_s: float | None = None  # least a round trip took beyond the server's estimate
    behind: bool = False  # frames were dropped for want of room, and it has not caught up since
    kept_up_target: int | None = None  # the batch target at the last send while not behind


class ModelBatcher(Generic[T]):
    """Per-model queues feeding an asynchronous ``submit(model, images) -> Future`` (e.g. a TritonPool)."""

    def __init__(
        self,
        submit: Submit,
        *,
        latency_budget_s: float = 0.2,
        max_batch: int = 32,
        max_delay_s: float = 0.01,
        max_in_flight: int = 2,
        max_queue: int = 256,
        max_age_s: float = 1.0,
        server_service: ServerService | None = None,
        server_concurrency: ServerConcurrency | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set the budget and the caps (see the module docstring).

        Args:
            submit: Sends ``images`` to ``model``; returns a future of ``[B, K, 6]`` detections.
            latency_budget_s: Target time from a frame's arrival to its answer.
            max_batch: Most frames in one request.
            max_delay_s: Longest a frame waits for others to share its request.
            max_in_flight: Most requests in flight per model.
            max_queue: Most frames queued per model whatever the estimates say.
            max_age_s: Frames older than this since capture are dropped at send time.
            server_service: The server's own service line per model, preferred to round trips.
            server_concurrency: Executions per model the servers run at once; requests in flight stay
                within it.
            clock: Monotonic time source (tests pass their own).
        """
        if max_batch < 1 or max_in_flight < 1 or max_queue < max_batch or max_delay_s < 0:
            raise ValueError(
                "need max_batch >= 1, max_in_flight >= 1, max_queue >= max_batch, max_delay_s >= 0"
            )
        if latency_budget_s <= 0 or max_age_s <= max_delay_s:
            raise ValueError("need latency_budget_s > 0 and max_age_s > max_delay_s")
        self._submit = submit
        self.latency_budget_s = latency_budget_s
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.max_age_s = max_age_s
        self._server_service = server_service
        self._server_concurrency = server_concurrency
        self._clock = clock
        self._lanes: dict[str, _ModelLane[T]] = {}
        self.stats = BatcherStats()
        self._failing = False

    # -- pacing --------------------------------------------------------------------------------------------

    def _service(self, lane: _ModelLane[T]) -> tuple[ServiceLine | None, str]:
        """The lane's service line now and where it comes from (see the module docstring)."""
        served = self._server_service(lane.model) if self._server_service is not None else None
        if served is not None:
            return served, "server"
        line = lane.service.line
        return line, "round trip" if line is not None else ""

    def most_in_flight(self, model: str) -> int:
        """The most requests of ``model`` the allowance may reach: the cap, or the servers' concurrency."""
        concurrency = self._server_concurrency(model) if self._server_concurrency is not None else None
        return self.max_in_flight if concurrency is None else max(1, min(self.max_in_flight, concurrency))

    def batch_target(self, model: str) -> int:
        """Frames per request of ``model`` now: the largest batch that fits half the budget."""
        lane = self._lanes.get(model)
        line = None if lane is None else self._service(lane)[0]
        if lane is None or line is None:
            return self.max_batch
        target = line.largest_batch_within(self.latency_budget_s / 2, self.max_batch)
        if lane.behind and lane.kept_up_target is not None:
            return max(target, lane.kept_up_target)
        return target

    def pacing(self) -> dict[str, ModelPacing]:
        """Batch target, in-flight allowance and service estimate of every model seen."""
        paced = {}
        for model, lane in self._lanes.items():
            target = self.batch_target(model)
            line, source = self._service(lane)
            service_ms = None if line is None else round(line.estimate(target) * 1000, 2)
            paced[model] = ModelPacing(target, lane.allowed, service_ms, source)
        return paced

    def _capacity(self, model: str, lane: _ModelLane[T]) -> int:
        """Frames the model's queue may hold: what its free request slots take now, and one batch more.

        That batch waits for one request in service, which the budget allows for; anything beyond it
        would wait longer.
        """
        free = max(0, lane.allowed - len(lane.in_flight))
        return min(self.max_queue, (free + 1) * self.batch_target(model))

    # -- frames in -----------------------------------------------------------------------------------------

    def add(self, frame: RoutedFrame[T], now: float | None = None) -> None:
        """Queue one frame for its model, dropping an older frame first if the model is behind."""
        now = self._clock() if now is None else now
        lane = self._lanes.get(frame.model)
        if lane is None:
            lane = self._lanes[frame.model] = _ModelLane(frame.model)
        if len(lane.queue) >= self._capacity(frame.model, lane):
            self._drop_oldest(lane, frame.stream)
        lane.queue.append((now, frame))
        self.stats.frames_in += 1

    def _drop_oldest(self, lane: _ModelLane[T], stream: str) -> None:
        for index, (_, queued) in enumerate(lane.queue):
            if queued.stream == stream:
                del lane.queue[index]
                break
        else:
            _, queued = lane.queue.popleft()
        self.stats.dropped_behind += 1
        lane.behind = True
        self._count_drop(queued.stream)

    def _count_drop(self, stream: str) -> None:
        self.stats.dropped_by_stream[stream] = self.stats.dropped_by_stream.get(stream, 0) + 1

    @property
    def pending(self) -> int:
        """Frames queued or in flight."""
        return sum(
            len(lane.queue) + sum(len(r.frames) for r in lane.in_flight) for lane in self._lanes.values()
        )

    def in_flight(self, model: str | None = None) -> int:
        """Requests outstanding (for one model, or in all)."""
        if model is not None:
            lane = self._lanes.get(model)
            return len(lane.in_flight) if lane else 0
        return sum(len(lane.in_flight) for lane in self._lanes.values())

    def seconds_until_due(self, now: float) -> float | None:
        """How long until a queued partial batch is due (0 if one is due now); None if nothing waits.

        A queue whose model has no free request slot is not due: it waits for a request to finish.
        """
        waits = [
            lane.queue[0][0] + self.max_delay_s - now
            for lane in self._lanes.values()
            if lane.queue and len(lane.in_flight) < lane.allowed
        ]
        return max(0.0, min(waits)) if waits else None

    # -- requests ------------------------------------------------------------------------------------------

    def poll(self, now: float | None = None, *, force: bool = False) -> list[InferenceResult[T]]:
        """Collect finished requests and send due batches.

        Args:
            now: Monotonic time (the batcher's clock when omitted).
            force: Send partial batches now, whatever the allowance (used when draining).

        Returns:
            The results of every request that finished since the last call, frame by frame.
        """
        now = self._clock() if now is None else now
        results = self._collect(now)
        for model, lane in self._lanes.items():
            self._drop_stale(lane, now)
            lane.allowed = min(lane.allowed, self.most_in_flight(model))  # the servers may have shrunk
            limit = self.max_in_flight if force else lane.allowed
            target = self.batch_target(model)
            while lane.queue and len(lane.in_flight) < limit:
                if not (len(lane.queue) >= target or force or now - lane.queue[0][0] >= self.max_delay_s):
                    break
                frames = [lane.queue.popleft()[1] for _ in range(min(target, len(lane.queue)))]
                images = np.stack([f.image for f in frames])
                request = _InFlight(frames, self._submit(model, images), self._clock())
                request.future.add_done_callback(functools.partial(self._answered, request))
                lane.in_flight.append(request)
                self.stats.requests += 1
            if not lane.behind and self._service(lane)[0] is not None:  # a measured target, not the cap
                lane.kept_up_target = target
            elif not lane.queue and len(lane.in_flight) < limit:  # caught up: nothing waits, a slot is free
                lane.behind = False
        return results

    def _drop_stale(self, lane: _ModelLane[T], now: float) -> None:
        oldest = now - self.max_age_s

        def fresh(entry: tuple[float, RoutedFrame[T]]) -> bool:
            queued_at, frame = entry
            return (frame.captured if frame.captured is not None else queued_at) >= oldest

        if all(fresh(entry) for entry in lane.queue):  # the usual case: no new queue to build
            return
        kept: deque[tuple[float, RoutedFrame[T]]] = deque()
        for entry in lane.queue:
            if fresh(entry):
                kept.append(entry)
            else:
                self.stats.dropped_stale += 1
                self._count_drop(entry[1].stream)
        lane.queue = kept

    def _answered(self, request: _InFlight[T], _future: object) -> None:
        request.answered = self._clock()

    def _collect(self, now: float) -> list[InferenceResult[T]]:
        results: list[InferenceResult[T]] = []
        for lane in self._lanes.values():
            for request in [r for r in lane.in_flight if r.future.done()]:
                lane.in_flight.remove(request)
                results.extend(self._finish(lane, request, now))
        return results

    def _finish(self, lane: _ModelLane[T], request: _InFlight[T], now: float) -> list[InferenceResult[T]]:
        size = len(request.frames)
        try:
            detections = request.future.result()
        except Exception as exc:  # one failed request must never stop the pipeline; InferenceError mostly
            self.stats.request_errors += 1
            self.stats.dropped_inference_error += size
            self.stats.last_error = str(exc)
            lane.allowed = 1
            if not self._failing:  # log the change of state once, not every failed batch
                logger.error("inference failing, dropping frames until Triton answers: %s", exc)
                self._failing = True
            return []
        if self._failing:
            logger.info("inference recovered")
            self._failing = False
        took = max((request.answered or now) - request.sent, 0.0)
        lane.service.observe(size, took)
        line, source = self._service(lane)
        if line is None:
            expected = took
        elif source == "server":
            beyond = max(0.0, took - line.estimate(size))
            lane.transport_s = beyond if lane.transport_s is None else min(lane.transport_s, beyond)
            expected = line.estimate(size) + lane.transport_s
        else:
            expected = line.estimate(size)
        if took <= _QUEUED * expected:
            lane.allowed = min(self.most_in_flight(lane.model), lane.allowed + 1)
        else:  # it waited about one service at the server: more in flight would only wait there too
            self.stats.late_requests += 1
            lane.allowed = max(1, lane.allowed // 2)
        self.stats.frames_done += size
        self.stats.batch_sizes[size] = self.stats.batch_sizes.get(size, 0) + 1
        return [InferenceResult(frame, detections[i], size) for i, frame in enumerate(request.frames)]

    def drain(self, timeout_s: float = 10.0) -> list[InferenceResult[T]]:
        """Send everything queued and wait (bounded) for every request to finish."""
        deadline = time.monotonic() + timeout_s
        results: list[InferenceResult[T]] = []
        while self.pending and time.monotonic() < deadline:
            results.extend(self.poll(force=True))
            time.sleep(0.001)
        return results
