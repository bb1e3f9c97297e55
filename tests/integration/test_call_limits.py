"""The per-client limit on calls running at once (max_calls_per_client): past it, a call is
refused with WBEM_E_SERVER_TOO_BUSY and starts nothing; once one of the client's calls ends,
the next is accepted again. (10,000 calls in flight: tests/faults/test_calls_in_flight.py.)"""

from __future__ import annotations

import dataclasses

import pytest

from host.calls.store import call_id
from host.client import INFINITE, WbemError, instance, prop, wmi_class
from host.config import Settings
from host.repository.keys import Keys
from tests.helpers import async_wait_for
from tests.provider_env import Workers, dynamic, register, wait_live

LIMIT = 5
E_CALL_CANCELLED = 0x80041032


@pytest.fixture
def host_settings(host_settings: Settings) -> Settings:
    return dataclasses.replace(host_settings, max_calls_per_client=LIMIT)


@pytest.fixture
async def held(client, tmp_path, redis_url, key_prefix):
    """Limit_Item (provider Held, behind the static Limit_Base): a put with Color=hold is held
    in its prepare until <data_dir>/Held.release exists."""
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        await register(client, "Held")
        w.start("Held", hold_when="Color:hold")
        await client.put_class(wmi_class("Limit_Base", prop("Id", "string", key=True), prop("Color", "string")))
        await client.put_class(dynamic("Limit_Item", "Held", prop("Note", "string"), superclass="Limit_Base"))
        await wait_live(client, "Held")
        yield w
    finally:
        w.data_dir.mkdir(parents=True, exist_ok=True)
        (w.data_dir / "Held.release").touch()
        w.stop_all()


async def started(redis, prefix: str) -> tuple[int, int, int]:
    """(calls listed as running, call records, provider transactions running)."""
    keys = Keys(prefix)
    running = sum([await redis.zcard(k) async for k in redis.scan_iter(match=f"{prefix}:{{meta}}:calls:active*",
                                                                           count=10_000)])
    records = len([k async for k in redis.scan_iter(match=f"{prefix}:{{c|*", count=10_000)
                   if not k.endswith(b":events")])
    return running, records, await redis.zcard(keys.active_transactions)


@pytest.mark.timeout(30)
async def test_past_the_per_client_limit_a_call_is_refused_until_one_ends(client, held, redis, key_prefix):
    calls = [await client.put_instance_semisync(instance("Limit_Item", Id=f"h{i}", Color="hold"))
             for i in range(LIMIT)]
    for c in calls:
        assert await c.get_call_status(0) is None, "running, held by the provider"

    async def all_started() -> bool:  # (a call opens its transaction just after its RPC answers)
        return await started(redis, key_prefix) == (LIMIT, LIMIT, LIMIT)
    await async_wait_for(all_started, timeout=5)

    # the next call, of either kind, is refused and starts nothing
    for start in (client.put_instance_semisync, client.put_instance_async, client.put_async):
        with pytest.raises(WbemError) as e:
            await start(instance("Limit_Item", Id="refused", Color="hold"))
        assert e.value.name == "WBEM_E_SERVER_TOO_BUSY" and e.value.operation in (
            "PutInstance", "PutInstanceAsync", "PutAsync"), e.value
        assert "max_calls_per_client" in e.value.description
    # nor does a call the repository alone would serve
    with pytest.raises(WbemError, match="WBEM_E_SERVER_TOO_BUSY"):
        await client.put_instance_semisync(instance("Limit_Base", Id="refused"))
    assert await started(redis, key_prefix) == (LIMIT, LIMIT, LIMIT)
    # a synchronous put is no call: the limit does not apply to it
    await client.put_instance(instance("Limit_Base", Id="sync"))

    # one ends: the next is accepted, and the one after it refused again
    await client.cancel_async_call(calls[0].handle)
    status, err = await calls[0].get_call_status(INFINITE)
    assert status == E_CALL_CANCELLED and err.hresult_name == "WBEM_E_CALL_CANCELLED"
    calls[0] = await client.put_instance_semisync(instance("Limit_Item", Id="again", Color="hold"))
    assert await calls[0].get_call_status(0) is None
    with pytest.raises(WbemError, match="WBEM_E_SERVER_TOO_BUSY"):
        await client.put_instance_async(instance("Limit_Item", Id="refused", Color="hold"))

    # an asynchronous call takes a slot as well, and gives it back when it ends
    await client.cancel_async_call(calls[1].handle)
    assert (await calls[1].get_call_status(INFINITE))[0] == E_CALL_CANCELLED
    call = await client.put_instance_async(instance("Limit_Item", Id="async", Color="hold"))
    with pytest.raises(WbemError, match="WBEM_E_SERVER_TOO_BUSY"):
        await client.put_instance_semisync(instance("Limit_Item", Id="refused", Color="hold"))
    await call.cancel()
    done = await call.wait()
    assert done.final and done.set_status.hresult == E_CALL_CANCELLED
    calls[1] = await client.put_instance_semisync(instance("Limit_Base", Id="static"))
    assert await calls[1].get_call_status(INFINITE) == (0, None)

    # the rest end cancelled, each with one final event; nothing is left running
    for c in calls[2:] + [calls[0]]:
        await client.cancel_async_call(c.handle)
        assert (await c.get_call_status(INFINITE))[0] == E_CALL_CANCELLED
        assert await redis.xlen(Keys(key_prefix).call_events(call_id(c.handle))) == 1
    (held.data_dir / "Held.release").touch()

    async def none_running() -> bool:  # (a call leaves the list just after its final event)
        return (await started(redis, key_prefix))[0] == 0
    await async_wait_for(none_running, timeout=5)
    with pytest.raises(WbemError, match="WBEM_E_INVALID_OPERATION"):
        await client.cancel_async_call(calls[2].handle)
