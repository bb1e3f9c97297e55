"""deploy/: the compose file and the Kubernetes manifests validate offline (scripts/check_deploy.sh),
their WMIPUT_* variables are real settings, and deploy/make-secrets.sh makes secrets a host accepts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host.client import Credentials, WbemClient
from tests.helpers import serving

ROOT = Path(__file__).resolve().parents[2]
MAKE_SECRETS = ROOT / "deploy" / "make-secrets.sh"
SECRET_FILES = ("ca.crt", "ca.key", "tls.crt", "tls.key", "tokens", "admin-token", "task-key")


def _run(*argv: str | Path, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


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
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not on PATH: scripts/check_deploy.sh renders deploy/kubernetes with kubectl kustomize")
    r = _run("bash", ROOT / "scripts" / "check_deploy.sh", env={"PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "check_deploy: all good" in r.stdout


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
