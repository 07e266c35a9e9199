"""The Kubernetes manifests render with kustomize and validate offline, and agree with the app.

Rendered by `kubectl kustomize` (as users do); every Kubernetes object is checked strictly
against the API schemas bundled in `kubernetes-validate`, and KEDA's objects against KEDA's
schemas with the vendored validator in deploy/kubernetes/tools (Node.js).
"""

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from traptagger.celery import QUEUES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OVERLAY = DEPLOY / "kubernetes" / "overlays" / "example"
KEDA_VALIDATE = DEPLOY / "kubernetes" / "tools" / "keda-validate.cjs"
KUBERNETES_VERSION = "1.32.0"

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="kubectl is not installed (it renders kustomize)")
needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="Node.js is not installed (KEDA's schema check)")


def render(path: Path = OVERLAY) -> list[dict]:
    done = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def keda_errors(docs: list[dict]) -> dict:
    done = subprocess.run(["node", str(KEDA_VALIDATE)], input=json.dumps(docs),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def by_kind(docs, kind, name_start=""):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name_start)]
    assert found, f"no {kind} {name_start}"
    return found


def container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture(scope="module")
def docs():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (it renders kustomize)")
    return render()


@needs_kubectl
def test_every_kubernetes_object_validates_strictly(docs):
    kinds = set()
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        kinds.add(doc["kind"])
    assert {"Deployment", "Service", "Ingress", "Job", "ConfigMap", "Secret"} <= kinds


@needs_kubectl
@needs_node
def test_keda_objects_validate_against_kedas_schema(docs):
    report = keda_errors(docs)
    assert report == {"checked": 2, "errors": []}


@needs_node
def test_the_validators_catch_a_broken_manifest():
    broken = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
              "metadata": {"name": "x"},
              "spec": {"scaleTargetRef": {"name": "w"}, "minReplicaCount": "zero",
                       "triggers": [{"type": "redis", "metadata": {}}]}}
    assert "minReplicaCount must be integer" in keda_errors([broken])["errors"][0]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"replicas": "two", "selector": {}, "template": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@needs_kubectl
def test_processes_match_the_systemd_units(docs):
    units = {}
    for unit in (DEPLOY / "systemd").glob("*.service"):
        line = next(r for r in unit.read_text().splitlines() if r.startswith("ExecStart="))
        argv = shlex.split(line.removeprefix("ExecStart="))
        units[unit.stem] = [Path(argv[0]).name, *argv[1:]]
    pairs = {"traptagger-web": "traptagger-web", "traptagger-worker": "traptagger-worker",
             "traptagger-gpu-worker": "traptagger-gpu-worker", "traptagger-beat": "traptagger-beat"}
    for unit, deployment in pairs.items():
        command = container(by_kind(docs, "Deployment", deployment)[0])["command"]
        expected = units[unit]
        if "-b" in expected:  # loopback on a host, all interfaces in a pod
            expected[expected.index("-b") + 1] = "0.0.0.0"
        assert command == expected, unit
    assert "--autoscale" in units["traptagger-worker"]


@needs_kubectl
def test_gpu_workers_scale_from_zero_on_the_celery_gpu_queue(docs):
    scaled = by_kind(docs, "ScaledObject")[0]
    gpu = by_kind(docs, "Deployment", "traptagger-gpu-worker")[0]
    assert scaled["spec"]["scaleTargetRef"]["name"] == gpu["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] == 0 and gpu["spec"]["replicas"] == 0
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "redis"
    queue = trigger["metadata"]["listName"]
    gpu_command = container(gpu)["command"]
    assert queue in QUEUES and gpu_command[gpu_command.index("-Q") + 1] == queue
    # The address KEDA reads comes from the target container's own environment.
    config = by_kind(docs, "ConfigMap", "traptagger-config")[0]
    assert trigger["metadata"]["addressFromEnv"] in config["data"]
    assert {"configMapRef": {"name": config["metadata"]["name"]}} in container(gpu)["envFrom"]
    auth = by_kind(docs, "TriggerAuthentication")[0]
    secret = by_kind(docs, "Secret", "traptagger-secret")[0]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    ref = auth["spec"]["secretTargetRef"][0]
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["data"]
    resources = container(gpu)["resources"]["limits"]
    assert resources["nvidia.com/gpu"] == 1
    assert gpu["spec"]["template"]["spec"]["nodeSelector"]
    assert container(gpu)["image"].endswith("traptagger-gpu:0.1.0")


@needs_kubectl
def test_one_beat_migrations_once_and_websockets_through_the_ingress(docs):
    beat = by_kind(docs, "Deployment", "traptagger-beat")[0]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    job = by_kind(docs, "Job", "traptagger-migrate")[0]
    assert container(job)["command"][-2:] == ["migrate", "--noinput"]
    web = by_kind(docs, "Deployment", "traptagger-web")[0]
    assert container(web)["readinessProbe"]["httpGet"]["path"] == "/healthz"
    ingress = by_kind(docs, "Ingress")[0]
    assert int(ingress["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    service = by_kind(docs, "Service", "traptagger-web")[0]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    for doc in by_kind(docs, "Deployment"):
        waits = doc["spec"]["template"]["spec"]["initContainers"][0]
        assert "migrate --check" in " ".join(waits["command"]), doc["metadata"]["name"]
        assert waits["image"] == container(doc)["image"]
    for doc in docs:
        if doc["kind"] in {"Deployment", "Job"}:
            refs = {next(iter(r.values()))["name"] for r in container(doc)["envFrom"]}
            names = {d["metadata"]["name"] for d in docs if d["kind"] in {"ConfigMap", "Secret"}}
            assert refs <= names, doc["metadata"]["name"]


def test_every_setting_of_env_example_is_in_the_example_overlay():
    def keys(path):
        return {line.split("=", 1)[0] for line in path.read_text().splitlines()
                if "=" in line and not line.startswith("#")}
    compose_only = {"COMPOSE_PROFILES", "TRAPTAGGER_DOMAIN"}
    expected = keys(DEPLOY / "env.example") - compose_only
    overlay = keys(OVERLAY / "config.env") | keys(OVERLAY / "secret.env")
    assert expected <= overlay, sorted(expected - overlay)
