"""DeleteClass and CreateClassEnum end to end, with the repository checked afterwards.

Expected codes follow ../shared/reference/wmi-put-semantics.md and proto/wmiput/v1/services.proto
(DeleteClass removes the class, its subclasses and all their instances; CreateClassEnum lists
subclasses shallow or deep, the whole namespace from "").
"""

from __future__ import annotations

from typing import Any

import pytest

from host.client import WbemError, WbemFlag, instance, prop, qualifier, to_dict, wmi_class
from tests.helpers import redis_snapshot as snapshot

NS = "root\\cimv2"
SYSTEM_CLASSES = {"__SystemClass", "__NAMESPACE", "__ExtendedStatus", "__Provider", "__Win32Provider"}
MINE = {"CIM_ManagedElement", "CIM_ManagedSystemElement", "CIM_LogicalElement", "Vendor_LogicalDisk", "Vendor_SAN",
        "Vendor_Volume", "Vendor_Device", "Vendor_Disk", "Vendor_SSD", "Vendor_Other"}




async def fails(coro: Any, name: str) -> WbemError:
    with pytest.raises(WbemError) as e:
        await coro
    assert e.value.name == name, f"expected {name}, got {e.value}"
    return e.value


async def listed(client: Any, superclass: str = "", flags: int = 0, *, namespace: str | None = None) -> list[str]:
    return [o.class_name async for o in client.enum_classes(superclass, flags, namespace=namespace)]


async def instance_paths(client: Any, class_name: str, flags: int = 0) -> set[str]:
    return {o.system.relpath async for o in client.enum_instances(class_name, flags)}


async def instance_keys(redis: Any, prefix: str) -> list[bytes]:
    """Keys holding instance data. A bucket's ":schema" key stays behind on purpose: its epoch
    makes a host with a stale copy of the deleted classes re-plan (host/repository/fences.py)."""
    return [k async for k in redis.scan_iter(match=f"{prefix}:{{i|*", count=1000) if not k.endswith(b"}:schema")]


async def put_tree(client: Any) -> None:
    """Two dynasties: the CIM Core chain with Vendor_LogicalDisk > Vendor_SAN and Vendor_Volume,
    and Vendor_Device > Vendor_Disk > Vendor_SSD, plus Vendor_Other; instances in most classes."""
    abstract = [qualifier("Abstract", True, 0)]
    await client.put_class(wmi_class("CIM_ManagedElement", prop("InstanceID", "string"), prop("Caption", "string"),
                                     qualifiers=abstract))
    await client.put_class(wmi_class("CIM_ManagedSystemElement", prop("Name", "string"),
                                     superclass="CIM_ManagedElement", qualifiers=abstract))
    await client.put_class(wmi_class("CIM_LogicalElement", superclass="CIM_ManagedSystemElement", qualifiers=abstract))
    await client.put_class(wmi_class("Vendor_LogicalDisk", prop("DeviceID", "string", key=True),
                                     prop("Size", "uint64"), superclass="CIM_LogicalElement"))
    await client.put_class(wmi_class("Vendor_SAN", prop("Lun", "uint32"), superclass="Vendor_LogicalDisk"))
    await client.put_class(wmi_class("Vendor_Volume", prop("Label", "string"), superclass="Vendor_LogicalDisk"))
    await client.put_class(wmi_class("Vendor_Device", prop("DeviceID", "string", key=True)))
    await client.put_class(wmi_class("Vendor_Disk", prop("Heads", "uint32"), superclass="Vendor_Device"))
    await client.put_class(wmi_class("Vendor_SSD", prop("Cells", "string"), superclass="Vendor_Disk"))
    await client.put_class(wmi_class("Vendor_Other", prop("Id", "uint32", key=True)))
    for i in range(2):
        await client.put_instance(instance("Vendor_LogicalDisk", DeviceID=f"ld{i}"))
    for i in range(3):
        await client.put_instance(instance("Vendor_SAN", DeviceID=f"san{i}", Lun=i))
    await client.put_instance(instance("Vendor_Volume", DeviceID="vol0"))
    await client.put_instance(instance("Vendor_Device", DeviceID="dev0"))
    await client.put_instance(instance("Vendor_Disk", DeviceID="disk0"))
    await client.put_instance(instance("Vendor_SSD", DeviceID="ssd0"))
    await client.put_instance(instance("Vendor_Other", Id=7))


# ---------------------------------------------------------------------------------------------
# DeleteClass


async def test_deleting_a_class_deletes_its_subclasses_and_all_their_instances(client):
    await put_tree(client)
    assert await client.delete_class("Vendor_Disk") == (2, 2)
    for name in ("Vendor_Disk", "Vendor_SSD"):
        await fails(client.get_object(name), "WBEM_E_NOT_FOUND")
    for path in ('Vendor_Device.DeviceID="disk0"', 'Vendor_Device.DeviceID="ssd0"'):
        await fails(client.get_object(path), "WBEM_E_NOT_FOUND")
    assert await instance_paths(client, "Vendor_Device") == {'Vendor_Device.DeviceID="dev0"'}
    assert set(await listed(client, "Vendor_Device")) == set()
    assert await instance_paths(client, "Vendor_LogicalDisk") == {
        'Vendor_LogicalDisk.DeviceID="ld0"', 'Vendor_LogicalDisk.DeviceID="ld1"', 'Vendor_SAN.DeviceID="san0"',
        'Vendor_SAN.DeviceID="san1"', 'Vendor_SAN.DeviceID="san2"', 'Vendor_Volume.DeviceID="vol0"'}
    assert await instance_paths(client, "Vendor_Other") == {"Vendor_Other.Id=7"}


async def test_deleting_a_class_in_the_middle_of_an_abstract_chain_takes_everything_below(client, redis, key_prefix):
    await put_tree(client)
    assert await client.delete_class("CIM_ManagedSystemElement") == (5, 6)
    remaining = set(await listed(client))
    assert remaining & MINE == {"CIM_ManagedElement", "Vendor_Device", "Vendor_Disk", "Vendor_SSD", "Vendor_Other"}
    assert await instance_paths(client, "CIM_ManagedElement") == set()
    assert set(await listed(client, "CIM_ManagedElement")) == set()
    for k in await instance_keys(redis, key_prefix):
        assert b"|cim_managedelement|" not in k, k
    assert len(await instance_paths(client, "Vendor_Device")) == 3


async def test_deleting_a_root_class_removes_the_whole_dynasty_and_its_instance_keys(client, redis, key_prefix):
    await put_tree(client)
    assert await client.delete_class("Vendor_Device") == (3, 3)
    for name in ("Vendor_Device", "Vendor_Disk", "Vendor_SSD"):
        await fails(client.get_object(name), "WBEM_E_NOT_FOUND")
    assert not [k for k in await instance_keys(redis, key_prefix) if b"|vendor_device|" in k]
    assert await instance_paths(client, "Vendor_Other") == {"Vendor_Other.Id=7"}
    assert len(await instance_paths(client, "CIM_ManagedElement")) == 6


async def test_a_class_deleted_and_created_again_has_none_of_the_old_instances(client):
    await put_tree(client)
    assert await client.delete_class("Vendor_SAN") == (1, 3)
    await client.put_class(wmi_class("Vendor_SAN", prop("Lun", "uint32"), superclass="Vendor_LogicalDisk"))
    assert await instance_paths(client, "Vendor_SAN") == set()
    await fails(client.get_object('Vendor_SAN.DeviceID="san0"'), "WBEM_E_NOT_FOUND")
    await client.put_instance(instance("Vendor_SAN", DeviceID="san0", Lun=9), WbemFlag.CREATE_ONLY)
    assert to_dict(await client.get_object('Vendor_SAN.DeviceID="san0"'))["Lun"] == 9


async def test_deleting_a_class_without_instances_or_subclasses_reports_one_class_and_no_instances(client):
    await client.put_class(wmi_class("Vendor_Lonely", prop("Id", "string", key=True)))
    assert await client.delete_class("vendor_lonely") == (1, 0)
    await fails(client.get_object("Vendor_Lonely"), "WBEM_E_NOT_FOUND")
    assert "Vendor_Lonely" not in await listed(client)


async def test_owner_update_is_accepted_by_delete_class(client):
    await client.put_class(wmi_class("Vendor_Pushed", prop("Id", "string", key=True)))
    assert await client.delete_class("Vendor_Pushed", WbemFlag.OWNER_UPDATE) == (1, 0)
    await fails(client.get_object("Vendor_Pushed"), "WBEM_E_NOT_FOUND")


@pytest.mark.parametrize("name", ["Vendor_Missing", "vendor_nothere"])
async def test_deleting_a_missing_class_fails_with_not_found_and_changes_nothing(client, redis, key_prefix, name):
    await put_tree(client)
    before = await snapshot(redis, key_prefix)
    await fails(client.delete_class(name), "WBEM_E_NOT_FOUND")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("name", ["__NAMESPACE", "__SystemClass", "__namespace", "__Win32Provider"])
async def test_deleting_a_system_class_fails_with_invalid_operation_and_changes_nothing(client, redis, key_prefix, name):
    await client.create_namespace("Vendor_Child")
    before = await snapshot(redis, key_prefix)
    await fails(client.delete_class(name), "WBEM_E_INVALID_OPERATION")
    assert await snapshot(redis, key_prefix) == before
    assert (await client.get_object("__NAMESPACE")).class_name == "__NAMESPACE"
    assert {o.system.relpath async for o in client.enum_instances("__NAMESPACE", namespace="root")} >= {
        '__NAMESPACE.Name="Vendor_Child"'}


@pytest.mark.parametrize("flags", [0x20000, 0x1, 0x2, 0x20, 0x40, 0x80, 0x40000, 0x80000000],
                         ids=lambda f: f"0x{f:X}")
async def test_delete_class_refuses_flags_it_does_not_accept_with_invalid_parameter(client, redis, key_prefix, flags):
    await put_tree(client)
    before = await snapshot(redis, key_prefix)
    await fails(client.delete_class("Vendor_Disk", flags), "WBEM_E_INVALID_PARAMETER")
    assert await snapshot(redis, key_prefix) == before
    assert (await client.get_object("Vendor_Disk")).class_name == "Vendor_Disk"


async def test_delete_class_in_a_namespace_that_does_not_exist_fails_with_invalid_namespace(client, redis, key_prefix):
    await put_tree(client)
    before = await snapshot(redis, key_prefix)
    await fails(client.delete_class("Vendor_Disk", namespace="root\\nowhere"), "WBEM_E_INVALID_NAMESPACE")
    assert await snapshot(redis, key_prefix) == before


async def test_delete_class_only_touches_its_own_namespace(client):
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)), namespace="root")
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)))
    await client.put_instance(instance("Vendor_Thing", Id="a"), namespace="root")
    await client.put_instance(instance("Vendor_Thing", Id="a"))
    assert await client.delete_class("Vendor_Thing", namespace="root") == (1, 1)
    await fails(client.get_object("Vendor_Thing", namespace="root"), "WBEM_E_NOT_FOUND")
    assert to_dict(await client.get_object('Vendor_Thing.Id="a"'))["Id"] == "a"


# ---------------------------------------------------------------------------------------------
# CreateClassEnum


async def test_a_deep_enumeration_from_the_root_lists_every_class_including_the_system_classes(client):
    await put_tree(client)
    names = await listed(client)
    assert len(names) == len(set(names))
    assert set(names) >= SYSTEM_CLASSES | MINE
    assert {n for n in names if not n.startswith("__")} == MINE


async def test_a_deep_enumeration_of_an_empty_namespace_lists_the_system_classes(client):
    names = set(await listed(client, namespace="root"))
    assert names >= SYSTEM_CLASSES
    assert all(n.startswith("__") for n in names)


async def test_a_shallow_enumeration_from_the_root_lists_only_root_classes(client):
    await put_tree(client)
    objs = [o async for o in client.enum_classes("", WbemFlag.SHALLOW)]
    names = {o.class_name for o in objs}
    assert {n for n in names if not n.startswith("__")} == {"CIM_ManagedElement", "Vendor_Device", "Vendor_Other"}
    assert "__SystemClass" in names and "__NAMESPACE" not in names
    assert all(to_dict(o)["__SUPERCLASS"] is None for o in objs)


async def test_shallow_and_deep_enumerations_from_a_class_list_its_immediate_and_all_subclasses(client):
    await put_tree(client)
    assert set(await listed(client, "CIM_ManagedElement", WbemFlag.SHALLOW)) == {"CIM_ManagedSystemElement"}
    assert set(await listed(client, "CIM_ManagedElement")) == {
        "CIM_ManagedSystemElement", "CIM_LogicalElement", "Vendor_LogicalDisk", "Vendor_SAN", "Vendor_Volume"}
    assert set(await listed(client, "Vendor_LogicalDisk", WbemFlag.SHALLOW)) == {"Vendor_SAN", "Vendor_Volume"}
    assert await listed(client, "Vendor_SSD") == []
    assert set(await listed(client, "__SystemClass", WbemFlag.SHALLOW)) >= {"__NAMESPACE", "__Provider"}
    assert set(await listed(client, "vendor_device")) == {"Vendor_Disk", "Vendor_SSD"}


async def test_a_deep_enumeration_lists_parents_before_their_subclasses(client):
    await put_tree(client)
    order = await listed(client, "CIM_ManagedElement")
    assert order.index("CIM_ManagedSystemElement") < order.index("CIM_LogicalElement") < order.index(
        "Vendor_LogicalDisk") < min(order.index("Vendor_SAN"), order.index("Vendor_Volume"))


async def test_enumerated_classes_are_complete_class_objects(client):
    await put_tree(client)
    by_name = {o.class_name: o async for o in client.enum_classes("Vendor_LogicalDisk")}
    san = by_name["Vendor_SAN"]
    d = to_dict(san)
    assert set(d) >= {"InstanceID", "Caption", "Name", "DeviceID", "Size", "Lun"}
    assert d["__DERIVATION"] == ["Vendor_LogicalDisk", "CIM_LogicalElement", "CIM_ManagedSystemElement",
                                 "CIM_ManagedElement"]
    assert d["__PATH"] == f"\\\\TESTHOST\\{NS}:Vendor_SAN" and d["__GENUS"] == 1
    assert {p.name: p.class_origin for p in san.properties}["DeviceID"] == "Vendor_LogicalDisk"
    assert san == await client.get_object("Vendor_SAN")


@pytest.mark.parametrize("superclass", ["Vendor_Missing", "Not A Class"])
async def test_enumerating_the_subclasses_of_an_unknown_class_fails_with_invalid_class(client, superclass):
    await put_tree(client)
    await fails(listed(client, superclass), "WBEM_E_INVALID_CLASS")
    await fails(listed(client, superclass, WbemFlag.SHALLOW), "WBEM_E_INVALID_CLASS")


async def test_an_enumeration_after_a_delete_no_longer_lists_the_deleted_classes(client):
    await put_tree(client)
    await client.delete_class("Vendor_LogicalDisk")
    assert set(await listed(client, "CIM_ManagedElement")) == {"CIM_ManagedSystemElement", "CIM_LogicalElement"}
    await fails(listed(client, "Vendor_SAN"), "WBEM_E_INVALID_CLASS")


@pytest.mark.parametrize("flags", [0x2, 0x40, 0x80, 0x200, 0x10000, 0x40000], ids=lambda f: f"0x{f:X}")
async def test_create_class_enum_refuses_flags_it_does_not_accept_with_invalid_parameter(client, flags):
    await fails(listed(client, "", flags), "WBEM_E_INVALID_PARAMETER")


async def test_create_class_enum_in_a_namespace_that_does_not_exist_fails_with_invalid_namespace(client):
    await fails(listed(client, namespace="root\\nowhere"), "WBEM_E_INVALID_NAMESPACE")
