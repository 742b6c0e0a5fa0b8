"""Batch frames per Triton model across all streams, with bounded in-flight requests.

A frame that the scheduler routed to model M waits in M's queue until the queue holds ``max_batch`` frames
or its oldest frame has waited ``max_delay_s``; the batch then goes to Triton as one request. At most
``max_in_flight`` requests per model are outstanding; while a model is saturated its queue keeps only the
newest ``max_queue`` frames, and frames that waited longer than ``max_age_s`` are dropped before they are
sent: both counted. Under overload a live camera wants its newest frame, and latency stays bounded.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

T = TypeVar("T")
Submit = Callable[[str, npt.NDArray[np.uint8]], "Future[npt.NDArray[np.float32]]"]


@dataclass(frozen=True, eq=False)  # identity equality: frames carry arrays
class RoutedFrame(Generic[T]):
    """A frame on its way to ``model``; ``meta`` travels with it to the result (camera, times...)."""

    model: str
    image: npt.NDArray[np.uint8]
    meta: T


@dataclass(frozen=True, eq=False)
class InferenceResult(Generic[T]):
    """Detections ``[K, 6]`` for one routed frame."""

    frame: RoutedFrame[T]
    detections: npt.NDArray[np.float32]
    batch_size: int


@dataclass
class BatcherStats:
    """Counters of one batcher."""

    frames_in: int = 0
    frames_done: int = 0
    dropped_queue_full: int = 0
    dropped_stale: int = 0
    dropped_inference_error: int = 0
    requests: int = 0
    request_errors: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    last_error: str = ""


@dataclass(eq=False)
class _InFlight(Generic[T]):
    frames: list[RoutedFrame[T]]
    future: Future[npt.NDArray[np.float32]]


class ModelBatcher(Generic[T]):
    """Per-model queues feeding an asynchronous ``submit(model, images) -> Future`` (e.g. TritonClient)."""

    def __init__(
        self,
        submit: Submit,
        *,
        max_batch: int = 32,
        max_delay_s: float = 0.02,
        max_in_flight: int = 2,
        max_queue: int = 256,
        max_age_s: float = 1.0,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1 or max_queue < max_batch or max_delay_s < 0:
            raise ValueError(
                "need max_batch >= 1, max_in_flight >= 1, max_queue >= max_batch, max_delay_s >= 0"
            )
        if max_age_s <= max_delay_s:
            raise ValueError(f"max_age_s ({max_age_s}) must exceed max_delay_s ({max_delay_s})")
        self._submit = submit
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.max_age_s = max_age_s
        self._queues: dict[str, deque[tuple[float, RoutedFrame[T]]]] = {}
        self._in_flight: dict[str, list[_InFlight[T]]] = {}
        self.stats = BatcherStats()
        self._failing = False

    def add(self, frame: RoutedFrame[T], now: float | None = None) -> None:
        """Queue one frame for its model."""
        queue = self._queues.setdefault(frame.model, deque())
        if len(queue) >= self.max_queue:
            queue.popleft()
            self.stats.dropped_queue_full += 1
        queue.append((time.monotonic() if now is None else now, frame))
        self.stats.frames_in += 1

    @property
    def pending(self) -> int:
        """Frames queued or in flight."""
        queued = sum(len(q) for q in self._queues.values())
        return queued + sum(len(r.frames) for reqs in self._in_flight.values() for r in reqs)

    def in_flight(self, model: str | None = None) -> int:
        """Requests outstanding (for one model, or in all)."""
        if model is not None:
            return len(self._in_flight.get(model, ()))
        return sum(len(reqs) for reqs in self._in_flight.values())

    def seconds_until_due(self, now: float) -> float | None:
        """How long until a queued partial batch is due (0 if one is due now); None if nothing waits.

        A queue whose model has no free in-flight slot is not due: it waits for a request to finish.
        """
        waits = [
            queue[0][0] + self.max_delay_s - now
            for model, queue in self._queues.items()
            if queue and len(self._in_flight.get(model, ())) < self.max_in_flight
        ]
        return max(0.0, min(waits)) if waits else None

    def poll(self, now: float | None = None, *, force: bool = False) -> list[InferenceResult[T]]:
        """Send due batches and collect finished requests.

        Args:
            now: Monotonic time (``time.monotonic()`` when omitted).
            force: Send partial batches now (used when draining).

        Returns:
            The results of every request that finished since the last call, frame by frame.
        """
        now = time.monotonic() if now is None else now
        results = self._collect()
        for model, queue in self._queues.items():
            while queue and now - queue[0][0] > self.max_age_s:
                queue.popleft()
                self.stats.dropped_stale += 1
            requests = self._in_flight.setdefault(model, [])
            while queue and len(requests) < self.max_in_flight:
                full = len(queue) >= self.max_batch
                if not (full or force or now - queue[0][0] >= self.max_delay_s):
                    break
                frames = [queue.popleft()[1] for _ in range(min(self.max_batch, len(queue)))]
                images = np.stack([f.image for f in frames])
                requests.append(_InFlight(frames, self._submit(model, images)))
                self.stats.requests += 1
        return results

    def _collect(self) -> list[InferenceResult[T]]:
        results: list[InferenceResult[T]] = []
        for requests in self._in_flight.values():
            for request in [r for r in requests if r.future.done()]:
                requests.remove(request)
                results.extend(self._finish(request))
        return results

    def _finish(self, request: _InFlight[T]) -> list[InferenceResult[T]]:
        size = len(request.frames)
        try:
            detections = request.future.result()
        except Exception as exc:  # one failed request must never stop the pipeline; InferenceError mostly
            self.stats.request_errors += 1
            self.stats.dropped_inference_error += size
            self.stats.last_error = str(exc)
            if not self._failing:  # log the change of state once, not every failed batch
                logger.error("inference failing, dropping frames until Triton answers: %s", exc)
                self._failing = True
            return []
        if self._failing:
            logger.info("inference recovered")
            self._failing = False
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
