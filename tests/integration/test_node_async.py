"""The Node.js asynchronous-put example (examples/node/async_put.js) against a real host.

Skipped unless `node` is on PATH and examples/node/node_modules exists (run `npm ci` in
examples/node first). The script and the Python `client` fixture talk to the same host: the
test requests `host` and `client` together, so both fixtures resolve to one Host.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from host.client import WbemClient, WbemError, to_dict
from host.server.app import Host

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
SCRIPT = EXAMPLE / "async_put.js"
NODE = shutil.which("node")
SERVER_PREFIX = "\\\\TESTHOST\\root\\cimv2:"

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    pytest.mark.skipif(
        not (EXAMPLE / "node_modules").is_dir(),
        reason="examples/node/node_modules is missing: run `npm ci` in examples/node",
    ),
]


def _path(key: str) -> str:
    return f'{SERVER_PREFIX}Node_AsyncExample.Id="{key}"'


def _run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, str(SCRIPT), *args], cwd=EXAMPLE, capture_output=True, text=True, timeout=60, env=env, check=False
    )


async def _run(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict], dict[str, list[dict]]]:
    """The script's exit status, its step lines by step, and its event lines by the call they belong to."""
    # In a thread: the host serves on this test's event loop while the script runs.
    proc = await asyncio.to_thread(_run_script, *args, env=env)
    steps: dict[str, dict] = {}
    events: dict[str, list[dict]] = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if record["step"] == "event":
            events.setdefault(record["call"], []).append(record)
        else:
            steps[record["step"]] = record
    return proc, steps, events


def _shape(evs: list[dict]) -> tuple[list[str], list[int], list[bool]]:
    return [e["kind"] for e in evs], [e["sequence"] for e in evs], [e["final"] for e in evs]


async def test_the_node_async_example_streams_each_flow_and_the_instances_are_stored(
    host: Host, client: WbemClient
) -> None:
    proc, steps, events = await _run(host.target, "a1")

    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert list(steps) == [
        "connect",
        "put_class",
        "put_instance_async",
        "put_async",
        "put_instance_async_again",
        "detach",
        "attach_call",
        "put_instance_semisync",
        "get_call_status",
        "get_result_string",
        "done",
    ], proc.stdout
    assert all(s["ok"] is True for s in steps.values()), proc.stdout
    assert list(events) == ["put_instance_async", "put_async", "put_instance_async_again", "detach", "attach_call"]
    assert steps["put_class"]["relpath"] == "Node_AsyncExample"

    # 2. PutInstanceAsync + WBEM_FLAG_SEND_STATUS: accepted, progress, then the one final COMPLETE.
    evs = events["put_instance_async"]
    assert _shape(evs) == (["accepted", "set_status", "set_status"], [0, 1, 2], [False, False, True])
    accepted, progress, done = evs
    assert accepted["operation"] == "PutInstanceAsync" and len(accepted["call_handle"]) >= 32
    assert (progress["flags"], progress["flags_name"]) == (2, "WBEM_STATUS_PROGRESS")
    assert (progress["current"], progress["total"], progress["hresult"]) == (1, 1, "0x00010001")
    assert "accepted by the repository" in progress["str_param"]
    assert (done["flags"], done["flags_name"], done["hresult"]) == (0, "WBEM_STATUS_COMPLETE", "0x00000000")
    assert done["str_param"] == _path("a1") and "error_object" not in done
    assert steps["put_instance_async"]["path"] == _path("a1")

    # 3. PutAsync: SWbemSink events, every one (accepted included) carrying the async context back.
    evs = events["put_async"]
    assert _shape(evs) == (["accepted", "progress", "object_put", "completed"], [0, 1, 2, 3], [False] * 3 + [True])
    assert [e["async_context"] for e in evs] == [{"CallNo": 42}] * 4
    assert evs[0]["operation"] == "PutAsync"
    assert (evs[1]["upper_bound"], evs[1]["current"]) == (1, 1)
    assert evs[2]["path"] == _path("a1-script")
    assert (evs[3]["hresult"], evs[3]["hresult_name"]) == ("0x00000000", "WBEM_S_NO_ERROR")
    assert "error_object" not in evs[3]

    # 4. CREATE_ONLY of the existing instance: the call starts, its final status is the failure.
    evs = events["put_instance_async_again"]
    assert _shape(evs) == (["accepted", "set_status"], [0, 1], [False, True])
    final = evs[1]
    assert (final["flags"], final["hresult"], final["hresult_name"]) == (0, "0x80041019", "WBEM_E_ALREADY_EXISTS")
    assert final["str_param"] == ""
    err = final["error_object"]
    assert (err["hresult"], err["name"]) == ("0x80041019", "WBEM_E_ALREADY_EXISTS")
    assert (err["operation"], err["provider_name"]) == ("PutInstanceAsync", "Windows Management")
    assert steps["put_instance_async_again"]["error_object"] == err

    # 5. The dropped stream gave only accepted; AttachCall replays accepted and the final status.
    (first,) = events["detach"]
    assert first["kind"] == "accepted" and first["sequence"] == 0
    assert steps["detach"]["stream_status"] == "CANCELLED"
    evs = events["attach_call"]
    assert _shape(evs) == (["accepted", "set_status"], [0, 1], [False, True])
    assert evs[0]["call_handle"] == first["call_handle"] and evs[0]["operation"] == "PutInstanceAsync"
    assert (evs[1]["flags"], evs[1]["hresult"]) == (0, "0x00000000")
    assert evs[1]["str_param"] == _path("a1-attach")

    # 6. Semisynchronous: a handle at once, then the status and the path through IWbemCallResult.
    semi = steps["put_instance_semisync"]
    assert len(semi["call_handle"]) >= 32 and semi["path"] == ""
    status = steps["get_call_status"]
    assert (status["hresult"], status["call_status"]) == ("0x00000000", 0)
    assert status["call_status_name"] == "WBEM_S_NO_ERROR"
    assert status["error_object"] is None and status["polls"] >= 1
    assert steps["get_result_string"]["result_string"] == _path("a1-semi")
    assert steps["done"] == {"step": "done", "ok": True, "failures": 0}

    # The repository, seen from Python: the class and the four instances; the refused put left
    # the first one as it was.
    cls = await client.get_object("Node_AsyncExample")
    assert [p.name for p in cls.properties] == ["Id", "Size"]
    stored = {d["Id"]: d for d in [to_dict(o) async for o in client.enum_instances("Node_AsyncExample")]}
    assert {k: v["Size"] for k, v in stored.items()} == {"a1": 1, "a1-script": 2, "a1-attach": 3, "a1-semi": 4}
    for key in stored:
        assert stored[key]["__PATH"] == _path(key)
    assert to_dict(await client.get_object('Node_AsyncExample.Id="a1"'))["Size"] == 1


async def test_the_node_async_example_runs_again_with_the_same_id(host: Host, client: WbemClient) -> None:
    # Only step 4 uses CREATE_ONLY (and expects it to fail), so a second run succeeds as well.
    first, _, _ = await _run(host.target, "again")
    assert first.returncode == 0, first.stdout + first.stderr

    second, steps, events = await _run(host.target, "again")

    assert second.returncode == 0, second.stdout + second.stderr
    assert events["put_instance_async_again"][-1]["hresult"] == "0x80041019"
    assert steps["done"]["ok"] is True
    keys = sorted([to_dict(o)["Id"] async for o in client.enum_instances("Node_AsyncExample")])
    assert keys == ["again", "again-attach", "again-script", "again-semi"]


async def test_the_node_async_example_reports_a_connection_failure_with_a_nonzero_exit(
    host: Host, client: WbemClient
) -> None:
    # A port nobody listens on: bind one, learn its number, close it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    proc, steps, events = await _run(f"127.0.0.1:{port}", "x", env={**os.environ, "WMIPUT_DEADLINE_MS": "1500"})

    assert proc.returncode == 1
    assert list(steps) == ["connect", "done"] and steps["connect"]["ok"] is False
    assert events == {}
    # Nothing reached the real host.
    with pytest.raises(WbemError) as e:
        await client.get_object("Node_AsyncExample")
    assert e.value.name == "WBEM_E_NOT_FOUND"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
