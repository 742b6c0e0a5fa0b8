"""The fleet on a real multi-node Ray cluster on one machine: a head with no CPUs and two worker nodes.

``ray.cluster_utils.Cluster`` starts real raylets; camera workers reserve one CPU each, so they can only run
on the worker nodes and are spread over both. Faults are real: a node removed, a worker process killed with
SIGKILL, one of two real Triton servers stopped. Each test asserts what a user would check: the cameras on
the surviving parts keep publishing, the lost cameras publish again elsewhere, and the status says so.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import tempfile
import time

import pytest
import ray
import redis
import requests
from ray.cluster_utils import Cluster

from pipeline.config import ControlConfig
from pipeline.control.app import start_control_plane
from pipeline.netutil import free_ports
from pipeline.runtime.services import init_local_ray
from pipeline.serving.launcher import TritonServer

pytestmark = pytest.mark.timeout(400)

STEADY_EVENTS = {"confirm_frames": 1, "seen_interval_s": 0.5}


@pytest.fixture(scope="module")
def cluster(ray_session):
    """Head (0 CPUs) + two worker nodes (2 CPUs each); the session's local Ray comes back afterwards."""
    ray.shutdown()
    temp_dir = tempfile.mkdtemp(prefix="cfcl-", dir="/tmp")
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_TMPDIR", temp_dir)  # the cluster's address file goes there, not to a shared /tmp/ray
    os.makedirs(os.path.join(temp_dir, "ray"))
    node = {"include_dashboard": False, "node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "num_cpus": 0, "temp_dir": temp_dir})
    workers = [cluster.add_node(**node, num_cpus=2) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="camfleet-tests", log_to_driver=False)
    try:
        yield cluster, workers
    finally:
        ray.shutdown()
        cluster.shutdown()
        patch.undo()
        shutil.rmtree(temp_dir, ignore_errors=True)
        # The session's Ray comes back for the tests after this module; its folder goes when they end.
        atexit.register(shutil.rmtree, init_local_ray(num_cpus=2, object_store_mb=200), True)


@pytest.fixture(scope="module")
def two_tritons(steady_repository, tmp_path_factory):
    """Two real Triton servers with the steady monolith (every frame gives the same objects)."""
    servers = []
    try:
        for name in ("a", "b"):
            http, grpc, metrics = free_ports(3)
            server = TritonServer(
                steady_repository,
                models=["monolith"],
                run_dir=tmp_path_factory.mktemp(f"triton_{name}"),
                http_port=http,
                grpc_port=grpc,
                metrics_port=metrics,
            )
            servers.append(server.start())
        yield servers
    finally:
        for server in servers:
            server.stop()


def _config(clip, cameras: int, **extra) -> dict:
    return {
        "design": "monolith",
        "cameras": [{"id": f"cam{i}", "url": str(clip), "fps": 5} for i in range(cameras)],
        "scheduler": {"policy": {"type": "static"}},
        "events": STEADY_EVENTS,
        "ray": {"cameras_per_worker": 2, "worker_cpus": 1, **extra.pop("ray", {})},
        **extra,
    }


def _events_since(url: str, since_ms: int) -> dict[str, int]:
    """Events per camera in the Redis stream with an id at or after ``since_ms``."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    counts: dict[str, int] = {}
    for _id, fields in client.xrange("camfleet:events", min=f"{since_ms}-0"):
        camera = json.loads(fields[b"event"])["camera_id"]
        counts[camera] = counts.get(camera, 0) + 1
    return counts


def _now_ms() -> int:
    return int(time.time() * 1000)


def _worker_nodes(cluster_and_nodes) -> set[str]:
    _cluster, nodes = cluster_and_nodes
    return {node.node_id for node in nodes}


def test_cluster_cameras_on_both_worker_nodes_publish_events(
    cluster, two_tritons, run_pipeline, pipeline_redis, clips
):
    started = _now_ms()
    with run_pipeline(_config(clips("day"), 4), two_tritons[0].grpc_url) as h:
        h.wait_for(lambda: len(h.status().cameras) == 4, 120, "four cameras served")
        h.wait_for(
            lambda: set(_events_since(pipeline_redis.url, started)) >= {f"cam{i}" for i in range(4)},
            120,
            "events from every camera",
        )
        status = h.status()
        assert {c.node_id for c in status.cameras} == _worker_nodes(cluster)
        assert len(status.workers) == 2 and all(w.alive for w in status.workers)


def test_cluster_node_removed_its_cameras_publish_again_on_the_other_node(
    cluster, two_tritons, run_pipeline, pipeline_redis, clips
):
    ray_cluster, nodes = cluster
    with run_pipeline(
        _config(clips("day", seed=7), 2, ray={"cameras_per_worker": 1}), two_tritons[0].grpc_url
    ) as h:
        h.wait_for(lambda: all(h.inferred(f"cam{i}") >= 5 for i in range(2)), 120, "both cameras inferring")
        placed = {c.camera_id: c.node_id for c in h.status().cameras}
        assert len(set(placed.values())) == 2, placed  # one worker per node
        doomed = next(n for n in nodes if n.node_id == placed["cam0"])
        ray_cluster.remove_node(doomed, allow_graceful=False)
        removed_at = _now_ms()
        h.wait_for(
            lambda: (c := h.camera("cam0")) is not None and c.node_id != doomed.node_id, 60, "cam0 moved"
        )
        h.wait_for(
            lambda: _events_since(pipeline_redis.url, removed_at).get("cam0", 0) > 0,
            60,
            "cam0 publishes again",
        )
        status = h.status()
        assert status.replacements >= 1 and status.workers_lost >= 1
        assert _events_since(pipeline_redis.url, removed_at).get("cam1", 0) > 0  # the survivor never stopped
        nodes.remove(doomed)
        nodes.append(ray_cluster.add_node(include_dashboard=False, node_ip_address="127.0.0.1", num_cpus=2))
        ray_cluster.wait_for_nodes()


def test_cluster_worker_killed_with_sigkill_is_replaced_and_cameras_resume(
    cluster, two_tritons, run_pipeline, pipeline_redis, clips
):
    with run_pipeline(_config(clips("day", seed=8), 2), two_tritons[0].grpc_url) as h:
        h.wait_for(lambda: all(h.inferred(f"cam{i}") >= 5 for i in range(2)), 120, "cameras inferring")
        [worker] = h.workers()
        os.kill(worker.pid, signal.SIGKILL)
        killed_at = _now_ms()
        h.wait_for(
            lambda: all(
                (c := h.camera(f"cam{i}")) is not None and c.worker_id != worker.worker_id for i in range(2)
            ),
            60,
            "cameras on a new worker",
        )
        h.wait_for(
            lambda: set(_events_since(pipeline_redis.url, killed_at)) >= {"cam0", "cam1"}, 60, "events again"
        )
        status = h.status()
        assert status.replacements == 2 and status.workers_lost == 1
        assert not status.unplaced


def test_cluster_one_of_two_tritons_stopped_traffic_moves_to_the_other(
    cluster, steady_repository, run_pipeline, pipeline_redis, clips, tmp_path
):
    servers = []
    for name in ("x", "y"):
        http, grpc, metrics = free_ports(3)
        server = TritonServer(
            steady_repository, models=["monolith"], run_dir=tmp_path / name,
            http_port=http, grpc_port=grpc, metrics_port=metrics,
        )  # fmt: skip
        servers.append(server.start())
    try:
        urls = [s.grpc_url for s in servers]
        with run_pipeline(_config(clips("day", seed=9), 2), urls) as h:
            h.wait_for(
                lambda: all(s.requests > 0 for w in h.workers() for s in w.servers), 120, "both servers used"
            )
            servers[0].stop()
            stopped_at = _now_ms()
            h.wait_for(
                lambda: all(not s.healthy for w in h.workers() for s in w.servers if s.url == urls[0]),
                30,
                "the stopped server marked unhealthy",
            )
            before = {s.url: s.requests for w in h.workers() for s in w.servers}
            inferred = h.inferred("cam0")
            h.wait_for(lambda: h.inferred("cam0") >= inferred + 10, 60, "inference goes on")
            after = {s.url: s.requests for w in h.workers() for s in w.servers}
            assert after[urls[1]] > before[urls[1]]
            assert after[urls[0]] == before[urls[0]]  # no request goes to the stopped server any more
            h.wait_for(lambda: _events_since(pipeline_redis.url, stopped_at).get("cam1", 0) > 0, 30, "events")
    finally:
        for server in servers:
            server.stop()


def test_cluster_rest_add_and_remove_camera_while_others_run(cluster, two_tritons, run_pipeline, clips):
    with run_pipeline(_config(clips("day", seed=10), 1), two_tritons[0].grpc_url) as h:
        plane = start_control_plane(ControlConfig(camera_files=True), None, h.fleet.controller)
        try:
            h.wait_for(lambda: h.inferred("cam0") >= 3, 120, "first camera")
            added = requests.post(
                f"{plane.url}/cameras",
                json={"id": "extra", "url": str(clips("dusk", seed=11)), "fps": 5},
                timeout=60,
            )
            assert added.status_code == 201, added.text
            h.wait_for(lambda: h.inferred("extra") >= 3, 60, "added camera inferring")
            before = h.inferred("cam0")
            assert requests.delete(f"{plane.url}/cameras/extra", timeout=30).status_code == 200
            h.wait_for(lambda: h.camera("extra") is None, 30, "removed camera gone")
            h.wait_for(lambda: h.inferred("cam0") > before, 30, "the other camera kept running")
        finally:
            plane.stop()
