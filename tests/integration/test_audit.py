"""The audit trail: one entry per write, with who, what, flags and outcome; none for reads; never
an object's values."""

import dataclasses
from pathlib import Path

import pytest

from host.calls.store import call_id
from host.client import Credentials, WbemClient, WbemError, WbemFlag, instance, prop, wmi_class
from host.config import Settings
from host.repository.keys import Keys
from host.server.app import Host
from tests.helpers import async_wait_for

SECRET = "s3cr3t-value-never-in-the-audit"


async def _entries(redis, key_prefix: str) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in fields.items()}
            for _id, fields in await redis.xrange(Keys(key_prefix).audit)]


def _brief(e: dict[str, str]) -> tuple[str, str, str, str, str]:
    return e["principal"], e["op"], e["target"], e["flags"], e["result"]


async def test_each_synchronous_write_is_one_entry_and_reads_are_none(client, redis, key_prefix) -> None:
    await client.put_class(wmi_class("Aud_Item", prop("Id", "string", key=True), prop("Secret", "string")))
    await client.put_instance(instance("Aud_Item", Id="a", Secret=SECRET), WbemFlag.CREATE_ONLY)
    with pytest.raises(WbemError):
        await client.put_instance(instance("Aud_Item", Id="a", Secret=SECRET), WbemFlag.CREATE_ONLY)
    await client.get_object('Aud_Item.Id="a"')
    _ = [o async for o in client.enum_instances("Aud_Item")]
    await client.delete_instance('Aud_Item.Id="a"')
    await client.delete_class("Aud_Item")
    # Entries are written in the background, batched: wait for them.
    await async_wait_for(lambda: _count(lambda: _entries(redis, key_prefix), 5), timeout=15, message="5 entries")
    got = [_brief(e) for e in await _entries(redis, key_prefix)]
    assert got == [
        ("anonymous", "PutClass", "\\\\TESTHOST\\root\\cimv2:Aud_Item", "0x0", "WBEM_S_NO_ERROR"),
        ("anonymous", "PutInstance", '\\\\TESTHOST\\root\\cimv2:Aud_Item.Id="a"', "0x2", "WBEM_S_NO_ERROR"),
        ("anonymous", "PutInstance", "Aud_Item", "0x2", "WBEM_E_ALREADY_EXISTS"),
        ("anonymous", "DeleteInstance", '\\\\TESTHOST\\root\\cimv2:Aud_Item.Id="a"', "0x0", "WBEM_S_NO_ERROR"),
        ("anonymous", "DeleteClass", "Aud_Item", "0x0", "WBEM_S_NO_ERROR"),
    ], got
    entries = await _entries(redis, key_prefix)
    assert all(SECRET not in str(e) for e in entries), "object values never reach the audit"
    assert {e["namespace"] for e in entries} == {"root\\cimv2"} and all(e["host"] for e in entries)


async def test_asynchronous_and_semisynchronous_puts_are_recorded_once_when_they_end(client, redis, key_prefix):
    await client.put_class(wmi_class("Aud_Async", prop("Id", "string", key=True)))
    call = await client.put_instance_async(instance("Aud_Async", Id="x"), WbemFlag.SEND_STATUS)
    await call.wait()
    semi = await client.put_instance_semisync(instance("Aud_Async", Id="y"))
    assert await semi.wait() == (0, None)

    async def ended() -> list[dict[str, str]]:
        return [e for e in await _entries(redis, key_prefix) if e["op"] != "PutClass"]
    await async_wait_for(lambda: _count(ended, 2), timeout=15, message="two audit entries")
    a, s = await ended()
    assert (a["op"], a["target"], a["result"], a["call"]) == (
        "PutInstanceAsync", '\\\\TESTHOST\\root\\cimv2:Aud_Async.Id="x"', "WBEM_S_NO_ERROR", call_id(call.handle))
    assert a["flags"] == "0x80"  # WBEM_FLAG_SEND_STATUS
    assert (s["op"], s["target"], s["result"], s["call"]) == (
        "PutInstance", '\\\\TESTHOST\\root\\cimv2:Aud_Async.Id="y"', "WBEM_S_NO_ERROR", call_id(semi.handle))
    assert semi.handle not in str(await _entries(redis, key_prefix)), "a handle is a secret: only its digest"


async def _count(fn, n: int) -> bool:
    return len(await fn()) >= n


async def test_the_principal_and_refused_credentials_are_recorded(host_settings: Settings, tmp_path: Path, redis,
                                                                  key_prefix) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("alice alice-token-0123456789\n")
    h = Host(dataclasses.replace(host_settings, tokens_file=str(tokens)))
    await h.start()
    try:
        async with await WbemClient.connect(h.target, credentials=Credentials(token="alice-token-0123456789")) as c:
            await c.put_class(wmi_class("Aud_Who", prop("Id", "string", key=True)))
        async with await WbemClient.connect(h.target, credentials=Credentials(token="mallory-token-000000")) as c:
            with pytest.raises(WbemError):
                await c.put_instance(instance("Aud_Who", Id="m"))
    finally:
        await h.stop()
    got = [_brief(e) for e in await _entries(redis, key_prefix)]
    assert got == [("alice", "PutClass", "\\\\TESTHOST\\root\\cimv2:Aud_Who", "0x0", "WBEM_S_NO_ERROR"),
                   ("(unauthenticated)", "PutInstance", "Aud_Who", "0x0", "WBEM_E_ACCESS_DENIED")], got
    assert "mallory-token" not in str(await _entries(redis, key_prefix))
