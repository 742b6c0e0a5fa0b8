"""Every repository model on a real Triton server: same output as PyTorch, clear errors, still serving."""

import contextlib
import functools
import threading

import numpy as np
import pytest
import torch
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from pipeline.errors import ServingError
from pipeline.models import ModelInput, get_family, list_families, load_model_config
from pipeline.models.designs import DESIGNS, ENSEMBLES, MERGE_MODEL
from pipeline.models.export import export_repository
from pipeline.serving.launcher import TritonServer
from pipeline.serving.python_model import merge_detections

pytestmark = pytest.mark.slow

BATCH = 3
ATOL = 1e-4


@pytest.fixture(scope="module")
def config():
    return load_model_config()  # the config conftest's model_repository is exported with


@pytest.fixture(scope="module")
def client(triton_server, load_design):
    for design in DESIGNS:  # every model and ensemble of the repository
        load_design(design)
    # The raw gRPC client: these tests send FEATURES and read Triton's own error codes.
    with grpcclient.InferenceServerClient(triton_server.grpc_url) as client:
        yield client


@contextlib.contextmanager
def one_thread():
    # Like the served models (torch_threads 1), so both sides sum in the same order.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def torch_models(model_repository):
    return {
        name: torch.jit.load(str(model_repository / name / "1" / "model.pt")).eval()
        for name in list_families()
    }


@pytest.fixture(scope="module")
def frames(config) -> np.ndarray:
    size = config.input_size
    return np.random.default_rng(7).integers(0, 256, (BATCH, size, size, 3), dtype=np.uint8)


def infer(client, model: str, inputs: dict[str, np.ndarray], output: str = "DETECTIONS") -> np.ndarray:
    tensors = []
    for name, array in inputs.items():
        tensor = grpcclient.InferInput(
            name, list(array.shape), "UINT8" if array.dtype == np.uint8 else "FP32"
        )
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return client.infer(model, tensors, client_timeout=60).as_numpy(output)


def reference(name: str, torch_models, frames: np.ndarray, k: int, device: str = "cpu") -> torch.Tensor:
    with torch.inference_mode(), one_thread():
        images = torch.from_numpy(frames).to(device)
        if name not in ENSEMBLES:
            return torch_models[name](images)
        spec = ENSEMBLES[name]
        source = torch_models[spec.trunk](images) if spec.trunk else images
        outputs = [torch_models[model](source) for model in spec.parallel]
        return merge_detections(outputs, k) if spec.merges else outputs[0]


@pytest.mark.parametrize("name", [*list_families(), *ENSEMBLES])
def test_model_output_equals_pytorch(name, client, torch_models, frames, config):
    k = config.head.max_detections
    if name not in ENSEMBLES and get_family(name).input is ModelInput.FEATURES:
        with torch.inference_mode(), one_thread():
            features = torch_models["trunk"](torch.from_numpy(frames)).numpy()
            expected = torch_models[name](torch.from_numpy(features))
        served = infer(client, name, {"FEATURES": features})
    elif name == "trunk":
        served = infer(client, name, {"IMAGES": frames}, output="FEATURES")
        expected = reference(name, torch_models, frames, k)
    else:
        served = infer(client, name, {"IMAGES": frames})
        expected = reference(name, torch_models, frames, k)
        assert served.shape == (BATCH, k, 6)
    np.testing.assert_allclose(served, expected.numpy(), atol=ATOL, rtol=1e-5)


def test_every_torchscript_model_warmed_up_before_it_served(client, triton_server):
    # Their first calls profile the graph; Triton's log shows each model ran them at start-up.
    log = triton_server.log_path.read_text()
    assert [name for name in list_families() if f"{name} warmed up in" not in log] == []


def test_merge_detections_output_equals_pytorch(client, config):
    k = config.head.max_detections
    rng = np.random.default_rng(3)
    parts = {
        f"DETECTIONS_{g}": rng.random((BATCH, k, 6), dtype=np.float32)
        for g in ("PEOPLE", "VEHICLES", "ANIMALS_OBJECTS")
    }
    served = infer(client, MERGE_MODEL, parts)
    expected = merge_detections([torch.from_numpy(p) for p in parts.values()], k)
    np.testing.assert_array_equal(served, expected.numpy())
    scores = served[:, :, 4]
    assert np.all(np.diff(scores, axis=1) <= 0)
    top = np.sort(np.concatenate([p[:, :, 4] for p in parts.values()], axis=1), axis=1)[:, ::-1][:, :k]
    np.testing.assert_array_equal(scores, top)


def test_request_bad_size_invalid_arg_rest_of_batch_succeeds(client, frames):
    bad = np.zeros((1, 100, 100, 3), dtype=np.uint8)  # 100 is not a multiple of the stride 8
    results: dict[int, object] = {}
    done = threading.Event()

    def callback(index, result=None, error=None):
        results[index] = error if error is not None else result.as_numpy("DETECTIONS")
        if len(results) == 4:
            done.set()

    for index, array in enumerate([frames[:1], bad, frames[1:2], frames[2:]]):
        tensor = grpcclient.InferInput("IMAGES", list(array.shape), "UINT8")
        tensor.set_data_from_numpy(array)
        client.async_infer("specialist_day", [tensor], functools.partial(callback, index))
    assert done.wait(60)
    error = results[1]
    assert isinstance(error, InferenceServerException)
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "multiples of 8" in error.message() and "specialist_day" in error.message()
    assert all(isinstance(results[i], np.ndarray) and results[i].shape[0] == 1 for i in (0, 2, 3))


def test_ensemble_bad_size_invalid_arg(client):
    with pytest.raises(InferenceServerException, match="multiples of 8") as info:
        infer(client, "shared_groups", {"IMAGES": np.zeros((2, 60, 60, 3), dtype=np.uint8)})
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"


def test_request_wrong_dtype_clear_error_server_keeps_serving(client, frames):
    with pytest.raises(InferenceServerException, match="UINT8") as info:
        infer(client, "monolith", {"IMAGES": frames.astype(np.float32)})
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert infer(client, "monolith", {"IMAGES": frames}).shape[0] == BATCH


def test_request_wrong_channels_clear_error_server_keeps_serving(client, frames):
    with pytest.raises(InferenceServerException, match="IMAGES") as info:
        infer(client, "specialist_night", {"IMAGES": np.zeros((1, 160, 160, 4), dtype=np.uint8)})
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert infer(client, "specialist_night", {"IMAGES": frames}).shape[0] == BATCH


def test_request_unknown_model_clear_error_server_keeps_serving(client, frames):
    with pytest.raises(InferenceServerException, match="unknown model") as info:
        infer(client, "no_such_model", {"IMAGES": frames})
    assert "no_such_model" in info.value.message()
    assert client.is_server_live() and client.is_model_ready("shared_day")


def test_repository_broken_model_start_fails_with_model_error(tmp_path, config):
    repository = tmp_path / "repo"
    export_repository(config, repository, models=["specialist_day", "specialist_dusk"])
    (repository / "specialist_day" / "1" / "model.pt").write_bytes(b"not a torchscript archive")
    (repository / "specialist_dusk" / "1" / "model.pt").unlink()
    server = TritonServer(repository, models=["specialist_day", "specialist_dusk"], run_dir=tmp_path / "run")
    with pytest.raises(ServingError) as info:
        server.start()
    message = str(info.value)
    assert "specialist_day" in message and "specialist_dusk" in message
    assert "camfleet models export" in message
    assert not server.running


@pytest.mark.gpu
def test_gpu_config_ensemble_output_equals_pytorch(model_repository, tmp_path, frames, config):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA build of torch and an NVIDIA GPU")
    models = {
        name: torch.jit.load(str(model_repository / name / "1" / "model.pt")).eval()
        for name in list_families()
    }
    with (
        TritonServer(
            model_repository, models=["shared_groups"], model_config_name="gpu", run_dir=tmp_path
        ) as server,
        grpcclient.InferenceServerClient(server.grpc_url) as client,
    ):
        served = infer(client, "shared_groups", {"IMAGES": frames})
    expected = reference("shared_groups", models, frames, config.head.max_detections, device="cuda").cpu()
    np.testing.assert_allclose(served, expected.numpy(), atol=1e-3)
