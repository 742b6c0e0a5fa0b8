"""Session fixtures shared by every test package: Triton model repositories and real Triton servers.

Two kinds of repository:

* ``tiny_repository``: hand-written python-backend models without torch (``tiny``, ``broken``), for tests
  of the launcher and the client that must not wait for an export. ``tiny`` answers in a few ms.
* ``model_repository``: the real repository, exported with random weights into a temporary folder.

Servers are started once per session on free loopback ports and stopped (with their stub processes) at the
end. Each python-backend model is a process that imports torch (~0.4 GB), so ``triton_server`` loads only
the models of :data:`SESSION_DESIGNS`.
"""

from __future__ import annotations

import os

# Before anything imports ray (it reads these once): on this shared machine every Ray the tests start,
# single-node or a multi-node Cluster, listens and connects on loopback only, with no auth prompt.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import inspect
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from system_binaries import require_system_binary

from pipeline.events.redis_server import EmbeddedRedis
from pipeline.models.designs import DESIGNS
from pipeline.serving.client import TritonClient
from pipeline.serving.launcher import TritonServer

SESSION_DESIGNS: tuple[str, ...] = ("monolith", "shared-condition")
"""Designs the session ``triton_server`` loads at start: a plain model and a trunk + heads ensemble, five
python models (~1.4 GB). Tests that need another design call the ``load_design`` fixture; every design at
once is 15 python models, ~4.2 GB and about a minute to start on two busy cores."""

TINY_K = 4
TINY_MAX_BATCH = 32

_TINY_CONFIG = """\
name: "{name}"
backend: "python"
max_batch_size: {max_batch}
input [ {{ name: "IMAGES" data_type: TYPE_UINT8 dims: [ -1, -1, 3 ] }} ]
output [ {{ name: "DETECTIONS" data_type: TYPE_FP32 dims: [ {k}, 6 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""


def tiny_detections(images: np.ndarray) -> np.ndarray:
    """What the ``tiny`` model returns: channel sums of every 4th pixel, image size, row index."""
    batch, height, width, _ = images.shape
    sums = images[:, ::4, ::4].reshape(batch, -1, 3).sum(axis=1, dtype=np.int64).astype(np.float32)
    out = np.zeros((batch, TINY_K, 6), np.float32)
    out[:, :, :3] = sums[:, None, :]
    out[:, :, 3] = height
    out[:, :, 4] = width
    out[:, :, 5] = np.arange(TINY_K, dtype=np.float32)
    return out


# The model runs the very function the tests compare with.
_TINY_MODEL = f"""\
import numpy as np
import triton_python_backend_utils as pb_utils

TINY_K = {TINY_K}


{inspect.getsource(tiny_detections)}

class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "IMAGES").as_numpy()
            tensor = pb_utils.Tensor("DETECTIONS", tiny_detections(images))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses
"""

PACED_FIXED_S = 0.02
PACED_PER_FRAME_S = 0.005

# Takes a known time per execution (a fixed part and a part per frame), to check service-time fits.
_PACED_MODEL = f"""\
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "IMAGES").as_numpy()
            time.sleep({PACED_FIXED_S} + {PACED_PER_FRAME_S} * len(images))
            out = np.zeros((len(images), {TINY_K}, 6), np.float32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("DETECTIONS", out)]))
        return responses
"""

_BROKEN_MODEL = """\
class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError("broken on purpose: weights.pt is missing")

    def execute(self, requests):
        return []
"""


def write_python_model(repository: Path, name: str, source: str, *, k: int = TINY_K) -> Path:
    """Write a python-backend model ``name`` with the IMAGES -> DETECTIONS [K, 6] interface."""
    folder = repository / name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(_TINY_CONFIG.format(name=name, max_batch=TINY_MAX_BATCH, k=k))
    (folder / "1" / "model.py").write_text(textwrap.dedent(source))
    return folder


@pytest.fixture
def require_rtsp_server() -> None:
    """Skip (or, in CI, fail) when ``rtsp-server-perl`` is not installed."""
    from pipeline.world.rtsp import rtsp_server_available

    require_system_binary(
        rtsp_server_available(),
        "rtsp-server-perl is not installed: `apt-get install -y rtsp-server-perl` to run this test",
    )


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole test session: loopback only, 2 CPUs, a small object store."""

    from pipeline.runtime.services import init_local_ray, stop_local_ray

    temp_dir = init_local_ray(num_cpus=2, object_store_mb=200)
    yield
    stop_local_ray(temp_dir)


@pytest.fixture(scope="session")
def pipeline_redis() -> Iterator[EmbeddedRedis]:
    """A real redis-server for the pipeline and control tests."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def tiny_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with ``tiny`` (fast, deterministic), ``paced`` (a known time per execution, not loaded
    at start) and ``broken`` (raises in ``initialize``)."""
    repository = tmp_path_factory.mktemp("tiny_models")
    write_python_model(repository, "tiny", _TINY_MODEL)
    write_python_model(repository, "paced", _PACED_MODEL)
    write_python_model(repository, "broken", _BROKEN_MODEL)
    return repository


@pytest.fixture(scope="session")
def tiny_reference() -> Callable[[np.ndarray], np.ndarray]:
    """The function the ``tiny`` model computes, to compare its answers with."""
    return tiny_detections


@pytest.fixture(scope="session")
def tiny_server(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """One Triton server for the session serving only the ``tiny`` model."""
    run_dir = tmp_path_factory.mktemp("tiny_triton")
    with TritonServer(tiny_repository, models=["tiny"], run_dir=run_dir, startup_timeout_s=60) as server:
        yield server


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Triton repository, exported with seeded random weights into a temporary folder."""
    from pipeline.models import load_model_config
    from pipeline.models.export import export_repository

    repository = tmp_path_factory.mktemp("triton_models")
    export_repository(load_model_config(), repository)
    return repository


def session_models(designs: tuple[str, ...] = SESSION_DESIGNS) -> list[str]:
    """Every model Triton must load to serve ``designs`` (ensemble steps included), without duplicates."""
    return list(dict.fromkeys(m for design in designs for m in DESIGNS[design].required_models))


@pytest.fixture(scope="session")
def triton_server(model_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """One Triton server for the session serving the real models of :data:`SESSION_DESIGNS`."""
    run_dir = tmp_path_factory.mktemp("triton_run")
    with TritonServer(model_repository, models=session_models(), run_dir=run_dir) as server:
        yield server


@pytest.fixture(scope="session")
def load_design(triton_server: TritonServer) -> Callable[[str], None]:
    """Load every model a design needs into the session ``triton_server`` (explicit mode), once."""

    def load(design: str) -> None:
        for model in DESIGNS[design].required_models:
            if model not in triton_server.loaded_models:
                triton_server.load_model(model)

    return load


@pytest.fixture
def triton_client(triton_server: TritonServer) -> Iterator[TritonClient]:
    """A client of the session ``triton_server`` (shared memory, as on one host)."""
    with TritonClient(triton_server.grpc_url, timeout_s=60) as client:
        yield client
