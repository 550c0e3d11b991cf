"""``deploy/``: the Kubernetes manifests validate offline — every object of the kustomize
base against the Kubernetes API schemas (``kubernetes-validate``, strict: an unknown
field fails), the operator's ``LocustTest`` against ``deploy/k8s/operator``'s schema —
and they describe a runnable deployment: two workers reaching the master's Service,
``DATABASE_URL`` only from the Secret, the options files accepted by Locust's own parser
with the harness's options. No cluster and no network needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "k8s" / "base"
OPERATOR = ROOT / "deploy" / "k8s" / "operator"
K8S_VERSION = "1.30.0"


def _base_objects() -> list[dict[str, Any]]:
    """The kustomization's resources in order (the base uses no transformers, so this is
    what ``kubectl kustomize`` renders)."""
    kust = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert set(kust) == {"apiVersion", "kind", "resources"}, "a transformer needs a renderer"
    docs: list[dict[str, Any]] = []
    for name in kust["resources"]:
        docs.extend(d for d in yaml.safe_load_all((BASE / name).read_text()) if d)
    return docs


def _by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_every_base_object_validates_against_the_kubernetes_schemas() -> None:
    docs = _base_objects()
    assert sorted(_by_kind(docs)) == [
        ("ConfigMap", "loadsim-options"),
        ("Deployment", "loadsim-master"),
        ("Deployment", "loadsim-worker"),
        ("Service", "loadsim-master"),
    ]
    for d in docs:
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)


def test_a_typo_in_a_manifest_fails_validation() -> None:
    worker = _by_kind(_base_objects())[("Deployment", "loadsim-worker")]
    worker["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError, match="'replica' was unexpected"):
        kubernetes_validate.validate(worker, K8S_VERSION, strict=True)


def test_kubectl_kustomize_renders_the_same_objects() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the objects are validated without it)")
    out = subprocess.run(
        [kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    rendered = [d for d in yaml.safe_load_all(out) if d]
    assert _by_kind(rendered) == _by_kind(_base_objects())


def test_two_workers_reach_the_master_and_read_the_database_url_from_the_secret() -> None:
    objs = _by_kind(_base_objects())
    master, worker = objs[("Deployment", "loadsim-master")], objs[("Deployment", "loadsim-worker")]
    service = objs[("Service", "loadsim-master")]
    options = objs[("ConfigMap", "loadsim-options")]
    assert worker["spec"]["replicas"] == 2 and master["spec"]["replicas"] == 1
    # The Service selects the master's pods and exposes its ZeroMQ, web and metrics ports.
    assert service["spec"]["selector"] == master["spec"]["template"]["metadata"]["labels"]
    assert {p["port"] for p in service["spec"]["ports"]} == {5557, 8089, 9646}
    conf = {
        name: dict(
            line.split(" = ", 1) for line in options["data"][name].splitlines() if line.strip()
        )
        for name in ("master.conf", "worker.conf")
    }
    assert conf["worker.conf"]["master-host"] == service["metadata"]["name"]
    assert conf["master.conf"]["expect-workers"] == str(worker["spec"]["replicas"])
    assert conf["master.conf"]["prometheus-port"] == "9646"
    for dep, conf_name in ((master, "master.conf"), (worker, "worker.conf")):
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert c["args"] == ["--config", f"/etc/loadsim/{conf_name}"]
        env = {e["name"]: e for e in c["env"]}
        assert env["DATABASE_URL"] == {
            "name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "loadsim-db", "key": "DATABASE_URL"}},
        }
        assert pod["securityContext"]["runAsNonRoot"] is True
    # No credential or connection string is written into any manifest.
    text = "".join(p.read_text() for p in sorted((ROOT / "deploy").rglob("*.yaml")))
    assert "postgresql://" not in text and "password" not in text.lower()


@pytest.mark.parametrize("conf_name", ["master.conf", "worker.conf"])
def test_the_options_files_parse_with_locust_and_the_harness(
    conf_name: str, tmp_path: Path
) -> None:
    """In a subprocess: this test process never imports locust (it patches the stdlib)."""
    options = _by_kind(_base_objects())[("ConfigMap", "loadsim-options")]
    conf = tmp_path / conf_name
    conf.write_text(options["data"][conf_name])
    script = (
        "import json, sys\n"
        "from locust.argument_parser import get_parser\n"
        "from harness.config.options import HarnessOptions, register_options\n"
        "p = get_parser(default_config_files=[])\n"
        "register_options(p)\n"
        "ns = p.parse_args(['-f', 'locustfile.py', '--config', sys.argv[1]])\n"
        "o = HarnessOptions.from_parsed(ns)\n"
        "print(json.dumps({'master': ns.master, 'worker': ns.worker, 'master_host': "
        "ns.master_host, 'expect_workers': ns.expect_workers, 'prometheus_port': "
        "ns.prometheus_port, 'time_scale': o.time_scale, 'hours': o.sim_duration_hours, "
        "'thresholds': list(o.thresholds)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(conf)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if conf_name == "master.conf":
        assert (got["master"], got["expect_workers"], got["prometheus_port"]) == (True, 2, 9646)
        assert (got["time_scale"], got["hours"], got["thresholds"]) == (96.0, 168.0,
                                                                        ["slip_p99<10%"])  # fmt: skip
    else:
        assert (got["worker"], got["master_host"]) == (True, "loadsim-master")


def test_the_operator_locusttest_validates_and_runs_two_workers_with_the_secret() -> None:
    schema = json.loads((OPERATOR / "locusttest-v2.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    doc = yaml.safe_load((OPERATOR / "locusttest.yaml").read_text())
    assert [e.message for e in validator.iter_errors(doc)] == []
    spec = doc["spec"]
    assert spec["worker"]["replicas"] == 2
    assert spec["env"]["secretRefs"] == [{"name": "loadsim-db"}]
    assert "--prometheus-port=9646" in spec["master"]["extraArgs"]
    bad = json.loads(json.dumps(doc))
    bad["spec"]["worker"]["replicas"] = 0
    bad["spec"]["env"]["secretRef"] = [{"name": "loadsim-db"}]
    errors = sorted(e.message for e in validator.iter_errors(bad))
    assert len(errors) == 2 and "0 is less than the minimum of 1" in errors


def test_the_image_runs_as_a_non_root_user_with_the_project_installed() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert "RUN pip install . \\" in lines and "USER 10001" in lines
    assert lines.index("USER 10001") > lines.index("RUN pip install . \\")
    # Every package directory the project declares is copied into the image.
    pyproject = (ROOT / "pyproject.toml").read_text()
    for pkg in ("harness", "behaviors", "personas", "offer_engine", "db", "migrations",
                "reference_api", "reports"):  # fmt: skip
        assert f'"{pkg}*"' in pyproject and f"COPY {pkg} ./{pkg}" in lines
