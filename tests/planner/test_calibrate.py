from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.models.model_config import ModelConfig
from pipeline.planner.calibrate import fit_efficiencies, measure_compute, measure_models
from pipeline.planner.hardware import HardwareProfile


@pytest.fixture
def one_thread() -> object:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield None
    torch.set_num_threads(previous)


def test_calibrated_model_predicts_measured_batch8_within_35_percent(
    model_config: ModelConfig, one_thread: object
) -> None:
    device = torch.device("cpu")
    peak, bandwidth, _ = measure_compute(device, quick=True)
    rows = measure_models(model_config, ("specialist_day", "trunk", "head_day"), (1, 8), device, reps=2)
    fitted = fit_efficiencies(rows, peak, bandwidth)
    hardware = HardwareProfile(peak_flops=peak, bandwidth=bandwidth, **fitted)
    # A family the fit did not see, measured at batch 8 with one thread.
    ((cost, _, measured),) = measure_models(model_config, ("monolith",), (8,), device, reps=2)
    assert cost.latency_s(hardware, 8) == pytest.approx(measured, rel=0.35)


def test_fit_efficiencies_recovers_synthetic_figures(model_config: ModelConfig) -> None:
    from pipeline.planner.cost import family_cost

    truth = HardwareProfile(peak_flops=5e10, bandwidth=1e10, eta_c=0.4, eta_m=0.5, kappa_s=2e-5, l0_s=1e-4)
    rows = [
        (family_cost(f, model_config), b, family_cost(f, model_config).latency_s(truth, b))
        for f in ("monolith", "specialist_day", "trunk", "head_day")
        for b in (1, 8, 32)
    ]
    fitted = fit_efficiencies(rows, truth.peak_flops, truth.bandwidth)
    predicted = HardwareProfile(peak_flops=5e10, bandwidth=1e10, **fitted)
    errors = [abs(c.latency_s(predicted, b) - s) / s for c, b, s in rows]
    assert float(np.max(errors)) < 0.1
