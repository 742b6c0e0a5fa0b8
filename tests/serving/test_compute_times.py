"""ServerComputeTimes against a real Triton: the service line follows the server's execution times, and
requests queued behind others (round trips several times longer) do not move it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import PACED_FIXED_S, PACED_PER_FRAME_S

from pipeline.netutil import free_port
from pipeline.serving.client import TritonClient
from pipeline.serving.compute_times import ServerComputeTimes
from pipeline.serving.launcher import TritonServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def paced(tiny_server: TritonServer) -> Iterator[TritonClient]:
    """The ``paced`` model loaded in the session's tiny server for one test, and a client of it."""
    tiny_server.load_model("paced")
    try:
        with TritonClient(tiny_server.grpc_url, timeout_s=30, max_in_flight=4) as client:
            yield client
    finally:
        tiny_server.unload_model("paced")


def _frames(batch: int) -> np.ndarray:
    return np.zeros((batch, 16, 16, 3), np.uint8)


def test_line_follows_the_servers_execution_times_not_queueing(paced: TritonClient) -> None:
    paced.infer("paced", _frames(1))  # a model's first execution is slow: leave it before the window
    times = ServerComputeTimes(lambda: [paced], ["paced"], interval_s=0.1, window_s=60)
    times.refresh()
    assert times.line("paced") is None  # one reading: nothing to difference yet
    for batch in (1, 8, 16, 1, 8, 16):
        paced.infer("paced", _frames(batch))
    times.refresh()
    line = times.line("paced")
    assert line is not None
    assert line.per_frame_s == pytest.approx(PACED_PER_FRAME_S, rel=0.25)
    assert line.fixed_s == pytest.approx(PACED_FIXED_S, abs=0.01)

    # Four requests at once on one instance: each waits for those ahead of it.
    def timed(_: int) -> float:
        started = time.monotonic()
        paced.infer("paced", _frames(8))
        return time.monotonic() - started

    with ThreadPoolExecutor(4) as threads:
        round_trips = list(threads.map(timed, range(8)))
    times.refresh()
    queued = times.line("paced")
    assert queued is not None
    assert max(round_trips) > 2.5 * queued.estimate(8)  # the round trips did queue
    assert queued.estimate(8) == pytest.approx(PACED_FIXED_S + 8 * PACED_PER_FRAME_S, rel=0.35)


def test_a_server_that_does_not_answer_is_counted_and_skipped(paced: TritonClient) -> None:
    with TritonClient(f"127.0.0.1:{free_port()}", timeout_s=2, retries=0) as dead:
        times = ServerComputeTimes(lambda: [dead, paced], ["paced"], interval_s=0.1, window_s=60)
        paced.infer("paced", _frames(1))
        with times.start():
            for batch in (2, 4):
                paced.infer("paced", _frames(batch))
            deadline = time.monotonic() + 20
            while times.line("paced") is None and time.monotonic() < deadline:
                time.sleep(0.1)
        assert times.failures >= 2  # every round tried the dead server, and went on
        line = times.line("paced")
        assert line is not None and line.estimate(4) == pytest.approx(
            PACED_FIXED_S + 4 * PACED_PER_FRAME_S, rel=0.35
        )


def test_invalid_settings_rejected() -> None:
    with pytest.raises(ValueError):
        ServerComputeTimes(list, ["m"], interval_s=0)
    with pytest.raises(ValueError):
        ServerComputeTimes(list, ["m"], interval_s=2, window_s=1)
