"""The per-model batcher: batching rules, the latency budget's batch size and in-flight allowance (from round
trips, or from the server's own service line), drops (oldest of a stream first, stale since capture),
out-of-order completion, errors; and the service-time fits."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np
import pytest

from pipeline.batching import ModelBatcher, RoutedFrame
from pipeline.batching.service_time import ServiceLine, ServiceTimeModel, fit_service_line
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


class Clock:
    """Monotonic time the test moves by hand (the batcher stamps sends and answers with it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _frame(model: str, value: int, stream: str = "", captured: float | None = None) -> RoutedFrame[int]:
    return RoutedFrame(model, np.full((8, 8, 3), value, np.uint8), value, stream, captured)


def _sent(server: ManualServer) -> list[int]:
    return [int(images[i, 0, 0, 0]) for _, images, _ in server.requests for i in range(len(images))]


def test_batcher_full_batch_sent_at_once_partial_waits_for_delay():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=4, max_delay_s=0.5)
    for value in range(6):
        batcher.add(_frame("m", value), now=0.0)
    batcher.poll(now=0.0)
    assert [len(r[1]) for r in server.requests] == [4]  # the 2 left wait for more frames
    server.answer(0)
    batcher.poll(now=0.6)
    assert [len(r[1]) for r in server.requests] == [4, 2]


def test_batcher_frames_batched_per_model():
    server = ManualServer()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=8, max_delay_s=0.0)
    for value, model in enumerate(["day", "night", "day", "night", "day"]):
        batcher.add(_frame(model, value), now=0.0)
    batcher.poll(now=0.0)
    assert sorted((m, len(images)) for m, images, _ in server.requests) == [("day", 3), ("night", 2)]


def test_service_time_model_fits_fixed_and_per_frame_cost():
    service = ServiceTimeModel()
    assert service.line is None
    for batch, seconds in ((4, 0.05), (8, 0.09), (4, 0.05), (8, 0.09)):
        service.observe(batch, seconds)
    line = service.line
    assert line is not None
    assert line.fixed_s == pytest.approx(0.01) and line.per_frame_s == pytest.approx(0.01)
    assert line.largest_batch_within(0.1, 32) == 9  # 0.01 + 9 * 0.01 = 0.1
    assert line.largest_batch_within(0.001, 32) == 1  # never below one frame
    assert line.largest_batch_within(10.0, 32) == 32  # never above the cap


def test_service_time_model_occasional_queueing_does_not_pass_for_cost():
    service = ServiceTimeModel()
    for batch in (4, 8):
        service.observe(batch, 0.01 * batch)
    for _ in range(20):  # the server got busy: the same batches wait behind others' requests
        service.observe(8, 0.3)
    assert service.line is not None and service.line.estimate(8) == pytest.approx(0.08)


def _parts(line: ServiceLine | None) -> tuple[float, float]:
    assert line is not None
    return line.fixed_s, line.per_frame_s


def test_fit_service_line_weights_batch_sizes_by_executions():
    # 2 ms fixed + 3 ms per frame, and one odd batch size executed once that lies off the line.
    points = {b: (0.002 + 0.003 * b, 100.0) for b in (1, 4, 16)}
    assert _parts(fit_service_line(points)) == pytest.approx((0.002, 0.003))
    skewed = fit_service_line({**points, 8: (0.2, 1.0)})
    assert skewed is not None and skewed.per_frame_s == pytest.approx(0.003, rel=0.1)
    assert fit_service_line({}) is None and fit_service_line({4: (0.1, 0.0)}) is None
    one_size = fit_service_line({4: (0.04, 3.0)})
    assert _parts(one_size) == pytest.approx((0.0, 0.01))  # all of it charged per frame
    noisy = fit_service_line({4: (0.05, 1.0), 5: (0.049, 1.0)})  # a negative slope from noise
    assert noisy is not None and noisy.fixed_s == 0 and noisy.per_frame_s == pytest.approx(0.099 / 9)


def test_fit_service_line_a_rare_cold_batch_does_not_tilt_the_line():
    # Seen in Triton: a fresh worker's first request at the cap ran at five times the cost per frame of
    # the small batches after it; fitted with its leverage, the line left room for one or two frames.
    points = {1: (0.009, 14.0), 3: (0.025, 24.0), 32: (2.16, 1.0)}
    line = fit_service_line(points)
    assert line is not None and line.largest_batch_within(0.1, 32) == 12  # 1 ms + 8 ms per frame
    assert line.per_frame_s == pytest.approx(0.008)
    # Where the rare size is all there is, it is the line.
    assert _parts(fit_service_line({32: (2.16, 1.0)})) == pytest.approx((0.0, 2.16 / 32))


def test_service_time_model_weighs_sizes_by_their_answers():
    service = ServiceTimeModel()
    service.observe(32, 0.97)  # the first answer: the cap, under start-up contention
    for _ in range(20):
        service.observe(2, 0.05)
        service.observe(3, 0.07)
    assert _parts(service.line) == pytest.approx((0.01, 0.02))


def test_batcher_batch_size_follows_the_measured_service_time_and_budget():
    server, clock = ManualServer(), Clock()
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit, latency_budget_s=0.2, max_batch=32, max_delay_s=0.0, clock=clock
    )
    for value in range(32):
        batcher.add(_frame("m", value))
    batcher.poll()
    assert len(server.requests[0][1]) == 32  # nothing measured yet: the cap
    clock.now = 0.32  # 10 ms per frame: half the budget (100 ms) holds 10 frames
    server.answer(0)
    for value in range(40):
        batcher.add(_frame("m", value))
    batcher.poll()
    assert batcher.batch_target("m") == 10
    assert len(server.requests[1][1]) == 10
    assert batcher.stats.late_requests == 0 and batcher.pacing()["m"].in_flight_limit == 2


def test_batcher_on_time_answers_raise_the_in_flight_allowance_late_ones_halve_it():
    server, clock = ManualServer(), Clock()
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit, latency_budget_s=0.2, max_batch=2, max_delay_s=0.0, max_in_flight=4, clock=clock
    )

    def feed_and_poll() -> None:
        for value in range(8):  # more than the free slots take: the model is busy
            batcher.add(_frame("m", value, stream=f"cam{value % 3}"))
        batcher.poll()

    feed_and_poll()
    assert batcher.in_flight("m") == 1  # AIMD starts with one request
    clock.now = 0.02
    server.answer(0)  # on time (20 ms <= 100 ms): one more allowed
    batcher.poll()
    feed_and_poll()
    assert batcher.in_flight("m") == 2
    clock.now = 0.04
    server.answer(1)
    server.answer(2)
    batcher.poll()
    feed_and_poll()
    assert batcher.in_flight("m") == 4 == batcher.pacing()["m"].in_flight_limit
    clock.now = 0.5  # late: 460 ms
    for index in range(3, 7):
        server.answer(index)
    batcher.poll()
    assert batcher.pacing()["m"].in_flight_limit == 1


def test_batcher_in_flight_stays_within_the_executions_the_servers_run_at_once():
    server, clock = ManualServer(), Clock()
    instances: dict[str, int] = {}
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit,
        latency_budget_s=0.2,
        max_batch=2,
        max_delay_s=0.0,
        max_in_flight=4,
        server_concurrency=instances.get,
        clock=clock,
    )
    answered = 0

    def round_of_on_time_answers() -> int:
        """Keep the model busy, answer everything out on time; return the requests that were out."""
        nonlocal answered
        for value in range(16):
            batcher.add(_frame("m", value, stream=f"cam{value % 4}"))
        batcher.poll()
        out = batcher.in_flight("m")
        clock.now += 0.01
        for index in range(answered, len(server.requests)):
            server.answer(index)
        answered = len(server.requests)
        batcher.poll()
        return out

    assert [round_of_on_time_answers() for _ in range(4)] == [1, 2, 4, 4]  # unknown: the cap
    instances["m"] = 2  # the servers report two instances of m
    assert [round_of_on_time_answers() for _ in range(3)] == [2, 2, 2]
    assert batcher.pacing()["m"].in_flight_limit == 2 and batcher.stats.late_requests == 0
    instances["m"] = 0  # a server with no instance left still gets one request
    assert round_of_on_time_answers() == 1


def test_batcher_out_of_order_completion_matches_frames():
    server, clock = ManualServer(), Clock()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=2, max_delay_s=0.0, clock=clock)
    batcher.add(_frame("m", 0))
    batcher.add(_frame("m", 1))
    batcher.poll()
    server.answer(0)
    batcher.poll()  # allowance 2 now
    for value in range(2, 6):
        batcher.add(_frame("m", value))
    batcher.poll()
    assert batcher.in_flight("m") == 2
    server.answer(2)  # the third request finishes before the second
    results = batcher.poll()
    assert [(r.frame.meta, float(r.detections[0, 4])) for r in results] == [(4, 4.0), (5, 5.0)]
    server.answer(1)
    assert {r.frame.meta for r in batcher.poll()} == {2, 3}
    assert batcher.stats.frames_done == 6 and batcher.stats.batch_sizes == {2: 3}


def test_batcher_behind_drops_the_oldest_frame_of_the_same_stream_first_and_counts_per_stream():
    server, clock = ManualServer(), Clock()
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit, max_batch=2, max_delay_s=9, max_in_flight=1, max_age_s=60, clock=clock
    )
    batcher.add(_frame("m", 0, "a"))
    batcher.add(_frame("m", 1, "a"))
    batcher.poll()  # a full batch goes; the model is busy with it now
    for value, stream in ((2, "a"), (3, "b"), (4, "a"), (5, "b")):
        batcher.add(_frame("m", value, stream))  # room for one batch (2 frames) while busy
    assert batcher.stats.dropped_behind == 2
    assert batcher.stats.dropped_by_stream == {"a": 1, "b": 1}
    server.answer(0)
    batcher.poll(force=True)
    assert _sent(server) == [0, 1, 4, 5]  # each stream kept its newest frame


def test_batcher_stale_frames_dropped_by_age_since_capture_and_counted():
    server, clock = ManualServer(), Clock()
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit, max_batch=4, max_delay_s=0.05, max_age_s=1.0, clock=clock
    )
    clock.now = 2.0
    batcher.add(_frame("m", 0, "a", captured=0.5))  # waited 1.5 s in a decode queue before it came here
    batcher.add(_frame("m", 1, "a", captured=1.9))
    clock.now = 2.1
    batcher.poll()
    assert batcher.stats.dropped_stale == 1 and batcher.stats.dropped_by_stream == {"a": 1}
    assert _sent(server) == [1]


def test_batcher_failed_request_resets_the_allowance():
    server, clock = ManualServer(), Clock()
    batcher: ModelBatcher[int] = ModelBatcher(server.submit, max_batch=1, max_delay_s=0.0, clock=clock)
    batcher.add(_frame("m", 0))
    batcher.poll()
    server.answer(0)
    batcher.poll()
    assert batcher.pacing()["m"].in_flight_limit == 2
    batcher.add(_frame("m", 1))
    batcher.poll()
    server.fail(1)
    batcher.poll()
    assert batcher.pacing()["m"].in_flight_limit == 1


def test_batcher_invalid_settings_rejected():
    with pytest.raises(ValueError):
        ModelBatcher(ManualServer().submit, max_batch=8, max_queue=4)
    with pytest.raises(ValueError):
        ModelBatcher(ManualServer().submit, latency_budget_s=0)


class ServerLines:
    """The server's service lines as a test sets them (what ServerComputeTimes reads from Triton)."""

    def __init__(self) -> None:
        self.lines: dict[str, ServiceLine] = {}

    def line(self, model: str) -> ServiceLine | None:
        return self.lines.get(model)


def _server_paced(max_in_flight: int = 2) -> tuple[ManualServer, Clock, ServerLines, ModelBatcher[int]]:
    """A batcher with a 200 ms budget whose server lines the test sets, and its server and clock."""
    server, clock, lines = ManualServer(), Clock(), ServerLines()
    batcher: ModelBatcher[int] = ModelBatcher(
        server.submit,
        latency_budget_s=0.2,
        max_batch=32,
        max_delay_s=0.0,
        max_in_flight=max_in_flight,
        server_service=lines.line,
        clock=clock,
    )
    return server, clock, lines, batcher


def test_batcher_sizes_batches_from_the_servers_line_when_round_trips_queue_behind_others():
    server, clock, lines, batcher = _server_paced(max_in_flight=4)
    assert batcher.pacing() == {}
    for value in range(4):
        batcher.add(_frame("m", value))
    batcher.poll()
    assert batcher.pacing()["m"].service_source == ""  # nothing known yet: the cap
    lines.lines["m"] = ServiceLine(0.004, 0.004)  # the server runs a frame in 4 ms
    clock.now = 0.3  # but the round trip took 300 ms: it queued behind other workers' requests
    server.answer(0)
    batcher.poll()
    pacing = batcher.pacing()["m"]
    assert pacing.service_source == "server"
    assert pacing.batch_target == 24  # (100 - 4) ms / 4 ms per frame: queueing does not shrink it
    assert pacing.service_ms_per_batch == pytest.approx(100.0)
    clock.now = 1.0
    for value in range(48):
        batcher.add(_frame("m", value))
    batcher.poll()
    clock.now = 1.102  # 102 ms for 24 frames: 2 ms beyond the server's line is all transport takes
    server.answer(1)
    batcher.poll()
    assert batcher.pacing()["m"].in_flight_limit == 3
    assert batcher.in_flight("m") == 1 and len(server.requests) == 3  # the second 24 sent at 1.0 is out
    clock.now = 1.5  # 500 ms, over twice (line + transport): it queued at the server
    server.answer(2)
    batcher.poll()
    pacing = batcher.pacing()["m"]
    assert pacing.in_flight_limit == 1 and batcher.stats.late_requests == 1  # 3 halved
    assert pacing.batch_target == 24


def test_batcher_falls_back_to_round_trips_while_the_server_has_no_line():
    server, clock, lines, batcher = _server_paced()
    for value in range(8):
        batcher.add(_frame("m", value))
    batcher.poll()
    clock.now = 0.08
    server.answer(0)
    batcher.poll()
    pacing = batcher.pacing()["m"]
    assert pacing.service_source == "round trip" and pacing.batch_target == 10  # 10 ms per frame


def test_batcher_behind_keeps_the_batch_target_it_had_while_keeping_up_until_it_catches_up():
    server, clock, lines, batcher = _server_paced(max_in_flight=1)
    lines.lines["m"] = ServiceLine(0.0, 0.01)  # 10 ms a frame: 10 frames fit half the budget
    for value in range(10):
        batcher.add(_frame("m", value))
    batcher.poll()
    assert batcher.pacing()["m"].batch_target == 10
    for value in range(10, 40):  # overload: the one slot is busy, the queue holds one batch
        batcher.add(_frame("m", value))
    assert batcher.stats.dropped_behind == 20
    lines.lines["m"] = ServiceLine(0.0, 0.05)  # cores shared with more work: each execution stretches
    assert batcher.pacing()["m"].batch_target == 10  # behind: not below what it sent while keeping up
    server.answer(0)
    batcher.poll()
    assert [len(images) for _, images, _ in server.requests] == [10, 10]
    server.answer(1)
    batcher.poll()  # caught up: nothing queued and the slot is free
    assert batcher.pacing()["m"].batch_target == 2  # the budget rule again
