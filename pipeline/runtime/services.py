"""Start what a pipeline needs: Ray, the Triton server and Redis (embedded, or the configured ones).

Embedded parts run on this machine on free loopback ports and are stopped, by pid, when the
:class:`Services` context exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ray

from pipeline.config import PipelineConfig
from pipeline.errors import ServingError
from pipeline.events.redis_server import EmbeddedRedis
from pipeline.models.designs import ENSEMBLES, MERGE_MODEL, get_design
from pipeline.serving.client import TritonClient
from pipeline.serving.cpu_plan import plan_cpu
from pipeline.serving.launcher import TritonServer
from pipeline.serving.pool import resolve_urls

logger = logging.getLogger(__name__)


def init_local_ray(*, num_cpus: int | None = None, object_store_mb: int = 256) -> Path | None:
    """Start a local Ray suited to a shared machine: loopback only, no dashboard, capped object store.

    Returns:
        Ray's temporary folder, for the caller to remove after ``ray.shutdown()``; None (and nothing
        started) when Ray is already initialised in this process.
    """
    if ray.is_initialized():
        return None
    # Loopback only and no auth prompt: DESIGN.md's settings for a shared machine.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    temp_dir = tempfile.mkdtemp(prefix="cfray-", dir="/tmp")  # Ray's socket paths must stay short
    ray.init(
        num_cpus=num_cpus,
        object_store_memory=object_store_mb * 1024 * 1024,
        include_dashboard=False,
        _temp_dir=temp_dir,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    return Path(temp_dir)


def stop_local_ray(temp_dir: Path | None) -> None:
    """Shut Ray down and remove the temporary folder :func:`init_local_ray` made for it."""
    ray.shutdown()
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)


def models_to_load(config: PipelineConfig) -> list[str]:
    """Every Triton model the configured design (and a load-aware fallback design) needs."""
    designs = [config.design]
    fallback = getattr(config.scheduler.policy, "fallback_design", None)
    if fallback:
        designs.append(fallback)
    return sorted({model for name in designs for model in get_design(name).required_models})


def missing_weights(repository: Path, models: list[str]) -> list[str]:
    """The model families among ``models`` with no exported ``1/model.pt`` in ``repository``.

    Ensembles and the merge model have no weights of their own.
    """
    return [
        m
        for m in models
        if m not in ENSEMBLES and m != MERGE_MODEL and not (repository / m / "1" / "model.pt").exists()
    ]


def check_weights(repository: Path, models: list[str]) -> None:
    """Fail early, with the command to run, when exported weights are missing.

    Raises:
        ServingError: if a model folder has no ``1/model.pt``.
    """
    missing = missing_weights(repository, models)
    if missing:
        raise ServingError(
            f"no exported weights for {', '.join(missing)} in {repository}; run `camfleet models export` "
            f"(random weights) or train and export first"
        )


@dataclass
class RunningServices:
    """Handles to the services of one run.

    Attributes:
        triton_urls: Every Triton server the workers use (the embedded one, or the configured ones).
        redis_url: Where events go.
        triton: A client of the first server, for tools that query it from this process (limits,
            statistics); the pipeline's frames never use it.
        triton_server: The embedded server, when camfleet started one.
        redis_server: The embedded Redis, when camfleet started one.
    """

    triton_urls: list[str]
    redis_url: str
    triton: TritonClient
    triton_server: TritonServer | None
    redis_server: EmbeddedRedis | None


@contextlib.contextmanager
def services(config: PipelineConfig, *, repository: Path | None = None) -> Iterator[RunningServices]:
    """Start (or connect to) Ray, Triton and Redis for ``config``; stop what was started on exit.

    Ray is shut down on exit (and its temporary folder removed) only when this call started it: tests and
    the load tester share one Ray across many calls.
    """
    with contextlib.ExitStack() as stack:
        if not ray.is_initialized():
            if config.ray.address:
                ray.init(address=config.ray.address, logging_level=logging.WARNING)
                stack.callback(ray.shutdown)
            else:
                temp_dir = init_local_ray(
                    num_cpus=config.ray.num_cpus, object_store_mb=config.ray.object_store_mb
                )
                stack.callback(stop_local_ray, temp_dir)
        triton_server = None
        triton_urls = list(config.triton.urls)
        if not triton_urls:
            repo = repository or config.triton.model_repository
            needed = models_to_load(config)
            check_weights(repo, needed)
            plan = plan_cpu([c.fps for c in config.cameras], inference_cores=config.triton.inference_cores)
            triton_server = stack.enter_context(
                TritonServer(
                    repo, models=needed, model_config_name=config.triton.model_config_name, cpu_plan=plan
                )
            )
            triton_urls = [triton_server.grpc_url]
        redis_server = None
        redis_url = config.redis.url
        if redis_url is None:
            redis_server = stack.enter_context(EmbeddedRedis())
            redis_url = redis_server.url
        first = (resolve_urls(triton_urls) or triton_urls)[0]
        client = stack.enter_context(
            TritonClient(
                first,
                timeout_s=config.triton.timeout_s,
                use_shared_memory=config.triton.shared_memory,
            )
        )
        yield RunningServices(triton_urls, redis_url, client, triton_server, redis_server)
