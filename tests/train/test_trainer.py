import numpy as np
import pytest

from pipeline.models import load_model_config
from pipeline.train.batches import BatchSampler
from pipeline.train.checkpoint import checkpoint_path, load_checkpoint, weights_path
from pipeline.train.evaluate import evaluate_design
from pipeline.train.plan import PLANS, plans_for
from pipeline.train.samples import rectangle_samples
from pipeline.train.trainer import TrainSettings, train_plan

# Measured on 2 shared cores: 60 steps of batch 12 at 64 px take ~15 s (specialists-condition) and
# reach mAP@0.5 ~0.50 on 60 held-out frames; 0.25 leaves room for noise across seeds and machines.
EASY_MAP_THRESHOLD = 0.25
CONFIG = load_model_config().with_input_size(64)


@pytest.fixture(scope="module")
def easy_train():
    return rectangle_samples(240, size=64, seed=0)


@pytest.mark.slow
def test_train_plan_easy_data_lowers_loss_and_reaches_map(tmp_path, easy_train) -> None:
    settings = TrainSettings(steps=60, batch_size=12, checkpoint_every=1000)
    result = train_plan(
        CONFIG, PLANS["specialists-condition"], easy_train, tmp_path, settings, progress=False
    )
    assert len(result.losses) == 60
    assert np.mean(result.losses[-10:]) < 0.5 * np.mean(result.losses[:5])
    assert all(weights_path(tmp_path, f"specialist_{c}").is_file() for c in ("day", "dusk", "night"))
    accuracy = evaluate_design(
        CONFIG, "specialists-condition", rectangle_samples(60, size=64, seed=1), tmp_path
    )
    assert accuracy.map50 is not None and accuracy.map50 > EASY_MAP_THRESHOLD


def test_train_plan_resume_continues_from_saved_step(tmp_path, easy_train) -> None:
    plan = PLANS["monolith"]
    first = train_plan(
        CONFIG, plan, easy_train, tmp_path, TrainSettings(steps=2, batch_size=4), progress=False
    )
    assert load_checkpoint(checkpoint_path(tmp_path, "monolith"), plan="monolith").step == 2
    second = train_plan(
        CONFIG, plan, easy_train, tmp_path, TrainSettings(steps=4, batch_size=4), resume=True, progress=False
    )
    assert second.start_step == 2 and second.steps == 4
    assert second.losses[:2] == first.losses
    assert len(second.losses) == 4
    assert load_checkpoint(checkpoint_path(tmp_path, "monolith"), plan="monolith").step == 4


def test_train_plan_shared_saves_trunk_and_six_heads(tmp_path, easy_train) -> None:
    result = train_plan(
        CONFIG, PLANS["shared"], easy_train, tmp_path, TrainSettings(steps=1, batch_size=6), progress=False
    )
    names = sorted(path.stem for path in result.weights)
    assert names == sorted(
        ["trunk", *(f"head_{n}" for n in ("day", "dusk", "night"))]
        + ["head_people", "head_vehicles", "head_animals_objects"]
    )


def test_train_plan_untagged_frames_condition_heads_train_on_all(tmp_path, caplog) -> None:
    untagged = rectangle_samples(12, size=64, conditions=None)
    result = train_plan(
        CONFIG,
        PLANS["specialists-condition"],
        untagged,
        tmp_path,
        TrainSettings(steps=1, batch_size=3),
        progress=False,
    )
    assert np.isfinite(result.losses[0])
    assert "no condition tag" in caplog.text


def test_batch_sampler_same_step_same_indices_balanced() -> None:
    samples = rectangle_samples(30, size=32)
    sampler = BatchSampler(samples, batch_size=9, seed=3)
    assert np.array_equal(sampler.indices(5), sampler.indices(5))
    conditions = [samples[i].condition for i in sampler.indices(5)]
    assert sorted(conditions) == sorted(["day", "dusk", "night"] * 3)


def test_plans_for_shared_designs_is_one_joint_plan() -> None:
    assert plans_for("shared-condition") == plans_for("shared-groups") == (PLANS["shared"],)
    assert len(plans_for("all")) == 4


def test_train_plan_shared_start_trains_one_model_then_copies(tmp_path, easy_train) -> None:
    import torch

    settings = TrainSettings(steps=2, batch_size=6, shared_start=1.0)
    train_plan(CONFIG, PLANS["specialists-condition"], easy_train, tmp_path, settings, progress=False)
    states = [torch.load(weights_path(tmp_path, f"specialist_{c}")) for c in ("day", "dusk", "night")]
    assert all(torch.equal(states[0][k], s[k]) for s in states[1:] for k in states[0])

    half = TrainSettings(steps=4, batch_size=6, shared_start=0.5)
    train_plan(CONFIG, PLANS["specialists-condition"], easy_train, tmp_path / "half", half, progress=False)
    day, dusk = (torch.load(weights_path(tmp_path / "half", f"specialist_{c}")) for c in ("day", "dusk"))
    assert not all(torch.equal(day[k], dusk[k]) for k in day)


def test_train_plan_shared_start_resumes_like_uninterrupted_run(tmp_path, easy_train, monkeypatch) -> None:
    import pipeline.train.trainer as trainer

    plan = PLANS["specialists-condition"]
    settings = TrainSettings(steps=4, batch_size=6, shared_start=0.5, checkpoint_every=1)
    whole = train_plan(CONFIG, plan, easy_train, tmp_path / "whole", settings, progress=False)
    real_step = trainer._step

    def interrupted(*args, **kwargs):
        if args[-1] == 3:  # the step after the copy: stop as a killed demo start would
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_plan(CONFIG, plan, easy_train, tmp_path / "split", settings, progress=False)
    monkeypatch.setattr(trainer, "_step", real_step)
    resumed = train_plan(CONFIG, plan, easy_train, tmp_path / "split", settings, resume=True, progress=False)
    assert resumed.start_step == 3
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-4)
