"""Signed tasks and replies: with a task key, a worker runs only tasks a host signed, and a host
takes only replies a worker signed; anything written to the streams by anyone else is dropped."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from host.client import WbemClient, WbemError, instance, prop
from host.config import Settings
from host.coordinator.transactions import ReplyRouter
from host.repository.keys import WORKER_GROUP, Keys
from host.server.app import Host
from host.signing import Signer
from tests.helpers import async_wait_for
from tests.provider_env import Workers, dynamic, register, wait_live
from wmiput.v1 import provider_pb2 as wire

KEY = b"k" * 16 + b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    f = tmp_path / "task.key"
    f.write_bytes(KEY + b"\n")
    return f


@pytest.fixture
async def signed(host_settings: Settings, key_file: Path, tmp_path: Path, redis_url: str,
                 key_prefix: str) -> AsyncIterator[tuple[WbemClient, Workers]]:
    """A host and one worker (provider Sig_P) sharing the task key."""
    h = Host(dataclasses.replace(host_settings, task_key_file=str(key_file)))
    await h.start()
    w = Workers(tmp_path, redis_url, key_prefix)
    c = await WbemClient.connect(h.target, timeout=30.0)
    try:
        await register(c, "Sig_P")
        w.start("Sig_P", env={"WMIPUT_TASK_KEY_FILE": str(key_file)})
        await c.put_class(dynamic("Sig_Item", "Sig_P", prop("Id", "string", key=True), prop("Size", "uint32")))
        await wait_live(c, "Sig_P")
        yield c, w
    finally:
        await c.close()
        w.stop_all()
        await h.stop()


async def _drained(redis, stream: str) -> bool:
    pending = await redis.xpending(stream, WORKER_GROUP)
    return await redis.xlen(stream) == 0 and int(pending["pending"]) == 0


async def test_signed_tasks_and_replies_make_a_put(signed) -> None:
    c, w = signed
    assert (await c.put_instance(instance("Sig_Item", Id="a", Size=1))).relpath == 'Sig_Item.Id="a"'
    assert w.items("Sig_P")['sig_item.id="a"']["Size"] == 1


@pytest.mark.parametrize("forgery", ["unsigned", "wrong key", "signed for another stream"])
async def test_a_forged_task_on_a_provider_stream_is_dropped_unrun_and_unanswered(signed, redis, key_prefix,
                                                                                   forgery: str) -> None:
    c, w = signed
    keys = Keys(key_prefix)
    stream = keys.tasks("root\\cimv2", "Sig_P")
    reply_to = f"{key_prefix}:forger:replies"
    task = wire.ProviderTask(task_id="forged/0/put", transaction_id="forged", phase=wire.TASK_PHASE_PUT,
                             namespace="root\\cimv2", class_name="Sig_Item", provider="Sig_P", reply_to=reply_to)
    task.object.CopyFrom(instance("Sig_Item", Id="forged", Size=666))
    payload = task.SerializeToString()
    fields = {"unsigned": {"task": payload},
              "wrong key": Signer(b"x" * 32).entry("task", stream, payload),
              "signed for another stream": Signer(KEY).entry("task", keys.tasks("root\\cimv2", "Other"), payload),
              }[forgery]
    await redis.xadd(stream, fields)
    await async_wait_for(lambda: _drained(redis, stream), timeout=15, message="the forged entry to be dropped")
    assert 'sig_item.id="forged"' not in w.items("Sig_P")
    assert not [call for call in w.calls("Sig_P") if call[0] == "forged"], "the provider never saw it"
    assert await redis.xlen(reply_to) == 0, "no answer to a forger"
    # The worker is still serving signed tasks.
    assert (await c.put_instance(instance("Sig_Item", Id="after", Size=2))).relpath == 'Sig_Item.Id="after"'


async def test_a_host_takes_only_replies_a_worker_signed(redis, key_prefix) -> None:
    stream = f"{key_prefix}:{{h|test}}:replies"
    router = ReplyRouter(redis, stream, Signer(KEY))
    router.start()
    try:
        forged, genuine = router.expect("t/0/prepare"), router.expect("t/1/prepare")
        yes = wire.ProviderReply(task_id="t/0/prepare", transaction_id="t").SerializeToString()
        await redis.xadd(stream, {"reply": yes})  # unsigned: a forged "yes" vote
        await redis.xadd(stream, Signer(b"y" * 32).entry("reply", stream, yes))  # signed with another key
        await redis.xadd(stream, Signer(KEY).entry(
            "reply", stream, wire.ProviderReply(task_id="t/1/prepare", transaction_id="t").SerializeToString()))
        await asyncio.wait_for(genuine, 10)  # read after the forged ones: they were seen and ignored
        assert not forged.done()
    finally:
        await router.stop()


async def test_a_worker_with_the_key_runs_nothing_from_a_host_without_it(host_settings: Settings, key_file: Path,
                                                                        tmp_path: Path, redis_url: str,
                                                                        key_prefix: str) -> None:
    """The put times out (nobody answered) rather than running on a task nobody signed."""
    h = Host(dataclasses.replace(host_settings, put_timeout_seconds=2.0))
    await h.start()
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        async with await WbemClient.connect(h.target, timeout=30.0) as c:
            await register(c, "Sig_Q")
            w.start("Sig_Q", env={"WMIPUT_TASK_KEY_FILE": str(key_file)})
            await c.put_class(dynamic("Sig_Q_Item", "Sig_Q", prop("Id", "string", key=True)))
            await wait_live(c, "Sig_Q")
            with pytest.raises(WbemError) as e:
                await c.put_instance(instance("Sig_Q_Item", Id="x"))
            assert e.value.name == "WBEM_E_PROVIDER_TIMED_OUT"
            assert w.items("Sig_Q") == {}
    finally:
        w.stop_all()
        await h.stop()


@pytest.mark.parametrize("content", [b"short", b"   \n"])
async def test_a_short_task_key_stops_the_host(host_settings: Settings, tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "weak.key"
    f.write_bytes(content)
    h = Host(dataclasses.replace(host_settings, task_key_file=str(f)))
    with pytest.raises(RuntimeError, match="at least 32 bytes"):
        await h.start()
    await h.stop()
