"""The Node.js provider (examples/node-provider), written without the Python SDK, against a real host.

It speaks only the wire contract of docs/provider-protocol.md: the task stream and its consumer
group, ProviderTask / ProviderReply, the done and run keys and the heartbeat hash. Here it serves
"NodeProv" alone (one-phase PUT) and under a class served by the Python InventoryProvider (2PC
across two languages), and it is fed hand-made tasks to check redelivery and abort fencing.

Skipped unless `node` is on PATH and examples/node-provider/node_modules exists (run `npm ci` in
examples/node-provider first, or `make test`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from host.client import WbemError, WbemFlag, instance, prop
from host.repository.keys import Keys
from tests.helpers import async_wait_for
from tests.provider_env import Workers, dynamic, register, wait_live
from wmiput.v1 import provider_pb2 as wire

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node-provider"
NODE = shutil.which("node")
NS = "root\\cimv2"

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    pytest.mark.skipif(not (EXAMPLE / "node_modules").is_dir(),
                       reason="examples/node-provider/node_modules is missing: run `npm ci` in examples/node-provider"),
]


@pytest.fixture(autouse=True)
def _one_redis_server(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--redis-cluster") or os.environ.get("WMIPUT_TEST_REDIS_CLUSTER") == "1":
        pytest.skip("the Node.js provider example talks to one Redis server: its client is not a cluster client "
                    "(examples/node-provider/README.md)")


class NodeProvider:
    """The node process serving "NodeProv" and its JSON store."""

    def __init__(self, tmp: Path, redis_url: str, prefix: str, extra_env: dict[str, str] | None = None) -> None:
        self.store = tmp / "node-store.json"
        self.log = tmp / "node-provider.log"
        self.keys = Keys(prefix)
        env = {**os.environ, "REDIS_URL": redis_url, "PREFIX": prefix, "NAMESPACE": NS, "PROVIDER": "NodeProv",
               "STORE": str(self.store), "CLAIM_IDLE_MS": "1500", **(extra_env or {})}
        with open(self.log, "ab") as log:
            assert NODE is not None
            self.proc = subprocess.Popen([NODE, str(EXAMPLE / "provider.js")], cwd=EXAMPLE, env=env,
                                         stdout=log, stderr=log, start_new_session=True)

    def data(self) -> dict[str, Any]:
        return json.loads(self.store.read_text()) if self.store.exists() else {"items": {}, "staged": {}}

    def items(self) -> dict[str, Any]:
        return self.data()["items"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stream(self) -> str:
        return self.keys.tasks(NS, "NodeProv")

    def done(self, task_id: str) -> str:
        return self.keys.done(NS, "NodeProv", task_id)


@pytest.fixture
async def node(client, tmp_path, redis_url, key_prefix):
    """NodeProv registered and served by the node process; Node_Item is its class."""
    await register(client, "NodeProv")
    n = NodeProvider(tmp_path, redis_url, key_prefix)
    try:
        await client.put_class(dynamic("Node_Item", "NodeProv", prop("Id", "string", key=True), prop("Color", "string"),
                                       prop("Note", "string"), prop("Size", "uint32"), prop("Ratio", "real64")))
        await wait_live(client, "NodeProv")
        yield n
    finally:
        code = n.stop()
        print(n.output())
    assert code == 0, f"the node provider did not stop cleanly ({code}):\n{n.output()}"


@pytest.fixture
async def mixed(client, node, tmp_path, redis_url, key_prefix):
    """Node_Base served by the Python InventoryProvider "NodeInv", Node_Sub by NodeProv."""
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        await register(client, "NodeInv")
        w.start("NodeInv")
        await client.put_class(dynamic("Node_Base", "NodeInv", prop("Id", "string", key=True), prop("Color", "string")))
        await client.put_class(dynamic("Node_Sub", "NodeProv", prop("Size", "uint32"), superclass="Node_Base"))
        await wait_live(client, "NodeInv", "NodeProv")
        yield w
    finally:
        w.stop_all()


async def _replies(redis, prefix: str) -> list[wire.ProviderReply]:
    """Every reply on the hosts' reply streams, in the order the providers sent them."""
    out: list[tuple[bytes, wire.ProviderReply]] = []
    async for key in redis.scan_iter(match=f"{prefix}:{{h|*}}:replies", _type="stream"):
        out += [(eid, wire.ProviderReply.FromString(f[b"reply"])) for eid, f in await redis.xrange(key)]
    return [r for _eid, r in sorted(out, key=lambda e: tuple(int(x) for x in e[0].split(b"-")))]


async def _drained(redis, stream: str) -> bool:
    """Every task answered: the stream is empty (XDEL) and nothing is pending (XACK)."""
    return await redis.xlen(stream) == 0 and (await redis.xpending(stream, "workers"))["pending"] == 0


async def _wait_drained(redis, node: NodeProvider) -> None:
    # The reply goes out just before the acknowledgement: wait for the latter.
    await async_wait_for(lambda: _drained(redis, node.stream()), timeout=15, message="every task acknowledged")


async def test_a_put_through_the_node_provider_lands_in_its_json_store_with_every_value_intact(client, node, redis,
                                                                                              key_prefix):
    note = "Grüße ✓ 😀 \u00e9\t\"quoted\" \\ back"
    res = await client.put_instance(instance("Node_Item", Id="a", Color="blue", Note=note, Size=4_000_000_000,
                                             Ratio=0.1), WbemFlag.CREATE_ONLY)
    assert res.relpath == 'Node_Item.Id="a"'
    # The task bytes (varints >= 0x80, UTF-8 of several widths) reached node unchanged.
    assert node.items() == {'node_item.id="a"': {
        "class": "Node_Item", "props": {"Id": "a", "Color": "blue", "Note": note, "Size": 4_000_000_000, "Ratio": 0.1},
        "tx": node.items()['node_item.id="a"']["tx"]}}
    assert node.data()["staged"] == {}
    tx = node.items()['node_item.id="a"']["tx"]
    recorded = wire.ProviderReply.FromString(await redis.get(node.done(f"{tx}/0/put")))
    assert (recorded.hresult, recorded.phase, recorded.task_id) == (0, wire.TASK_PHASE_PUT, f"{tx}/0/put")
    assert await redis.exists(node.keys.running(NS, "NodeProv", f"{tx}/0/put")) == 0, "the run lease is released"
    await _wait_drained(redis, node)
    beats = await redis.hgetall(node.keys.workers(NS, "NodeProv"))
    assert len(beats) == 1
    (wid, beat), = beats.items()
    beat = json.loads(beat)
    assert beat["pid"] == node.proc.pid and wid.decode().split(":")[1] == str(node.proc.pid)
    assert set(beat) == {"hostname", "pid", "last_seen_unix_ms"} and recorded.worker_id == wid.decode()


async def test_a_create_only_put_of_a_stored_instance_fails_with_already_exists_from_nodeprov(client, node, redis):
    await client.put_instance(instance("Node_Item", Id="b", Color="blue"))
    before = node.data()
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Node_Item", Id="b", Color="green"), WbemFlag.CREATE_ONLY)
    assert e.value.name == "WBEM_E_ALREADY_EXISTS" and int(e.value.hresult) & 0xFFFFFFFF == 0x80041019
    assert e.value.provider_name == "NodeProv"
    assert 'Node_Item.Id="b"' in e.value.description
    assert node.data() == before and node.items()['node_item.id="b"']["props"]["Color"] == "blue"
    # An update (no flag) still goes through; UPDATE_ONLY of a missing instance is NOT_FOUND.
    await client.put_instance(instance("Node_Item", Id="b", Color="green"), WbemFlag.UPDATE_ONLY)
    assert node.items()['node_item.id="b"']["props"]["Color"] == "green"
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Node_Item", Id="missing", Color="green"), WbemFlag.UPDATE_ONLY)
    assert e.value.name == "WBEM_E_NOT_FOUND" and e.value.provider_name == "NodeProv"
    assert 'node_item.id="missing"' not in node.items()
    await _wait_drained(redis, node)


async def test_a_red_instance_is_refused_with_invalid_parameter_and_nothing_is_stored_at_any_level(
        client, node, mixed, redis, key_prefix):
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Node_Item", Id="r1", Color="red"))
    assert e.value.name == "WBEM_E_INVALID_PARAMETER" and e.value.provider_name == "NodeProv"
    assert e.value.parameter_info == "Color"
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Node_Sub", Id="r2", Color="red", Size=1))
    assert e.value.name == "WBEM_E_INVALID_PARAMETER" and e.value.provider_name == "NodeProv"
    assert node.items() == {} and node.data()["staged"] == {}
    assert mixed.items("NodeInv") == {}, "the Python level prepared, then was aborted"
    phases = [c[2] for c in mixed.calls("NodeInv")]
    assert phases == ["prepare", "abort"]
    # On the wire: the one-phase PUT refused; then level 0 voted yes, level 1 (node) refused, and
    # both levels acknowledged the abort (the refusing level gets one too, and has nothing staged;
    # the aborts go out together, so they answer in any order).
    got = [(r.level, wire.TaskPhase.Name(r.phase), r.hresult) for r in await _replies(redis, key_prefix)]
    assert got[:3] == [(0, "TASK_PHASE_PUT", 0x80041008), (0, "TASK_PHASE_PREPARE", 0),
                       (1, "TASK_PHASE_PREPARE", 0x80041008)], got
    assert sorted(got[3:]) == [(0, "TASK_PHASE_ABORT", 0), (1, "TASK_PHASE_ABORT", 0)], got
    await _wait_drained(redis, node)


async def test_a_two_level_put_commits_in_the_python_and_the_node_provider_topmost_first(
        client, node, mixed, redis, key_prefix):
    res = await client.put_instance(instance("Node_Sub", Id="s1", Color="blue", Size=3))
    assert res.relpath == 'Node_Sub.Id="s1"'
    assert mixed.items("NodeInv") == {'node_sub.id="s1"': {"Id": "s1", "Color": "blue", "Size": 3}}
    stored = node.items()['node_sub.id="s1"']
    assert stored["class"] == "Node_Sub" and stored["props"] == {"Id": "s1", "Color": "blue", "Size": 3}
    assert node.data()["staged"] == {}
    got = [(r.level, wire.TaskPhase.Name(r.phase), r.hresult, r.transaction_id) for r in await _replies(redis, key_prefix)]
    tx = stored["tx"]
    assert got[:2] == [(0, "TASK_PHASE_PREPARE", 0, tx), (1, "TASK_PHASE_PREPARE", 0, tx)], got
    assert sorted(got[2:]) == [(0, "TASK_PHASE_COMMIT", 0, tx), (1, "TASK_PHASE_COMMIT", 0, tx)], got  # sent together
    for phase in ("prepare", "commit"):
        assert await redis.exists(node.done(f"{tx}/1/{phase}"))
    await _wait_drained(redis, node)


async def _send(redis, node: NodeProvider, reply_to: str, task: wire.ProviderTask) -> wire.ProviderReply:
    seen = await redis.xlen(reply_to)
    await redis.xadd(node.stream(), {"task": task.SerializeToString()})
    await async_wait_for(lambda: _more(redis, reply_to, seen), timeout=15, message=f"a reply to {task.task_id}")
    entries = await redis.xrange(reply_to)
    assert len(entries) == seen + 1
    return wire.ProviderReply.FromString(entries[-1][1][b"reply"])


async def _more(redis, stream: str, seen: int) -> bool:
    return await redis.xlen(stream) > seen


async def test_a_redelivered_task_gets_its_recorded_reply_and_a_prepare_after_its_abort_is_refused(
        client, node, redis, key_prefix):
    reply_to = f"{key_prefix}:{{h|test}}:replies"
    obj = instance("Node_Item", Id="w1", Color="blue")
    obj.system.relpath = 'Node_Item.Id="w1"'
    tx = uuid.uuid4().hex
    put = wire.ProviderTask(task_id=f"{tx}/0/put", transaction_id=tx, phase=wire.TASK_PHASE_PUT, level=0,
                            class_name="Node_Item", namespace=NS, provider="NodeProv", flags=int(WbemFlag.CREATE_ONLY),
                            reply_to=reply_to)
    put.object.CopyFrom(obj)
    first = await _send(redis, node, reply_to, put)
    assert first.hresult == 0 and first.task_id == put.task_id
    assert node.items()['node_item.id="w1"']["tx"] == tx
    # The same task again (a redelivery): the recorded reply, not a CREATE_ONLY refusal.
    again = await _send(redis, node, reply_to, put)
    assert again == first
    recorded = await redis.get(node.done(put.task_id))
    assert [f[b"reply"] for _eid, f in await redis.xrange(reply_to)] == [recorded, recorded], "the same bytes re-sent"
    # A refusal is a vote, recorded too; its bytes (the HRESULT's varint is >= 0x80) come back intact.
    dup = wire.ProviderTask()
    dup.CopyFrom(put)
    dup.task_id, dup.transaction_id = f"{tx}-dup/0/put", f"{tx}-dup"
    no = await _send(redis, node, reply_to, dup)
    assert no.hresult == 0x80041019 and no.status.provider_name == "NodeProv"
    assert no.status.hresult_name == "WBEM_E_ALREADY_EXISTS" and no.status.status_code == 0x80041019
    assert await _send(redis, node, reply_to, dup) == no
    recorded = await redis.get(node.done(dup.task_id))
    assert [f[b"reply"] for _eid, f in (await redis.xrange(reply_to))[-2:]] == [recorded, recorded]
    assert node.items()['node_item.id="w1"']["tx"] == tx
    assert 0 < await redis.ttl(reply_to) <= 3600
    # An ABORT that overtook its PREPARE fences it: the PREPARE is refused and stages nothing.
    tx2 = uuid.uuid4().hex
    abort = wire.ProviderTask(task_id=f"{tx2}/0/abort", transaction_id=tx2, phase=wire.TASK_PHASE_ABORT, level=0,
                              class_name="Node_Item", namespace=NS, provider="NodeProv", reply_to=reply_to)
    assert (await _send(redis, node, reply_to, abort)).hresult == 0
    prepare = wire.ProviderTask()
    prepare.CopyFrom(put)
    prepare.task_id, prepare.transaction_id, prepare.phase = f"{tx2}/0/prepare", tx2, wire.TASK_PHASE_PREPARE
    prepare.object.properties[0].value.string = "w2"
    prepare.object.system.relpath = 'Node_Item.Id="w2"'
    refused = await _send(redis, node, reply_to, prepare)
    assert refused.hresult == 0x80041032 and refused.status.hresult_name == "WBEM_E_CALL_CANCELLED"
    assert refused.status.provider_name == "NodeProv"
    assert node.data()["staged"] == {} and 'node_item.id="w2"' not in node.items()
    # A PUT past its deadline is refused; a malformed entry is dropped.
    late = wire.ProviderTask()
    late.CopyFrom(put)
    late.task_id, late.transaction_id, late.deadline_unix_ms = f"{tx2}x/0/put", tx2 + "x", 1
    assert (await _send(redis, node, reply_to, late)).status.hresult_name == "WBEM_E_PROVIDER_TIMED_OUT"
    await redis.xadd(node.stream(), {"task": b"\xff\xff\xff\xff"})
    await _wait_drained(redis, node)
    assert set(node.items()) == {'node_item.id="w1"'}


async def test_once_the_node_worker_stops_a_put_fails_fast_with_provider_load_failure(client, node, redis):
    await client.put_instance(instance("Node_Item", Id="c", Color="blue"))
    assert node.stop() == 0
    assert await redis.hgetall(node.keys.workers(NS, "NodeProv")) == {}, "the worker left the heartbeat hash"
    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Node_Item", Id="d", Color="blue"))
    assert e.value.name == "WBEM_E_PROVIDER_LOAD_FAILURE" and e.value.provider_name == "NodeProv"
    assert set(node.items()) == {'node_item.id="c"'}
    assert await redis.xlen(node.stream()) == 0, "no task was sent"


async def test_a_task_left_by_a_dead_consumer_is_taken_over_and_one_another_worker_runs_is_left_to_it(
        client, node, redis, key_prefix):
    reply_to = f"{key_prefix}:{{h|test}}:replies"
    obj = instance("Node_Item", Id="t1", Color="blue")
    obj.system.relpath = 'Node_Item.Id="t1"'
    tx = uuid.uuid4().hex
    task = wire.ProviderTask(task_id=f"{tx}/0/put", transaction_id=tx, phase=wire.TASK_PHASE_PUT, class_name="Node_Item",
                             namespace=NS, provider="NodeProv", reply_to=reply_to)
    task.object.CopyFrom(obj)
    # Delivered to a consumer that then died, in one MULTI so that the node worker cannot read it first.
    async with redis.pipeline(transaction=True) as p:
        p.xadd(node.stream(), {"task": task.SerializeToString()})
        p.xreadgroup("workers", "ghost", {node.stream(): ">"}, count=1)
        _, got = await p.execute()
    assert len(got[0][1]) == 1, "the ghost consumer holds the task"
    await async_wait_for(lambda: _more(redis, reply_to, 0), timeout=15, message="the task taken over (CLAIM_IDLE_MS)")
    (_eid, fields), = await redis.xrange(reply_to)
    assert wire.ProviderReply.FromString(fields[b"reply"]).hresult == 0
    assert node.items()['node_item.id="t1"']["tx"] == tx
    await _wait_drained(redis, node)
    # A task whose run lease another worker holds is left pending to that worker: no reply, no effect.
    tx2 = uuid.uuid4().hex
    task.task_id, task.transaction_id = f"{tx2}/0/put", tx2
    task.object.properties[0].value.string = "t2"
    task.object.system.relpath = 'Node_Item.Id="t2"'
    await redis.set(node.keys.running(NS, "NodeProv", task.task_id), "another-worker", px=60_000)
    await redis.xadd(node.stream(), {"task": task.SerializeToString()})

    async def delivered() -> bool:
        return int((await redis.xpending(node.stream(), "workers"))["pending"]) == 1

    await async_wait_for(delivered, timeout=15, message="the task delivered and left pending")
    assert await redis.xlen(reply_to) == 1 and await redis.exists(node.done(task.task_id)) == 0
    assert await redis.get(node.keys.running(NS, "NodeProv", task.task_id)) == b"another-worker"
    assert set(node.items()) == {'node_item.id="t1"'}


async def test_with_the_task_key_the_node_provider_runs_only_signed_tasks_and_signs_its_replies(
        host_settings, tmp_path, redis_url, key_prefix, redis):
    """The HMAC of docs/provider-protocol.md §5, implemented in another language, against the host's."""
    import dataclasses

    from host.client import WbemClient
    from host.server.app import Host

    key = tmp_path / "task.key"
    key.write_bytes(b"node-and-host-share-this-32-byte-key!!\n")
    h = Host(dataclasses.replace(host_settings, task_key_file=str(key)))
    await h.start()
    p = NodeProvider(tmp_path, redis_url, key_prefix, {"TASK_KEY_FILE": str(key)})
    try:
        async with await WbemClient.connect(h.target, timeout=30.0) as c:
            await register(c, "NodeProv")
            await c.put_class(dynamic("Node_Item", "NodeProv", prop("Id", "string", key=True), prop("Color", "string")))
            await wait_live(c, "NodeProv")
            assert (await c.put_instance(instance("Node_Item", Id="k1", Color="blue"))).relpath == 'Node_Item.Id="k1"'
        assert p.items()['node_item.id="k1"']["props"] == {"Id": "k1", "Color": "blue"}
        # A task nobody signed, even a well-formed one naming a real reply stream, is dropped unanswered.
        reply_to = f"{key_prefix}:{{h|forger}}:replies"
        forged = wire.ProviderTask(task_id="forged/0/put", transaction_id="forged", phase=wire.TASK_PHASE_PUT,
                                   namespace=NS, class_name="Node_Item", provider="NodeProv", reply_to=reply_to)
        forged.object.CopyFrom(instance("Node_Item", Id="forged", Color="blue"))
        await redis.xadd(p.stream(), {"task": forged.SerializeToString()})
        await _wait_drained(redis, p)
        assert 'node_item.id="forged"' not in p.items() and await redis.xlen(reply_to) == 0
        assert "not signed with the task key" in p.output()
    finally:
        p.stop()
        await h.stop()
