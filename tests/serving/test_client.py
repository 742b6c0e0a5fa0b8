"""TritonClient against a real Triton: gRPC and shared memory agree, bad requests fail fast, outages retry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from typer.testing import CliRunner

from pipeline.cli.main import app
from pipeline.errors import InferenceError
from pipeline.netutil import free_port, free_ports
from pipeline.serving.client import TritonClient
from pipeline.serving.launcher import TritonServer

pytestmark = pytest.mark.timeout(120)

Reference = Callable[[np.ndarray], np.ndarray]


def _frames(batch: int, size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def _regions(server: TritonServer) -> dict[str, object]:
    with grpcclient.InferenceServerClient(server.grpc_url) as raw:
        return dict(raw.get_system_shared_memory_status(as_json=True).get("regions", {}))


@pytest.fixture(params=[False, True], ids=["grpc", "shm"])
def client(request: pytest.FixtureRequest, tiny_server: TritonServer) -> Iterator[TritonClient]:
    with TritonClient(tiny_server.grpc_url, timeout_s=10, use_shared_memory=request.param) as client:
        yield client


def test_infer_returns_model_detections(client: TritonClient, tiny_reference: Reference) -> None:
    frames = _frames(5)
    detections = client.infer("tiny", frames)
    assert detections.dtype == np.float32 and detections.shape == (5, 4, 6)
    np.testing.assert_array_equal(detections, tiny_reference(frames))


def test_infer_grpc_and_shared_memory_give_identical_results(tiny_server: TritonServer) -> None:
    frames = _frames(32, size=160, seed=3)
    with (
        TritonClient(tiny_server.grpc_url, use_shared_memory=False) as plain,
        TritonClient(tiny_server.grpc_url, use_shared_memory=True) as shared,
    ):
        np.testing.assert_array_equal(plain.infer("tiny", frames), shared.infer("tiny", frames))


def test_default_uses_shared_memory_for_a_local_server(tiny_server: TritonServer) -> None:
    with TritonClient(tiny_server.grpc_url) as local:
        assert local.use_shared_memory
    assert not TritonClient("10.0.0.1:8001").use_shared_memory


def test_shared_memory_regions_reused_grown_and_released(
    tiny_server: TritonServer, tiny_reference: Reference
) -> None:
    client = TritonClient(tiny_server.grpc_url, use_shared_memory=True)
    for seed in range(3):
        frames = _frames(4, seed=seed)
        np.testing.assert_array_equal(client.infer("tiny", frames), tiny_reference(frames))
    mine = [name for name in _regions(tiny_server) if name.startswith("camfleet_")]
    assert len(mine) == 1, "one region reused for every request of the same size"
    small = client.infer("tiny", _frames(2))
    assert small.shape == (2, 4, 6)
    big = _frames(16, size=96)
    np.testing.assert_array_equal(client.infer("tiny", big), tiny_reference(big))
    regions = [name for name in _regions(tiny_server) if name.startswith("camfleet_")]
    assert len(regions) == 1 and regions != mine, "a larger batch replaces the region"
    client.close()
    assert not [name for name in _regions(tiny_server) if name in regions]
    assert not any(Path("/dev/shm", name).exists() for name in regions)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (_frames(2).astype(np.float32), "data-type is 'FP32', but model 'tiny' expects 'UINT8'"),
        (_frames(2)[..., :2], "unexpected shape for input 'IMAGES'"),
        (_frames(33, size=8), "batch-size must be <= 32"),
    ],
    ids=["dtype", "shape", "batch"],
)
def test_infer_bad_request_raises_triton_message_and_server_keeps_serving(
    client: TritonClient, tiny_reference: Reference, frames: np.ndarray, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(InferenceError, match=message):
        client.infer("tiny", frames)
    assert time.monotonic() - started < 2, "a bad request is not retried"
    good = _frames(2)
    np.testing.assert_array_equal(client.infer("tiny", good), tiny_reference(good))


def test_infer_unknown_model_raises_not_found(client: TritonClient) -> None:
    with pytest.raises(InferenceError, match="unknown model: 'nope'"):
        client.infer("nope", _frames(1))
    assert client.is_ready()


def test_infer_server_down_retries_then_raises_within_bound() -> None:
    with TritonClient(f"127.0.0.1:{free_port()}", timeout_s=2, retries=2, backoff_s=0.05) as client:
        started = time.monotonic()
        with pytest.raises(InferenceError, match=r"unavailable after 3 attempt\(s\)"):
            client.infer("tiny", _frames(1))
        assert time.monotonic() - started < 5
        assert not client.is_ready()
        assert not client.model_ready("tiny")


def test_infer_shared_memory_survives_server_restart(
    tiny_repository: Path, tiny_reference: Reference
) -> None:
    http, grpc, metrics = free_ports(3)
    ports = {"http_port": http, "grpc_port": grpc, "metrics_port": metrics}
    frames = _frames(3)
    with TritonServer(tiny_repository, models=["tiny"], startup_timeout_s=60, **ports) as server:
        client = TritonClient(server.grpc_url, timeout_s=10, retries=6, backoff_s=0.1, use_shared_memory=True)
        client.infer("tiny", frames)
    with TritonServer(tiny_repository, models=["tiny"], startup_timeout_s=60, **ports):
        # The new server knows none of the client's regions: the client registers them again.
        np.testing.assert_array_equal(client.infer("tiny", frames), tiny_reference(frames))
        client.close()


def test_infer_async_keeps_several_requests_in_flight(
    tiny_server: TritonServer, tiny_reference: Reference
) -> None:
    batches = [_frames(4, seed=seed) for seed in range(8)]
    with TritonClient(tiny_server.grpc_url, max_in_flight=4) as client:
        futures = [client.infer_async("tiny", frames) for frames in batches]
        for future, frames in zip(futures, batches, strict=True):
            np.testing.assert_array_equal(future.result(timeout=30), tiny_reference(frames))


def test_statistics_count_requests_and_batches(tiny_server: TritonServer) -> None:
    with TritonClient(tiny_server.grpc_url) as client:
        before = client.statistics("tiny")
        for _ in range(3):
            client.infer("tiny", _frames(7))
        after = client.statistics("tiny")
    assert after.request_count - before.request_count == 3
    assert after.inference_count - before.inference_count == 21
    assert after.batch_executions.get(7, 0) - before.batch_executions.get(7, 0) == 3
    assert after.compute_infer_ns > before.compute_infer_ns and after.mean_compute_ms > 0
    assert json.dumps(after.to_dict())


def test_cli_status_lists_models_and_readiness(tiny_server: TritonServer) -> None:
    result = CliRunner().invoke(app, ["triton", "status", "--url", tiny_server.grpc_url, "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    ready = {model["name"]: model["ready"] for model in status["models"]}
    assert status["ready"] is True and ready["broken"] is False and ready["tiny"] is True
    assert set(ready) == {"broken", "paced", "tiny"}  # paced is ready only while a test loads it


def test_cli_status_server_down_exits_1() -> None:
    result = CliRunner().invoke(app, ["triton", "status", "--url", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "not reachable" in result.output


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("model", ["monolith", "shared_day"])
def test_real_models_grpc_and_shared_memory_agree(
    model: str, triton_server: TritonServer, triton_client: TritonClient
) -> None:
    from pipeline.models import load_model_config

    config = load_model_config()
    frames = _frames(4, size=config.input_size, seed=11)
    with TritonClient(triton_server.grpc_url, timeout_s=60, use_shared_memory=False) as plain:
        expected = plain.infer(model, frames)
    assert triton_client.use_shared_memory
    assert expected.shape == (4, config.head.max_detections, 6)
    np.testing.assert_array_equal(triton_client.infer(model, frames), expected)


def test_infer_unsupported_dtype_raises_before_sending(client: TritonClient) -> None:
    with pytest.raises(InferenceError, match="cannot be sent to Triton"):
        client.infer("tiny", np.zeros((1, 8, 8, 3), np.complex64))
