"""The Node.js example client (examples/node) against a real host.

Skipped unless `node` is on PATH and examples/node/node_modules exists (run `npm ci` in
examples/node first). The script and the Python `client` fixture talk to the same host: the
test requests `host` and `client` together, so both fixtures resolve to one Host.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host.client import WbemClient, WbemError, to_dict
from host.server.app import Host

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
SCRIPT = EXAMPLE / "put_and_read_error.js"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    pytest.mark.skipif(
        not (EXAMPLE / "node_modules").is_dir(),
        reason="examples/node/node_modules is missing: run `npm ci` in examples/node",
    ),
]


def _run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, str(SCRIPT), *args], cwd=EXAMPLE, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )


async def _run(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, dict]]:
    # In a thread: the host serves on this test's event loop while the script runs.
    proc = await asyncio.to_thread(_run_script, *args, env=env)
    steps: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        steps[record["step"]] = record
    return proc, steps


async def test_the_node_client_reads_already_exists_from_metadata_and_details_and_the_instance_is_stored(
    host: Host, client: WbemClient
) -> None:
    proc, steps = await _run(host.target, "n1")

    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert list(steps) == [
        "connect",
        "put_class",
        "put_instance",
        "put_instance_again",
        "put_instance_again_details",
        "get_instance",
        "done",
    ], proc.stdout
    assert steps["put_class"]["ok"] is True
    assert steps["put_class"]["relpath"] == "Node_Example"
    assert steps["put_instance"]["relpath"] == 'Node_Example.Id="n1"'
    assert steps["put_instance"]["path"] == '\\\\TESTHOST\\root\\cimv2:Node_Example.Id="n1"'
    again = steps["put_instance_again"]
    assert (again["hresult"], again["name"]) == ("0x80041019", "WBEM_E_ALREADY_EXISTS")
    assert again["grpc_code"] == 6  # ALREADY_EXISTS
    details = steps["put_instance_again_details"]
    assert (details["hresult"], details["name"]) == ("0x80041019", "WBEM_E_ALREADY_EXISTS")
    assert details["operation"] == "PutInstance"
    assert details["provider_name"] == "Windows Management"
    assert steps["get_instance"]["properties"] == {"Id": "n1", "Note": "written by Node.js"}
    assert steps["done"] == {"step": "done", "ok": True, "failures": 0}

    # The repository, seen from Python: the class and exactly the one instance the script wrote.
    cls = await client.get_object("Node_Example")
    assert [p.name for p in cls.properties] == ["Id", "Note"]
    got = to_dict(await client.get_object('Node_Example.Id="n1"'))
    assert got["Id"] == "n1" and got["Note"] == "written by Node.js"
    assert got["__PATH"] == '\\\\TESTHOST\\root\\cimv2:Node_Example.Id="n1"'
    assert [to_dict(o)["Id"] async for o in client.enum_instances("Node_Example")] == ["n1"]


async def test_the_node_client_exits_nonzero_when_its_first_create_only_put_meets_an_existing_instance(
    host: Host, client: WbemClient
) -> None:
    first, _ = await _run(host.target, "dup")
    assert first.returncode == 0, first.stdout + first.stderr

    second, steps = await _run(host.target, "dup")

    assert second.returncode == 1, second.stdout
    assert steps["put_instance"]["ok"] is False
    assert (steps["put_instance"]["hresult"], steps["put_instance"]["name"]) == (
        "0x80041019",
        "WBEM_E_ALREADY_EXISTS",
    )
    assert steps["done"]["ok"] is False
    # Still one instance, unchanged.
    assert [to_dict(o)["Id"] async for o in client.enum_instances("Node_Example")] == ["dup"]


async def test_the_node_client_reports_a_connection_failure_with_a_nonzero_exit(
    host: Host, client: WbemClient
) -> None:
    # A port nobody listens on: bind one, learn its number, close it.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "WMIPUT_DEADLINE_MS": "1500"}
    proc = await asyncio.to_thread(
        lambda: subprocess.run(
            [NODE, str(SCRIPT), f"127.0.0.1:{port}", "x"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    )
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert proc.returncode == 1
    assert lines[0]["step"] == "connect" and lines[0]["ok"] is False
    # Nothing reached the real host.
    with pytest.raises(WbemError) as e:
        await client.get_object("Node_Example")
    assert e.value.name == "WBEM_E_NOT_FOUND"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


async def test_the_node_client_talks_tls_with_a_bearer_token_and_is_refused_without_it(host_settings, tmp_path):
    import dataclasses

    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "host.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "host.key"))
    (tmp_path / "tokens").write_text("nodeuser node-token-0123456789abcdef\n")
    h = Host(dataclasses.replace(host_settings, tls_cert=str(tmp_path / "host.pem"), tls_key=str(tmp_path / "host.key"),
                                 tokens_file=str(tmp_path / "tokens")))
    await h.start()
    try:
        env = {"WMIPUT_CLIENT_CA": str(tmp_path / "ca.pem"), "WMIPUT_TOKEN": "node-token-0123456789abcdef"}
        proc, steps = await _run(h.target, "tls1", env=env)
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        assert steps["put_instance"]["relpath"] == 'Node_Example.Id="tls1"'

        proc, steps = await _run(h.target, "tls2", env={**env, "WMIPUT_TOKEN": "wrong-token-00000000000"})
        assert proc.returncode == 1
        refused = steps["put_class"]
        assert refused["ok"] is False and refused["grpc_code"] == 16  # UNAUTHENTICATED
        assert (refused["hresult"], refused["name"]) == ("0x80041003", "WBEM_E_ACCESS_DENIED")
    finally:
        await h.stop()


async def test_the_node_status_script_lists_providers_workers_and_transactions(host, client, tmp_path, redis_url,
                                                                               key_prefix):
    """examples/node/status.js: ListProviders and ListTransactions from Node.js, as `wmiput status`."""
    from tests.provider_env import Workers, dynamic, prop, register, wait_live

    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        await register(client, "NodeStatus")
        w.start("NodeStatus")
        await client.put_class(dynamic("Node_Status", "NodeStatus", prop("Id", "string", key=True)))
        await wait_live(client, "NodeStatus")
        assert NODE is not None
        proc = await asyncio.to_thread(
            subprocess.run, [NODE, str(EXAMPLE / "status.js"), host.target], cwd=EXAMPLE, capture_output=True,
            text=True, timeout=60, check=False)
    finally:
        w.stop_all()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    [p] = [p for p in out["providers"] if p["name"] == "NodeStatus"]
    assert p["classes"] == ["Node_Status"] and p["backlog"] == 0 and p["pending"] == 0
    assert len(p["workers"]) == 1 and p["workers"][0]["tasks_in_flight"] == 0
    assert out["transactions"] == [] and out["transactions_unfinished"] == 0
