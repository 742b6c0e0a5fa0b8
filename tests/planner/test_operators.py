"""The operator model: sampled probes, the per-kind fit and the call cost of scripted probe networks."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.models.model_config import ModelConfig
from pipeline.planner import operators
from pipeline.planner.operators import KINDS, KindFit, OperatorSample, fit_kind, layer_kind


def test_fit_kind_recovers_the_line_that_made_the_samples() -> None:
    truth = KindFit(per_kernel_s=2e-5, per_flop_s=1e-11, per_byte_s=3e-10, narrow_in_s=4e-10)
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(40):
        channels = float(rng.choice([3, 16, 64, 192]))
        flops, moved = rng.uniform(1e6, 1e9), rng.uniform(1e4, 1e7)
        features = (1.0, flops, moved, 0.0, flops / channels, flops / 64)
        samples.append(OperatorSample("conv", 1, features, truth.seconds(features)))
    fit = fit_kind(samples)
    assert fit.rms_relative_error < 1e-6
    assert fit.per_flop_s == pytest.approx(truth.per_flop_s, rel=1e-3)
    assert fit.per_byte_s == pytest.approx(truth.per_byte_s, rel=1e-3)
    assert fit.narrow_in_s == pytest.approx(truth.narrow_in_s, rel=1e-3)
    assert fit.samples == 40


def test_fit_kind_without_samples_is_zero() -> None:
    assert fit_kind([]).seconds((5, 1e9, 1e6, 1e3, 1e8, 1e8)) == 0.0


def test_layer_features_charge_narrow_convolutions_more_per_flop() -> None:
    from pipeline.models.profile import LayerProfile

    def conv(cin: int, cout: int) -> LayerProfile:
        return LayerProfile("c", "Conv2d", 1_000_000, 0, 0, 0, 0, 1, in_channels=cin, out_channels=cout)

    fit = KindFit(per_flop_s=1e-11, narrow_in_s=1e-10, narrow_out_s=1e-10)
    stem, stage = operators.layer_features(conv(3, 16)), operators.layer_features(conv(192, 192))
    assert fit.seconds(stem) > 3 * fit.seconds(stage)  # the same FLOPs
    relu = LayerProfile("r", "ReLU", 0, 0, 0, 100, 100, 1)
    assert operators.layer_features(relu, batch=2) == [1.0, 0.0, 400.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("module", "kind"), [("Conv2d", "conv"), ("BoxDecoder", "decoder"), ("ReLU", "elementwise")]
)
def test_layer_kind_maps_module_classes(module: str, kind: str) -> None:
    assert layer_kind(module) == kind


def test_measure_operators_times_every_kind_with_profiled_features() -> None:
    samples = operators.measure_operators(threads=1, batches=(1, 2), per_kind=3, reps=1)
    assert {s.kind for s in samples} == set(KINDS)
    kernels, flops, weights, narrow_in = (
        operators.FEATURES.index(n) for n in ("kernels", "flops", "weight_bytes", "flops/in_channels")
    )
    assert all(s.seconds > 0 and s.features[kernels] >= 1 for s in samples)
    convs = [s for s in samples if s.kind == "conv"]
    assert all(s.features[flops] > 0 and s.features[narrow_in] > 0 for s in convs)
    # The same probe at batch 2 does twice the FLOPs of batch 1 (features scale with the batch).
    pairs: dict[tuple[float, float], dict[int, OperatorSample]] = {}
    for s in convs:
        pairs.setdefault((s.features[kernels], s.features[weights]), {})[s.batch] = s
    doubled = [p for p in pairs.values() if {1, 2} <= set(p)]
    assert doubled and all(p[2].features[flops] == pytest.approx(2 * p[1].features[flops]) for p in doubled)


def test_call_cost_and_holdout_come_from_probe_networks_not_configs(model_config: ModelConfig) -> None:
    samples = operators.measure_operators(threads=1, batches=(1, 4), per_kind=8, reps=2)
    model = operators.fit_operator_model(samples, threads=1)
    measured = operators.measure_call_cost(model, threads=1, nets=2, reps=2)
    assert measured.call_s >= 0 and measured.holdout_rms_error is not None
    # A 2-core machine shared with other jobs: only a loose bound, the benchmark reports the real figure.
    assert measured.holdout_rms_error < 1.0
    assert measured.conv.samples > 0 and model_config.input_size > 0
