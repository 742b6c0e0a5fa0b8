"""The balancing Triton pool against real Triton servers: least outstanding, health, failover."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from pipeline.errors import ServerUnavailableError
from pipeline.netutil import free_port
from pipeline.serving.launcher import TritonServer
from pipeline.serving.pool import TritonPool, resolve_urls

pytestmark = pytest.mark.timeout(300)

FRAMES = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)


def test_resolve_urls_ips_stay_names_resolve_unknown_left_out():
    host = socket.gethostname()
    resolved = resolve_urls(["127.0.0.1:8001", "localhost:8002", f"{host}:8003", "no-such-host.invalid:8004"])
    assert resolved[:2] == ["127.0.0.1:8001", "localhost:8002"]
    assert any(url.endswith(":8003") for url in resolved[2:])
    assert not any(url.endswith(":8004") for url in resolved)


def test_pool_dead_server_marked_unhealthy_and_never_picked(tiny_server, tiny_reference):
    dead = f"127.0.0.1:{free_port()}"
    with TritonPool.connect([dead, tiny_server.grpc_url], timeout_s=10, health_interval_s=60) as pool:
        health = {s.url: s for s in pool.health()}
        assert not health[dead].healthy and health[tiny_server.grpc_url].healthy
        for _ in range(4):
            np.testing.assert_array_equal(pool.infer("tiny", FRAMES), tiny_reference(FRAMES))
        health = {s.url: s for s in pool.health()}
        assert health[dead].requests == 0 and health[tiny_server.grpc_url].requests == 4


def test_pool_server_stopped_request_fails_over_and_counts(
    tiny_repository, tiny_server, tiny_reference, tmp_path
):
    second = TritonServer(tiny_repository, models=["tiny"], run_dir=tmp_path, startup_timeout_s=60).start()
    stopped = second.grpc_url
    try:
        with TritonPool.connect([stopped, tiny_server.grpc_url], health_interval_s=60) as pool:
            futures = [pool.infer_async("tiny", FRAMES) for _ in range(6)]
            assert all(f.result(30).shape == (2, 4, 6) for f in futures)
            assert all(s.requests > 0 for s in pool.health())  # both servers got work
            second.stop()
            for _ in range(4):  # the stopped one fails a request once, then is skipped
                np.testing.assert_array_equal(pool.infer("tiny", FRAMES), tiny_reference(FRAMES))
            health = {s.url: s for s in pool.health()}
            assert not health[stopped].healthy and health[stopped].failures >= 1
            assert pool.failovers >= 1
    finally:
        second.stop()


def test_pool_every_server_down_raises_naming_them():
    urls = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    with TritonPool.connect(urls, timeout_s=2, health_interval_s=60) as pool:
        with pytest.raises(ServerUnavailableError, match="no healthy Triton server") as error:
            pool.infer("tiny", FRAMES)
    assert urls[0] in str(error.value) and urls[1] in str(error.value)


def test_pool_bad_request_is_not_failed_over(tiny_server):
    with TritonPool.connect([tiny_server.grpc_url], health_interval_s=60) as pool:
        with pytest.raises(Exception, match="nosuchmodel") as error:
            pool.infer("nosuchmodel", FRAMES)
        assert not isinstance(error.value, ServerUnavailableError)
        assert pool.failovers == 0 and pool.health()[0].healthy
