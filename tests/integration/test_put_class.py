"""PutClass end to end: flags, names, inheritance, properties, qualifiers, keys, update modes.

Every test checks what the repository holds afterwards (GetObject, CreateClassEnum, instance
counts, or a snapshot of every Redis key under the test's prefix for "nothing changed").
Expected codes follow ../shared/reference/wmi-put-semantics.md (§2 flags, §3 HRESULTs, §6
object model, §9 class put) and the decisions recorded in host/model/classes.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from host.client import WbemError, WbemFlag, instance, prop, qualifier, to_dict, wmi_class
from host.model import values
from tests.helpers import redis_snapshot as snapshot
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import services_pb2 as api
from wmiput.v1 import services_pb2_grpc as api_grpc

T = pb.CimType
NS = "root\\cimv2"
SERVER = "TESTHOST"

TO_INSTANCE, TO_SUBCLASS, DISABLE_OVERRIDE, PROPAGATED, AMENDED = 0x1, 0x2, 0x10, 0x20, 0x80
PUT_CLASS_ACCEPTED = (0x1, 0x2, 0x10, 0x20, 0x40, 0x10000, 0x20000)
SYSTEM_CLASSES = {"__SystemClass", "__NAMESPACE", "__ExtendedStatus", "__Provider", "__Win32Provider"}


# ---------------------------------------------------------------------------------------------
# helpers




async def fails(coro: Any, name: str) -> WbemError:
    with pytest.raises(WbemError) as e:
        await coro
    assert e.value.name == name, f"expected {name}, got {e.value}"
    return e.value


async def missing(client: Any, name: str, *, namespace: str | None = None) -> None:
    await fails(client.get_object(name, namespace=namespace), "WBEM_E_NOT_FOUND")


async def class_names(client: Any, superclass: str = "", flags: int = 0, *, namespace: str | None = None) -> set[str]:
    return {o.class_name async for o in client.enum_classes(superclass, flags, namespace=namespace)}


async def instance_count(client: Any, class_name: str, flags: int = 0) -> int:
    return len([o async for o in client.enum_instances(class_name, flags)])


def props(obj: pb.WbemObject) -> dict[str, pb.Property]:
    return {p.name: p for p in obj.properties}


def quals(quals_: Any) -> dict[str, tuple[Any, int]]:
    return {q.name: (values.to_python(q.value), q.flavor) for q in quals_}


def q_value(obj_or_prop: Any, name: str) -> Any:
    return quals(obj_or_prop.qualifiers)[name][0]


def key_prop(name: str = "DeviceID") -> pb.Property:
    return prop(name, "string", key=True)


async def put_cim_core(client: Any) -> None:
    """CIM_ManagedElement > CIM_ManagedSystemElement > CIM_LogicalElement (CIM 2.49 Core shapes)."""
    await client.put_class(wmi_class(
        "CIM_ManagedElement",
        prop("InstanceID", "string"),
        prop("Caption", "string", qualifiers=[qualifier("MaxLen", 64, TO_SUBCLASS | DISABLE_OVERRIDE)]),
        prop("Description", "string"),
        prop("ElementName", "string"),
        prop("Generation", "uint64"),
        qualifiers=[qualifier("Abstract", True, 0), qualifier("Version", "2.45.0", TO_SUBCLASS),
                    qualifier("UMLPackagePath", "CIM::Core::CoreElements", TO_SUBCLASS),
                    qualifier("Description", "ManagedElement is an abstract class", TO_SUBCLASS | TO_INSTANCE)]))
    await client.put_class(wmi_class(
        "CIM_ManagedSystemElement",
        prop("InstallDate", "datetime"),
        prop("Name", "string", qualifiers=[qualifier("MaxLen", 1024, TO_SUBCLASS)]),
        prop("OperationalStatus", "uint16[]", qualifiers=[qualifier("ArrayType", "Indexed", TO_SUBCLASS)]),
        prop("StatusDescriptions", "string[]"),
        prop("Status", "string", qualifiers=[qualifier("MaxLen", 10, TO_SUBCLASS)]),
        prop("HealthState", "uint16", qualifiers=[qualifier("ValueMap", ["0", "5", "10"], TO_SUBCLASS),
                                                  qualifier("Values", ["Unknown", "OK", "Degraded"], TO_SUBCLASS)]),
        superclass="CIM_ManagedElement",
        qualifiers=[qualifier("Abstract", True, 0), qualifier("Version", "2.28.0", TO_SUBCLASS)]))
    await client.put_class(wmi_class(
        "CIM_LogicalElement", superclass="CIM_ManagedSystemElement",
        qualifiers=[qualifier("Abstract", True, 0), qualifier("Version", "2.6.0", TO_SUBCLASS)]))


async def put_device_tree(client: Any, *, instances: bool = True) -> None:
    """Vendor_Device (keyed, concrete) > Vendor_Disk > Vendor_SSD, plus an unrelated Vendor_Other."""
    await client.put_class(wmi_class(
        "Vendor_Device", key_prop(), prop("Size", "uint64", 0),
        qualifiers=[qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE)]))
    await client.put_class(wmi_class("Vendor_Disk", prop("Heads", "uint32", 4), superclass="Vendor_Device"))
    await client.put_class(wmi_class("Vendor_SSD", prop("Cells", "string", "TLC"), superclass="Vendor_Disk"))
    await client.put_class(wmi_class("Vendor_Other", prop("Id", "uint32", key=True)))
    if instances:
        for i in range(2):
            await client.put_instance(instance("Vendor_Device", DeviceID=f"dev{i}"))
        await client.put_instance(instance("Vendor_Disk", DeviceID="disk0"))
        await client.put_instance(instance("Vendor_SSD", DeviceID="ssd0"))
        await client.put_instance(instance("Vendor_Other", Id=1))


# ---------------------------------------------------------------------------------------------
# CREATE_ONLY / UPDATE_ONLY / CREATE_OR_UPDATE


async def test_a_create_only_put_of_a_new_class_creates_it(client):
    res = await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)), WbemFlag.CREATE_ONLY)
    assert res.path == f"\\\\{SERVER}\\{NS}:Vendor_Thing" and res.relpath == "Vendor_Thing"
    got = await client.get_object("Vendor_Thing")
    assert got.genus == pb.GENUS_CLASS and got.class_name == "Vendor_Thing" and list(props(got)) == ["Id"]
    assert "Vendor_Thing" in await class_names(client)


async def test_a_create_only_put_of_an_existing_class_fails_with_already_exists(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True), prop("New", "uint8")),
                                 WbemFlag.CREATE_ONLY), "WBEM_E_ALREADY_EXISTS")
    assert await snapshot(redis, key_prefix) == before
    assert list(props(await client.get_object("Vendor_Thing"))) == ["Id"]


async def test_a_create_only_put_that_differs_only_in_case_from_an_existing_class_fails(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("VENDOR_THING", prop("Id", "string", key=True)), WbemFlag.CREATE_ONLY),
                "WBEM_E_ALREADY_EXISTS")
    assert await snapshot(redis, key_prefix) == before


async def test_an_update_only_put_of_a_missing_class_fails_with_not_found_and_writes_nothing(client, redis, key_prefix):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Ghost", prop("Id", "string", key=True)), WbemFlag.UPDATE_ONLY),
                "WBEM_E_NOT_FOUND")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Ghost")


async def test_an_update_only_put_of_an_existing_class_replaces_its_definition(client):
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True), prop("Old", "string")))
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True), prop("New", "uint32", 7)),
                           WbemFlag.UPDATE_ONLY)
    got = await client.get_object("Vendor_Thing")
    assert set(props(got)) == {"Id", "New"} and to_dict(got)["New"] == 7


async def test_a_create_or_update_put_creates_an_absent_class_and_then_updates_it(client):
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)), WbemFlag.CREATE_OR_UPDATE)
    assert set(props(await client.get_object("Vendor_Thing"))) == {"Id"}
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True), prop("Label", "string", "x")),
                           WbemFlag.CREATE_OR_UPDATE)
    got = await client.get_object("Vendor_Thing")
    assert set(props(got)) == {"Id", "Label"} and to_dict(got)["Label"] == "x"
    assert [n for n in await class_names(client) if n.lower() == "vendor_thing"] == ["Vendor_Thing"]


# ---------------------------------------------------------------------------------------------
# flags


@pytest.mark.parametrize("bit", [1 << i for i in range(32) if (1 << i) not in PUT_CLASS_ACCEPTED],
                         ids=lambda b: f"0x{b:X}")
async def test_a_put_class_flag_bit_the_method_does_not_list_is_refused_with_invalid_parameter(
        client, redis, key_prefix, bit):
    before = await snapshot(redis, key_prefix)
    err = await fails(client.put_class(wmi_class("Vendor_Flagged", prop("Id", "string", key=True)), bit),
                      "WBEM_E_INVALID_PARAMETER")
    assert int(err.hresult) == 0x80041008
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Flagged")


@pytest.mark.parametrize("flags", [0x3, 0x60, 0x63, 0x3 | 0x20000, 0x60 | 0x2, 0x1 | 0x8, 0x2 | 0x40000],
                         ids=lambda f: f"0x{f:X}")
async def test_mutually_exclusive_or_partly_unknown_flag_combinations_are_refused_with_invalid_parameter(
        client, redis, key_prefix, flags):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Flagged", prop("Id", "string", key=True)), flags),
                "WBEM_E_INVALID_PARAMETER")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("flags", [0x0, 0x2, 0x20, 0x40, 0x10000, 0x20000, 0x2 | 0x20 | 0x10000 | 0x20000,
                                   0x40 | 0x10000], ids=lambda f: f"0x{f:X}")
async def test_every_accepted_flag_combination_creates_a_class(client, flags):
    name = f"Vendor_Flag_{flags:X}"
    await client.put_class(wmi_class(name, prop("Id", "string", key=True)), flags)
    got = await client.get_object(name)
    assert got.class_name == name and list(props(got)) == ["Id"]


@pytest.mark.parametrize("flags", [0x1, 0x1 | 0x20, 0x1 | 0x40, 0x1 | 0x10000, 0x1 | 0x20000, 0x0, 0x20, 0x40],
                         ids=lambda f: f"0x{f:X}")
async def test_every_accepted_update_flag_combination_updates_an_existing_class(client, flags):
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)))
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True), prop("Added", "sint32", -1)),
                           flags)
    got = await client.get_object("Vendor_Thing")
    assert set(props(got)) == {"Id", "Added"} and to_dict(got)["Added"] == -1


async def test_owner_update_is_accepted_for_a_class_update(client):
    await client.put_class(wmi_class("Vendor_Pushed", prop("Id", "string", key=True)))
    await client.put_class(wmi_class("Vendor_Pushed", prop("Id", "string", key=True), prop("Extra", "boolean", True)),
                           WbemFlag.OWNER_UPDATE | WbemFlag.UPDATE_ONLY)
    assert to_dict(await client.get_object("Vendor_Pushed"))["Extra"] is True


async def test_a_failed_put_class_carries_the_hresult_in_trailing_metadata(client, host):
    await client.put_class(wmi_class("Vendor_Thing", prop("Id", "string", key=True)))
    stub = api_grpc.WbemServiceStub(client.channel)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.PutClass(api.PutClassRequest(namespace=NS, object=wmi_class("Vendor_Thing"), flags=0x2))
    md = dict(e.value.trailing_metadata() or ())
    assert md["wbem-hresult"].lower() == "0x80041019"
    assert md["wbem-hresult-name"] == "WBEM_E_ALREADY_EXISTS"
    assert list(props(await client.get_object("Vendor_Thing"))) == ["Id"]


# ---------------------------------------------------------------------------------------------
# class names


@pytest.mark.parametrize("name,code", [
    ("_Vendor_Thing", "WBEM_E_INVALID_OPERATION"),
    ("__Vendor_Thing", "WBEM_E_INVALID_OPERATION"),
    ("Vendor_Thing_", "WBEM_E_INVALID_OBJECT"),
    ("a b", "WBEM_E_INVALID_PARAMETER"),
    ("1abc", "WBEM_E_INVALID_PARAMETER"),
    ("a:b", "WBEM_E_INVALID_PARAMETER"),
    ("a*b", "WBEM_E_INVALID_PARAMETER"),
    ('a"b', "WBEM_E_INVALID_PARAMETER"),
    ("a\\b", "WBEM_E_INVALID_PARAMETER"),
    ("a{b}", "WBEM_E_INVALID_PARAMETER"),
    ("key:*", "WBEM_E_INVALID_PARAMETER"),
    ("a.b", "WBEM_E_INVALID_PARAMETER"),
    ("a=b", "WBEM_E_INVALID_PARAMETER"),
    ("a-b", "WBEM_E_INVALID_PARAMETER"),
    (" Vendor", "WBEM_E_INVALID_PARAMETER"),
    ("Vendor\n", "WBEM_E_INVALID_PARAMETER"),
    ("", "WBEM_E_INCOMPLETE_CLASS"),
    ("A" * 4097, "WBEM_E_QUOTA_VIOLATION"),
], ids=lambda v: repr(v)[:24] if isinstance(v, str) else v)
async def test_a_class_name_breaking_the_rules_is_refused_and_nothing_is_written(client, redis, key_prefix, name, code):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class(name, prop("Id", "string", key=True))), code)
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("name", ["Vendor_Ünïcødé", "Класс_Диск", "ベンダー_ディスク", "Ωmega9", "A" * 4096,
                                  "x"])
async def test_unicode_letters_and_names_up_to_4096_characters_are_accepted(client, name):
    res = await client.put_class(wmi_class(name, prop("Id", "string", key=True)))
    assert res.relpath == name
    got = await client.get_object(name)
    assert got.class_name == name and to_dict(got)["__RELPATH"] == name
    assert name in await class_names(client)


async def test_an_instance_given_to_put_class_is_refused_with_invalid_class(client, redis, key_prefix):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(instance("Vendor_Thing", Id="x")), "WBEM_E_INVALID_CLASS")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Thing")


async def test_an_object_without_genus_given_to_put_class_is_refused_with_incomplete_class(client, redis, key_prefix):
    obj = wmi_class("Vendor_Thing", prop("Id", "string", key=True))
    obj.genus = pb.GENUS_UNSPECIFIED
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(obj), "WBEM_E_INCOMPLETE_CLASS")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Thing")


# ---------------------------------------------------------------------------------------------
# superclass


async def test_a_missing_superclass_fails_with_not_found(client, redis, key_prefix):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Child", superclass="Vendor_NoSuchParent")), "WBEM_E_NOT_FOUND")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Child")


async def test_a_class_that_names_itself_as_superclass_fails_with_circular_reference(client, redis, key_prefix):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Loop", superclass="Vendor_Loop")), "WBEM_E_CIRCULAR_REFERENCE")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Loop")


async def test_an_existing_class_naming_itself_as_superclass_fails_with_circular_reference(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Loop", prop("Id", "string", key=True)))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Loop", superclass="vendor_loop"), WbemFlag.UPDATE_FORCE_MODE),
                "WBEM_E_CIRCULAR_REFERENCE")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("flags", [0x0, 0x20, 0x40])
async def test_updating_a_class_to_derive_from_its_own_descendant_fails_with_circular_reference(
        client, redis, key_prefix, flags):
    await client.put_class(wmi_class("Vendor_A", prop("Id", "string", key=True)))
    await client.put_class(wmi_class("Vendor_B", superclass="Vendor_A"))
    await client.put_class(wmi_class("Vendor_C", superclass="Vendor_B"))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_A", prop("Id", "string", key=True), superclass="Vendor_C"), flags),
                "WBEM_E_CIRCULAR_REFERENCE")
    assert await snapshot(redis, key_prefix) == before
    assert to_dict(await client.get_object("Vendor_C"))["__DERIVATION"] == ["Vendor_B", "Vendor_A"]
    assert to_dict(await client.get_object("Vendor_A"))["__SUPERCLASS"] is None


@pytest.mark.parametrize("superclass", ["Bad Parent", "1Parent", "a:b", "Parent*", "a\\b"])
async def test_a_superclass_name_that_is_not_a_class_name_fails_with_invalid_superclass(
        client, redis, key_prefix, superclass):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Child", superclass=superclass)), "WBEM_E_INVALID_SUPERCLASS")
    assert await snapshot(redis, key_prefix) == before


async def test_a_subclass_of_a_terminal_class_fails_with_invalid_superclass(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Final", prop("Id", "string", key=True),
                                     qualifiers=[qualifier("Terminal", True, 0)]))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Child", superclass="Vendor_Final")), "WBEM_E_INVALID_SUPERCLASS")
    assert await snapshot(redis, key_prefix) == before
    assert await class_names(client, "Vendor_Final") == set()


async def test_a_class_may_derive_from_a_superclass_named_in_another_case(client):
    await client.put_class(wmi_class("Vendor_Base", prop("Id", "string", key=True)))
    await client.put_class(wmi_class("Vendor_Sub", superclass="VENDOR_BASE"))
    obj = await client.get_object("Vendor_Sub")
    got = to_dict(obj)
    assert got["__DYNASTY"] == "Vendor_Base" and got["__DERIVATION"] == ["Vendor_Base"]
    # __SUPERCLASS names the parent class as it is spelled, like __DERIVATION does.
    assert got["__SUPERCLASS"] == "Vendor_Base" and obj.superclass == "Vendor_Base"
    assert await class_names(client, "Vendor_Base") == {"Vendor_Sub"}


# ---------------------------------------------------------------------------------------------
# properties


@pytest.mark.parametrize("second", ["Name", "NAME", "name"])
async def test_a_property_defined_twice_fails_with_invalid_object(client, redis, key_prefix, second):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", prop("Name", "string"), prop(second, "uint32"))),
                "WBEM_E_INVALID_OBJECT")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Thing")


@pytest.mark.parametrize("name", ["__PATH", "__Custom", "__CLASS"])
async def test_a_property_named_like_a_system_property_fails_with_read_only(client, redis, key_prefix, name):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", key_prop(), prop(name, "string"))), "WBEM_E_READ_ONLY")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("name", ["a b", "1st", "x-y", "a.b", "a:b", "", "Size_", "_Size", "q\"t"])
async def test_a_property_name_that_is_not_an_identifier_fails_with_invalid_parameter(client, redis, key_prefix, name):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", key_prop(), prop(name, "string"))),
                "WBEM_E_INVALID_PARAMETER")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("cim_type", [T.CIM_TYPE_UNSPECIFIED, 999, 1, 6, 7, 14, 100, 104])
async def test_a_property_of_an_invalid_cim_type_fails_with_invalid_property_type(client, redis, key_prefix, cim_type):
    before = await snapshot(redis, key_prefix)
    bad = pb.Property(name="Weird", type=cim_type)
    await fails(client.put_class(wmi_class("Vendor_Thing", key_prop(), bad)), "WBEM_E_INVALID_PROPERTY_TYPE")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("type_,default", [
    ("uint32", "ten"), ("boolean", 1), ("string", 5), ("sint32", True), ("uint32", [1, 2]), ("uint32[]", 5),
    ("string[]", "a"), ("datetime", "yesterday"), ("datetime", "20240101"), ("real64", "1.5"),
    ("object", "not an object"), ("char16", "A"), ("string[]", [1, 2]), ("reference", 3),
], ids=str)
async def test_a_default_value_of_the_wrong_kind_fails_with_type_mismatch(client, redis, key_prefix, type_, default):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", key_prop(), prop("P", type_, default))),
                "WBEM_E_TYPE_MISMATCH")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("type_,default", [
    ("uint8", 256), ("sint8", -129), ("sint8", 128), ("uint16", 65536), ("sint16", -32769), ("uint32", 2**32),
    ("sint32", 2**31), ("sint64", 2**63), ("uint32", -1), ("uint64", -1), ("char16", 65536),
    ("real32", 1e39), ("uint16[]", [1, 70000]),
], ids=str)
async def test_a_default_value_out_of_the_types_range_fails_with_value_out_of_range(
        client, redis, key_prefix, type_, default):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", key_prop(), prop("P", type_, default))),
                "WBEM_E_VALUE_OUT_OF_RANGE")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("type_", ["uint32", "string[]", "sint64", "datetime"])
async def test_redefining_an_inherited_property_with_another_type_fails_with_type_mismatch(
        client, redis, key_prefix, type_):
    await put_cim_core(client)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Element", prop("Name", type_), superclass="CIM_LogicalElement")),
                "WBEM_E_TYPE_MISMATCH")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Element")


async def test_a_class_with_more_than_1024_properties_fails_with_too_many_properties(client, redis, key_prefix):
    before = await snapshot(redis, key_prefix)
    many = [prop(f"P{i}", "uint8") for i in range(1025)]
    await fails(client.put_class(wmi_class("Vendor_Wide", *many)), "WBEM_E_TOO_MANY_PROPERTIES")
    assert await snapshot(redis, key_prefix) == before
    await client.put_class(wmi_class("Vendor_Wide", *many[:1024]))
    assert to_dict(await client.get_object("Vendor_Wide"))["__PROPERTY_COUNT"] == 1024


async def test_inherited_properties_count_towards_the_1024_property_limit(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_WideBase", *[prop(f"P{i}", "uint8") for i in range(1000)]))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_WideSub", *[prop(f"Q{i}", "uint8") for i in range(25)],
                                           superclass="Vendor_WideBase")), "WBEM_E_TOO_MANY_PROPERTIES")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_WideSub")


EMBEDDED = instance("Vendor_Embedded", Label="inner", Count=3)
EMBEDDED_2 = instance("Vendor_Embedded", Label="second")
ALL_TYPES: list[tuple[str, str, Any]] = [
    ("S8", "sint8", -128), ("U8", "uint8", 255), ("S16", "sint16", -32768), ("U16", "uint16", 65535),
    ("S32", "sint32", -(2**31)), ("U32", "uint32", 2**32 - 1), ("S64", "sint64", -(2**63)),
    ("U64", "uint64", 2**64 - 1), ("R32", "real32", 1.5), ("R64", "real64", -2.125e300),
    ("Bool", "boolean", False), ("Str", "string", "héllo wörld ✓"), ("C16", "char16", ord("Ж")),
    ("When", "datetime", "20240229235959.123456+060"), ("Span", "datetime", "00000001020304.000005:000"),
    ("Ref", "reference", 'Vendor_Target.Id="a"'), ("Obj", "object", EMBEDDED),
    ("S8A", "sint8[]", [-1, 0, 127]), ("U8A", "uint8[]", [0, 255]), ("S16A", "sint16[]", [-5]),
    ("U16A", "uint16[]", [1, 2, 3]), ("S32A", "sint32[]", [2**31 - 1]), ("U32A", "uint32[]", [4000000000]),
    ("S64A", "sint64[]", [2**63 - 1, -1]), ("U64A", "uint64[]", [2**64 - 1, 0]), ("R32A", "real32[]", [0.5, -2.25]),
    ("R64A", "real64[]", [1e-300, 3.0]), ("BoolA", "boolean[]", [True, False]), ("StrA", "string[]", ["a", ""]),
    ("C16A", "char16[]", [65, 0x263A]), ("WhenA", "datetime[]", ["20000101000000.000000+000"]),
    ("RefA", "reference[]", ['Vendor_Target.Id="a"', 'Vendor_Target.Id="b"']),
    ("ObjA", "object[]", [EMBEDDED, EMBEDDED_2]), ("Empty", "uint32[]", []), ("Nothing", "string", None),
    ("NothingA", "real64[]", None),
]


async def test_every_cim_type_and_its_array_round_trips_with_its_default_through_get_object(client):
    defs = []
    for name, type_, default in ALL_TYPES:
        rc = {"reference": "Vendor_Target", "object": "Vendor_Embedded"}.get(type_.rstrip("[]"), "")
        defs.append(prop(name, type_, default, reference_class=rc))
    await client.put_class(wmi_class("Vendor_AllTypes", prop("Id", "string", key=True), *defs))
    got = await client.get_object("Vendor_AllTypes")
    by_name = props(got)
    assert list(by_name) == ["Id"] + [n for n, _, _ in ALL_TYPES]
    d = to_dict(got)
    for name, type_, default in ALL_TYPES:
        p = by_name[name]
        want_type, want_array = (pb.CimType.Value(f"CIM_TYPE_{type_.rstrip('[]').upper()}"), type_.endswith("[]"))
        assert (p.type, p.is_array) == (want_type, want_array), name
        assert p.class_origin == "Vendor_AllTypes", name
        assert d[name] == default, name
        if type_.startswith("reference"):
            assert p.reference_class == "Vendor_Target"
        if type_.startswith("object"):
            assert p.reference_class == "Vendor_Embedded"
    assert by_name["Empty"].HasField("value") and by_name["Empty"].value.WhichOneof("kind") == "array"
    assert not by_name["Nothing"].HasField("value") or by_name["Nothing"].value.WhichOneof("kind") is None
    assert by_name["U64"].value.WhichOneof("kind") == "uint" and by_name["S8"].value.WhichOneof("kind") == "sint"
    assert by_name["C16"].value.WhichOneof("kind") == "uint" and by_name["R32"].value.WhichOneof("kind") == "real"
    assert d["__PROPERTY_COUNT"] == len(ALL_TYPES) + 1


async def test_every_cim_type_is_inherited_with_its_type_default_and_class_origin(client):
    await client.put_class(wmi_class("Vendor_AllTypes", prop("Id", "string", key=True),
                                     *[prop(n, t, v) for n, t, v in ALL_TYPES]))
    await client.put_class(wmi_class("Vendor_AllTypesSub", prop("Extra", "uint8", 1), superclass="Vendor_AllTypes"))
    got = await client.get_object("Vendor_AllTypesSub")
    by_name, d = props(got), to_dict(got)
    for name, type_, default in ALL_TYPES:
        assert by_name[name].class_origin == "Vendor_AllTypes", name
        assert by_name[name].is_array == type_.endswith("[]"), name
        assert d[name] == default, name
    assert by_name["Extra"].class_origin == "Vendor_AllTypesSub"


async def test_integer_defaults_given_in_the_other_signedness_are_stored_in_the_types_own_member(client):
    u = pb.Property(name="U", type=T.CIM_TYPE_UINT32, value=pb.Value(sint=5))
    s = pb.Property(name="S", type=T.CIM_TYPE_SINT16, value=pb.Value(uint=7))
    r = pb.Property(name="R", type=T.CIM_TYPE_REAL64, value=pb.Value(sint=2))
    await client.put_class(wmi_class("Vendor_Coerced", key_prop(), u, s, r))
    got = props(await client.get_object("Vendor_Coerced"))
    assert got["U"].value == pb.Value(uint=5)
    assert got["S"].value == pb.Value(sint=7)
    assert got["R"].value == pb.Value(real=2.0)


async def test_a_subclass_may_override_an_inherited_default_with_the_same_type(client):
    await put_cim_core(client)
    await client.put_class(wmi_class("Vendor_Element", key_prop("Tag"), prop("Status", "string", "OK"),
                                     superclass="CIM_LogicalElement"))
    got = await client.get_object("Vendor_Element")
    p = props(got)["Status"]
    assert to_dict(got)["Status"] == "OK" and p.class_origin == "CIM_ManagedSystemElement"
    assert quals(p.qualifiers)["MaxLen"] == (10, TO_SUBCLASS | PROPAGATED)
    assert to_dict(await client.get_object("CIM_ManagedSystemElement"))["Status"] is None


# ---------------------------------------------------------------------------------------------
# qualifiers


@pytest.mark.parametrize("value", [pb.Value(uint=2**31), pb.Value(uint=2**64 - 1), pb.Value(sint=-(2**31) - 1),
                                   pb.Value(object=instance("Vendor_Embedded", Label="x")),
                                   values.from_python([1, "mixed"]), values.from_python([2**40])],
                         ids=["uint_2_31", "uint_max", "sint_below_int32", "object", "mixed_array", "big_array"])
@pytest.mark.parametrize("where", ["class", "property"])
async def test_a_qualifier_value_of_a_type_wmi_does_not_allow_fails_with_invalid_qualifier_type(
        client, redis, key_prefix, value, where):
    q = pb.Qualifier(name="Vendor_Extra", value=value, flavor=TO_SUBCLASS)
    obj = wmi_class("Vendor_Thing", key_prop(), prop("P", "uint32", qualifiers=[q] if where == "property" else None),
                    qualifiers=[q] if where == "class" else None)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(obj), "WBEM_E_INVALID_QUALIFIER_TYPE")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Thing")


async def test_qualifiers_of_every_allowed_type_are_stored_as_given(client):
    qs = [qualifier("QInt", -7, TO_SUBCLASS), qualifier("QMaxInt", 2**31 - 1, TO_SUBCLASS),
          qualifier("QReal", 2.5, TO_SUBCLASS), qualifier("QStr", "text", TO_SUBCLASS),
          qualifier("QBool", False, TO_SUBCLASS), qualifier("QIntA", [1, 2], TO_SUBCLASS),
          qualifier("QStrA", ["a", "b"], TO_SUBCLASS), qualifier("QRealA", [0.5], TO_SUBCLASS),
          qualifier("QBoolA", [True], TO_SUBCLASS)]
    await client.put_class(wmi_class("Vendor_Qualified", key_prop(), qualifiers=qs))
    got = quals((await client.get_object("Vendor_Qualified")).qualifiers)
    assert got == {"QInt": (-7, 2), "QMaxInt": (2**31 - 1, 2), "QReal": (2.5, 2), "QStr": ("text", 2),
                   "QBool": (False, 2), "QIntA": ([1, 2], 2), "QStrA": (["a", "b"], 2), "QRealA": ([0.5], 2),
                   "QBoolA": ([True], 2)}


@pytest.mark.parametrize("flavor", [0x4, 0x8, 0x100, 0x200, 0x80000000, 0x4 | TO_SUBCLASS])
@pytest.mark.parametrize("where", ["class", "property"])
async def test_a_qualifier_with_unknown_flavor_bits_fails_with_invalid_flavor(client, redis, key_prefix, flavor, where):
    q = qualifier("Vendor_Extra", "x", flavor)
    obj = wmi_class("Vendor_Thing", key_prop(), prop("P", "uint32", qualifiers=[q] if where == "property" else None),
                    qualifiers=[q] if where == "class" else None)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(obj), "WBEM_E_INVALID_FLAVOR")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("where", ["class", "property"])
async def test_a_qualifier_given_twice_fails_with_invalid_object(client, redis, key_prefix, where):
    qs = [qualifier("Description", "one"), qualifier("DESCRIPTION", "two")]
    obj = wmi_class("Vendor_Thing", key_prop(), prop("P", "uint32", qualifiers=qs if where == "property" else None),
                    qualifiers=qs if where == "class" else None)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(obj), "WBEM_E_INVALID_OBJECT")
    assert await snapshot(redis, key_prefix) == before


async def test_a_to_subclass_class_qualifier_propagates_with_the_origin_bit_and_a_restricted_one_does_not(client):
    await client.put_class(wmi_class("Vendor_Base", key_prop(), qualifiers=[
        qualifier("UMLPackagePath", "Vendor::Core", TO_SUBCLASS), qualifier("Vendor_Private", "mine", 0),
        qualifier("Vendor_Both", 3, TO_SUBCLASS | TO_INSTANCE)]))
    await client.put_class(wmi_class("Vendor_Sub", superclass="Vendor_Base"))
    await client.put_class(wmi_class("Vendor_SubSub", superclass="Vendor_Sub"))
    base = quals((await client.get_object("Vendor_Base")).qualifiers)
    assert base["UMLPackagePath"] == ("Vendor::Core", TO_SUBCLASS) and base["Vendor_Private"] == ("mine", 0)
    for name in ("Vendor_Sub", "Vendor_SubSub"):
        sub = quals((await client.get_object(name)).qualifiers)
        assert sub["UMLPackagePath"] == ("Vendor::Core", TO_SUBCLASS | PROPAGATED), name
        assert sub["Vendor_Both"] == (3, TO_SUBCLASS | TO_INSTANCE | PROPAGATED), name
        assert "Vendor_Private" not in sub, name


async def test_a_to_subclass_property_qualifier_propagates_to_the_inherited_property(client):
    await put_cim_core(client)
    sub = props(await client.get_object("CIM_LogicalElement"))
    assert quals(sub["Caption"].qualifiers)["MaxLen"] == (64, TO_SUBCLASS | DISABLE_OVERRIDE | PROPAGATED)
    assert quals(sub["HealthState"].qualifiers)["Values"] == (["Unknown", "OK", "Degraded"], TO_SUBCLASS | PROPAGATED)
    own = props(await client.get_object("CIM_ManagedElement"))
    assert quals(own["Caption"].qualifiers)["MaxLen"] == (64, TO_SUBCLASS | DISABLE_OVERRIDE)


async def test_a_local_qualifier_overrides_an_overridable_inherited_one(client):
    await put_cim_core(client)
    got = quals((await client.get_object("CIM_LogicalElement")).qualifiers)
    assert got["Version"] == ("2.6.0", TO_SUBCLASS)
    assert got["UMLPackagePath"] == ("CIM::Core::CoreElements", TO_SUBCLASS | PROPAGATED)
    assert "Abstract" in got and got["Abstract"][1] & PROPAGATED == 0


async def test_overriding_a_disable_override_class_qualifier_with_another_value_fails(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Base", key_prop(), qualifiers=[
        qualifier("Vendor_Locked", "v1", TO_SUBCLASS | DISABLE_OVERRIDE)]))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Sub", superclass="Vendor_Base", qualifiers=[
        qualifier("Vendor_Locked", "v2", TO_SUBCLASS | DISABLE_OVERRIDE)])), "WBEM_E_OVERRIDE_NOT_ALLOWED")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Sub")


async def test_overriding_a_disable_override_property_qualifier_with_another_value_fails(client, redis, key_prefix):
    await put_cim_core(client)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class(
        "Vendor_Element", prop("Caption", "string", qualifiers=[qualifier("MaxLen", 128, TO_SUBCLASS)]),
        superclass="CIM_LogicalElement")), "WBEM_E_OVERRIDE_NOT_ALLOWED")
    assert await snapshot(redis, key_prefix) == before


async def test_repeating_a_disable_override_qualifier_with_the_same_value_is_allowed(client):
    await put_cim_core(client)
    await client.put_class(wmi_class("Vendor_Base", key_prop(), qualifiers=[
        qualifier("Vendor_Locked", "v1", TO_SUBCLASS | DISABLE_OVERRIDE)]))
    await client.put_class(wmi_class("Vendor_Sub", superclass="Vendor_Base", qualifiers=[
        qualifier("Vendor_Locked", "v1", TO_SUBCLASS | DISABLE_OVERRIDE)]))
    await client.put_class(wmi_class(
        "Vendor_Element", prop("Caption", "string", qualifiers=[qualifier("MaxLen", 64, TO_SUBCLASS)]),
        superclass="CIM_LogicalElement"))
    assert q_value(await client.get_object("Vendor_Sub"), "Vendor_Locked") == "v1"
    assert quals(props(await client.get_object("Vendor_Element"))["Caption"].qualifiers)["MaxLen"][0] == 64


# ---------------------------------------------------------------------------------------------
# keys


@pytest.mark.parametrize("type_", ["real32", "real64", "object", "uint32[]", "string[]", "reference[]"])
async def test_a_key_on_a_property_type_that_cannot_be_a_key_fails_with_cannot_be_key(client, redis, key_prefix, type_):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", prop("K", type_, key=True))), "WBEM_E_CANNOT_BE_KEY")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Thing")


@pytest.mark.parametrize("type_", ["string", "uint8", "sint64", "uint64", "boolean", "char16", "datetime", "reference"])
async def test_a_key_on_a_scalar_non_real_property_is_accepted(client, type_):
    await client.put_class(wmi_class("Vendor_Thing", prop("K", type_, key=True)))
    p = props(await client.get_object("Vendor_Thing"))["K"]
    assert q_value(p, "Key") is True


async def test_a_subclass_adding_a_key_under_a_keyed_parent_fails_with_cannot_change_key_inheritance(
        client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Base", key_prop()))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Sub", prop("Serial", "string", key=True), superclass="Vendor_Base")),
                "WBEM_E_CANNOT_CHANGE_KEY_INHERITANCE")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Sub")


async def test_keys_are_inherited_and_show_the_key_qualifier_on_the_subclass(client):
    await client.put_class(wmi_class("Vendor_Base", key_prop(), prop("Size", "uint64")))
    await client.put_class(wmi_class("Vendor_Sub", prop("Heads", "uint32"), superclass="Vendor_Base"))
    await client.put_class(wmi_class("Vendor_SubSub", superclass="Vendor_Sub"))
    for name in ("Vendor_Sub", "Vendor_SubSub"):
        p = props(await client.get_object(name))
        assert p["DeviceID"].class_origin == "Vendor_Base"
        assert q_value(p["DeviceID"], "Key") is True
        assert quals(p["DeviceID"].qualifiers)["Key"][1] & PROPAGATED
        assert "Key" not in quals(p["Size"].qualifiers)
    res = await client.put_instance(instance("Vendor_SubSub", DeviceID="d1"))
    assert res.relpath == 'Vendor_SubSub.DeviceID="d1"'
    assert await instance_count(client, "Vendor_Base") == 1


async def test_keys_may_be_added_under_a_keyless_abstract_parent(client):
    await put_cim_core(client)
    await client.put_class(wmi_class("Vendor_LogicalDisk", key_prop(), prop("Size", "uint64"),
                                     superclass="CIM_LogicalElement"))
    got = await client.get_object("Vendor_LogicalDisk")
    assert q_value(props(got)["DeviceID"], "Key") is True
    assert props(got)["InstanceID"].class_origin == "CIM_ManagedElement"


# ---------------------------------------------------------------------------------------------
# Abstract and Singleton


async def test_an_abstract_class_under_a_concrete_parent_fails_with_cannot_be_abstract(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Concrete", key_prop()))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_AbstractSub", superclass="Vendor_Concrete",
                                           qualifiers=[qualifier("Abstract", True, 0)])), "WBEM_E_CANNOT_BE_ABSTRACT")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_AbstractSub")


async def test_an_abstract_root_and_abstract_classes_under_abstract_parents_are_accepted(client):
    await put_cim_core(client)
    for name in ("CIM_ManagedElement", "CIM_ManagedSystemElement", "CIM_LogicalElement"):
        assert q_value(await client.get_object(name), "Abstract") is True
    await fails(client.put_instance(instance("CIM_LogicalElement", InstanceID="x")), "WBEM_E_INVALID_OPERATION")
    assert await instance_count(client, "CIM_ManagedElement") == 0


async def test_a_concrete_class_under_an_abstract_parent_does_not_inherit_abstract(client):
    await put_cim_core(client)
    await client.put_class(wmi_class("Vendor_LogicalDisk", key_prop(), superclass="CIM_LogicalElement"))
    assert "Abstract" not in quals((await client.get_object("Vendor_LogicalDisk")).qualifiers)
    await client.put_instance(instance("Vendor_LogicalDisk", DeviceID="C:"))
    assert await instance_count(client, "CIM_ManagedElement") == 1


async def test_a_singleton_with_a_key_fails_with_cannot_be_singleton(client, redis, key_prefix):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Config", key_prop("Name"),
                                           qualifiers=[qualifier("Singleton", True, TO_SUBCLASS)])),
                "WBEM_E_CANNOT_BE_SINGLETON")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Config")


async def test_a_singleton_under_a_keyed_parent_fails_with_cannot_be_singleton(client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Base", key_prop()))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Config", prop("Level", "uint32"), superclass="Vendor_Base",
                                           qualifiers=[qualifier("Singleton", True, TO_SUBCLASS)])),
                "WBEM_E_CANNOT_BE_SINGLETON")
    assert await snapshot(redis, key_prefix) == before
    await missing(client, "Vendor_Config")


async def test_a_singleton_under_a_concrete_non_singleton_parent_fails_with_cannot_be_singleton(
        client, redis, key_prefix):
    await client.put_class(wmi_class("Vendor_Settings", prop("Level", "uint32")))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Config", superclass="Vendor_Settings",
                                           qualifiers=[qualifier("Singleton", True, TO_SUBCLASS)])),
                "WBEM_E_CANNOT_BE_SINGLETON")
    assert await snapshot(redis, key_prefix) == before


async def test_a_singleton_under_a_keyless_abstract_parent_or_a_singleton_parent_is_accepted(client):
    await put_cim_core(client)
    await client.put_class(wmi_class("Vendor_Config", prop("Level", "uint32"), superclass="CIM_LogicalElement",
                                     qualifiers=[qualifier("Singleton", True, TO_SUBCLASS)]))
    await client.put_class(wmi_class("Vendor_SubConfig", prop("Extra", "string"), superclass="Vendor_Config"))
    assert quals((await client.get_object("Vendor_SubConfig")).qualifiers)["Singleton"] == (
        True, TO_SUBCLASS | PROPAGATED)
    res = await client.put_instance(instance("Vendor_SubConfig", Level=2))
    assert res.relpath == "Vendor_SubConfig=@"


async def test_a_keyless_singleton_root_is_accepted_and_holds_one_instance(client):
    await client.put_class(wmi_class("Vendor_Config", prop("Level", "uint32", 1),
                                     qualifiers=[qualifier("Singleton", True, TO_SUBCLASS)]))
    assert q_value(await client.get_object("Vendor_Config"), "Singleton") is True
    res = await client.put_instance(instance("Vendor_Config", Level=3))
    assert res.relpath == "Vendor_Config=@"
    assert to_dict(await client.get_object("Vendor_Config=@"))["Level"] == 3


# ---------------------------------------------------------------------------------------------
# system properties


async def test_the_server_computes_the_system_properties_of_a_class(client):
    await put_cim_core(client)
    res = await client.put_class(wmi_class("Vendor_LogicalDisk", key_prop(), prop("Size", "uint64"),
                                           superclass="CIM_LogicalElement"))
    assert res.path == f"\\\\{SERVER}\\{NS}:Vendor_LogicalDisk"
    d = to_dict(await client.get_object("Vendor_LogicalDisk"))
    assert d["__CLASS"] == "Vendor_LogicalDisk"
    assert d["__SUPERCLASS"] == "CIM_LogicalElement"
    assert d["__DYNASTY"] == "CIM_ManagedElement"
    assert d["__DERIVATION"] == ["CIM_LogicalElement", "CIM_ManagedSystemElement", "CIM_ManagedElement"]
    assert d["__GENUS"] == 1
    assert d["__PATH"] == f"\\\\{SERVER}\\root\\cimv2:Vendor_LogicalDisk"
    assert d["__RELPATH"] == "Vendor_LogicalDisk"
    assert d["__NAMESPACE"] == "root\\cimv2"
    assert d["__SERVER"] == SERVER
    assert d["__PROPERTY_COUNT"] == 5 + 6 + 2
    root = to_dict(await client.get_object("CIM_ManagedElement"))
    assert root["__SUPERCLASS"] is None and root["__DYNASTY"] == "CIM_ManagedElement"
    assert root["__DERIVATION"] == [] and root["__PROPERTY_COUNT"] == 5


async def test_system_properties_a_client_sends_are_ignored(client):
    await client.put_class(wmi_class("Vendor_Base", key_prop()))
    obj = wmi_class("Vendor_Sub", prop("Extra", "string"), superclass="Vendor_Base")
    obj.system.CopyFrom(pb.SystemProperties(
        class_name="Evil", superclass="Other", dynasty="Evil", derivation=["X", "Y"], genus=pb.GENUS_INSTANCE,
        path="\\\\EVIL\\root:Evil", relpath="Evil", namespace="root\\evil", server="EVIL", property_count=99))
    res = await client.put_class(obj)
    assert res.relpath == "Vendor_Sub"
    d = to_dict(await client.get_object("Vendor_Sub"))
    assert (d["__CLASS"], d["__SUPERCLASS"], d["__DYNASTY"], d["__DERIVATION"]) == (
        "Vendor_Sub", "Vendor_Base", "Vendor_Base", ["Vendor_Base"])
    assert (d["__GENUS"], d["__PATH"], d["__SERVER"], d["__PROPERTY_COUNT"]) == (
        1, f"\\\\{SERVER}\\{NS}:Vendor_Sub", SERVER, 2)
    await missing(client, "Evil")


# ---------------------------------------------------------------------------------------------
# update modes (reference §9.2)


async def test_an_important_compatible_update_of_a_class_with_subclasses_fails_with_class_has_children(
        client, redis, key_prefix):
    await put_device_tree(client, instances=False)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0),
                                           prop("Vendor", "string"))), "WBEM_E_CLASS_HAS_CHILDREN")
    await fails(client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 99))),
                "WBEM_E_CLASS_HAS_CHILDREN")
    await fails(client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0), qualifiers=[
        qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE), qualifier("Version", "2", TO_SUBCLASS)])),
        "WBEM_E_CLASS_HAS_CHILDREN")
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("flags", [0x0, 0x20, 0x40])
async def test_changing_only_the_description_is_allowed_with_subclasses_and_instances(client, redis, flags):
    await put_device_tree(client)
    await client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0), qualifiers=[
        qualifier("Description", "A storage or network device", TO_SUBCLASS | TO_INSTANCE)]), flags)
    assert q_value(await client.get_object("Vendor_Device"), "Description") == "A storage or network device"
    assert quals((await client.get_object("Vendor_SSD")).qualifiers)["Description"] == (
        "A storage or network device", TO_SUBCLASS | TO_INSTANCE | PROPAGATED)
    assert await instance_count(client, "Vendor_Device") == 4
    assert await instance_count(client, "Vendor_Other") == 1


async def test_changing_only_a_property_description_is_allowed_with_subclasses_and_instances(client):
    await put_device_tree(client)
    await client.put_class(wmi_class(
        "Vendor_Device", key_prop(), prop("Size", "uint64", 0, qualifiers=[qualifier("Description", "Bytes")]),
        qualifiers=[qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE)]))
    assert q_value(props(await client.get_object("Vendor_Disk"))["Size"], "Description") == "Bytes"
    assert await instance_count(client, "Vendor_Device") == 4


async def test_a_safe_mode_update_that_does_not_conflict_with_subclasses_is_allowed(client):
    await put_device_tree(client, instances=False)
    await client.put_class(wmi_class(
        "Vendor_Device", key_prop(), prop("Size", "uint64", 0), prop("Vendor", "string", "Contoso"),
        qualifiers=[qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE),
                    qualifier("Version", "2", TO_SUBCLASS)]), WbemFlag.UPDATE_SAFE_MODE)
    for name in ("Vendor_Device", "Vendor_Disk", "Vendor_SSD"):
        got = await client.get_object(name)
        assert props(got)["Vendor"].class_origin == "Vendor_Device", name
        assert to_dict(got)["Vendor"] == "Contoso", name
        assert q_value(got, "Version") == "2", name
    assert set(props(await client.get_object("Vendor_SSD"))) == {"DeviceID", "Size", "Vendor", "Heads", "Cells"}


def _parent_with_uml(flags_: int = TO_SUBCLASS) -> pb.WbemObject:
    return wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0), qualifiers=[
        qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE),
        qualifier("UMLPackagePath", "Vendor::Core", flags_)])


async def _conflicting_child(client: Any) -> None:
    """Vendor_Device > Vendor_Disk (defines UMLPackagePath itself) > Vendor_SSD, no instances."""
    await client.put_class(wmi_class(
        "Vendor_Device", key_prop(), prop("Size", "uint64", 0),
        qualifiers=[qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE)]))
    await client.put_class(wmi_class("Vendor_Disk", prop("Heads", "uint32", 4), superclass="Vendor_Device",
                                     qualifiers=[qualifier("UMLPackagePath", "Vendor::Storage", TO_SUBCLASS),
                                                 qualifier("Vendor_Kept", "yes", 0)]))
    await client.put_class(wmi_class("Vendor_SSD", prop("Cells", "string", "TLC"), superclass="Vendor_Disk"))


async def test_a_safe_mode_update_that_conflicts_with_a_subclass_fails_with_class_has_children(
        client, redis, key_prefix):
    await _conflicting_child(client)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(_parent_with_uml(), WbemFlag.UPDATE_SAFE_MODE), "WBEM_E_CLASS_HAS_CHILDREN")
    await fails(client.put_class(_parent_with_uml(), 0), "WBEM_E_CLASS_HAS_CHILDREN")
    assert await snapshot(redis, key_prefix) == before
    assert "UMLPackagePath" not in quals((await client.get_object("Vendor_Device")).qualifiers)
    assert quals((await client.get_object("Vendor_Disk")).qualifiers)["UMLPackagePath"] == (
        "Vendor::Storage", TO_SUBCLASS)


async def test_a_force_mode_update_that_conflicts_deletes_the_subclass_qualifier(client):
    await _conflicting_child(client)
    await client.put_class(_parent_with_uml(), WbemFlag.UPDATE_FORCE_MODE)
    assert quals((await client.get_object("Vendor_Device")).qualifiers)["UMLPackagePath"] == (
        "Vendor::Core", TO_SUBCLASS)
    disk = quals((await client.get_object("Vendor_Disk")).qualifiers)
    assert disk["UMLPackagePath"] == ("Vendor::Core", TO_SUBCLASS | PROPAGATED)
    assert disk["Vendor_Kept"] == ("yes", 0)
    assert quals((await client.get_object("Vendor_SSD")).qualifiers)["UMLPackagePath"] == (
        "Vendor::Core", TO_SUBCLASS | PROPAGATED)
    assert set(props(await client.get_object("Vendor_Disk"))) == {"DeviceID", "Size", "Heads"}


async def test_a_parent_qualifier_that_does_not_propagate_does_not_conflict_in_safe_mode(client):
    await _conflicting_child(client)
    await client.put_class(_parent_with_uml(0), WbemFlag.UPDATE_SAFE_MODE)
    assert quals((await client.get_object("Vendor_Device")).qualifiers)["UMLPackagePath"] == ("Vendor::Core", 0)
    assert quals((await client.get_object("Vendor_Disk")).qualifiers)["UMLPackagePath"] == (
        "Vendor::Storage", TO_SUBCLASS)


@pytest.mark.parametrize("flags", [0x0, 0x20])
async def test_a_structural_change_of_a_class_with_instances_fails_with_class_has_instances(
        client, redis, key_prefix, flags):
    await client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0)))
    await client.put_instance(instance("Vendor_Device", DeviceID="d0"))
    before = await snapshot(redis, key_prefix)
    for changed in (wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0), prop("Vendor", "string")),
                    wmi_class("Vendor_Device", key_prop()),
                    wmi_class("Vendor_Device", key_prop(), prop("Size", "uint32", 0))):
        await fails(client.put_class(changed, flags), "WBEM_E_CLASS_HAS_INSTANCES")
    assert await snapshot(redis, key_prefix) == before
    assert set(props(await client.get_object("Vendor_Device"))) == {"DeviceID", "Size"}
    assert to_dict(await client.get_object('Vendor_Device.DeviceID="d0"'))["Size"] == 0


async def test_a_safe_mode_structural_change_fails_when_only_a_subclass_has_instances(client, redis, key_prefix):
    await put_device_tree(client, instances=False)
    await client.put_instance(instance("Vendor_SSD", DeviceID="ssd0"))
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0),
                                           prop("Vendor", "string")), WbemFlag.UPDATE_SAFE_MODE),
                "WBEM_E_CLASS_HAS_INSTANCES")
    assert await snapshot(redis, key_prefix) == before


async def test_a_force_mode_structural_change_of_a_static_class_deletes_its_and_its_subclasses_instances(client):
    await put_device_tree(client)
    assert await instance_count(client, "Vendor_Device") == 4
    await client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0),
                                     prop("Vendor", "string", "Contoso"),
                                     qualifiers=[qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE)]),
                           WbemFlag.UPDATE_FORCE_MODE)
    assert await instance_count(client, "Vendor_Device") == 0
    for path in ('Vendor_Device.DeviceID="dev0"', 'Vendor_Device.DeviceID="disk0"', 'Vendor_SSD.DeviceID="ssd0"'):
        await fails(client.get_object(path), "WBEM_E_NOT_FOUND")
    assert await instance_count(client, "Vendor_Other") == 1
    assert to_dict(await client.get_object("Vendor_SSD"))["Vendor"] == "Contoso"
    await client.put_instance(instance("Vendor_SSD", DeviceID="ssd1"))
    assert to_dict(await client.get_object('Vendor_SSD.DeviceID="ssd1"'))["Vendor"] == "Contoso"


async def test_a_force_mode_structural_change_of_a_subclass_deletes_only_that_branchs_instances(client):
    await put_device_tree(client)
    await client.put_class(wmi_class("Vendor_Disk", prop("Heads", "uint32", 4), prop("Platters", "uint8", 2),
                                     superclass="Vendor_Device"), WbemFlag.UPDATE_FORCE_MODE)
    assert await instance_count(client, "Vendor_Device", WbemFlag.SHALLOW) == 2
    assert await instance_count(client, "Vendor_Disk") == 0
    assert to_dict(await client.get_object("Vendor_SSD"))["Platters"] == 2


@pytest.mark.parametrize("flags", [0x0, 0x20])
async def test_moving_a_class_with_instances_to_another_parent_fails_with_class_has_instances(
        client, redis, key_prefix, flags):
    await put_device_tree(client)
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_SSD", prop("Cells", "string", "TLC"), superclass="Vendor_Device"),
                                 flags), "WBEM_E_CLASS_HAS_INSTANCES")
    assert await snapshot(redis, key_prefix) == before


async def test_a_force_mode_move_to_another_dynasty_deletes_the_instances_and_changes_the_dynasty(
        client, redis, key_prefix):
    await put_device_tree(client)
    await client.put_class(wmi_class("Vendor_Disk", prop("Heads", "uint32", 4), superclass="Vendor_Other"),
                           WbemFlag.UPDATE_FORCE_MODE)
    for name in ("Vendor_Disk", "Vendor_SSD"):
        d = to_dict(await client.get_object(name))
        assert d["__DYNASTY"] == "Vendor_Other" and "Id" in d and "DeviceID" not in d, name
    assert await instance_count(client, "Vendor_Device") == 2
    assert await instance_count(client, "Vendor_Other") == 1
    assert await class_names(client, "Vendor_Device") == set()
    assert await class_names(client, "Vendor_Other") == {"Vendor_Disk", "Vendor_SSD"}
    leftovers = [k async for k in redis.scan_iter(match=f"{key_prefix}:{{i|*|vendor_device|*:cls:vendor_*")]
    assert all(not k.endswith((b":cls:vendor_disk", b":cls:vendor_ssd")) for k in leftovers), leftovers
    await client.put_instance(instance("Vendor_SSD", Id=5))
    assert await instance_count(client, "Vendor_Other") == 2
    assert to_dict(await client.get_object("Vendor_Other.Id=5"))["Cells"] == "TLC"


async def test_a_force_mode_structural_change_of_a_dynamic_class_is_allowed(client):
    dynamic = [qualifier("Dynamic", True, TO_INSTANCE), qualifier("Provider", "X", 0)]
    await client.put_class(wmi_class("Vendor_DynDisk", key_prop(), prop("Size", "uint64"), qualifiers=dynamic))
    await client.put_class(wmi_class("Vendor_DynDisk", key_prop(), prop("Size", "uint64"), prop("Model", "string"),
                                     qualifiers=dynamic), WbemFlag.UPDATE_FORCE_MODE)
    got = await client.get_object("Vendor_DynDisk")
    assert set(props(got)) == {"DeviceID", "Size", "Model"}
    assert q_value(got, "Dynamic") is True and q_value(got, "Provider") == "X"
    assert await instance_count(client, "Vendor_DynDisk") == 0


@pytest.mark.parametrize("flags", [0x0, 0x1, 0x20, 0x40])
async def test_putting_an_identical_class_again_is_a_no_op_even_with_subclasses_and_instances(
        client, redis, key_prefix, flags):
    await put_device_tree(client)
    before = await snapshot(redis, key_prefix)
    await client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0),
                                     qualifiers=[qualifier("Description", "A device", TO_SUBCLASS | TO_INSTANCE)]),
                           flags)
    assert await snapshot(redis, key_prefix) == before
    assert await instance_count(client, "Vendor_Device") == 4


async def test_a_non_structural_change_of_a_class_with_instances_keeps_the_instances(client):
    await client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 0)))
    await client.put_instance(instance("Vendor_Device", DeviceID="d0", Size=5))
    await client.put_class(wmi_class("Vendor_Device", key_prop(), prop("Size", "uint64", 512),
                                     qualifiers=[qualifier("Version", "2", TO_SUBCLASS)]))
    got = await client.get_object("Vendor_Device")
    assert to_dict(got)["Size"] == 512 and q_value(got, "Version") == "2"
    assert to_dict(await client.get_object('Vendor_Device.DeviceID="d0"'))["Size"] == 5
    assert await instance_count(client, "Vendor_Device") == 1


async def test_a_class_without_subclasses_or_instances_may_change_anything_in_compatible_mode(client):
    await client.put_class(wmi_class("Vendor_Thing", key_prop(), prop("A", "string"),
                                     qualifiers=[qualifier("Version", "1", TO_SUBCLASS)]))
    await client.put_class(wmi_class("Vendor_Thing", prop("Other", "uint32", key=True), prop("A", "uint8", 1),
                                     qualifiers=[qualifier("Version", "2", TO_SUBCLASS)]))
    got = await client.get_object("Vendor_Thing")
    assert set(props(got)) == {"Other", "A"} and props(got)["A"].type == T.CIM_TYPE_UINT8
    assert q_value(got, "Version") == "2"


# ---------------------------------------------------------------------------------------------
# USE_AMENDED_QUALIFIERS


def _localized(text: str, prop_text: str, *extra: pb.Qualifier) -> pb.WbemObject:
    id_desc = qualifier("Description", prop_text, AMENDED | TO_SUBCLASS)
    return wmi_class("Vendor_Localized", prop("Id", "string", key=True, qualifiers=[id_desc]),
                     qualifiers=[qualifier("Description", text, AMENDED | TO_SUBCLASS), *extra])


@pytest.mark.parametrize("flags", [0x0, 0x20000])
async def test_class_creation_keeps_amended_qualifiers_with_or_without_the_flag(client, flags):
    await client.put_class(_localized("Original text", "The id"), flags)
    # Kept in the stored class, so a GetObject with or without the flag shows them (reference §6.6).
    for get_flags in (WbemFlag.USE_AMENDED_QUALIFIERS, 0):
        got = await client.get_object("Vendor_Localized", get_flags)
        assert quals(got.qualifiers)["Description"] == ("Original text", AMENDED | TO_SUBCLASS)
        assert quals(props(got)["Id"].qualifiers)["Description"] == ("The id", AMENDED | TO_SUBCLASS)


async def test_an_update_without_the_amended_flag_writes_amended_qualifiers_as_sent(client):
    await client.put_class(_localized("Original text", "The id"))
    await client.put_class(_localized("Changed text", "Changed id"))
    got = await client.get_object("Vendor_Localized", WbemFlag.USE_AMENDED_QUALIFIERS)
    assert q_value(got, "Description") == "Changed text"
    assert q_value(props(got)["Id"], "Description") == "Changed id"


async def test_an_update_with_the_amended_flag_ignores_sent_amended_qualifiers_and_keeps_the_stored_ones(client):
    await client.put_class(_localized("Original text", "The id"))
    await client.put_class(_localized("Changed text", "Changed id", qualifier("Version", "2", TO_SUBCLASS)),
                           WbemFlag.USE_AMENDED_QUALIFIERS)
    got = await client.get_object("Vendor_Localized", WbemFlag.USE_AMENDED_QUALIFIERS)
    assert quals(got.qualifiers)["Description"] == ("Original text", AMENDED | TO_SUBCLASS)
    assert q_value(props(got)["Id"], "Description") == "The id"
    assert q_value(got, "Version") == "2"


async def test_an_update_with_the_amended_flag_that_leaves_out_amended_qualifiers_keeps_the_stored_ones(client):
    await client.put_class(_localized("Original text", "The id"))
    await client.put_class(wmi_class("Vendor_Localized", prop("Id", "string", key=True), prop("Extra", "uint8")),
                           WbemFlag.USE_AMENDED_QUALIFIERS)
    got = await client.get_object("Vendor_Localized", WbemFlag.USE_AMENDED_QUALIFIERS)
    assert q_value(got, "Description") == "Original text"
    assert q_value(props(got)["Id"], "Description") == "The id"
    assert "Extra" in props(got)


# ---------------------------------------------------------------------------------------------
# round trip


async def _round_trip_tree(client: Any) -> None:
    await put_cim_core(client)
    await client.put_class(wmi_class(
        "Vendor_LogicalDisk", key_prop(), prop("Size", "uint64", qualifiers=[qualifier("Units", "Bytes", TO_SUBCLASS)]),
        prop("Status", "string", "OK"), prop("Flags", "string[]", ["a"]),
        superclass="CIM_LogicalElement", qualifiers=[qualifier("Vendor_Private", 1, 0)]))
    await client.put_class(wmi_class("Vendor_SAN", prop("Lun", "uint32"), superclass="Vendor_LogicalDisk"))
    await client.put_instance(instance("Vendor_LogicalDisk", DeviceID="C:", Size=10))
    await client.put_instance(instance("Vendor_SAN", DeviceID="L0"))


@pytest.mark.parametrize("flags", [0x0, 0x1, 0x20000])
async def test_putting_back_a_class_read_with_get_object_is_accepted_and_reads_back_the_same(client, flags):
    await _round_trip_tree(client)
    for name in ("Vendor_LogicalDisk", "CIM_LogicalElement", "CIM_ManagedElement", "Vendor_SAN"):
        got = await client.get_object(name)
        res = await client.put_class(got, flags)
        assert res.relpath == name
        assert await client.get_object(name) == got, name
    assert await instance_count(client, "CIM_ManagedElement") == 2
    assert to_dict(await client.get_object('Vendor_SAN.DeviceID="L0"'))["Status"] == "OK"


@pytest.mark.parametrize("flags", [0x0, 0x1, 0x20000])
async def test_putting_back_a_class_read_with_get_object_changes_nothing_in_the_repository(
        client, redis, key_prefix, flags):
    await _round_trip_tree(client)
    for name in ("Vendor_LogicalDisk", "CIM_LogicalElement", "CIM_ManagedElement", "Vendor_SAN"):
        before = await snapshot(redis, key_prefix)
        got = await client.get_object(name)
        res = await client.put_class(got, flags)
        assert res.relpath == name
        assert await snapshot(redis, key_prefix) == before, name
        assert await client.get_object(name) == got, name
    assert await instance_count(client, "CIM_ManagedElement") == 2


# ---------------------------------------------------------------------------------------------
# namespaces and names


async def test_a_class_put_into_a_namespace_that_does_not_exist_fails_with_invalid_namespace(client, redis, key_prefix):
    before = await snapshot(redis, key_prefix)
    await fails(client.put_class(wmi_class("Vendor_Thing", key_prop()), namespace="root\\nowhere"),
                "WBEM_E_INVALID_NAMESPACE")
    assert await snapshot(redis, key_prefix) == before
    await fails(client.get_object("Vendor_Thing", namespace="root\\nowhere"), "WBEM_E_INVALID_NAMESPACE")
    await missing(client, "Vendor_Thing", namespace="root")
    await missing(client, "Vendor_Thing")


async def test_namespaces_are_isolated(client):
    await client.put_class(wmi_class("Vendor_Thing", key_prop("A")), namespace="root")
    await client.put_class(wmi_class("Vendor_Thing", key_prop("B"), prop("Extra", "uint8", 1)), namespace="root\\cimv2")
    root = await client.get_object("Vendor_Thing", namespace="root")
    cimv2 = await client.get_object("Vendor_Thing", namespace="root\\cimv2")
    assert set(props(root)) == {"A"} and set(props(cimv2)) == {"B", "Extra"}
    assert to_dict(root)["__NAMESPACE"] == "root" and to_dict(cimv2)["__NAMESPACE"] == "root\\cimv2"
    await client.put_class(wmi_class("Vendor_RootOnly", key_prop()), namespace="root")
    await missing(client, "Vendor_RootOnly", namespace="root\\cimv2")
    assert await client.delete_class("Vendor_Thing", namespace="root") == (1, 0)
    await missing(client, "Vendor_Thing", namespace="root")
    assert set(props(await client.get_object("Vendor_Thing"))) == {"B", "Extra"}


async def test_class_names_are_case_insensitive_and_keep_their_spelling(client):
    await client.put_class(wmi_class("Vendor_Base", key_prop()))
    got = await client.get_object("vendor_base")
    assert got.class_name == "Vendor_Base" and to_dict(got)["__RELPATH"] == "Vendor_Base"
    assert (await client.get_object("VENDOR_BASE")).class_name == "Vendor_Base"
    await client.put_class(wmi_class("Vendor_Sub", superclass="vendor_BASE"))
    assert to_dict(await client.get_object("vendor_sub"))["__DERIVATION"] == ["Vendor_Base"]
    assert {n.lower() for n in await class_names(client)} >= {"vendor_base", "vendor_sub"}
    assert len([n for n in await class_names(client) if n.lower() == "vendor_base"]) == 1


async def test_a_property_name_is_case_insensitive_against_the_inherited_one(client):
    await put_cim_core(client)
    await client.put_class(wmi_class("Vendor_Element", key_prop("Tag"), prop("STATUS", "string", "OK"),
                                     superclass="CIM_LogicalElement"))
    got = await client.get_object("Vendor_Element")
    names = [p.name for p in got.properties]
    assert "Status" in names and "STATUS" not in names
    assert to_dict(got)["Status"] == "OK"


# ---------------------------------------------------------------------------------------------
# concurrency


async def test_of_twenty_concurrent_create_only_puts_of_one_class_exactly_one_succeeds(client):
    async def put(i: int) -> str:
        try:
            await client.put_class(wmi_class("Vendor_Racy", key_prop(), prop("Winner", "uint32", i)),
                                   WbemFlag.CREATE_ONLY)
            return "ok"
        except WbemError as e:
            return e.name

    outcomes = await asyncio.gather(*(put(i) for i in range(20)))
    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("WBEM_E_ALREADY_EXISTS") == 19, outcomes
    winner = outcomes.index("ok")
    assert to_dict(await client.get_object("Vendor_Racy"))["Winner"] == winner
    assert [n for n in await class_names(client) if n.lower() == "vendor_racy"] == ["Vendor_Racy"]


async def test_concurrent_subclass_creation_under_one_parent_all_succeed(client):
    await client.put_class(wmi_class("Vendor_Base", key_prop()))
    await asyncio.gather(*(client.put_class(wmi_class(f"Vendor_Sub{i}", superclass="Vendor_Base")) for i in range(20)))
    assert await class_names(client, "Vendor_Base", WbemFlag.SHALLOW) == {f"Vendor_Sub{i}" for i in range(20)}
