"""ServerComputeTimes against a real Triton: the service line follows the server's execution times, and
requests queued behind others (round trips several times longer) do not move it; an ensemble's line is its
critical path, not the sum of steps that run side by side."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import PACED_FIXED_S, PACED_PER_FRAME_S

from pipeline.batching.service_time import ServiceLine
from pipeline.models.designs import ENSEMBLES
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


def test_an_ensembles_line_is_its_critical_path_not_the_sum_of_its_parallel_steps(
    load_design: Callable[[str], None], triton_client: TritonClient
) -> None:
    load_design("specialists-groups")
    spec = ENSEMBLES["specialists_groups"]
    frames = np.zeros((1, 96, 160, 3), np.uint8)
    triton_client.infer(spec.name, frames)  # first executions are slow: leave them before the window
    times = ServerComputeTimes(lambda: [triton_client], [spec.name], ensembles=ENSEMBLES, window_s=60)
    summed = ServerComputeTimes(lambda: [triton_client], [spec.name], window_s=60)  # the ensemble's own
    for reader in (times, summed):
        reader.refresh()
    for batch in (1, 4, 1, 4):
        triton_client.infer(spec.name, np.repeat(frames, batch, axis=0))
    for reader in (times, summed):
        reader.refresh()
    steps = [times.line(step) for step in spec.steps]
    assert all(isinstance(line, ServiceLine) for line in steps)
    parallel = [line for step, line in zip(spec.steps, steps, strict=True) if step in spec.parallel]
    merge = times.line(spec.steps[-1])
    line, own = times.line(spec.name), summed.line(spec.name)
    assert line is not None and own is not None and merge is not None
    slowest = max(branch.estimate(4) for branch in parallel if branch is not None)
    assert line.estimate(4) >= slowest + merge.estimate(4) - 1e-9  # no branch is faster than the path
    # Triton's own ensemble counters add the three branches: the critical path is well under that.
    assert line.estimate(4) < 0.8 * own.estimate(4)
