"""The training loop: one plan (a design's models) trained jointly with AdamW, seeded and resumable.

Each step draws one batch, balanced across lighting conditions when the data set tags them. A condition
objective sees only its condition's share of the batch; every other objective sees the whole batch. A
trunk runs once per step and feeds all its heads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from pydantic import BaseModel, ConfigDict, Field
from rich.progress import Progress, TextColumn
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.model_config import ModelConfig
from pipeline.models.registry import build_model
from pipeline.train.batches import BatchSampler, make_batch
from pipeline.train.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint, save_weights
from pipeline.train.losses import centernet_loss
from pipeline.train.plan import Objective, TrainPlan, output_stride, plans_for, raw_outputs
from pipeline.train.samples import Sample, resize_sample
from pipeline.train.targets import build_targets

logger = logging.getLogger(__name__)


class TrainSettings(BaseModel):
    """How long and how to train (part of the demo weights' cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(300, ge=1, description="Optimizer steps per plan.")
    batch_size: int = Field(24, ge=1, description="Frames per step (split evenly across conditions).")
    lr: float = Field(2e-3, gt=0, description="Peak AdamW learning rate (warm-up, then cosine decay).")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")
    seed: int = Field(0, description="Seed of weights, batch order and augmentation.")
    threads: int = Field(2, ge=1, description="torch CPU threads.")
    checkpoint_every: int = Field(50, ge=1, description="Save a resumable checkpoint every N steps.")
    flip: bool = Field(True, description="Random horizontal flips.")
    crop: int = Field(
        0,
        ge=0,
        description=(
            "Train on random square crops of this side (0: whole frames); the models are fully "
            "convolutional, so crops cost less per step and keep objects at their true scale."
        ),
    )
    min_radius: int = Field(
        0, ge=0, description="Smallest heatmap Gaussian radius in output cells (helps small objects)."
    )
    shared_start: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Fraction of steps during which a plan's condition objectives train ONE model (the first "
            "condition's) on every frame; it is then copied into the other conditions' models, which "
            "specialise for the remaining steps. Same cost per step, three times the data per model."
        ),
    )


@dataclass(frozen=True)
class TrainResult:
    """What one plan's training did."""

    plan: str
    start_step: int
    steps: int
    seconds: float
    losses: tuple[float, ...]
    weights: tuple[Path, ...]

    @property
    def steps_per_s(self) -> float:
        """Steps run in this call per second of wall time."""
        return (self.steps - self.start_step) / self.seconds if self.seconds > 0 else 0.0


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Use ``threads`` torch CPU threads inside the block, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _learning_rate(settings: TrainSettings, step: int) -> float:
    warmup = max(1, settings.steps // 20)
    if step < warmup:
        return settings.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, settings.steps - warmup)
    return settings.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _shared_group(plan: TrainPlan, models: dict[str, nn.Module]) -> tuple[Objective, ...]:
    """The plan's condition objectives when there are several and their models are interchangeable."""
    group = tuple(o for o in plan.objectives if o.condition is not None)
    if len(group) < 2:
        return ()
    shapes = [
        (o.classes, o.trunk, {k: v.shape for k, v in models[o.model].state_dict().items()}) for o in group
    ]
    return group if all(shape == shapes[0] for shape in shapes) else ()


def _objectives(plan: TrainPlan, group: tuple[Objective, ...], shared: bool) -> tuple[Objective, ...]:
    """The objectives of one step: while ``shared``, the group's first model stands for all of it."""
    if not shared or not group:
        return plan.objectives
    first = dataclasses.replace(group[0], condition=None)
    return tuple(first if o is group[0] else o for o in plan.objectives if o not in group[1:])


def _spread(models: dict[str, nn.Module], group: tuple[Objective, ...]) -> None:
    """Copy the group's first model into the others (the end of the shared phase)."""
    state = models[group[0].model].state_dict()
    for objective in group[1:]:
        models[objective.model].load_state_dict(state)
    logger.info("shared phase over: %s copied into %s", group[0].model, ", ".join(o.model for o in group[1:]))


def _plan_loss(
    objectives: Sequence[Objective],
    models: dict[str, nn.Module],
    samples: Sequence[Sample],
    indices: npt.NDArray[np.int64],
    flip: npt.NDArray[np.bool_],
    *,
    tagged: bool,
    crop: int,
    min_radius: int,
    rng: np.random.Generator,
) -> torch.Tensor:
    images, boxes, classes = make_batch(samples, indices, flip=flip, crop=crop, rng=rng)
    conditions = [samples[int(i)].condition for i in indices]
    features = {name: models[name](images) for name in {o.trunk for o in objectives if o.trunk}}
    total = torch.zeros(())
    for objective in objectives:
        keep = [i for i, c in enumerate(conditions) if not tagged or objective.condition in (None, c)]
        if not keep:
            continue
        inputs = features[objective.trunk] if objective.trunk else images
        if len(keep) < len(conditions):
            inputs = inputs[keep]
        model = models[objective.model]
        outputs = raw_outputs(model, inputs)
        targets = build_targets(
            [boxes[i] for i in keep],
            [classes[i] for i in keep],
            class_ids=objective.classes,
            grid=outputs[0].shape[-1],
            stride=output_stride(model),
            min_radius=min_radius,
        )
        total = total + centernet_loss(outputs, targets).total
    return total


def _step(
    objectives: Sequence[Objective],
    models: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    samples: Sequence[Sample],
    sampler: BatchSampler,
    settings: TrainSettings,
    step: int,
) -> float:
    for group in optimizer.param_groups:
        group["lr"] = _learning_rate(settings, step)
    rng = np.random.default_rng([settings.seed, step, 1])
    flip = (rng.random(settings.batch_size) < 0.5) & settings.flip
    loss = _plan_loss(
        objectives,
        models,
        samples,
        sampler.indices(step),
        flip,
        tagged=sampler.tagged,
        crop=settings.crop,
        min_radius=settings.min_radius,
        rng=rng,
    )
    optimizer.zero_grad(set_to_none=True)
    torch.autograd.backward(loss)
    torch.nn.utils.clip_grad_norm_([p for m in models.values() for p in m.parameters()], 10.0)
    optimizer.step()
    return float(loss.detach())


def train_plan(
    config: ModelConfig,
    plan: TrainPlan,
    samples: Sequence[Sample],
    out: Path,
    settings: TrainSettings,
    *,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train every model of ``plan`` for ``settings.steps`` steps; save weights into ``out``.

    Args:
        config: model sizes; frames are resized to ``config.input_size``.
        plan: the models and objectives to train.
        samples: training frames.
        out: output folder: ``<registry_name>.pt`` weights and ``checkpoints/<plan>.ckpt``.
        settings: steps, batch size, learning rate, seed.
        resume: continue from the checkpoint in ``out`` when there is one.
        progress: show a progress bar.

    Raises:
        ConfigError: if there are no training frames.
        ModelError: if the checkpoint is unreadable or belongs to another plan.
    """
    if not samples:
        raise ConfigError("no training frames: the data set's train split is empty")
    samples = [resize_sample(s, config.input_size) for s in samples]
    sampler = BatchSampler(samples, batch_size=settings.batch_size, seed=settings.seed)
    if not sampler.tagged and any(o.condition for o in plan.objectives):
        logger.warning("%s: frames have no condition tag; condition heads train on every frame", plan.name)
    with torch_threads(settings.threads):
        torch.manual_seed(settings.seed)
        models = {name: build_model(name, config).train() for name in plan.models}
        optimizer = torch.optim.AdamW(
            [p for m in models.values() for p in m.parameters()],
            lr=settings.lr,
            weight_decay=settings.weight_decay,
        )
        start, losses = 0, []
        ckpt = checkpoint_path(out, plan.name)
        if resume and ckpt.is_file():
            state = load_checkpoint(ckpt, plan=plan.name)
            for name, model in models.items():
                model.load_state_dict(state.models[name])
            optimizer.load_state_dict(state.optimizer)
            start, losses = state.step, list(state.losses)
            logger.info("%s: resuming from step %d", plan.name, start)
        began = time.perf_counter()
        columns = (*Progress.get_default_columns(), TextColumn("{task.fields[loss]}"))
        with Progress(*columns, transient=True, disable=not progress) as bar:
            task = bar.add_task(f"train {plan.name}", total=settings.steps, completed=start, loss="")
            group = _shared_group(plan, models)
            switch = round(settings.shared_start * settings.steps) if group else 0
            for step in range(start, settings.steps):
                if step == switch and switch > 0:
                    _spread(models, group)
                objectives = _objectives(plan, group, step < switch)
                losses.append(_step(objectives, models, optimizer, samples, sampler, settings, step))
                bar.update(task, advance=1, loss=f"loss {losses[-1]:.3f}")
                if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
                    save_checkpoint(
                        ckpt, plan=plan.name, step=step + 1, models=models, optimizer=optimizer, losses=losses
                    )
            if group and switch >= settings.steps:
                _spread(models, group)
        seconds = time.perf_counter() - began
        weights = save_weights(out, {name: model.eval() for name, model in models.items()})
    logger.info(
        "%s: steps %d-%d in %.1f s, loss %.3f",
        plan.name,
        start,
        settings.steps,
        seconds,
        losses[-1] if losses else 0,
    )
    return TrainResult(plan.name, start, settings.steps, seconds, tuple(losses), tuple(weights))


def train_design(
    config: ModelConfig,
    design: str,
    samples: Sequence[Sample],
    out: Path,
    settings: TrainSettings,
    *,
    resume: bool = False,
    progress: bool = True,
) -> list[TrainResult]:
    """Train every plan that ``design`` (a design name or ``all``) needs; see :func:`train_plan`."""
    return [
        train_plan(config, plan, samples, out, settings, resume=resume, progress=progress)
        for plan in plans_for(design)
    ]
