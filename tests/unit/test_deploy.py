"""deploy/: the compose file and the Kubernetes manifests validate offline (scripts/check_deploy.sh),
with kubectl or without it (scripts/kustomize_lite.py renders the kustomize base then), their
WMIPUT_* variables are real settings, and deploy/make-secrets.sh makes secrets a host accepts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from host.client import Credentials, WbemClient
from tests.helpers import serving

ROOT = Path(__file__).resolve().parents[2]
MAKE_SECRETS = ROOT / "deploy" / "make-secrets.sh"
CHECK_DEPLOY = ROOT / "scripts" / "check_deploy.sh"
KUSTOMIZE_LITE = ROOT / "scripts" / "kustomize_lite.py"
KUSTOMIZE_BASE = ROOT / "deploy" / "kubernetes"
SECRET_FILES = ("ca.crt", "ca.key", "tls.crt", "tls.key", "tokens", "admin-token", "task-key")


def _run(*argv: str | Path, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _path_without_kubectl(tmp_path: Path) -> str:
    """A PATH with every command of this one but kubectl (symlinks in one directory)."""
    bin_dir = tmp_path / "bin-without-kubectl"
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for entry in os.scandir(d):
            if entry.name != "kubectl" and not (bin_dir / entry.name).exists():
                (bin_dir / entry.name).symlink_to(entry.path)
    assert shutil.which("kubectl", path=str(bin_dir)) is None
    return str(bin_dir)


def _lite(*args: str | Path) -> subprocess.CompletedProcess:
    return _run(sys.executable, KUSTOMIZE_LITE, *args)


def _render_lite(directory: Path) -> list[dict]:
    import yaml  # the test extra (test_validators_installed)

    r = _lite(directory)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def _make_secrets(*args: str | Path) -> subprocess.CompletedProcess:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: deploy/make-secrets.sh needs it")
    r = _run("bash", MAKE_SECRETS, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_validators_installed() -> None:
    """The `test` extra brings the offline validators scripts/check_deploy.sh uses."""
    import check_jsonschema  # noqa: F401
    import kubernetes_validate  # noqa: F401
    import yaml  # noqa: F401


@pytest.mark.timeout(60)
def test_check_deploy_script() -> None:
    """The whole check, as it runs here: with kubectl where it is installed (and then the two
    renderings compared), else with scripts/kustomize_lite.py."""
    r = _run("bash", CHECK_DEPLOY, env={"PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "check_deploy: all good" in r.stdout
    if shutil.which("kubectl"):
        assert "kustomize_lite: same as kubectl kustomize" in r.stdout, r.stdout
    else:
        assert "rendered by scripts/kustomize_lite.py (kubectl is not on PATH)" in r.stdout, r.stdout


@pytest.mark.timeout(60)
def test_check_deploy_script_without_kubectl(tmp_path: Path) -> None:
    """As CI runs it: no kubectl on PATH, the Kubernetes manifests still rendered and validated."""
    r = _run("bash", CHECK_DEPLOY, env={"PYTHON": sys.executable, "PATH": _path_without_kubectl(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rendered by scripts/kustomize_lite.py (kubectl is not on PATH)" in r.stdout, r.stdout
    assert "resources valid" in r.stdout, r.stdout
    assert "check_deploy: all good" in r.stdout


def test_kustomize_lite_renders_the_base(tmp_path: Path) -> None:
    """deploy/kubernetes without kubectl: every resource, the labels on pods and volume claims, the
    image, and ConfigMaps named by a hash of their data that the pods reference by that name; a
    changed setting gets a new name (which rolls the pods that read it)."""
    docs = _render_lite(KUSTOMIZE_BASE)
    config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    assert sorted(n.rsplit("-", 1)[0] for n in config_maps) == ["wmiput-common", "wmiput-host", "wmiput-worker"]
    assert all(len(n.rsplit("-", 1)[1]) == 10 for n in config_maps)
    assert config_maps[next(n for n in config_maps if n.startswith("wmiput-host-"))]["data"]["WMIPUT_GRACE_SECONDS"] \
        == "20"
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    assert {d["metadata"]["name"] for d in workloads} >= {"wmiput-host", "wmiput-redis", "wmiput-install-examples"}
    refs = []
    for d in docs:
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "wmiput", d["metadata"]
    for d in workloads:
        template = d["spec"]["template"]
        assert template["metadata"]["labels"]["app.kubernetes.io/part-of"] == "wmiput"
        assert "app.kubernetes.io/part-of" not in d["spec"].get("selector", {}).get("matchLabels", {})
        for vct in d["spec"].get("volumeClaimTemplates") or []:
            assert vct["metadata"]["labels"]["app.kubernetes.io/part-of"] == "wmiput"
        for c in template["spec"]["containers"]:
            assert c["image"] in ("wmiput:latest", "redis:7"), c["image"]
            refs += [e["configMapRef"]["name"] for e in c.get("envFrom") or [] if "configMapRef" in e]
    assert refs and set(refs) == set(config_maps), (refs, config_maps)

    copy = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE_BASE, copy)
    env = (copy / "worker.env").read_text()
    assert "WMIPUT_CLAIM_IDLE_MS=5000\n" in env
    (copy / "worker.env").write_text(env.replace("WMIPUT_CLAIM_IDLE_MS=5000\n", "WMIPUT_CLAIM_IDLE_MS=6000\n"))
    changed = {d["metadata"]["name"] for d in _render_lite(copy) if d["kind"] == "ConfigMap"}
    assert len(changed - set(config_maps)) == 1 and next(iter(changed - set(config_maps))).startswith("wmiput-worker-")


# A kustomization with every feature kustomize_lite implements, in more places than deploy/kubernetes
# uses them: a CronJob, init containers, configMapKeyRef, configMap and projected volumes, a reference
# to a ConfigMap that is not generated, labels with and without includeTemplates, images with a
# registry port, a tag, a digest; YAML 1.1 look-alikes (on, yes, 1e3, 017, 1:20).
FIXTURE = {
    "kustomization.yaml": """
        resources: [app.yaml]
        labels:
          - pairs: {team: infra}
          - pairs: {app.kubernetes.io/part-of: demo}
            includeTemplates: true
        configMapGenerator:
          - name: settings
            envs: [a.env, b.env]
          - name: other
            envs: [c.env]
        images:
          - name: app
            newTag: "2.0"
          - name: localhost:5000/tool
            newName: registry.example/tool
          - name: sidecar
            newName: sidecar-ng
        """,
    "a.env": "# a comment\n  SPACED=v=1 \nQUOTED=\"kept\"\n\nODD=<&>\n",
    "b.env": "YES=yes\n",
    "c.env": "X=1\n",
    "app.yaml": """
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: nightly}
        spec:
          schedule: "0 3 * * *"
          jobTemplate:
            spec:
              template:
                spec:
                  restartPolicy: Never
                  initContainers:
                    - name: init
                      image: app:1.0@sha256:0123
                      envFrom: [{configMapRef: {name: settings}}, {configMapRef: {name: not-generated}}]
                  containers:
                    - name: main
                      image: localhost:5000/tool:3
                      args: [on, yes, 1e3, 017, "1:20", 1:20]
                      env:
                        - name: E
                          valueFrom: {configMapKeyRef: {name: other, key: X}}
                  volumes:
                    - name: plain
                      configMap: {name: settings}
                    - name: projected
                      projected:
                        sources: [{configMap: {name: other}}]
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: store}
        spec:
          serviceName: store
          selector: {matchLabels: {a: b}}
          template:
            metadata: {labels: {a: b}}
            spec:
              containers: [{name: c, image: sidecar@sha256:4567}, {name: d, image: application:1}]
          volumeClaimTemplates:
            - metadata: {name: data}
              spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
        """,
}


def _write_fixture(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip() if name.endswith(".yaml") else text)
    return directory


def test_kustomize_lite_features(tmp_path: Path) -> None:
    """Each feature where FIXTURE uses it (test_kustomize_lite_matches_kubectl compares it all with kubectl)."""
    docs = {}
    for d in _render_lite(_write_fixture(tmp_path / "k", FIXTURE)):
        name = d["metadata"]["name"]
        docs[d["kind"], name.rsplit("-", 1)[0] if d["kind"] == "ConfigMap" else name] = d
    settings, other = docs["ConfigMap", "settings"], docs["ConfigMap", "other"]
    assert settings["data"] == {"SPACED": "v=1 ", "QUOTED": '"kept"', "ODD": "<&>", "YES": "yes"}
    assert settings["metadata"]["labels"] == {"team": "infra", "app.kubernetes.io/part-of": "demo"}
    cron = docs["CronJob", "nightly"]
    assert cron["metadata"]["labels"] == {"team": "infra", "app.kubernetes.io/part-of": "demo"}
    assert cron["spec"]["jobTemplate"]["metadata"]["labels"] == {"app.kubernetes.io/part-of": "demo"}
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app.kubernetes.io/part-of": "demo"}
    init, main = pod["spec"]["initContainers"][0], pod["spec"]["containers"][0]
    assert init["image"] == "app:2.0" and main["image"] == "registry.example/tool:3"
    assert [e["configMapRef"]["name"] for e in init["envFrom"]] == [settings["metadata"]["name"], "not-generated"]
    assert main["env"][0]["valueFrom"]["configMapKeyRef"]["name"] == other["metadata"]["name"]
    assert main["args"] == ["on", "yes", 1000, 15, "1:20", "1:20"]
    volumes = pod["spec"]["volumes"]
    assert volumes[0]["configMap"]["name"] == settings["metadata"]["name"]
    assert volumes[1]["projected"]["sources"][0]["configMap"]["name"] == other["metadata"]["name"]
    store = docs["StatefulSet", "store"]
    assert store["spec"]["selector"] == {"matchLabels": {"a": "b"}}
    assert store["spec"]["template"]["metadata"]["labels"] == {"a": "b", "app.kubernetes.io/part-of": "demo"}
    assert store["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"] == {"app.kubernetes.io/part-of": "demo"}
    assert [c["image"] for c in store["spec"]["template"]["spec"]["containers"]] == ["sidecar-ng@sha256:4567",
                                                                                      "application:1"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kustomization", ["deploy/kubernetes", "fixture"])
def test_kustomize_lite_matches_kubectl(tmp_path: Path, kustomization: str) -> None:
    """kustomize_lite renders what kubectl kustomize renders (ConfigMap hashes aside)."""
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not on PATH: this compares scripts/kustomize_lite.py with kubectl kustomize")
    directory = KUSTOMIZE_BASE if kustomization == "deploy/kubernetes" else _write_fixture(tmp_path / "k", FIXTURE)
    real, lite = tmp_path / "real.yaml", tmp_path / "lite.yaml"
    r = _run("kubectl", "kustomize", directory)
    assert r.returncode == 0, r.stderr
    real.write_text(r.stdout)
    r = _lite(directory)
    assert r.returncode == 0, r.stderr
    lite.write_text(r.stdout)
    r = _lite("--compare", real, lite)
    assert r.returncode == 0, r.stdout + r.stderr


def test_kustomize_lite_compare_finds_differences(tmp_path: Path) -> None:
    """--compare ignores the hash suffixes, but not a reference left unhashed, a label or an image."""
    import yaml
    docs = _render_lite(KUSTOMIZE_BASE)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump_all(docs))
    assert _lite("--compare", good, good).returncode == 0
    rehashed = tmp_path / "rehashed.yaml"
    names = [d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"]
    text = good.read_text()
    for n in names:
        text = text.replace(n, n[:-10] + "bbbbbbbbbb")
    rehashed.write_text(text)
    assert _lite("--compare", good, rehashed).returncode == 0
    host = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "wmiput-host")
    container = host["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"][0]["configMapRef"]["name"] = "wmiput-common"
    container["image"] = "wmiput:old"
    del host["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    r = _lite("--compare", good, bad)
    assert r.returncode == 1, r.stdout + r.stderr
    for expected in ("configMapRef.name: kubectl 'wmiput-common-<hash>', kustomize_lite 'wmiput-common'",
                     "image: kubectl 'wmiput:latest', kustomize_lite 'wmiput:old'",
                     "labels.app.kubernetes.io/part-of: only in kubectl's", "3 difference(s)"):
        assert expected in r.stderr, r.stderr


@pytest.mark.parametrize(("change", "message"), [
    ({"kustomization.yaml": "+namePrefix: test-\n"}, "namePrefix: not supported by kustomize_lite"),
    ({"kustomization.yaml": "+patches: []\n"}, "patches: not supported by kustomize_lite"),
    ({"kustomization.yaml": "+generatorOptions: {disableNameSuffixHash: true}\n"}, "generatorOptions: not supported"),
    ({"kustomization.yaml": ("envs: [c.env]", "envs: [c.env]\n    behavior: merge")}, "behavior 'merge'"),
    ({"kustomization.yaml": ("envs: [c.env]", "envs: [c.env]\n    literals: [A=b]")}, "literals: not supported"),
    ({"kustomization.yaml": ("includeTemplates: true", "includeSelectors: true")}, "includeSelectors"),
    ({"kustomization.yaml": ('newTag: "2.0"', "digest: sha256:0")}, "digest: not supported"),
    ({"kustomization.yaml": ('newTag: "2.0"', "newTag: 2.0")}, "newTag: expected a non-empty string"),
    ({"kustomization.yaml": ("resources: [app.yaml]", "resources: [app.yaml, sub]"), "sub/": None}, "is a directory"),
    ({"kustomization.yaml": ("resources: [app.yaml]", "resources: [https://example.com/a.yaml]")}, "remote"),
    ({"c.env": "+UNSET\n"}, "'UNSET' has no '='"),
    ({"c.env": "+X=2\n"}, "X is set twice"),
    ({"app.yaml": ("metadata: {name: nightly}", "metadata: {name: nightly, namespace: prod}")}, "metadata.namespace"),
    ({"app.yaml": ("kind: CronJob", "kind: Widget")}, "kind 'Widget' is not a kind kustomize_lite knows"),
    ({"app.yaml": ('schedule: "0 3 * * *"', "schedule: 2024-01-01")}, "unquoted timestamp"),
    ({"app.yaml": ("serviceName: store", "serviceName: store\n  serviceName: again")}, "duplicate key"),
])
def test_kustomize_lite_refuses_what_it_does_not_implement(tmp_path: Path, change: dict, message: str) -> None:
    """An unknown kustomization field, an option it does not implement, anything kustomize would
    render otherwise: exit 1 and say what, never a different rendering."""
    directory = _write_fixture(tmp_path / "k", FIXTURE)
    for name, edit in change.items():  # (old, new): replace; "+text": append; None: a directory
        path = directory / name
        if edit is None:
            path.mkdir()
        elif isinstance(edit, tuple):
            assert edit[0] in path.read_text(), edit
            path.write_text(path.read_text().replace(edit[0], edit[1], 1))
        else:
            path.write_text(path.read_text() + edit.removeprefix("+"))
    r = _lite(directory)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout == ""
    assert message in r.stderr and r.stderr.startswith("kustomize_lite: error: "), r.stderr


def test_compose_validates_without_kubectl() -> None:
    """The compose half needs no kubectl, so it runs wherever the test extra is installed."""
    compose = ROOT / "deploy" / "compose.yaml"
    r = _run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", compose)
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run(sys.executable, ROOT / "scripts" / "check_deploy_env.py", "--compose", compose, "--scan", compose)
    assert r.returncode == 0, r.stdout + r.stderr


def test_env_check_finds_what_is_wrong(tmp_path: Path) -> None:
    """A misspelt setting, a host setting given to a worker, an unmounted file and a grace period
    longer than the container gets are each reported, and fail the check."""
    text = (ROOT / "deploy" / "compose.yaml").read_text()
    for old, new in [("WMIPUT_ADMINS: admin", "WMIPUT_ADMIN: admin"),
                     ("WMIPUT_WORKER_CONCURRENCY: \"16\"", "WMIPUT_WORKER_CONCURRENCY: \"16\"\n"
                      "      WMIPUT_MAX_PROPERTIES: \"10\""),
                     ("WMIPUT_TLS_KEY: /run/secrets/tls-key", "WMIPUT_TLS_KEY: /run/secrets/host-key"),
                     ("WMIPUT_GRACE_SECONDS: \"20\"", "WMIPUT_GRACE_SECONDS: \"45\"")]:
        assert old in text, old
        text = text.replace(old, new, 1)
    bad = tmp_path / "compose.yaml"
    bad.write_text(text)
    r = _run(sys.executable, ROOT / "scripts" / "check_deploy_env.py", "--compose", bad, "--scan", bad)
    assert r.returncode == 1, r.stdout + r.stderr
    for expected in ("WMIPUT_ADMIN is not a wmiput setting",
                     "WMIPUT_MAX_PROPERTIES is a host setting: `wmiput worker` ignores it",
                     "WMIPUT_TLS_KEY=/run/secrets/host-key: no secret or volume mounted there",
                     "not more than WMIPUT_GRACE_SECONDS=45"):
        assert expected in r.stderr, r.stderr


def test_make_secrets_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    _make_secrets(out)
    first = {f: (out / f).read_bytes() for f in SECRET_FILES}
    assert (out.stat().st_mode & 0o777) == 0o700
    assert (out / "ca.key").stat().st_mode & 0o077 == 0
    assert "already" in _make_secrets(out).stdout
    assert {f: (out / f).read_bytes() for f in SECRET_FILES} == first
    (out / "tls.key").unlink()  # a missing piece is made again, the rest kept
    _make_secrets(out)
    assert (out / "tls.crt").read_bytes() != first["tls.crt"]
    assert (out / "ca.crt").read_bytes() == first["ca.crt"]
    assert (out / "tokens").read_bytes() == first["tokens"]
    _make_secrets("--force", out)
    assert all((out / f).read_bytes() != first[f] for f in SECRET_FILES)
    token = (out / "admin-token").read_text().strip()
    assert len(token) >= 16 and (out / "tokens").read_text().splitlines()[-1] == f"admin {token}"
    assert len((out / "task-key").read_text().strip()) >= 32


@pytest.mark.timeout(60)
async def test_host_accepts_make_secrets_output(tmp_path: Path, host_settings) -> None:
    """The certificate, tokens file and task key from make-secrets.sh start a TLS host; a client
    trusting the CA reaches it as localhost with the admin token, and is an administrator."""
    out = tmp_path / "secrets"
    await asyncio.to_thread(_make_secrets, out)
    settings = dataclasses.replace(host_settings, tls_cert=str(out / "tls.crt"), tls_key=str(out / "tls.key"),
                                   tokens_file=str(out / "tokens"), task_key_file=str(out / "task-key"),
                                   admins="admin")
    token = (out / "admin-token").read_text().strip()
    async with serving(settings) as h:
        port = h.target.rsplit(":", 1)[1]
        c = await WbemClient.connect(f"localhost:{port}", timeout=10,
                                     credentials=Credentials(token=token, ca=str(out / "ca.crt")))
        try:
            rights = await c.caller_access_rights()
        finally:
            await c.close()
    assert rights.principal == "admin"
    assert rights.administrator is True
