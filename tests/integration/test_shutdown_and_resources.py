"""A host shutting down answers WBEM_E_SHUTTING_DOWN while its in-flight calls finish; a full
Redis answers WBEM_E_OUT_OF_MEMORY and writes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from host.client import WbemClient, WbemError, instance, prop, wmi_class
from host.config import Settings
from host.redis_server import EmbeddedRedis
from host.server.app import Host
from tests.helpers import async_wait_for, redis_snapshot


async def test_a_stopping_host_refuses_new_calls_with_shutting_down_and_finishes_those_in_flight(host, client):
    await client.put_class(wmi_class("Drain_Item", prop("Id", "uint32", key=True), prop("Blob", "string")))
    blob = "x" * 2048  # enough data that the stream waits on the client (gRPC flow control)
    await asyncio.gather(*(client.put_instance(instance("Drain_Item", Id=i, Blob=blob)) for i in range(300)))

    stream = client.enum_instances("Drain_Item")
    first = await stream.__anext__()
    stopping = asyncio.create_task(host.stop())
    await async_wait_for(lambda: host.servicer.draining, timeout=10)

    with pytest.raises(WbemError) as e:
        await client.put_instance(instance("Drain_Item", Id=1000))
    assert e.value.name == "WBEM_E_SHUTTING_DOWN" and int(e.value.hresult) == 0x80041033

    rest = [o async for o in stream]
    assert 1 + len(rest) == 300 and first.class_name == "Drain_Item"
    await asyncio.wait_for(stopping, timeout=30)


async def test_a_full_redis_answers_out_of_memory_and_writes_nothing(tmp_path: Path, key_prefix: str):
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="no")
    server.start()
    host = Host(Settings(listen="127.0.0.1:0", redis_url=server.url, prefix=key_prefix, server_name="M"))
    try:
        await host.start()
        async with await WbemClient.connect(host.target) as c:
            await c.put_class(wmi_class("Oom_Item", prop("Id", "uint32", key=True), prop("Blob", "string")))
            used = int((await host.redis.info("memory"))["used_memory"])
            await host.redis.config_set("maxmemory-policy", "noeviction")
            await host.redis.config_set("maxmemory", used + 2 * 1024 * 1024)
            blob = "y" * 100_000
            for i in range(200):  # ~20 MB against a 2 MB margin: it fills long before the end
                before = await redis_snapshot(host.redis, key_prefix)
                try:
                    await c.put_instance(instance("Oom_Item", Id=i, Blob=blob))
                except WbemError as e:
                    assert e.name == "WBEM_E_OUT_OF_MEMORY", e
                    assert await redis_snapshot(host.redis, key_prefix) == before
                    break
            else:
                pytest.fail("Redis never reached maxmemory")
            # Memory freed, the same put works: the failure was not a stuck state.
            await host.redis.config_set("maxmemory", 0)
            await c.put_instance(instance("Oom_Item", Id=i, Blob=blob))
    finally:
        await host.stop()
        server.stop()
