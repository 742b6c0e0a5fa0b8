"""The CPU plan: instances and torch threads follow the machine and the cameras, and a real Triton serves the
tuned view of the repository (ensembles and the merge model included), whose instances the workers read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests

from pipeline.errors import ServingError
from pipeline.models.designs import DESIGNS, ENSEMBLES, MERGE_MODEL
from pipeline.serving.client import TritonClient
from pipeline.serving.compute_times import ServerComputeTimes
from pipeline.serving.cpu_plan import MAX_INSTANCES, plan_cpu, tune_config
from pipeline.serving.launcher import TritonServer

pytestmark = pytest.mark.timeout(300)


def test_plan_one_small_machine_gives_every_model_all_inference_cores() -> None:
    plan = plan_cpu([10.0] * 8, cores=2)  # 80 fps of decode is a tenth of a core
    assert (plan.inference_cores, plan.instances, plan.torch_threads) == (2, 2, 1)
    assert 0.1 < plan.decode_cores < 0.12


def test_plan_keeps_decodes_share_and_caps_instances_on_a_big_machine() -> None:
    plan = plan_cpu([30.0] * 48, cores=16)  # 1,440 fps: two cores of decode
    assert plan.inference_cores == 14 and plan.instances == MAX_INSTANCES and plan.torch_threads == 3
    assert plan_cpu([None] * 100, cores=2).inference_cores == 1  # never below one core
    assert plan_cpu([10.0], cores=16, inference_cores=6).instances == 4


def test_tune_config_sets_instances_and_threads_and_keeps_the_rest(model_repository: Path) -> None:
    plan = plan_cpu([], cores=8)
    original = (model_repository / "monolith" / "config.pbtxt").read_text()
    tuned = tune_config(original, "monolith", plan)
    assert "count: 4" in tuned and 'string_value: "2"' in tuned  # 4 instances x 2 threads
    assert "max_queue_delay_microseconds: 2000" in tuned and "spatial_multiple" in tuned
    merge = tune_config((model_repository / MERGE_MODEL / "config.pbtxt").read_text(), MERGE_MODEL, plan)
    assert "count: 1" in merge
    with pytest.raises(ServingError, match="does not parse"):
        tune_config("instance_group [ oops", "monolith", plan)


def test_server_with_a_cpu_plan_serves_the_tuned_configs_and_the_ensemble_answers(
    model_repository: Path, tmp_path: Path
) -> None:
    plan = plan_cpu([], cores=2)
    models = list(DESIGNS["shared-groups"].required_models)  # trunk, heads, merge and the ensemble
    with TritonServer(model_repository, models=models, run_dir=tmp_path, cpu_plan=plan) as server:
        assert server.serving_repository != model_repository
        for model in ("trunk", "head_people", MERGE_MODEL):
            config = requests.get(f"{server.http_url}/v2/models/{model}/config", timeout=10).json()
            expected = 1 if model == MERGE_MODEL else plan.instances
            assert config["instance_group"][0]["count"] == expected, model
            threads = 1 if model == MERGE_MODEL else plan.torch_threads
            assert config["parameters"]["torch_threads"]["string_value"] == str(threads)
        with TritonClient(server.grpc_url, timeout_s=60, use_shared_memory=False) as client:
            detections = client.infer("shared_groups", np.zeros((2, 160, 160, 3), np.uint8))
            assert client.instances("trunk") == plan.instances and client.instances(MERGE_MODEL) == 1
            assert client.instances("shared_groups") is None  # an ensemble has no instances of its own
            # What a worker's batcher bounds its requests in flight by: the ensemble runs as many at once
            # as its steps other than the merge, over every server of the pool (here one server twice).
            times = ServerComputeTimes(lambda: [client], ["shared_groups"], ensembles=ENSEMBLES)
            assert times.concurrency("shared_groups") is None  # nothing read yet
            times.refresh()
            assert times.concurrency("shared_groups") == plan.instances == times.concurrency("trunk")
            assert times.concurrency(MERGE_MODEL) == 1
            doubled = ServerComputeTimes(lambda: [client, client], ["shared_groups"], ensembles=ENSEMBLES)
            doubled.refresh()
            assert doubled.concurrency("shared_groups") == 2 * plan.instances
        assert detections.shape[0] == 2
    assert (model_repository / "monolith" / "config.pbtxt").read_text().count("count: 1") == 1  # untouched
