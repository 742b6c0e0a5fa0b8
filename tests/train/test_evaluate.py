import numpy as np
import pytest
import torch

from pipeline.errors import ModelError
from pipeline.models import GROUPS, load_model_config
from pipeline.models.classes import CONDITIONS
from pipeline.models.designs import DESIGNS
from pipeline.models.registry import build_model
from pipeline.train.checkpoint import save_weights
from pipeline.train.evaluate import accuracy_of, evaluate_design
from pipeline.train.predict import merge_detections, models_of
from pipeline.train.report import write_accuracy_report
from pipeline.train.samples import rectangle_samples

CONFIG = load_model_config().with_input_size(64)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    names = {name for design in DESIGNS for name in models_of(design)}
    save_weights(folder, {name: build_model(name, CONFIG) for name in names})
    return folder


@pytest.mark.parametrize("design", list(DESIGNS))
def test_evaluate_design_tiny_set_returns_condition_and_group_keys(design, random_weights) -> None:
    result = evaluate_design(CONFIG, design, rectangle_samples(9, size=64), random_weights)
    assert set(result.per_condition) == set(CONDITIONS)
    assert set(result.per_group) == set(GROUPS)
    assert result.images == 9
    assert result.map50 is not None and 0.0 <= result.map50 <= 1.0


def test_accuracy_of_perfect_detections_is_one() -> None:
    samples = rectangle_samples(6, size=64)
    detections = [
        np.concatenate([s.boxes, np.ones((len(s.boxes), 1)), s.classes[:, None]], axis=1).astype(np.float32)
        for s in samples
    ]
    result = accuracy_of("perfect", samples, detections)
    assert result.map50 == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in result.per_condition.values())
    assert all(v == pytest.approx(1.0) for v in result.per_group.values())


def test_accuracy_of_group_without_boxes_is_none() -> None:
    samples = rectangle_samples(3, size=64, classes=(0,))
    result = accuracy_of("x", samples, [np.zeros((0, 6), np.float32)] * 3)
    assert result.per_group["vehicles"] is None and result.per_group["people"] == 0.0


def test_merge_detections_keeps_top_k_by_score() -> None:
    a = torch.tensor([[[0, 0, 1, 1, 0.9, 1], [0, 0, 1, 1, 0.1, 1]]], dtype=torch.float32)
    b = torch.tensor([[[0, 0, 1, 1, 0.5, 7], [0, 0, 1, 1, 0.95, 7]]], dtype=torch.float32)
    merged = merge_detections([a, b], 2)
    assert merged[0, :, 4].tolist() == pytest.approx([0.95, 0.9])
    assert merged[0, :, 5].tolist() == [7.0, 1.0]


def test_evaluate_design_missing_weights_raises_model_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="camfleet train"):
        evaluate_design(CONFIG, "monolith", rectangle_samples(3, size=64), tmp_path)


def test_write_accuracy_report_writes_json_and_markdown(tmp_path) -> None:
    samples = rectangle_samples(3, size=64)
    result = accuracy_of("monolith", samples, [np.zeros((0, 6), np.float32)] * 3)
    json_path, md_path = write_accuracy_report([result], tmp_path)
    assert '"per_condition"' in json_path.read_text()
    assert "| monolith | 3 |" in md_path.read_text()


def _perfect(samples):
    return [
        np.concatenate([s.boxes, np.ones((len(s.boxes), 1)), s.classes[:, None]], axis=1).astype(np.float32)
        for s in samples
    ]


def test_bootstrap_orders_resample_within_each_condition() -> None:
    from pipeline.train.evaluate import bootstrap_orders

    samples = rectangle_samples(12, size=64)
    orders = bootstrap_orders(samples, 5, seed=3)
    assert len(orders) == 5
    for order in orders:
        assert len(order) == len(samples)
        for condition in CONDITIONS:
            expected = sum(s.condition == condition for s in samples)
            assert sum(samples[i].condition == condition for i in order) == expected
    assert bootstrap_orders(samples, 5, seed=3) == orders


def test_intervals_contain_the_estimate_and_perfect_beats_empty_significantly() -> None:
    from pipeline.train.evaluate import bootstrap_orders, compare_designs

    samples = rectangle_samples(12, size=64)
    perfect, empty = _perfect(samples), [np.zeros((0, 6), np.float32)] * len(samples)
    half = [rows if i % 2 else np.zeros((0, 6), np.float32) for i, rows in enumerate(perfect)]
    orders = bootstrap_orders(samples, 30)
    result = accuracy_of("half", samples, half, orders=orders)
    low, high = result.intervals["all"]
    assert low <= result.map50 <= high and low < high
    differences = compare_designs(samples, {"perfect": perfect, "empty": empty}, orders)
    (difference,) = differences
    assert difference.delta == pytest.approx(1.0) and difference.significant
    same = compare_designs(samples, {"a": perfect, "b": perfect}, orders)[0]
    assert same.delta == 0.0 and not same.significant


def test_accuracy_markdown_shows_intervals_and_verdicts(tmp_path) -> None:
    from pipeline.train.evaluate import bootstrap_orders, compare_designs

    samples = rectangle_samples(6, size=64)
    orders = bootstrap_orders(samples, 10)
    detections = {"monolith": _perfect(samples), "shared-groups": [np.zeros((0, 6), np.float32)] * 6}
    results = [accuracy_of(n, samples, d, orders=orders) for n, d in detections.items()]
    _, md_path = write_accuracy_report(
        results, tmp_path, differences=compare_designs(samples, detections, orders)
    )
    text = md_path.read_text()
    assert (
        "1.000 [1.000, 1.000]" in text
        and "monolith - shared-groups: +1.000" in text
        and "significant" in text
    )
