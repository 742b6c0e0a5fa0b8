"""The operator model: sampled probes, the per-kind fit and the call cost of scripted probe networks."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.models.model_config import ModelConfig
from pipeline.planner import operators
from pipeline.planner.operators import KINDS, KindFit, OperatorSample, fit_kind, layer_kind


def test_fit_kind_recovers_the_line_that_made_the_samples() -> None:
    truth = KindFit(per_kernel_s=2e-5, per_flop_s=1e-11, per_byte_s=3e-10, per_weight_byte_s=0.0)
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(40):
        kernels, flops, moved = 1.0, rng.uniform(1e6, 1e9), rng.uniform(1e4, 1e7)
        seconds = truth.seconds(kernels=kernels, flops=flops, moved_bytes=moved, weight_bytes=0.0)
        samples.append(OperatorSample("conv", 1, kernels, flops, moved, 0.0, seconds))
    fit = fit_kind(samples)
    assert fit.rms_relative_error < 1e-6
    assert fit.per_flop_s == pytest.approx(truth.per_flop_s, rel=1e-4)
    assert fit.per_byte_s == pytest.approx(truth.per_byte_s, rel=1e-4)
    assert fit.samples == 40


def test_fit_kind_without_samples_is_zero() -> None:
    assert fit_kind([]).seconds(kernels=5, flops=1e9, moved_bytes=1e6, weight_bytes=1e3) == 0.0


@pytest.mark.parametrize(
    ("module", "kind"), [("Conv2d", "conv"), ("BoxDecoder", "decoder"), ("ReLU", "elementwise")]
)
def test_layer_kind_maps_module_classes(module: str, kind: str) -> None:
    assert layer_kind(module) == kind


def test_measure_operators_times_every_kind_with_profiled_features() -> None:
    samples = operators.measure_operators(threads=1, batches=(1, 2), per_kind=3, reps=1)
    assert {s.kind for s in samples} == set(KINDS)
    assert all(s.seconds > 0 and s.kernels >= 1 for s in samples)
    convs = [s for s in samples if s.kind == "conv"]
    assert all(s.flops > 0 for s in convs)
    # The same probe at batch 2 moves twice the bytes of batch 1 (features scale with the batch).
    pairs = {}
    for s in convs:
        pairs.setdefault((s.kernels, s.weight_bytes), {})[s.batch] = s
    doubled = [p for p in pairs.values() if {1, 2} <= set(p)]
    assert doubled and all(p[2].flops == pytest.approx(2 * p[1].flops) for p in doubled)


def test_call_cost_and_holdout_come_from_probe_networks_not_configs(model_config: ModelConfig) -> None:
    samples = operators.measure_operators(threads=1, batches=(1, 4), per_kind=8, reps=2)
    model = operators.fit_operator_model(samples, threads=1)
    measured = operators.measure_call_cost(model, threads=1, nets=2, reps=2)
    assert measured.call_s >= 0 and measured.holdout_rms_error is not None
    # A 2-core machine shared with other jobs: only a loose bound, the benchmark reports the real figure.
    assert measured.holdout_rms_error < 1.0
    assert measured.conv.samples > 0 and model_config.input_size > 0
