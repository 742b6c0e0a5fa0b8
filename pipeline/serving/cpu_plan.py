"""How the embedded Triton's CPU models share the machine: instances and torch threads per model.

The committed ``config.pbtxt`` files hold one instance with one torch thread, right for a machine where many
model processes share few cores, wrong for a design whose streams all use one model: that model would use
one core and the rest of the machine would never infer. At start-up :func:`plan_cpu` sizes the models to
the machine and the cameras, and :func:`write_tuned_repository` writes a view of the repository with those
settings (links to the weights, rewritten ``config.pbtxt``) for the embedded server. The rule:

1. **Decode keeps its share.** The cameras' frames per second times a per-frame decode cost
   (:data:`DECODE_FPS_PER_CORE`, H.264 at 720p on one core) is the decode share; inference gets the
   machine's cores less that share, rounded, at least one.
2. **Every model may use all inference cores.** An idle instance costs memory, not CPU, so each model gets
   instances as if it were alone: a single-model mix uses every core, and a mix whose streams move from one
   model to another (day to night) moves the cores with them. Up to :data:`MAX_INSTANCES` instances, each
   with ``inference cores // instances`` torch threads, so one busy model never runs more threads than
   cores. When several models are busy at once, the operating system shares the cores between them.
3. The merge model of class-group designs (a top-K over a few rows) keeps one instance and one thread.

GPU configs (``configs/gpu.pbtxt``, picked with ``triton.model_config_name: gpu``) are left as written:
there, instances and preferred batch sizes come from that file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from pipeline.errors import ServingError
from pipeline.models.designs import ENSEMBLES, MERGE_MODEL
from pipeline.serving.repository import CONFIG_FILE

logger = logging.getLogger(__name__)

DECODE_FPS_PER_CORE = 720.0
"""H.264 frames one core decodes per second at 720p (measured at 360p ~2,300, 720p ~720, 1080p ~290 on a
two-core machine of the kind camfleet is tested on): the decode cost charged per camera frame."""

MAX_INSTANCES = 4
"""Most instances of one model: more processes than this add memory and context switches, not speed."""

UNKNOWN_FPS = 30.0
"""Frame rate charged for a camera configured without one (it is read at its native rate)."""


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Instances and torch threads of every CPU model of the embedded server.

    Attributes:
        cores: The machine's cores.
        decode_cores: The share kept for decoding the cameras.
        inference_cores: Cores the models may use.
        instances: Instances of each model (the merge model: 1).
        torch_threads: Torch intra-op threads of each instance.
    """

    cores: int
    decode_cores: float
    inference_cores: int
    instances: int
    torch_threads: int

    def describe(self) -> str:
        """One line for the log."""
        return (
            f"{self.cores} cores, {self.decode_cores:.2f} kept for decode: each model "
            f"{self.instances} instance(s) x {self.torch_threads} torch thread(s)"
        )


def plan_cpu(
    camera_fps: list[float | None], *, cores: int | None = None, inference_cores: int | None = None
) -> CpuPlan:
    """The plan for cameras reading ``camera_fps`` (None: native rate).

    Args:
        camera_fps: Each camera's configured frame rate.
        cores: The machine's cores (None: this machine's).
        inference_cores: Cores the models may use, set by the operator (None: the cores less decode's share).
    """
    cores = cores or os.cpu_count() or 1
    decode = sum(UNKNOWN_FPS if fps is None else fps for fps in camera_fps) / DECODE_FPS_PER_CORE
    inference = inference_cores or max(1, min(cores, round(cores - decode)))
    instances = min(inference, MAX_INSTANCES)
    return CpuPlan(cores, round(decode, 3), inference, instances, max(1, inference // instances))


def tune_config(text: str, name: str, plan: CpuPlan) -> str:
    """``config.pbtxt`` text of model ``name`` with the plan's instance count and torch threads.

    Raises:
        ServingError: if ``text`` is not a model config or the model is not a CPU model.
    """
    try:
        config = text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ServingError(f"the config.pbtxt of {name} does not parse: {exc}") from exc
    groups = config.instance_group
    if len(groups) != 1 or groups[0].kind != model_config_pb2.ModelInstanceGroup.KIND_CPU:
        raise ServingError(f"{name}'s config.pbtxt must have one KIND_CPU instance group to be tuned")
    merge = name == MERGE_MODEL
    groups[0].count = 1 if merge else plan.instances
    config.parameters["torch_threads"].string_value = str(1 if merge else plan.torch_threads)
    return str(text_format.MessageToString(config))


def write_tuned_repository(source: Path, target: Path, plan: CpuPlan) -> Path:
    """A view of repository ``source`` at ``target`` whose python models follow ``plan``.

    Ensembles are linked as they are; each python model's folder is rebuilt with links to its files (the
    version folder with the weights included) and a tuned ``config.pbtxt``. Returns ``target``.

    Raises:
        ServingError: if ``source`` holds no models or a config cannot be tuned.
    """
    folders = sorted(p for p in source.resolve().iterdir() if (p / CONFIG_FILE).is_file())
    if not folders:
        raise ServingError(f"{source} holds no model (no */config.pbtxt)")
    target.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        view = target / folder.name
        if view.is_symlink() or view.exists():
            raise ServingError(f"{view} already exists; the tuned repository must be written to a new folder")
        if folder.name in ENSEMBLES:
            view.symlink_to(folder, target_is_directory=True)
            continue
        view.mkdir()
        for entry in folder.iterdir():
            if entry.name != CONFIG_FILE:
                (view / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        tuned = tune_config((folder / CONFIG_FILE).read_text(), folder.name, plan)
        (view / CONFIG_FILE).write_text(tuned)
    logger.info("Triton CPU models: %s", plan.describe())
    return target
