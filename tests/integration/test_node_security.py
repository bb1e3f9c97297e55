"""The Node.js namespace-security example (examples/node/namespace_security.js) against a real
host whose callers authenticate with bearer tokens.

Skipped unless `node` is on PATH and examples/node/node_modules exists (run `npm ci` in
examples/node first). The host serves on the test's event loop, so the script runs in a thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from host.client import Credentials, WbemClient, WbemError
from host.config import Settings
from host.server.app import Host
from tests.helpers import serving

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
SCRIPT = EXAMPLE / "namespace_security.js"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    pytest.mark.skipif(
        not (EXAMPLE / "node_modules").is_dir(),
        reason="examples/node/node_modules is missing: run `npm ci` in examples/node",
    ),
]

ADMIN, ALICE = "admin-token-0123456789abcdef", "alice-token-0123456789abcdef"
NS = "root\\cimv2"
# What an authenticated user holds in root\cimv2 by default: Enable, Execute Methods, Full Write,
# Provider Write and Remote Enable (host.access.policy.DEFAULT_RIGHTS).
DEFAULT_USER_MASK = 0x1 | 0x2 | 0x4 | 0x10 | 0x20


@pytest.fixture
async def secured(host_settings: Settings, tmp_path: Path) -> AsyncIterator[Host]:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"admin {ADMIN}\nalice {ALICE}\n")
    async with serving(dataclasses.replace(host_settings, tokens_file=str(tokens), admins="admin")) as h:
        yield h


async def _run(target: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, dict]]:
    assert NODE is not None
    proc = await asyncio.to_thread(
        subprocess.run, [NODE, str(SCRIPT), target], cwd=EXAMPLE, capture_output=True, text=True, timeout=60,
        check=False, env={**os.environ, **env})
    steps: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        steps[record["step"]] = record
    return proc, steps


async def test_the_node_security_example_restricts_a_user_is_refused_a_stale_change_and_restores_the_descriptor(
    secured: Host,
) -> None:
    async with await WbemClient.connect(secured.target, timeout=30.0, credentials=Credentials(token=ADMIN)) as admin:
        before = await admin.get_namespace_security(namespace=NS)

    proc, steps = await _run(secured.target, {"WMIPUT_TOKEN": ADMIN, "WMIPUT_USER_TOKEN": ALICE,
                                              "WMIPUT_USER": "alice", "WMIPUT_NAMESPACE": NS})

    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert list(steps) == ["connect", "admin_rights", "get_security", "set_security", "set_security_stale",
                           "user_rights", "user_put_class", "restore", "done"], proc.stdout
    assert all(s["ok"] is True for s in steps.values()), proc.stdout
    assert steps["admin_rights"]["administrator"] is True and steps["admin_rights"]["principal"] == "admin"
    got = steps["get_security"]
    assert (got["version"], got["entries"], got["protected"]) == ("0", 0, False)  # never set: all inherited
    assert got["inherited"] >= 1
    assert (steps["set_security"]["expected_version"], steps["set_security"]["version"]) == ("0", "1")
    stale = steps["set_security_stale"]
    assert stale["expected_version"] == "0" and stale["name"] == "WBEM_E_INVALID_OPERATION"
    user = steps["user_rights"]
    assert (user["principal"], user["administrator"], user["access_mask"]) == ("alice", False, "0x00000021")
    refused = steps["user_put_class"]
    assert refused["grpc_code"] == 7  # PERMISSION_DENIED
    assert (refused["hresult"], refused["name"]) == ("0x80041003", "WBEM_E_ACCESS_DENIED")
    assert (steps["restore"]["expected_version"], steps["restore"]["version"]) == ("1", "2")
    assert steps["done"] == {"step": "done", "ok": True, "failures": 0}

    # Seen from Python: the original descriptor is back (a newer version of it), alice holds the
    # default rights again, and the class she was refused was never written.
    async with await WbemClient.connect(secured.target, timeout=30.0, credentials=Credentials(token=ADMIN)) as admin:
        after = await admin.get_namespace_security(namespace=NS)
        assert after.security == before.security
        assert list(after.inherited) == list(before.inherited)
        assert after.version == 2
        with pytest.raises(WbemError) as e:
            await admin.get_object("Node_SecurityExample", namespace=NS)
        assert e.value.name == "WBEM_E_NOT_FOUND"
    async with await WbemClient.connect(secured.target, timeout=30.0, credentials=Credentials(token=ALICE)) as alice:
        rights = await alice.caller_access_rights(namespace=NS)
        assert (rights.principal, rights.administrator, rights.access_mask) == ("alice", False, DEFAULT_USER_MASK)


async def test_the_node_security_example_fails_without_the_tokens(secured: Host) -> None:
    proc, steps = await _run(secured.target, {"WMIPUT_TOKEN": "", "WMIPUT_USER_TOKEN": ""})

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert steps["config"]["ok"] is False
    assert steps["done"] == {"step": "done", "ok": False, "failures": 1}
