r"""PutInstance end to end: flags, validation, identity, NULLs, types, paths and atomicity.

Every test checks what the repository holds afterwards: through GetObject / enumeration, or,
for a refused put, through a snapshot of every Redis key under the host's prefix that must be
byte-for-byte what it was before the call (reference §1: a failed put writes nothing).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import grpc
import pytest

from host.client import WbemError, WbemFlag, instance, prop, qualifier, to_dict, wmi_class
from tests.helpers import redis_snapshot as snapshot
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import services_pb2 as api
from wmiput.v1 import services_pb2_grpc as api_grpc

NS = "root\\cimv2"
SERVER = "TESTHOST"
GUID = re.compile(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}\Z")


# ------------------------------------------------------------------------------------------
# helpers




def full(relpath: str, ns: str = NS) -> str:
    return f"\\\\{SERVER}\\{ns}:{relpath}"


def quote(s: str) -> str:
    """A string key value as WMI writes it in a path."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Repo:
    """The client plus the Redis view of the same repository."""

    def __init__(self, client: Any, redis: Any, prefix: str) -> None:
        self.client = client
        self.redis = redis
        self.prefix = prefix

    async def define(self, *classes: pb.WbemObject, namespace: str | None = None) -> None:
        for c in classes:
            await self.client.put_class(c, namespace=namespace)

    async def snapshot(self) -> dict[bytes, tuple[str, Any]]:
        return await snapshot(self.redis, self.prefix)

    async def put_fails(self, obj: pb.WbemObject, flags: int = 0, *, code: str, context: Any = None,
                        namespace: str | None = None) -> WbemError:
        """The put fails with `code` and leaves every Redis key under the prefix untouched."""
        before = await self.snapshot()
        with pytest.raises(WbemError) as e:
            await self.client.put_instance(obj, flags, context=context, namespace=namespace)
        assert e.value.name == code, str(e.value)
        assert await self.snapshot() == before, f"a failed put ({code}) changed Redis"
        return e.value

    async def get(self, path: str, namespace: str | None = None) -> dict[str, Any]:
        return to_dict(await self.client.get_object(path, namespace=namespace))

    async def get_fails(self, path: str, code: str, namespace: str | None = None) -> None:
        with pytest.raises(WbemError) as e:
            await self.client.get_object(path, namespace=namespace)
        assert e.value.name == code, str(e.value)

    async def enum(self, class_name: str, flags: int = 0, namespace: str | None = None) -> list[dict[str, Any]]:
        return [to_dict(o) async for o in self.client.enum_instances(class_name, flags, namespace=namespace)]


@pytest.fixture
def repo(client: Any, redis: Any, key_prefix: str) -> Repo:
    return Repo(client, redis, key_prefix)


def thing() -> pb.WbemObject:
    return wmi_class("V_Thing", prop("Id", "string", key=True), prop("A", "uint32", 7), prop("B", "string", "dflt"),
                     prop("C", "boolean"))


def hierarchy() -> list[pb.WbemObject]:
    return [
        wmi_class("V_Base", prop("Id", "string", key=True), prop("N", "uint32", 5)),
        wmi_class("V_SubA", prop("Extra", "string"), superclass="V_Base"),
        wmi_class("V_SubB", prop("Other", "string"), superclass="V_Base"),
    ]


# ------------------------------------------------------------------------------------------
# create / update modes


async def test_a_create_only_put_of_a_new_instance_stores_it(repo):
    await repo.define(thing())
    res = await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="b"), WbemFlag.CREATE_ONLY)
    assert res.relpath == 'V_Thing.Id="x"'
    assert res.path == full('V_Thing.Id="x"')
    got = await repo.get('V_Thing.Id="x"')
    assert (got["Id"], got["A"], got["B"], got["C"]) == ("x", 1, "b", None)


async def test_a_create_only_put_of_an_existing_instance_fails_with_already_exists(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="b"))
    await repo.put_fails(instance("V_Thing", Id="x", A=2, B="changed"), WbemFlag.CREATE_ONLY,
                         code="WBEM_E_ALREADY_EXISTS")
    got = await repo.get('V_Thing.Id="x"')
    assert (got["A"], got["B"]) == (1, "b")


async def test_an_update_only_put_of_a_missing_instance_fails_with_not_found_and_creates_nothing(repo):
    await repo.define(thing())
    await repo.put_fails(instance("V_Thing", Id="nope", A=1), WbemFlag.UPDATE_ONLY, code="WBEM_E_NOT_FOUND")
    await repo.get_fails('V_Thing.Id="nope"', "WBEM_E_NOT_FOUND")
    assert await repo.enum("V_Thing") == []


async def test_an_update_only_put_of_an_existing_instance_overwrites_it(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="b", C=True))
    res = await repo.client.put_instance(instance("V_Thing", Id="x", A=2, B="c", C=False), WbemFlag.UPDATE_ONLY)
    assert res.relpath == 'V_Thing.Id="x"'
    got = await repo.get('V_Thing.Id="x"')
    assert (got["A"], got["B"], got["C"]) == (2, "c", False)
    assert len(await repo.enum("V_Thing")) == 1


async def test_a_create_or_update_put_creates_a_missing_instance_and_then_overwrites_it(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1), WbemFlag.CREATE_OR_UPDATE)
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 1
    await repo.client.put_instance(instance("V_Thing", Id="x", A=9), WbemFlag.CREATE_OR_UPDATE)
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 9
    assert [i["Id"] for i in await repo.enum("V_Thing")] == ["x"]


@pytest.mark.parametrize("flags", [WbemFlag.CREATE_OR_UPDATE, WbemFlag.UPDATE_ONLY])
async def test_a_full_instance_update_gives_properties_left_out_the_class_default_not_the_old_value(repo, flags):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="mine", C=True))
    await repo.client.put_instance(instance("V_Thing", Id="x"), flags)
    got = await repo.get('V_Thing.Id="x"')
    assert (got["A"], got["B"], got["C"]) == (7, "dflt", None)


async def test_a_property_left_out_takes_the_default_the_subclass_overrides(repo):
    await repo.define(*hierarchy(), wmi_class("V_Over", prop("N", "uint32", 9), superclass="V_Base"))
    await repo.client.put_instance(instance("V_Over", Id="o"))
    await repo.client.put_instance(instance("V_SubA", Id="a"))
    assert (await repo.get('V_Base.Id="o"'))["N"] == 9
    assert (await repo.get('V_Base.Id="a"'))["N"] == 5


# ------------------------------------------------------------------------------------------
# flags


@pytest.mark.parametrize("flags", [0x1, 0x20000, 0x1 | 0x20000])
async def test_an_accepted_update_flag_updates_the_instance(repo, flags):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1))
    await repo.client.put_instance(instance("V_Thing", Id="x", A=flags & 0xFFFF), flags)
    assert (await repo.get('V_Thing.Id="x"'))["A"] == flags & 0xFFFF


@pytest.mark.parametrize("flags", [0x2, 0x20000, 0x2 | 0x20000])
async def test_an_accepted_create_flag_creates_the_instance(repo, flags):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=3), flags)
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 3


@pytest.mark.parametrize("bit", [0x4, 0x8, 0x20, 0x40, 0x80, 0x200, 0x10000, 0x40000, 0x100000, 0x80000000])
async def test_a_flag_bit_put_instance_does_not_accept_fails_with_invalid_parameter_and_writes_nothing(repo, bit):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1))
    await repo.put_fails(instance("V_Thing", Id="y", A=2), bit, code="WBEM_E_INVALID_PARAMETER")
    await repo.put_fails(instance("V_Thing", Id="x", A=2), bit | WbemFlag.UPDATE_ONLY,
                         code="WBEM_E_INVALID_PARAMETER")
    assert [(i["Id"], i["A"]) for i in await repo.enum("V_Thing")] == [("x", 1)]


async def test_update_only_together_with_create_only_fails_with_invalid_parameter(repo):
    await repo.define(thing())
    await repo.put_fails(instance("V_Thing", Id="x"), 0x3, code="WBEM_E_INVALID_PARAMETER")
    assert await repo.enum("V_Thing") == []


async def test_a_failure_travels_as_wbem_hresult_trailing_metadata(repo, host):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x"))
    stub = api_grpc.WbemServiceStub(repo.client.channel)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.PutInstance(api.PutInstanceRequest(namespace=NS, object=instance("V_Thing", Id="x"), flags=2))
    md = dict(e.value.trailing_metadata() or ())
    assert md.get("wbem-hresult") == "0x80041019"
    assert md.get("wbem-hresult-name") == "WBEM_E_ALREADY_EXISTS"
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert len(await repo.enum("V_Thing")) == 1


# ------------------------------------------------------------------------------------------
# the object and its class


async def test_a_class_given_to_put_instance_fails_with_invalid_object(repo):
    await repo.define(thing())
    await repo.put_fails(wmi_class("V_Thing", prop("Id", "string", key=True)), code="WBEM_E_INVALID_OBJECT")
    assert await repo.enum("V_Thing") == []
    assert (await repo.get("V_Thing"))["__GENUS"] == 1  # the class itself is untouched


async def test_an_object_whose_genus_is_unset_fails_with_invalid_object(repo):
    await repo.define(thing())
    obj = instance("V_Thing", Id="x")
    obj.genus = pb.GENUS_UNSPECIFIED
    await repo.put_fails(obj, code="WBEM_E_INVALID_OBJECT")
    assert await repo.enum("V_Thing") == []


async def test_an_instance_of_an_unknown_class_fails_with_invalid_class(repo):
    await repo.put_fails(instance("V_Nowhere", Id="x"), code="WBEM_E_INVALID_CLASS")
    await repo.get_fails("V_Nowhere", "WBEM_E_NOT_FOUND")


async def test_an_instance_of_an_abstract_class_fails_with_invalid_operation(repo):
    await repo.define(wmi_class("V_Abs", prop("Id", "string", key=True), qualifiers={"Abstract": True}))
    await repo.put_fails(instance("V_Abs", Id="x"), code="WBEM_E_INVALID_OPERATION")
    assert await repo.enum("V_Abs") == []


async def test_an_instance_of_a_concrete_subclass_of_an_abstract_class_is_stored(repo):
    await repo.define(wmi_class("V_Abs", prop("Id", "string", key=True), qualifiers={"Abstract": True}),
                      wmi_class("V_Concrete", superclass="V_Abs"))
    res = await repo.client.put_instance(instance("V_Concrete", Id="x"))
    assert res.relpath == 'V_Concrete.Id="x"'
    assert [i["__CLASS"] for i in await repo.enum("V_Abs")] == ["V_Concrete"]


async def test_an_instance_of_a_class_with_the_amendment_qualifier_fails_with_invalid_operation(repo):
    await repo.define(wmi_class("V_Amend", prop("Id", "string", key=True), qualifiers={"Amendment": True}))
    await repo.put_fails(instance("V_Amend", Id="x"), code="WBEM_E_INVALID_OPERATION")
    assert await repo.enum("V_Amend") == []


async def test_an_instance_of_a_keyless_non_singleton_concrete_class_fails_with_no_key(repo):
    await repo.define(wmi_class("V_Keyless", prop("A", "uint32")))
    await repo.put_fails(instance("V_Keyless", A=1), code="WBEM_E_NO_KEY")
    assert await repo.enum("V_Keyless") == []


async def test_an_instance_of_a_dynamic_class_fails_with_provider_not_found_and_stores_nothing(repo):
    await repo.define(wmi_class("V_Dyn", prop("Id", "string", key=True),
                                qualifiers={"Dynamic": True, "Provider": "SomeProv"}))
    for flags in (0, WbemFlag.CREATE_ONLY):
        await repo.put_fails(instance("V_Dyn", Id="x"), flags, code="WBEM_E_PROVIDER_NOT_FOUND")
    assert await repo.enum("V_Dyn") == []
    snap = await repo.snapshot()
    assert not any(b"|v_dyn|" in k for k in snap), "no instance key of the dynamic class may exist"


# ------------------------------------------------------------------------------------------
# keys and the hierarchy


async def test_a_subclass_instance_uses_the_inherited_key_and_is_named_by_its_own_class(repo):
    await repo.define(*hierarchy())
    res = await repo.client.put_instance(instance("V_SubA", Id="x", Extra="e"))
    assert res.relpath == 'V_SubA.Id="x"'
    assert res.path == full('V_SubA.Id="x"')
    got = await repo.get('V_SubA.Id="x"')
    assert (got["Id"], got["N"], got["Extra"], got["__RELPATH"]) == ("x", 5, "e", 'V_SubA.Id="x"')


async def test_get_object_through_the_parent_class_path_returns_the_subclass_instance(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="x", Extra="e"))
    got = await repo.get('V_Base.Id="x"')
    assert got["__CLASS"] == "V_SubA"
    assert got["Extra"] == "e"
    assert got["__RELPATH"] == 'V_SubA.Id="x"'


async def test_get_object_through_a_sibling_class_path_fails_with_not_found(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="x"))
    before = await repo.snapshot()
    await repo.get_fails('V_SubB.Id="x"', "WBEM_E_NOT_FOUND")
    assert await repo.snapshot() == before


@pytest.mark.parametrize("flags", [WbemFlag.CREATE_ONLY, WbemFlag.CREATE_OR_UPDATE, WbemFlag.UPDATE_ONLY])
async def test_a_sibling_class_instance_with_a_taken_key_is_refused_and_never_moves_the_instance(repo, flags):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="x", N=1, Extra="keep"))
    await repo.put_fails(instance("V_SubB", Id="x", N=2, Other="o"), flags, code="WBEM_E_ALREADY_EXISTS")
    got = await repo.get('V_Base.Id="x"')
    assert (got["__CLASS"], got["N"], got["Extra"]) == ("V_SubA", 1, "keep")
    assert await repo.enum("V_SubB") == []


@pytest.mark.parametrize("flags", [WbemFlag.CREATE_ONLY, WbemFlag.CREATE_OR_UPDATE, WbemFlag.UPDATE_ONLY])
async def test_a_parent_class_instance_with_a_key_a_subclass_instance_holds_is_refused(repo, flags):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="x", N=1, Extra="keep"))
    await repo.put_fails(instance("V_Base", Id="x", N=2), flags, code="WBEM_E_ALREADY_EXISTS")
    got = await repo.get('V_Base.Id="x"')
    assert (got["__CLASS"], got["N"], got["Extra"]) == ("V_SubA", 1, "keep")
    assert [i["__CLASS"] for i in await repo.enum("V_Base")] == ["V_SubA"]


async def test_a_subclass_instance_with_a_key_a_parent_class_instance_holds_is_refused(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x", N=1))
    await repo.put_fails(instance("V_SubA", Id="x", N=2), code="WBEM_E_ALREADY_EXISTS")
    got = await repo.get('V_Base.Id="x"')
    assert (got["__CLASS"], got["N"]) == ("V_Base", 1)


# ------------------------------------------------------------------------------------------
# NULLs


@pytest.mark.parametrize("qual", ["Not_Null", "Indexed", "Required"])
async def test_null_in_a_property_that_refuses_null_fails_with_illegal_null(repo, qual):
    await repo.define(wmi_class("V_Nn", prop("Id", "string", key=True), prop("P", "string", "dflt", qualifiers={qual: True})))
    await repo.put_fails(instance("V_Nn", Id="x", P=None), code="WBEM_E_ILLEGAL_NULL")
    assert await repo.enum("V_Nn") == []
    # Left out, the property takes its non-NULL default and the put succeeds.
    await repo.client.put_instance(instance("V_Nn", Id="x"))
    assert (await repo.get('V_Nn.Id="x"'))["P"] == "dflt"


@pytest.mark.parametrize("qual", ["Not_Null", "Indexed", "Required"])
async def test_null_over_an_existing_value_in_a_property_that_refuses_null_keeps_the_old_value(repo, qual):
    await repo.define(wmi_class("V_Nn", prop("Id", "string", key=True), prop("P", "uint32", qualifiers={qual: True})))
    await repo.client.put_instance(instance("V_Nn", Id="x", P=4))
    await repo.put_fails(instance("V_Nn", Id="x", P=None), WbemFlag.UPDATE_ONLY, code="WBEM_E_ILLEGAL_NULL")
    await repo.put_fails(instance("V_Nn", Id="x"), code="WBEM_E_ILLEGAL_NULL")  # left out: class default is NULL
    assert (await repo.get('V_Nn.Id="x"'))["P"] == 4


async def test_a_null_uint32_key_fails_with_illegal_null(repo):
    await repo.define(wmi_class("V_NumKey", prop("K", "uint32", key=True), prop("A", "string")))
    await repo.put_fails(instance("V_NumKey", K=None, A="a"), code="WBEM_E_ILLEGAL_NULL")
    await repo.put_fails(instance("V_NumKey", A="a"), code="WBEM_E_ILLEGAL_NULL")
    assert await repo.enum("V_NumKey") == []


@pytest.mark.parametrize("how", ["explicit NULL", "left out"])
async def test_a_null_string_key_gets_a_generated_guid_returned_in_the_path_and_stored(repo, how):
    await repo.define(thing())
    obj = instance("V_Thing", Id=None, A=1) if how == "explicit NULL" else instance("V_Thing", A=1)
    res = await repo.client.put_instance(obj)
    m = re.fullmatch(r'V_Thing\.Id="(.*)"', res.relpath)
    assert m, res.relpath
    key = m.group(1)
    assert GUID.match(key), key
    assert res.path == full(res.relpath)
    got = await repo.get(res.relpath)
    assert (got["Id"], got["A"]) == (key, 1)
    assert [i["Id"] for i in await repo.enum("V_Thing")] == [key]


async def test_two_puts_with_a_null_string_key_create_two_instances_with_different_guids(repo):
    await repo.define(thing())
    a = await repo.client.put_instance(instance("V_Thing", Id=None), WbemFlag.CREATE_ONLY)
    b = await repo.client.put_instance(instance("V_Thing", Id=None), WbemFlag.CREATE_ONLY)
    assert a.relpath != b.relpath
    assert len(await repo.enum("V_Thing")) == 2


async def test_null_empty_string_and_empty_array_are_stored_and_read_back_distinct(repo):
    await repo.define(wmi_class("V_Nulls", prop("Id", "string", key=True), prop("S", "string"),
                                prop("Arr", "uint32[]"), prop("Strs", "string[]")))
    await repo.client.put_instance(instance("V_Nulls", Id="null", S=None, Arr=None, Strs=None))
    await repo.client.put_instance(instance("V_Nulls", Id="empty", S="", Arr=[], Strs=[]))
    await repo.client.put_instance(instance("V_Nulls", Id="one", S=" ", Arr=[0], Strs=[""]))
    n, e, o = [await repo.get(f'V_Nulls.Id="{k}"') for k in ("null", "empty", "one")]
    assert (n["S"], n["Arr"], n["Strs"]) == (None, None, None)
    assert (e["S"], e["Arr"], e["Strs"]) == ("", [], [])
    assert (o["S"], o["Arr"], o["Strs"]) == (" ", [0], [""])
    # ... and an update turns one into the other.
    await repo.client.put_instance(instance("V_Nulls", Id="empty", S=None, Arr=None, Strs=None), WbemFlag.UPDATE_ONLY)
    e = await repo.get('V_Nulls.Id="empty"')
    assert (e["S"], e["Arr"], e["Strs"]) == (None, None, None)


@pytest.mark.parametrize("key", ["   ", "", "\t"])
async def test_a_string_key_without_a_character_above_space_fails_with_invalid_parameter(repo, key):
    await repo.define(thing())
    await repo.put_fails(instance("V_Thing", Id=key), code="WBEM_E_INVALID_PARAMETER")
    assert await repo.enum("V_Thing") == []


# ------------------------------------------------------------------------------------------
# types

ALL_TYPES = [
    ("S8", "sint8"), ("U8", "uint8"), ("S16", "sint16"), ("U16", "uint16"), ("S32", "sint32"), ("U32", "uint32"),
    ("S64", "sint64"), ("U64", "uint64"), ("R32", "real32"), ("R64", "real64"), ("B", "boolean"), ("Str", "string"),
    ("Dt", "datetime"), ("C16", "char16"), ("Ref", "reference"), ("Obj", "object"),
]


def types_class() -> pb.WbemObject:
    props = [prop("Id", "string", key=True)]
    for name, t in ALL_TYPES:
        props.append(prop(name, t))
        props.append(prop(name + "s", t + "[]"))
    props.append(prop("Iv", "datetime", qualifiers={"SubType": "interval"}))
    props.append(prop("Ivs", "datetime[]", qualifiers={"SubType": "interval"}))
    return wmi_class("V_Types", *props)


def embedded(name: str) -> pb.WbemObject:
    return instance("V_Emb", Name=name, Size=3)


def extremes(low: bool) -> dict[str, Any]:
    ref = full('V_Types.Id="other"')
    v: dict[str, Any] = {
        "S8": -128 if low else 127, "U8": 0 if low else 255, "S16": -32768 if low else 32767,
        "U16": 0 if low else 65535, "S32": -(2**31) if low else 2**31 - 1, "U32": 0 if low else 2**32 - 1,
        "S64": -(2**63) if low else 2**63 - 1, "U64": 0 if low else 2**64 - 1,
        "R32": -1.5 if low else 3.25, "R64": -2.718281828459045 if low else 1.7976931348623157e308,
        "B": False if low else True, "Str": "" if low else "h\u00e9llo \u2603 \"q\" \\",
        "Dt": "19980401135809.000000-300" if low else "19980416******.000000+***",
        "Iv": "00000000000000.000000:000" if low else "00000001120032.000000:000",
        "C16": 0x41 if low else 0x263A, "Ref": ref if low else 'V_Types.Id="rel"', "Obj": embedded("e1"),
    }
    v.update({
        "S8s": [-128, 0, 127], "U8s": [0, 255], "S16s": [-32768, 32767], "U16s": [0, 65535],
        "S32s": [-(2**31), 2**31 - 1], "U32s": [0, 2**32 - 1], "S64s": [-(2**63), 0, 2**63 - 1],
        "U64s": [0, 2**63, 2**64 - 1], "R32s": [0.5, -2.0], "R64s": [0.1, -1e-300], "Bs": [True, False, True],
        "Strs": ["a", "", "b c"], "Dts": ["20240229235959.999999+060", "********000000.000000+000"],
        "Ivs": ["00000001120032.000000:000", "99999999235959.999999:000"], "C16s": [0x41, 0xFFFF],
        "Refs": [ref, full('V_Types.Id="x"')], "Objs": [embedded("e1"), embedded("e2")],
    })
    return v


@pytest.mark.parametrize("low", [True, False], ids=["minimum values", "maximum values"])
async def test_every_cim_type_and_its_array_round_trips(repo, low):
    await repo.define(wmi_class("V_Emb", prop("Name", "string"), prop("Size", "uint32")), types_class())
    values_ = extremes(low)
    await repo.client.put_instance(instance("V_Types", Id="t", **values_))
    got = await repo.get('V_Types.Id="t"')
    for k, v in values_.items():
        if k in ("Obj", "Objs"):  # embedded objects come back typed by their class: compare their values
            def as_list(x):
                return (x if isinstance(x, list) else [x])
            assert [(o.class_name, to_dict(o)) for o in as_list(got[k])] == \
                [(o.class_name, to_dict(o)) for o in as_list(v)], k
            continue
        assert got[k] == v, k
    # Untyped ints come back as the class's types: the stored object says so too.
    types = {p.name: (p.type, p.is_array) for p in (await repo.client.get_object('V_Types.Id="t"')).properties}
    assert types["U64"] == (pb.CIM_TYPE_UINT64, False)
    assert types["C16s"] == (pb.CIM_TYPE_CHAR16, True)


async def test_values_given_in_a_coercible_member_are_stored_in_the_class_type(repo):
    await repo.define(wmi_class("V_Emb", prop("Name", "string"), prop("Size", "uint32")), types_class())
    obj = instance("V_Types", Id="t")
    obj.properties.add(name="R64", value=pb.Value(sint=3))
    obj.properties.add(name="U32", value=pb.Value(sint=12))
    obj.properties.add(name="S32", value=pb.Value(uint=12))
    await repo.client.put_instance(obj)
    got = await repo.get('V_Types.Id="t"')
    assert (got["R64"], got["U32"], got["S32"]) == (3.0, 12, 12)
    assert isinstance(got["R64"], float)


WRONG = [
    ("U32", "5", "WBEM_E_TYPE_MISMATCH"),
    ("U32", 1.5, "WBEM_E_TYPE_MISMATCH"),
    ("U32", True, "WBEM_E_TYPE_MISMATCH"),
    ("Str", 5, "WBEM_E_TYPE_MISMATCH"),
    ("B", 1, "WBEM_E_TYPE_MISMATCH"),
    ("R64", "1.0", "WBEM_E_TYPE_MISMATCH"),
    ("U32", [1], "WBEM_E_TYPE_MISMATCH"),
    ("U32s", 1, "WBEM_E_TYPE_MISMATCH"),
    ("U32s", [1, "2"], "WBEM_E_TYPE_MISMATCH"),
    ("Obj", "x", "WBEM_E_TYPE_MISMATCH"),
    ("Ref", 5, "WBEM_E_TYPE_MISMATCH"),
    ("Ref", "not a path", "WBEM_E_TYPE_MISMATCH"),
    ("Ref", 'V_Types.Id="unterminated', "WBEM_E_TYPE_MISMATCH"),
    ("Refs", [full('V_Types.Id="x"'), "::"], "WBEM_E_TYPE_MISMATCH"),
    ("Dt", "2024-01-01 00:00:00", "WBEM_E_TYPE_MISMATCH"),
    ("Dt", "19981301135809.000000-300", "WBEM_E_TYPE_MISMATCH"),
    ("Dt", "199*0416000000.000000+000", "WBEM_E_TYPE_MISMATCH"),
    ("Dt", "19980401135809.000000", "WBEM_E_TYPE_MISMATCH"),
    ("Iv", "0000000112003*.000000:000", "WBEM_E_TYPE_MISMATCH"),
    ("Iv", "00000001120032.000000:001", "WBEM_E_TYPE_MISMATCH"),
    ("Dts", ["19980401135809.000000-300", "bad"], "WBEM_E_TYPE_MISMATCH"),
    ("U8", 256, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("S8", -129, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("U16", 65536, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("S16", 32768, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("U32", -1, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("U32", 2**32, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("S32", 2**31, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("S64", 2**63, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("U64", -1, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("C16", 65536, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("R32", 1e39, "WBEM_E_VALUE_OUT_OF_RANGE"),
    ("U8s", [1, 300], "WBEM_E_VALUE_OUT_OF_RANGE"),
]


async def test_values_of_the_wrong_kind_or_out_of_range_are_refused_and_change_nothing(repo):
    await repo.define(wmi_class("V_Emb", prop("Name", "string"), prop("Size", "uint32")), types_class())
    await repo.client.put_instance(instance("V_Types", Id="t", U32=1, Str="s"))
    failures = []
    for name, value, code in WRONG:
        before = await repo.snapshot()
        try:
            await repo.client.put_instance(instance("V_Types", Id="t", **{name: value}))
            failures.append(f"{name}={value!r}: accepted, expected {code}")
        except WbemError as e:
            if e.name != code:
                failures.append(f"{name}={value!r}: {e.name}, expected {code}")
        if await repo.snapshot() != before:
            failures.append(f"{name}={value!r}: Redis changed")
    assert not failures, "\n".join(failures)
    got = await repo.get('V_Types.Id="t"')
    assert (got["U32"], got["Str"]) == (1, "s")


@pytest.mark.parametrize("ptype,is_array", [(pb.CIM_TYPE_STRING, False), (pb.CIM_TYPE_UINT32, True),
                                            (pb.CIM_TYPE_SINT32, False), (pb.CIM_TYPE_UINT64, False)])
async def test_a_property_type_that_differs_from_the_class_fails_with_type_mismatch(repo, ptype, is_array):
    await repo.define(thing())
    obj = instance("V_Thing", Id="x")
    obj.properties.add(name="A", type=ptype, is_array=is_array,
                       value=pb.Value(array=pb.ValueArray(items=[pb.Value(uint=1)])) if is_array else
                       pb.Value(string="1") if ptype == pb.CIM_TYPE_STRING else pb.Value(uint=1))
    await repo.put_fails(obj, code="WBEM_E_TYPE_MISMATCH")
    assert await repo.enum("V_Thing") == []


async def test_a_property_type_equal_to_the_class_type_is_accepted(repo):
    await repo.define(thing())
    obj = instance("V_Thing", Id="x")
    obj.properties.add(name="A", type=pb.CIM_TYPE_UINT32, value=pb.Value(uint=8))
    await repo.client.put_instance(obj)
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 8


async def test_an_unknown_property_fails_with_invalid_property(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1))
    await repo.put_fails(instance("V_Thing", Id="x", A=2, Nope=1), code="WBEM_E_INVALID_PROPERTY")
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 1


async def test_a_property_given_twice_fails_with_invalid_object(repo):
    await repo.define(thing())
    obj = instance("V_Thing", Id="x", A=1)
    obj.properties.add(name="a", value=pb.Value(uint=2))
    await repo.put_fails(obj, code="WBEM_E_INVALID_OBJECT")
    assert await repo.enum("V_Thing") == []


async def test_property_names_match_the_class_case_insensitively(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("v_thing", id="x", a=3))
    got = await repo.get('V_Thing.Id="x"')
    assert (got["__CLASS"], got["A"]) == ("V_Thing", 3)


# ------------------------------------------------------------------------------------------
# paths


async def test_the_result_path_lists_compound_keys_sorted_by_name(repo):
    await repo.define(wmi_class("V_Comp", prop("Zed", "uint32", key=True), prop("Alpha", "string", key=True),
                                prop("mid", "boolean", key=True), prop("Val", "sint32")))
    res = await repo.client.put_instance(instance("V_Comp", Zed=5, Val=-1, mid=True, Alpha="a"))
    assert res.relpath == 'V_Comp.Alpha="a",mid=TRUE,Zed=5'
    assert res.path == full('V_Comp.Alpha="a",mid=TRUE,Zed=5')
    for path in ('V_Comp.Alpha="a",mid=TRUE,Zed=5', 'V_Comp.Zed=5,Alpha="a",mid=TRUE', res.path):
        got = await repo.get(path)
        assert got["Val"] == -1 and got["__RELPATH"] == res.relpath, path
    await repo.get_fails('V_Comp.Alpha="a",mid=FALSE,Zed=5', "WBEM_E_NOT_FOUND")
    await repo.client.put_instance(instance("V_Comp", Zed=5, mid=False, Alpha="a"), WbemFlag.CREATE_ONLY)
    assert len(await repo.enum("V_Comp")) == 2


@pytest.mark.parametrize("ktype,value,text", [
    ("uint64", 2**40, '"1099511627776"'),
    ("uint64", 2**64 - 1, '"18446744073709551615"'),
    ("sint64", -(2**40), '"-1099511627776"'),
    ("sint64", 2**31, '"2147483648"'),
    ("sint64", 2**31 - 1, "2147483647"),
    ("uint64", 7, "7"),
])
async def test_a_64_bit_key_beyond_the_32_bit_range_appears_quoted_in_the_path(repo, ktype, value, text):
    await repo.define(wmi_class("V_Big", prop("K", ktype, key=True), prop("A", "uint32")))
    res = await repo.client.put_instance(instance("V_Big", K=value, A=1))
    assert res.relpath == f"V_Big.K={text}"
    got = await repo.get(res.relpath)
    assert (got["K"], got["__RELPATH"]) == (value, res.relpath)
    assert (await repo.get(f"V_Big.K={value}"))["K"] == value  # the unquoted form names it too


async def test_a_string_key_with_quotes_and_backslashes_is_escaped_in_the_path(repo):
    await repo.define(thing())
    key = 'C:\\dir\\"quoted" file\\'
    res = await repo.client.put_instance(instance("V_Thing", Id=key, A=2))
    assert res.relpath == 'V_Thing.Id="C:\\\\dir\\\\\\"quoted\\" file\\\\"'
    got = await repo.get(res.relpath)
    assert (got["Id"], got["A"]) == (key, 2)
    got = await repo.get("V_Thing.Id='C:\\\\dir\\\\\"quoted\" file\\\\'")
    assert got["Id"] == key


async def test_a_reference_key_is_the_quoted_escaped_full_path_and_get_object_finds_the_association(repo):
    await repo.define(*hierarchy(), wmi_class(
        "V_Assoc", prop("Antecedent", "reference", key=True, reference_class="V_Base"),
        prop("Dependent", "reference", key=True, reference_class="V_Base"), prop("W", "uint32"),
        qualifiers={"Association": True}))
    a = await repo.client.put_instance(instance("V_SubA", Id='a"1'))
    b = await repo.client.put_instance(instance("V_Base", Id="C:\\b"))
    res = await repo.client.put_instance(instance("V_Assoc", Dependent=b.path, Antecedent=a.path, W=9))
    expected = f"V_Assoc.Antecedent={quote(a.path)},Dependent={quote(b.path)}"
    assert res.relpath == expected
    assert res.path == full(expected)
    got = await repo.get(res.relpath)
    assert (got["Antecedent"], got["Dependent"], got["W"]) == (a.path, b.path, 9)
    got = await repo.get(f"V_Assoc.Dependent={quote(b.path)},Antecedent={quote(a.path)}")
    assert got["W"] == 9
    await repo.get_fails(f"V_Assoc.Antecedent={quote(b.path)},Dependent={quote(a.path)}", "WBEM_E_NOT_FOUND")


async def test_a_singleton_instance_has_the_path_class_at_sign_and_get_object_finds_it(repo):
    await repo.define(wmi_class("V_Single", prop("A", "uint32", 1), qualifiers={"Singleton": True}))
    res = await repo.client.put_instance(instance("V_Single", A=2))
    assert res.relpath == "V_Single=@"
    assert res.path == full("V_Single=@")
    got = await repo.get("V_Single=@")
    assert (got["A"], got["__RELPATH"], got["__PATH"]) == (2, "V_Single=@", full("V_Single=@"))
    await repo.client.put_instance(instance("V_Single", A=3), WbemFlag.UPDATE_ONLY)
    await repo.put_fails(instance("V_Single", A=4), WbemFlag.CREATE_ONLY, code="WBEM_E_ALREADY_EXISTS")
    assert [i["A"] for i in await repo.enum("V_Single")] == [3]


async def test_an_update_only_put_of_a_singleton_that_does_not_exist_fails_with_not_found(repo):
    await repo.define(wmi_class("V_Single", prop("A", "uint32", 1), qualifiers={"Singleton": True}))
    await repo.put_fails(instance("V_Single", A=2), WbemFlag.UPDATE_ONLY, code="WBEM_E_NOT_FOUND")
    await repo.get_fails("V_Single=@", "WBEM_E_NOT_FOUND")


async def test_key_strings_compare_case_insensitively(repo):
    await repo.define(thing())
    res = await repo.client.put_instance(instance("V_Thing", Id="ABC", A=1))
    assert res.relpath == 'V_Thing.Id="ABC"'
    got = await repo.get('V_Thing.Id="abc"')
    assert (got["Id"], got["A"]) == ("ABC", 1)
    assert (await repo.get('v_thing.ID="aBc"'))["A"] == 1
    await repo.put_fails(instance("V_Thing", Id="abc", A=2), WbemFlag.CREATE_ONLY, code="WBEM_E_ALREADY_EXISTS")
    assert [(i["Id"], i["A"]) for i in await repo.enum("V_Thing")] == [("ABC", 1)]


async def test_an_update_with_a_differently_cased_key_updates_the_same_instance(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="ABC", A=1))
    await repo.client.put_instance(instance("V_Thing", Id="abc", A=2), WbemFlag.UPDATE_ONLY)
    items = await repo.enum("V_Thing")
    assert len(items) == 1 and items[0]["A"] == 2


async def test_a_relpath_longer_than_8192_characters_fails_with_quota_violation(repo):
    await repo.define(thing())
    await repo.put_fails(instance("V_Thing", Id="k" * 8200), code="WBEM_E_QUOTA_VIOLATION")
    assert await repo.enum("V_Thing") == []
    # Exactly at the limit is fine: 'V_Thing.Id=""' is 13 characters.
    res = await repo.client.put_instance(instance("V_Thing", Id="k" * (8192 - 13)))
    assert len(res.relpath) == 8192
    assert len(await repo.enum("V_Thing")) == 1


# ------------------------------------------------------------------------------------------
# amended qualifiers


def amended_instance() -> pb.WbemObject:
    obj = instance("V_Thing", Id="x", A=1)
    obj.qualifiers.append(qualifier("Note", "localized text", flavor=0x80 | 0x1))
    obj.qualifiers.append(qualifier("Kept", "plain", flavor=0x1))
    return obj


async def test_amended_qualifiers_on_an_instance_without_use_amended_qualifiers_fail_with_amended_object(repo):
    await repo.define(thing())
    await repo.put_fails(amended_instance(), code="WBEM_E_AMENDED_OBJECT")
    await repo.put_fails(amended_instance(), WbemFlag.CREATE_ONLY, code="WBEM_E_AMENDED_OBJECT")
    assert await repo.enum("V_Thing") == []


async def test_an_amended_qualifier_on_an_instance_property_without_the_flag_fails_with_amended_object(repo):
    await repo.define(thing())
    obj = instance("V_Thing", Id="x", A=1)
    obj.properties[1].qualifiers.append(qualifier("Note", "localized", flavor=0x80))
    await repo.put_fails(obj, code="WBEM_E_AMENDED_OBJECT")
    assert await repo.enum("V_Thing") == []
    await repo.client.put_instance(obj, WbemFlag.USE_AMENDED_QUALIFIERS)
    got = await repo.client.get_object('V_Thing.Id="x"')
    assert not any(q.name == "Note" for p in got.properties for q in p.qualifiers)


async def test_amended_qualifiers_with_use_amended_qualifiers_are_stripped_before_storage(repo):
    await repo.define(thing())
    await repo.client.put_instance(amended_instance(), WbemFlag.USE_AMENDED_QUALIFIERS)
    obj = await repo.client.get_object('V_Thing.Id="x"')
    names = {q.name for q in obj.qualifiers}
    assert "Note" not in names
    assert "Kept" in names
    assert to_dict(obj)["A"] == 1
    obj = await repo.client.get_object('V_Thing.Id="x"', WbemFlag.USE_AMENDED_QUALIFIERS)
    assert "Note" not in {q.name for q in obj.qualifiers}


# ------------------------------------------------------------------------------------------
# partial-instance update (reference §8.3)

PARTIAL_A = {"__PUT_EXTENSIONS": True, "__PUT_EXT_PROPERTIES": ["A"]}


async def test_a_partial_update_writes_only_the_listed_properties(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="keep", C=True))
    res = await repo.client.put_instance(instance("V_Thing", Id="x", A=10, B="ignored", C=False),
                                         WbemFlag.UPDATE_ONLY, context=PARTIAL_A)
    assert res.relpath == 'V_Thing.Id="x"'
    got = await repo.get('V_Thing.Id="x"')
    assert (got["A"], got["B"], got["C"]) == (10, "keep", True)


async def test_a_partial_update_keeps_unlisted_properties_even_when_left_out_of_the_object(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="keep", C=True))
    await repo.client.put_instance(instance("V_Thing", Id="x", B="new"), WbemFlag.UPDATE_ONLY,
                                   context={"__PUT_EXTENSIONS": True, "__PUT_EXT_PROPERTIES": ["b", "C"]})
    got = await repo.get('V_Thing.Id="x"')
    assert (got["A"], got["B"], got["C"]) == (1, "new", None)


@pytest.mark.parametrize("flags", [WbemFlag.CREATE_OR_UPDATE, WbemFlag.CREATE_ONLY])
async def test_a_partial_update_without_update_only_fails_with_invalid_context(repo, flags):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="keep"))
    await repo.put_fails(instance("V_Thing", Id="x", A=10), flags, context=PARTIAL_A, code="WBEM_E_INVALID_CONTEXT")
    got = await repo.get('V_Thing.Id="x"')
    assert (got["A"], got["B"]) == (1, "keep")


@pytest.mark.parametrize("ctx", [{"__PUT_EXT_PROPERTIES": ["A"]},
                                 {"__PUT_EXTENSIONS": False, "__PUT_EXT_PROPERTIES": ["A"]}])
async def test_put_ext_properties_without_put_extensions_fails_with_invalid_context(repo, ctx):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1, B="keep"))
    await repo.put_fails(instance("V_Thing", Id="x", A=10), WbemFlag.UPDATE_ONLY, context=ctx,
                         code="WBEM_E_INVALID_CONTEXT")
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 1


async def test_a_partial_update_naming_an_unknown_property_fails_with_invalid_property(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1))
    await repo.put_fails(instance("V_Thing", Id="x", A=10), WbemFlag.UPDATE_ONLY,
                         context={"__PUT_EXTENSIONS": True, "__PUT_EXT_PROPERTIES": ["A", "Nope"]},
                         code="WBEM_E_INVALID_PROPERTY")
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 1


async def test_a_partial_update_of_a_missing_instance_fails_with_not_found(repo):
    await repo.define(thing())
    await repo.put_fails(instance("V_Thing", Id="x", A=10), WbemFlag.UPDATE_ONLY, context=PARTIAL_A,
                         code="WBEM_E_NOT_FOUND")
    assert await repo.enum("V_Thing") == []


async def test_an_unknown_put_extension_fails_with_unsupported_put_extension(repo):
    await repo.define(thing())
    await repo.client.put_instance(instance("V_Thing", Id="x", A=1))
    await repo.put_fails(instance("V_Thing", Id="x", A=10), WbemFlag.UPDATE_ONLY,
                         context={**PARTIAL_A, "__PUT_EXT_FOO": True}, code="WBEM_E_UNSUPPORTED_PUT_EXTENSION")
    assert (await repo.get('V_Thing.Id="x"'))["A"] == 1


async def test_a_partial_update_cannot_write_null_into_a_not_null_property(repo):
    await repo.define(wmi_class("V_Nn", prop("Id", "string", key=True), prop("P", "uint32", qualifiers={"Not_Null": True}),
                                prop("Q", "uint32")))
    await repo.client.put_instance(instance("V_Nn", Id="x", P=1, Q=2))
    await repo.put_fails(instance("V_Nn", Id="x", P=None), WbemFlag.UPDATE_ONLY,
                         context={"__PUT_EXTENSIONS": True, "__PUT_EXT_PROPERTIES": ["P"]}, code="WBEM_E_ILLEGAL_NULL")
    got = await repo.get('V_Nn.Id="x"')
    assert (got["P"], got["Q"]) == (1, 2)


# ------------------------------------------------------------------------------------------
# system properties


async def test_an_instance_carries_its_system_properties(repo):
    await repo.define(*hierarchy(), wmi_class("V_Deep", prop("More", "uint8"), superclass="V_SubA"))
    await repo.client.put_instance(instance("V_Deep", Id="x"))
    got = await repo.get('V_Base.Id="x"')
    assert got["__GENUS"] == 2
    assert got["__CLASS"] == "V_Deep"
    assert got["__SUPERCLASS"] == "V_SubA"
    assert got["__DYNASTY"] == "V_Base"
    assert got["__DERIVATION"] == ["V_SubA", "V_Base"]
    assert got["__RELPATH"] == 'V_Deep.Id="x"'
    assert got["__PATH"] == full('V_Deep.Id="x"')
    assert got["__NAMESPACE"] == NS
    assert got["__SERVER"] == SERVER
    assert got["__PROPERTY_COUNT"] == 4  # Id, N, Extra, More
    root = await repo.client.put_instance(instance("V_Base", Id="r"))
    got = await repo.get(root.relpath)
    assert (got["__SUPERCLASS"], got["__DYNASTY"], got["__DERIVATION"], got["__PROPERTY_COUNT"]) == (
        None, "V_Base", [], 2)


async def test_system_values_sent_by_the_client_are_ignored(repo):
    await repo.define(*hierarchy())
    obj = instance("V_SubA", Id="x", Extra="e")
    obj.system.CopyFrom(pb.SystemProperties(
        class_name="V_SubB", superclass="Nope", dynasty="Nope", derivation=["Nope"], genus=pb.GENUS_CLASS,
        path='\\\\ELSEWHERE\\root:V_SubB.Id="y"', relpath='V_SubB.Id="y"', namespace="root", server="ELSEWHERE",
        property_count=99))
    res = await repo.client.put_instance(obj)
    assert res.path == full('V_SubA.Id="x"')
    got = await repo.get('V_SubA.Id="x"')
    assert (got["__CLASS"], got["__PATH"], got["__SERVER"], got["__PROPERTY_COUNT"]) == (
        "V_SubA", full('V_SubA.Id="x"'), SERVER, 3)
    await repo.get_fails('V_SubB.Id="y"', "WBEM_E_NOT_FOUND")
    await repo.get_fails('V_Base.Id="y"', "WBEM_E_NOT_FOUND")
    assert [i["Id"] for i in await repo.enum("V_Base")] == ["x"]


@pytest.mark.parametrize("name", ["__PATH", "__RELPATH", "__CLASS", "__X"])
async def test_a_property_named_like_a_system_property_is_refused_as_read_only(repo, name):
    await repo.define(thing())
    obj = instance("V_Thing", Id="x", A=1)
    obj.properties.add(name=name, value=pb.Value(string='V_Thing.Id="other"'))
    with pytest.raises(WbemError) as e:
        await repo.client.put_instance(obj)
    assert e.value.name == "WBEM_E_READ_ONLY"
    await repo.get_fails('V_Thing.Id="x"', "WBEM_E_NOT_FOUND")


async def test_an_object_read_back_with_get_object_can_be_put_again_unchanged(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="x", N=3, Extra="e"))
    obj = await repo.client.get_object('V_SubA.Id="x"')
    before = await repo.get('V_SubA.Id="x"')
    res = await repo.client.put_instance(obj, WbemFlag.UPDATE_ONLY)
    assert res.relpath == 'V_SubA.Id="x"'
    assert await repo.get('V_SubA.Id="x"') == before


# ------------------------------------------------------------------------------------------
# concurrency and atomicity


async def test_twenty_concurrent_create_only_puts_of_one_instance_let_exactly_one_succeed(repo):
    await repo.define(thing())
    results = await asyncio.gather(
        *(repo.client.put_instance(instance("V_Thing", Id="same", A=i), WbemFlag.CREATE_ONLY) for i in range(20)),
        return_exceptions=True)
    ok = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1, results
    assert all(isinstance(e, WbemError) and e.name == "WBEM_E_ALREADY_EXISTS" for e in errors), errors
    assert len(errors) == 19
    items = await repo.enum("V_Thing")
    assert [(i["Id"], i["A"]) for i in items] == [("same", ok[0])]


async def test_twenty_concurrent_create_only_puts_from_separate_connections_let_exactly_one_succeed(repo, host):
    from host.client import WbemClient

    await repo.define(thing())
    clients = [await WbemClient.connect(host.target, timeout=30.0) for _ in range(20)]
    try:
        results = await asyncio.gather(
            *(c.put_instance(instance("V_Thing", Id="same", A=i), WbemFlag.CREATE_ONLY) for i, c in enumerate(clients)),
            return_exceptions=True)
    finally:
        for c in clients:
            await c.close()
    ok = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    assert len(ok) == 1, results
    assert sorted(r.name for r in results if isinstance(r, WbemError)) == ["WBEM_E_ALREADY_EXISTS"] * 19
    assert [(i["Id"], i["A"]) for i in await repo.enum("V_Thing")] == [("same", ok[0])]


async def test_fifty_concurrent_create_or_update_puts_of_different_instances_all_land(repo):
    await repo.define(*hierarchy())
    objs = [instance("V_SubA" if i % 2 else "V_SubB", Id=f"i{i:02}", N=i) for i in range(50)]
    results = await asyncio.gather(*(repo.client.put_instance(o) for o in objs), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    items = await repo.enum("V_Base")
    assert sorted((i["Id"], i["N"], i["__CLASS"]) for i in items) == [
        (f"i{i:02}", i, "V_SubA" if i % 2 else "V_SubB") for i in range(50)]


async def test_concurrent_create_or_update_puts_of_one_instance_leave_one_of_the_written_values(repo):
    await repo.define(thing())
    await asyncio.gather(*(repo.client.put_instance(instance("V_Thing", Id="x", A=i, B=str(i))) for i in range(30)))
    items = await repo.enum("V_Thing")
    assert len(items) == 1
    assert items[0]["B"] == str(items[0]["A"])  # one whole instance won, never a mix


async def test_concurrent_sibling_puts_with_one_key_leave_exactly_one_owner(repo):
    await repo.define(*hierarchy())
    objs = [instance("V_SubA" if i % 2 else "V_SubB", Id="k", N=i) for i in range(20)]
    results = await asyncio.gather(*(repo.client.put_instance(o) for o in objs), return_exceptions=True)
    winners = {objs[i].class_name for i, r in enumerate(results) if not isinstance(r, BaseException)}
    assert len(winners) == 1, results
    assert all(r.name == "WBEM_E_ALREADY_EXISTS" for r in results if isinstance(r, BaseException))
    items = await repo.enum("V_Base")
    assert len(items) == 1 and items[0]["__CLASS"] in winners
