"""The per-model batcher: batching rules, bounded in-flight requests, out-of-order completion, errors."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np
import pytest

from pipeline.batching import ModelBatcher, RoutedFrame
from pipeline.errors import InferenceError


class ManualServer:
    """A hand-written stand-in for the Triton client: requests complete when the test says so."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, np.ndarray, Future]] = []
        self.lock = threading.Lock()

    def submit(self, model: str, images: np.ndarray) -> Future:
        future: Future = Future()
        with self.lock:
            self.requests.append((model, images, future))
        return future

    def answer(self, index: int) -> None:
        model, images, future = self.requests[index]
        # Detections carry the first pixel value so results can be matched to frames.
        out = np.zeros((len(images), 4, 6), np.float32)
        out[:, 0, 4] = images[:, 0, 0, 0]
        future.set_result(out)

    def fail(self, index: int) -> None:
        self.requests[index][2].set_exception(InferenceError("Triton at 127.0.0.1:1 unavailable"))


def _frame(model: str, value: int) -> RoutedFrame[int]:
    return RoutedFrame(model, np.full((8, 8, 3), value, np.uint8), value)


def test_batcher_full_batch_sent_at_once_partial_waits_for_delay():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=4, max_delay_s=0.5)
    for value in range(6):
        batcher.add(_frame("m", value), now=0.0)
    batcher.poll(now=0.0)
    assert [len(r[1]) for r in server.requests] == [4]  # the 2 left wait for more frames
    batcher.poll(now=0.6)
    assert [len(r[1]) for r in server.requests] == [4, 2]


def test_batcher_frames_batched_per_model():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=8, max_delay_s=0.0)
    for value, model in enumerate(["day", "night", "day", "night", "day"]):
        batcher.add(_frame(model, value), now=0.0)
    batcher.poll(now=0.0)
    assert sorted((m, len(images)) for m, images, _ in server.requests) == [("day", 3), ("night", 2)]


def test_batcher_in_flight_bounded_and_out_of_order_completion_matches_frames():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=2, max_delay_s=0.0, max_in_flight=2)
    for value in range(6):
        batcher.add(_frame("m", value), now=0.0)
    batcher.poll(now=0.0)
    assert len(server.requests) == 2 and batcher.in_flight("m") == 2
    server.answer(1)  # the second request finishes first
    results = batcher.poll(now=0.0)
    assert [(r.frame.meta, float(r.detections[0, 4])) for r in results] == [(2, 2.0), (3, 3.0)]
    assert len(server.requests) == 3  # a slot freed, the next batch went out
    server.answer(0)
    server.answer(2)
    done = {r.frame.meta for r in batcher.poll(now=0.0)}
    assert done == {0, 1, 4, 5}
    assert batcher.stats.frames_done == 6 and batcher.stats.batch_sizes == {2: 3}


def test_batcher_failed_request_counted_not_raised():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=3, max_delay_s=0.0)
    for value in range(3):
        batcher.add(_frame("m", value), now=0.0)
    batcher.poll(now=0.0)
    server.fail(0)
    assert batcher.poll(now=0.0) == []
    assert batcher.stats.dropped_inference_error == 3
    assert batcher.stats.request_errors == 1
    assert "unavailable" in batcher.stats.last_error


def test_batcher_queue_bounded_drops_oldest_and_counts():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit, max_batch=2, max_delay_s=9, max_queue=4, max_age_s=60
    )
    for value in range(7):
        batcher.add(_frame("m", value), now=0.0)
    assert batcher.stats.dropped_queue_full == 3
    batcher.poll(now=0.0, force=True)
    sent = [int(images[i, 0, 0, 0]) for _, images, _ in server.requests for i in range(len(images))]
    assert sent == [3, 4, 5, 6]  # the newest four were kept and sent in two requests (max_in_flight 2)


def test_batcher_invalid_settings_rejected():
    with pytest.raises(ValueError):
        ModelBatcher(ManualServer().submit, max_batch=8, max_queue=4)


def test_batcher_stale_frames_dropped_and_counted():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit, max_batch=2, max_delay_s=0.0, max_in_flight=1, max_age_s=1.0
    )
    for value in range(4):
        batcher.add(_frame("m", value), now=0.0)
    batcher.poll(now=0.0)  # frames 0 and 1 go out; 2 and 3 wait for the model
    batcher.add(_frame("m", 4), now=1.5)
    server.answer(0)
    batcher.poll(now=1.6)  # 2 and 3 waited 1.6 s: dropped; 4 is fresh and goes out
    assert batcher.stats.dropped_stale == 2
    assert [int(images[0, 0, 0, 0]) for _, images, _ in server.requests] == [0, 4]
