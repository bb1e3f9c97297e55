"""A host plans a put on the classes as it last read them (no round trip); the write script checks
them. These tests change the classes through a second host, so the first one's copy is stale, and
check that its next put is settled on the current classes, never on the stale copy."""

from collections.abc import AsyncIterator

import pytest

from host.client import WbemClient, WbemError, instance, prop, qualifier, wmi_class
from host.config import Settings
from host.server.app import Host
from wmiput.v1 import object_pb2 as pb


@pytest.fixture
async def two(host_settings: Settings) -> AsyncIterator[tuple[WbemClient, WbemClient]]:
    hosts = [Host(host_settings), Host(host_settings)]
    clients: list[WbemClient] = []
    try:
        for h in hosts:
            await h.start()
            clients.append(await WbemClient.connect(h.target, timeout=30.0))
        yield clients[0], clients[1]
    finally:
        for c in clients:
            await c.close()
        for h in hosts:
            await h.stop()


def _v1() -> pb.WbemObject:
    return wmi_class("Cache_Item", prop("Id", "uint32", key=True), prop("A", "string"))


def _v2() -> pb.WbemObject:
    return wmi_class("Cache_Item", prop("Id", "uint32", key=True), prop("A", "string"), prop("B", "uint32", 7))


async def _stale(h1: WbemClient, h2: WbemClient) -> None:
    """Cache_Item v1 in both hosts' copies, then v2 put through host 2 alone."""
    await h1.put_class(_v1())
    await h1.put_instance(instance("Cache_Item", Id=0, A="warm"))  # host 1 now holds v1
    await h2.delete_instance('Cache_Item.Id=0')
    await h2.put_class(_v2())


def _value(obj: pb.WbemObject, name: str) -> object:
    p = next(p for p in obj.properties if p.name == name)
    return p.value.WhichOneof("kind") and getattr(p.value, p.value.WhichOneof("kind"))


async def test_a_put_through_a_host_with_a_stale_copy_stores_the_instance_in_the_current_shape(two, redis, key_prefix):
    h1, h2 = two
    await _stale(h1, h2)
    await h1.put_instance(instance("Cache_Item", Id=1, A="x"))
    records = []
    async for k in redis.scan_iter(match=f"{key_prefix}:{{i|root\\\\cimv2|cache_item|*}}:obj"):
        records += [pb.WbemObject.FromString(raw) for raw in (await redis.hgetall(k)).values()]
    assert len(records) == 1
    assert [p.name for p in records[0].properties] == ["Id", "A", "B"], "stored in the stale shape"
    assert _value(records[0], "B") == 7, "the default of the property host 2 added"


async def test_a_property_added_through_another_host_is_accepted_at_once(two):
    h1, h2 = two
    await _stale(h1, h2)
    await h1.put_instance(instance("Cache_Item", Id=2, A="x", B=3))  # unknown to host 1's copy
    assert _value(await h1.get_object('Cache_Item.Id=2'), "B") == 3


async def test_a_property_removed_through_another_host_is_refused_although_the_stale_copy_has_it(two):
    h1, h2 = two
    await h1.put_class(_v2())
    await h1.put_instance(instance("Cache_Item", Id=0, A="warm"))  # host 1 now holds v2, with B
    await h2.delete_instance('Cache_Item.Id=0')
    await h2.put_class(_v1())  # B removed (no instances: allowed)
    with pytest.raises(WbemError) as e:
        await h1.put_instance(instance("Cache_Item", Id=3, A="x", B=1))
    assert e.value.name == "WBEM_E_INVALID_PROPERTY", e.value
    assert "Cache_Item has no property 'B'" in e.value.description
    assert [o async for o in h2.enum_instances("Cache_Item")] == []


async def test_a_class_made_dynamic_through_another_host_goes_to_its_provider_and_not_the_repository(two):
    h1, h2 = two
    await _stale(h1, h2)
    dynamic = _v2()
    dynamic.qualifiers.extend([qualifier("Dynamic", True, 0x1 | 0x2), qualifier("Provider", "Cache_NoSuchProv", 0)])
    await h2.put_class(dynamic)
    with pytest.raises(WbemError) as e:
        await h1.put_instance(instance("Cache_Item", Id=4, A="x"))
    assert e.value.name == "WBEM_E_PROVIDER_NOT_FOUND", e.value
    assert [o async for o in h2.enum_instances("Cache_Item")] == []


async def test_a_put_into_a_namespace_deleted_through_another_host_is_refused(two):
    h1, h2 = two
    await h1.put_instance(instance("__NAMESPACE", Name="cachetest"))
    await h1.put_class(_v1(), namespace="root\\cimv2\\cachetest")
    await h1.put_instance(instance("Cache_Item", Id=1, A="x"), namespace="root\\cimv2\\cachetest")  # host 1 holds it
    await h2.delete_instance('__NAMESPACE.Name="cachetest"')
    with pytest.raises(WbemError) as e:
        await h1.put_instance(instance("Cache_Item", Id=2, A="x"), namespace="root\\cimv2\\cachetest")
    assert e.value.name == "WBEM_E_INVALID_NAMESPACE", e.value
