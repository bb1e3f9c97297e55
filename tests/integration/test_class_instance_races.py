"""Class changes racing instance puts: every stored instance matches the class it ends up with."""

import asyncio

from host.client import WbemError, WbemFlag, instance, prop, wmi_class
from wmiput.v1 import object_pb2 as pb


def _v1():
    return wmi_class("Race_Item", prop("Id", "uint32", key=True), prop("A", "string"))


def _v2():
    return wmi_class("Race_Item", prop("Id", "uint32", key=True), prop("A", "string"), prop("B", "uint32", 7))


async def _stored_records(redis, key_prefix):
    out = []
    async for k in redis.scan_iter(match=f"{key_prefix}:{{i|root\\\\cimv2|race_item|*}}:obj"):
        for raw in (await redis.hgetall(k)).values():
            o = pb.WbemObject()
            o.ParseFromString(raw)
            out.append(o)
    return out


async def test_a_forced_structural_change_racing_puts_leaves_only_instances_of_the_new_shape(client, redis, key_prefix):
    await client.put_class(_v1())

    async def put(i):
        try:
            await client.put_instance(instance("Race_Item", Id=i, A="x"))
            return "ok"
        except WbemError as e:
            return e.name

    # The change is scheduled in the middle of the puts, so their steps interleave with it.
    results = await asyncio.gather(*(put(i) for i in range(50)),
                                   client.put_class(_v2(), WbemFlag.UPDATE_FORCE_MODE),
                                   *(put(i) for i in range(50, 100)))
    assert set(results[:50] + results[51:]) == {"ok"}
    records = await _stored_records(redis, key_prefix)
    for r in records:
        assert [p.name for p in r.properties] == ["Id", "A", "B"], "an instance of the old shape survived"
        assert next(p.value.uint for p in r.properties if p.name == "B") == 7
    listed = [o async for o in client.enum_instances("Race_Item")]
    assert len(listed) == len(records)


async def test_a_compatible_structural_change_racing_puts_either_fails_or_finds_no_instances(client, redis, key_prefix):
    await client.put_class(_v1())

    async def change():
        try:
            await client.put_class(_v2())
            return "ok"
        except WbemError as e:
            return e.name

    results = await asyncio.gather(*(client.put_instance(instance("Race_Item", Id=i, A="x")) for i in range(25)),
                                   change(),
                                   *(client.put_instance(instance("Race_Item", Id=i, A="x")) for i in range(25, 50)))
    outcome = results[25]
    records = await _stored_records(redis, key_prefix)
    assert len(records) == 50
    if outcome == "ok":
        # the change went first: every instance was validated against (and has) the new shape
        assert all(len(r.properties) == 3 for r in records)
    else:
        assert outcome == "WBEM_E_CLASS_HAS_INSTANCES"
        assert all(len(r.properties) == 2 for r in records)
        cls = await client.get_object("Race_Item")
        assert [p.name for p in cls.properties] == ["Id", "A"]


async def test_concurrent_puts_of_unrelated_classes_all_succeed(client):
    """Class changes share the namespace's schema version, so they collide; they take turns
    (jittered backoff) instead of failing with WBEM_E_FAILED."""
    await client.put_class(wmi_class("Race_Root", prop("Id", "string", key=True)))
    names = [f"Race_Leaf{i}" for i in range(64)]
    results = await asyncio.gather(*(client.put_class(wmi_class(n, prop(f"P{i}", "uint32"), superclass="Race_Root"))
                                     for i, n in enumerate(names)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    got = {o.class_name async for o in client.enum_classes("Race_Root")}
    assert got == set(names)
    deleted = await asyncio.gather(*(client.delete_class(n) for n in names[:32]), return_exceptions=True)
    assert [r for r in deleted if isinstance(r, BaseException)] == []
