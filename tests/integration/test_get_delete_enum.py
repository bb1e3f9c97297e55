r"""GetObject, DeleteInstance, CreateInstanceEnum and namespaces (__NAMESPACE instances), end to end.

Each test checks the repository afterwards: through GetObject / enumeration, or through a
snapshot of every Redis key under the host's prefix when nothing may have changed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from host.client import WbemError, WbemFlag, instance, prop, to_dict, wmi_class
from tests.helpers import redis_snapshot as snapshot
from wmiput.v1 import object_pb2 as pb

NS = "root\\cimv2"
SERVER = "TESTHOST"


# ------------------------------------------------------------------------------------------
# helpers




def full(relpath: str, ns: str = NS) -> str:
    return f"\\\\{SERVER}\\{ns}:{relpath}"


class Repo:
    def __init__(self, client: Any, redis: Any, prefix: str) -> None:
        self.client = client
        self.redis = redis
        self.prefix = prefix

    async def define(self, *classes: pb.WbemObject, namespace: str | None = None) -> None:
        for c in classes:
            await self.client.put_class(c, namespace=namespace)

    async def snapshot(self) -> dict[bytes, tuple[str, Any]]:
        return await snapshot(self.redis, self.prefix)

    async def get(self, path: str, flags: int = 0, namespace: str | None = None) -> dict[str, Any]:
        return to_dict(await self.client.get_object(path, flags, namespace=namespace))

    async def fails(self, call: Any, code: str) -> WbemError:
        """`call` (a coroutine) fails with `code` and leaves every key under the prefix untouched."""
        before = await self.snapshot()
        with pytest.raises(WbemError) as e:
            await call
        assert e.value.name == code, str(e.value)
        assert await self.snapshot() == before, f"a failed call ({code}) changed Redis"
        return e.value

    async def enum(self, class_name: str, flags: int = 0, namespace: str | None = None) -> list[dict[str, Any]]:
        return [to_dict(o) async for o in self.client.enum_instances(class_name, flags, namespace=namespace)]

    async def enum_fails(self, class_name: str, code: str, flags: int = 0, namespace: str | None = None) -> None:
        async def run() -> None:
            async for _ in self.client.enum_instances(class_name, flags, namespace=namespace):
                pass
        await self.fails(run(), code)

    async def namespaces_in(self, parent: str) -> list[str]:
        return sorted(i["Name"] for i in await self.enum("__NAMESPACE", WbemFlag.SHALLOW, namespace=parent))


@pytest.fixture
def repo(client: Any, redis: Any, key_prefix: str) -> Repo:
    return Repo(client, redis, key_prefix)


def hierarchy() -> list[pb.WbemObject]:
    return [
        wmi_class("V_Base", prop("Id", "string", key=True), prop("N", "uint32", 5)),
        wmi_class("V_SubA", prop("Extra", "string"), superclass="V_Base"),
        wmi_class("V_SubB", prop("Other", "string"), superclass="V_Base"),
        wmi_class("V_Deep", prop("More", "uint8"), superclass="V_SubA"),
    ]


def comp() -> pb.WbemObject:
    return wmi_class("V_Comp", prop("K1", "string", key=True), prop("K2", "uint32", key=True), prop("V", "string"))


# ------------------------------------------------------------------------------------------
# GetObject


async def test_get_object_of_a_class_path_returns_the_class(repo):
    await repo.define(*hierarchy())
    obj = await repo.client.get_object("V_SubA")
    got = to_dict(obj)
    assert obj.genus == pb.GENUS_CLASS
    assert (got["__GENUS"], got["__CLASS"], got["__SUPERCLASS"], got["__RELPATH"]) == (1, "V_SubA", "V_Base", "V_SubA")
    assert got["__PATH"] == full("V_SubA")
    assert {p.name for p in obj.properties} == {"Id", "N", "Extra"}
    assert to_dict(await repo.client.get_object("v_suba"))["__CLASS"] == "V_SubA"


async def test_get_object_of_an_instance_path_returns_the_instance(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="x", N=1, Extra="e"))
    for path in ('V_SubA.Id="x"', "V_SubA.Id='x'", 'V_SubA="x"', 'V_Base="x"'):
        got = await repo.get(path)
        assert (got["__CLASS"], got["Id"], got["N"], got["Extra"]) == ("V_SubA", "x", 1, "e"), path


async def test_get_object_of_a_full_path_uses_the_path_namespace_over_the_request_namespace(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x", N=1))
    await repo.client.create_namespace("other")
    await repo.define(wmi_class("V_Base", prop("Id", "string", key=True), prop("N", "uint32")),
                      namespace="root\\other")
    await repo.client.put_instance(instance("V_Base", Id="x", N=2), namespace="root\\other")
    for request_ns in ("root", "root\\other", NS):
        got = await repo.get('\\\\.\\root\\cimv2:V_Base.Id="x"', namespace=request_ns)
        assert (got["N"], got["__NAMESPACE"], got["__PATH"]) == (1, NS, full('V_Base.Id="x"')), request_ns
    got = await repo.get('\\\\.\\root\\other:V_Base.Id="x"')
    assert (got["N"], got["__NAMESPACE"]) == (2, "root\\other")
    got = await repo.get('root\\other:V_Base.Id="x"')
    assert got["N"] == 2
    got = await repo.get('//./root/cimv2:V_Base.Id="x"', namespace="root\\other")
    assert got["N"] == 1


async def test_get_object_of_an_instance_path_of_an_unknown_class_fails_with_invalid_class(repo):
    await repo.fails(repo.client.get_object('V_Nowhere.Id="x"'), "WBEM_E_INVALID_CLASS")


async def test_get_object_of_an_unknown_class_path_fails_with_not_found(repo):
    await repo.define(*hierarchy())
    await repo.fails(repo.client.get_object("V_Nowhere"), "WBEM_E_NOT_FOUND")


async def test_get_object_of_a_missing_instance_fails_with_not_found(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.fails(repo.client.get_object('V_Base.Id="y"'), "WBEM_E_NOT_FOUND")
    await repo.fails(repo.client.get_object('V_SubA.Id="x"'), "WBEM_E_NOT_FOUND")  # a parent's instance


@pytest.mark.parametrize("path", [
    'V_Base.Id="x', 'V_Base.Id=', "V_Base.Id=x", 'V_Base.Id ="x"', 'V_Base. Id="x"', 'V_Base.="x"',
    'V_Base.Id="x",', 'V_Base.Id="x"extra', "V_Base=@@", 'V_Base.Id="x",Id="y"', "\\\\", ":V_Base",
    'V_Base.Id="bad\\escape"', "V Base",
])
async def test_get_object_of_a_malformed_path_fails_with_invalid_object_path(repo, path):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.fails(repo.client.get_object(path), "WBEM_E_INVALID_OBJECT_PATH")


@pytest.mark.parametrize("path", [
    'V_Base.N=5', 'V_Base.Id="x",N=5', 'V_Comp.K1="a"', 'V_Comp.K2=1', 'V_Comp="a"', "V_Base=@",
    'V_Comp.K1="a",K2="one"', 'V_Comp.K1="a",K2=TRUE',
])
async def test_get_object_of_a_path_with_a_non_key_property_or_a_missing_key_fails_with_invalid_object_path(
        repo, path):
    await repo.define(*hierarchy(), comp())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.client.put_instance(instance("V_Comp", K1="a", K2=1))
    await repo.fails(repo.client.get_object(path), "WBEM_E_INVALID_OBJECT_PATH")


async def test_get_object_of_a_compound_key_path_needs_every_key_in_any_order(repo):
    await repo.define(comp())
    await repo.client.put_instance(instance("V_Comp", K1="a", K2=1, V="v"))
    assert (await repo.get('V_Comp.K2=1,K1="a"'))["V"] == "v"
    assert (await repo.get('V_Comp.K1="A",K2=1'))["V"] == "v"
    await repo.fails(repo.client.get_object('V_Comp.K1="a",K2=2'), "WBEM_E_NOT_FOUND")


async def test_get_object_of_an_empty_path_fails_with_invalid_parameter(repo):
    await repo.fails(repo.client.get_object(""), "WBEM_E_INVALID_PARAMETER")


@pytest.mark.parametrize("ns", ["root\\nope", "nope", "root\\cimv2\\nope", "root\\bad name"])
async def test_get_object_in_an_unknown_namespace_fails_with_invalid_namespace(repo, ns):
    await repo.define(*hierarchy())
    await repo.fails(repo.client.get_object("V_Base", namespace=ns), "WBEM_E_INVALID_NAMESPACE")
    if " " not in ns:  # a path with a space in it is malformed before its namespace is looked up
        await repo.fails(repo.client.get_object(f"\\\\.\\{ns}:V_Base"), "WBEM_E_INVALID_NAMESPACE")


@pytest.mark.parametrize("flags", [0x1, 0x2, 0x20, 0x40, 0x80, 0x10000, 0x80000000])
async def test_get_object_with_a_flag_it_does_not_accept_fails_with_invalid_parameter(repo, flags):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.fails(repo.client.get_object('V_Base.Id="x"', flags), "WBEM_E_INVALID_PARAMETER")


@pytest.mark.parametrize("flags", [0x200, 0x20000, 0x200 | 0x20000])
async def test_get_object_with_an_accepted_flag_returns_the_object(repo, flags):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x", N=3))
    assert (await repo.get('V_Base.Id="x"', flags))["N"] == 3


async def test_get_object_with_return_immediately_fails_with_not_supported(repo):
    await repo.define(*hierarchy())
    await repo.fails(repo.client.get_object("V_Base", 0x10), "WBEM_E_NOT_SUPPORTED")


# ------------------------------------------------------------------------------------------
# DeleteInstance


async def test_delete_instance_removes_an_existing_instance(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x", N=1))
    await repo.client.put_instance(instance("V_Base", Id="y", N=2))
    path = await repo.client.delete_instance('V_Base.Id="x"')
    assert path == full('V_Base.Id="x"')
    await repo.fails(repo.client.get_object('V_Base.Id="x"'), "WBEM_E_NOT_FOUND")
    assert [i["Id"] for i in await repo.enum("V_Base")] == ["y"]
    await repo.client.put_instance(instance("V_Base", Id="x", N=7), WbemFlag.CREATE_ONLY)
    got = await repo.get('V_Base.Id="x"')
    assert (got["N"], got["__CLASS"]) == (7, "V_Base")


async def test_delete_instance_leaves_no_redis_trace_of_the_instance(repo):
    await repo.define(*hierarchy())
    before = await repo.snapshot()
    await repo.client.put_instance(instance("V_SubA", Id="x"))
    await repo.client.delete_instance('V_SubA.Id="x"')
    after = await repo.snapshot()
    # Only empty-valued leftovers would differ; an instance record, version or membership may not remain.
    for k, (_t, v) in after.items():
        if k not in before:
            assert not v, (k, v)
    assert await repo.enum("V_Base") == []


async def test_delete_instance_of_a_missing_instance_fails_with_not_found(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.fails(repo.client.delete_instance('V_Base.Id="y"'), "WBEM_E_NOT_FOUND")
    assert [i["Id"] for i in await repo.enum("V_Base")] == ["x"]


async def test_delete_instance_twice_fails_the_second_time_with_not_found(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.client.delete_instance('V_Base.Id="x"')
    await repo.fails(repo.client.delete_instance('V_Base.Id="x"'), "WBEM_E_NOT_FOUND")
    assert await repo.enum("V_Base") == []


async def test_delete_instance_of_a_class_path_fails_with_invalid_object_path(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.fails(repo.client.delete_instance("V_Base"), "WBEM_E_INVALID_OBJECT_PATH")
    assert [i["Id"] for i in await repo.enum("V_Base")] == ["x"]
    assert (await repo.get("V_Base"))["__CLASS"] == "V_Base"


@pytest.mark.parametrize("path,code", [
    ("", "WBEM_E_INVALID_PARAMETER"), ('V_Base.Id="x', "WBEM_E_INVALID_OBJECT_PATH"),
    ('V_Base.N=5', "WBEM_E_INVALID_OBJECT_PATH"), ('V_Nowhere.Id="x"', "WBEM_E_INVALID_CLASS"),
])
async def test_delete_instance_of_a_bad_path_fails_and_deletes_nothing(repo, path, code):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.fails(repo.client.delete_instance(path), code)
    assert [i["Id"] for i in await repo.enum("V_Base")] == ["x"]


@pytest.mark.parametrize("flags,code", [(0x1, "WBEM_E_INVALID_PARAMETER"), (0x2, "WBEM_E_INVALID_PARAMETER"),
                                        (0x80000000, "WBEM_E_INVALID_PARAMETER"), (0x10, "WBEM_E_NOT_SUPPORTED")])
async def test_delete_instance_with_a_flag_it_does_not_accept_fails_and_deletes_nothing(repo, flags, code):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.fails(repo.client.delete_instance('V_Base.Id="x"', flags), code)
    assert [i["Id"] for i in await repo.enum("V_Base")] == ["x"]


async def test_delete_instance_through_the_parent_class_path_deletes_the_subclass_instance(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Deep", Id="x", More=1))
    await repo.client.put_instance(instance("V_SubB", Id="y"))
    path = await repo.client.delete_instance('V_Base.Id="x"')
    assert path == full('V_Deep.Id="x"')
    for p in ('V_Deep.Id="x"', 'V_SubA.Id="x"', 'V_Base.Id="x"'):
        await repo.fails(repo.client.get_object(p), "WBEM_E_NOT_FOUND")
    assert await repo.enum("V_Deep") == []
    assert [i["Id"] for i in await repo.enum("V_Base")] == ["y"]
    await repo.client.put_instance(instance("V_SubB", Id="x"), WbemFlag.CREATE_ONLY)  # the key is free again
    assert (await repo.get('V_Base.Id="x"'))["__CLASS"] == "V_SubB"


async def test_delete_instance_through_a_sibling_class_path_fails_with_not_found(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="x"))
    await repo.fails(repo.client.delete_instance('V_SubB.Id="x"'), "WBEM_E_NOT_FOUND")
    await repo.fails(repo.client.delete_instance('V_Deep.Id="x"'), "WBEM_E_NOT_FOUND")
    assert [i["__CLASS"] for i in await repo.enum("V_Base")] == ["V_SubA"]


async def test_delete_instance_matches_key_strings_case_insensitively(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="ABC"))
    path = await repo.client.delete_instance('v_base.id="abc"')
    assert path == full('V_Base.Id="ABC"')
    assert await repo.enum("V_Base") == []


async def test_delete_instance_of_a_singleton(repo):
    await repo.define(wmi_class("V_Single", prop("A", "uint32"), qualifiers={"Singleton": True}))
    await repo.client.put_instance(instance("V_Single", A=1))
    assert await repo.client.delete_instance("V_Single=@") == full("V_Single=@")
    await repo.fails(repo.client.get_object("V_Single=@"), "WBEM_E_NOT_FOUND")
    assert await repo.enum("V_Single") == []


async def test_delete_instance_of_a_full_path_uses_its_namespace(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    assert await repo.client.delete_instance('\\\\.\\root\\cimv2:V_Base.Id="x"', namespace="root") == full(
        'V_Base.Id="x"')
    assert await repo.enum("V_Base") == []


# ------------------------------------------------------------------------------------------
# CreateInstanceEnum


async def test_a_deep_enumeration_includes_subclass_instances_and_a_shallow_one_only_the_class_own(repo):
    await repo.define(*hierarchy())
    for cls, key in (("V_Base", "b"), ("V_SubA", "a"), ("V_SubB", "s"), ("V_Deep", "d")):
        await repo.client.put_instance(instance(cls, Id=key))

    async def ids(cls: str, flags: int) -> list[tuple[str, str]]:
        return sorted((i["Id"], i["__CLASS"]) for i in await repo.enum(cls, flags))

    assert await ids("V_Base", 0) == [("a", "V_SubA"), ("b", "V_Base"), ("d", "V_Deep"), ("s", "V_SubB")]
    assert await ids("V_Base", WbemFlag.SHALLOW) == [("b", "V_Base")]
    assert await ids("V_SubA", 0) == [("a", "V_SubA"), ("d", "V_Deep")]
    assert await ids("V_SubA", WbemFlag.SHALLOW) == [("a", "V_SubA")]
    assert await ids("v_subb", 0) == [("s", "V_SubB")]
    assert await ids("V_Deep", 0) == [("d", "V_Deep")]


async def test_enumerated_instances_carry_their_full_values_and_system_properties(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Deep", Id="d", N=9, Extra="e", More=3))
    [got] = await repo.enum("V_Base")
    assert (got["Id"], got["N"], got["Extra"], got["More"]) == ("d", 9, "e", 3)
    assert (got["__CLASS"], got["__PATH"], got["__GENUS"], got["__DERIVATION"]) == (
        "V_Deep", full('V_Deep.Id="d"'), 2, ["V_SubA", "V_Base"])


async def test_two_hundred_fifty_instances_enumerate_completely_each_once(repo):
    await repo.define(*hierarchy())
    objs = [instance(("V_Base", "V_SubA", "V_SubB", "V_Deep")[i % 4], Id=f"k{i:03}", N=i) for i in range(250)]
    for start in range(0, 250, 50):
        await asyncio.gather(*(repo.client.put_instance(o) for o in objs[start:start + 50]))
    items = await repo.enum("V_Base")
    assert len(items) == 250
    assert sorted((i["Id"], i["N"]) for i in items) == [(f"k{i:03}", i) for i in range(250)]
    shallow = await repo.enum("V_SubA", WbemFlag.SHALLOW)
    assert sorted(i["N"] for i in shallow) == [i for i in range(250) if i % 4 == 1]


async def test_enumerating_a_class_without_instances_returns_nothing(repo):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_SubA", Id="a"))
    assert await repo.enum("V_SubB") == []
    assert await repo.enum("V_Deep") == []


async def test_enumerating_an_unknown_class_fails_with_invalid_class(repo):
    await repo.define(*hierarchy())
    await repo.enum_fails("V_Nowhere", "WBEM_E_INVALID_CLASS")
    await repo.enum_fails("V_Nowhere", "WBEM_E_INVALID_CLASS", WbemFlag.SHALLOW)


@pytest.mark.parametrize("flags,code", [(0x2, "WBEM_E_INVALID_PARAMETER"), (0x40, "WBEM_E_INVALID_PARAMETER"),
                                        (0x80000000, "WBEM_E_INVALID_PARAMETER"), (0x10, "WBEM_E_NOT_SUPPORTED")])
async def test_enumerating_with_a_flag_it_does_not_accept_fails(repo, flags, code):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    await repo.enum_fails("V_Base", code, flags)


@pytest.mark.parametrize("flags", [0x20, 0x200, 0x20000, 0x1 | 0x20 | 0x200 | 0x20000])
async def test_enumerating_with_an_accepted_flag_returns_the_instances(repo, flags):
    await repo.define(*hierarchy())
    await repo.client.put_instance(instance("V_Base", Id="x"))
    assert [i["Id"] for i in await repo.enum("V_Base", flags)] == ["x"]


# ------------------------------------------------------------------------------------------
# namespaces


async def test_create_namespace_makes_a_child_namespace_with_the_system_classes(repo):
    res = await repo.client.create_namespace("test")
    assert res.relpath == '__NAMESPACE.Name="test"'
    assert res.path == full('__NAMESPACE.Name="test"', "root")
    got = await repo.get('__NAMESPACE.Name="test"', namespace="root")
    assert (got["Name"], got["__NAMESPACE"]) == ("test", "root")
    assert (await repo.get("__NAMESPACE", namespace="root\\test"))["__CLASS"] == "__NAMESPACE"
    await repo.define(wmi_class("V_T", prop("Id", "string", key=True)), namespace="root\\test")
    assert (await repo.get("V_T", namespace="root\\test"))["__NAMESPACE"] == "root\\test"


async def test_classes_and_instances_in_a_new_namespace_are_isolated_from_root_cimv2(repo):
    await repo.client.create_namespace("test")
    await repo.define(wmi_class("V_Only", prop("Id", "string", key=True)), namespace="root\\test")
    await repo.define(wmi_class("V_Both", prop("Id", "string", key=True), prop("A", "uint32")),
                      namespace="root\\test")
    await repo.define(wmi_class("V_Both", prop("Id", "string", key=True), prop("B", "string")))
    await repo.client.put_instance(instance("V_Only", Id="t"), namespace="root\\test")
    await repo.client.put_instance(instance("V_Both", Id="same", A=1), namespace="root\\test")
    await repo.client.put_instance(instance("V_Both", Id="same", B="cimv2"), WbemFlag.CREATE_ONLY)

    await repo.fails(repo.client.get_object("V_Only"), "WBEM_E_NOT_FOUND")
    await repo.fails(repo.client.get_object('V_Only.Id="t"'), "WBEM_E_INVALID_CLASS")
    await repo.enum_fails("V_Only", "WBEM_E_INVALID_CLASS")
    test_side = await repo.get('V_Both.Id="same"', namespace="root\\test")
    cimv2_side = await repo.get('V_Both.Id="same"')
    assert (test_side["A"], test_side["__PATH"]) == (1, full('V_Both.Id="same"', "root\\test"))
    assert (cimv2_side["B"], cimv2_side["__PATH"]) == ("cimv2", full('V_Both.Id="same"'))
    assert "B" not in test_side and "A" not in cimv2_side
    await repo.client.delete_instance('V_Both.Id="same"', namespace="root\\test")
    assert (await repo.get('V_Both.Id="same"'))["B"] == "cimv2"
    assert await repo.enum("V_Both", namespace="root\\test") == []


async def test_enumerating_namespace_instances_in_root_lists_a_created_namespace(repo):
    await repo.client.create_namespace("test")
    await repo.client.create_namespace("Second")
    names = await repo.namespaces_in("root")
    assert "test" in names and "Second" in names
    assert await repo.namespaces_in("root\\test") == []


async def test_enumerating_namespace_instances_in_root_lists_the_default_cimv2_namespace(repo):
    # In WMI every child namespace is an __NAMESPACE instance of its parent, root\cimv2 included.
    assert "cimv2" in [n.lower() for n in await repo.namespaces_in("root")]
    got = await repo.get('__NAMESPACE.Name="cimv2"', namespace="root")
    assert got["Name"].lower() == "cimv2"


async def test_a_create_only_put_of_the_namespace_instance_of_the_default_cimv2_namespace_fails_with_already_exists(
        repo):
    await repo.define(wmi_class("V_T", prop("Id", "string", key=True)))
    await repo.fails(repo.client.put_instance(instance("__NAMESPACE", Name="cimv2"), WbemFlag.CREATE_ONLY,
                                              namespace="root"), "WBEM_E_ALREADY_EXISTS")
    assert (await repo.get("V_T"))["__CLASS"] == "V_T"


async def test_an_update_only_put_of_the_namespace_instance_of_an_existing_namespace_succeeds(repo):
    await repo.client.create_namespace("test")
    await repo.define(wmi_class("V_T", prop("Id", "string", key=True)), namespace="root\\test")
    res = await repo.client.put_instance(instance("__NAMESPACE", Name="test"), WbemFlag.UPDATE_ONLY, namespace="root")
    assert res.relpath == '__NAMESPACE.Name="test"'
    assert (await repo.get("V_T", namespace="root\\test"))["__CLASS"] == "V_T"
    assert "test" in await repo.namespaces_in("root")


async def test_an_update_only_put_of_the_namespace_instance_of_the_default_cimv2_namespace_succeeds(repo):
    # root\cimv2 exists from the start, so its __NAMESPACE instance can be updated like any other.
    await repo.define(wmi_class("V_T", prop("Id", "string", key=True)))
    res = await repo.client.put_instance(instance("__NAMESPACE", Name="cimv2"), WbemFlag.UPDATE_ONLY, namespace="root")
    assert res.relpath == '__NAMESPACE.Name="cimv2"'
    assert "cimv2" in await repo.namespaces_in("root")
    assert (await repo.get("V_T"))["__CLASS"] == "V_T"


async def test_a_refused_namespace_instance_put_creates_no_namespace(repo):
    # A subclass instance of __NAMESPACE holds the key "fresh" in the __NAMESPACE hierarchy, so a
    # put of __NAMESPACE.Name="fresh" is refused (no moving, reference §8.1) and must write nothing.
    await repo.define(wmi_class("V_NsSub", prop("Extra", "string"), superclass="__NAMESPACE"), namespace="root")
    await repo.client.put_instance(instance("V_NsSub", Name="fresh"), namespace="root")
    await repo.fails(repo.client.create_namespace("fresh"), "WBEM_E_ALREADY_EXISTS")
    await repo.fails(repo.client.get_object("__SystemClass", namespace="root\\fresh"), "WBEM_E_INVALID_NAMESPACE")


async def test_namespace_names_in_requests_are_case_insensitive(repo):
    await repo.define(wmi_class("V_T", prop("Id", "string", key=True)))
    res = await repo.client.put_instance(instance("V_T", Id="x"), namespace="ROOT\\CimV2")
    assert res.path == full('V_T.Id="x"')
    got = await repo.get('V_T.Id="x"', namespace="Root/CIMV2")
    assert got["__NAMESPACE"] == NS


async def test_a_nested_namespace_is_created_under_a_created_namespace(repo):
    await repo.client.create_namespace("test")
    res = await repo.client.create_namespace("deeper", parent="root\\test")
    assert res.path == full('__NAMESPACE.Name="deeper"', "root\\test")
    assert await repo.namespaces_in("root\\test") == ["deeper"]
    await repo.define(wmi_class("V_D", prop("Id", "string", key=True)), namespace="root\\test\\deeper")
    await repo.client.put_instance(instance("V_D", Id="d"), namespace="root\\test\\deeper")
    assert (await repo.get('V_D.Id="d"', namespace="root\\test\\deeper"))["__NAMESPACE"] == "root\\test\\deeper"
    await repo.fails(repo.client.get_object("V_D", namespace="root\\test"), "WBEM_E_NOT_FOUND")


async def test_creating_a_namespace_under_a_missing_parent_fails_with_invalid_namespace(repo):
    await repo.fails(repo.client.create_namespace("deeper", parent="root\\nope"), "WBEM_E_INVALID_NAMESPACE")
    await repo.fails(repo.client.get_object("__NAMESPACE", namespace="root\\nope\\deeper"),
                     "WBEM_E_INVALID_NAMESPACE")


async def test_creating_an_existing_namespace_with_create_only_fails_with_already_exists(repo):
    await repo.client.create_namespace("test")
    await repo.define(wmi_class("V_T", prop("Id", "string", key=True)), namespace="root\\test")
    await repo.fails(repo.client.put_instance(instance("__NAMESPACE", Name="TEST"), WbemFlag.CREATE_ONLY,
                                              namespace="root"), "WBEM_E_ALREADY_EXISTS")
    assert (await repo.get("V_T", namespace="root\\test"))["__CLASS"] == "V_T"


async def test_an_update_only_put_of_a_namespace_instance_for_a_missing_namespace_fails_with_not_found(repo):
    await repo.fails(repo.client.put_instance(instance("__NAMESPACE", Name="ghost"), WbemFlag.UPDATE_ONLY,
                                              namespace="root"), "WBEM_E_NOT_FOUND")
    await repo.fails(repo.client.get_object("__NAMESPACE", namespace="root\\ghost"), "WBEM_E_INVALID_NAMESPACE")


async def test_deleting_the_namespace_instance_deletes_the_namespace_and_its_children(repo, key_prefix):
    await repo.client.create_namespace("test")
    await repo.client.create_namespace("testing")
    await repo.client.create_namespace("deeper", parent="root\\test")
    for ns in ("root\\test", "root\\test\\deeper", "root\\testing"):
        await repo.define(wmi_class("V_T", prop("Id", "string", key=True)), namespace=ns)
        await repo.client.put_instance(instance("V_T", Id="t"), namespace=ns)

    path = await repo.client.delete_instance('__NAMESPACE.Name="test"', namespace="root")
    assert path == full('__NAMESPACE.Name="test"', "root")

    for ns in ("root\\test", "root\\test\\deeper"):
        await repo.fails(repo.client.put_instance(instance("V_T", Id="u"), namespace=ns), "WBEM_E_INVALID_NAMESPACE")
        await repo.fails(repo.client.put_class(wmi_class("V_New", prop("Id", "string", key=True)), namespace=ns),
                         "WBEM_E_INVALID_NAMESPACE")
        await repo.fails(repo.client.get_object("V_T", namespace=ns), "WBEM_E_INVALID_NAMESPACE")
    names = await repo.namespaces_in("root")
    assert "test" not in names and "testing" in names
    # The sibling whose name starts the same is untouched.
    assert (await repo.get('V_T.Id="t"', namespace="root\\testing"))["Id"] == "t"
    # No instance or class definition of the deleted namespaces remains in Redis (the schema
    # version, change log and buckets' epochs may stay behind as tombstones for other hosts' caches).
    snap = await repo.snapshot()
    leftovers = [k.decode() for k, (t, v) in snap.items()
                 if not k.decode().endswith("}:schema")  # epochs: tombstones too
                 and ("{i|root\\test|" in k.decode() or "{i|root\\test\\deeper|" in k.decode()
                      or k.decode().endswith(("{s|root\\test}:classes", "{s|root\\test\\deeper}:classes")))
                 and v]
    assert not leftovers, leftovers
    registry = snap[f"{key_prefix}:{{meta}}:namespaces".encode()][1]
    assert b"root\\test" not in registry and b"root\\test\\deeper" not in registry and b"root\\testing" in registry
    # Re-created, the namespace starts empty.
    await repo.client.create_namespace("test")
    await repo.fails(repo.client.get_object("V_T", namespace="root\\test"), "WBEM_E_NOT_FOUND")
    await repo.fails(repo.client.get_object("__SystemClass", namespace="root\\test\\deeper"),
                     "WBEM_E_INVALID_NAMESPACE")


async def test_deleting_a_nested_namespace_instance_keeps_the_parent(repo):
    await repo.client.create_namespace("test")
    await repo.client.create_namespace("deeper", parent="root\\test")
    await repo.define(wmi_class("V_T", prop("Id", "string", key=True)), namespace="root\\test")
    await repo.client.delete_instance('__NAMESPACE.Name="deeper"', namespace="root\\test")
    await repo.fails(repo.client.get_object("__NAMESPACE", namespace="root\\test\\deeper"), "WBEM_E_INVALID_NAMESPACE")
    assert (await repo.get("V_T", namespace="root\\test"))["__CLASS"] == "V_T"
    assert await repo.namespaces_in("root\\test") == []


@pytest.mark.parametrize("name", ["bad name", "1abc", "a\\b", "a/b", "x.y", "a:b", "   "])
async def test_a_namespace_name_that_is_not_an_identifier_fails_with_invalid_parameter(repo, name):
    await repo.fails(repo.client.create_namespace(name), "WBEM_E_INVALID_PARAMETER")
    assert await repo.namespaces_in("root") in ([], ["cimv2"])


async def test_a_put_into_an_unknown_namespace_fails_with_invalid_namespace(repo):
    await repo.fails(repo.client.put_class(wmi_class("V_T", prop("Id", "string", key=True)), namespace="root\\nope"),
                     "WBEM_E_INVALID_NAMESPACE")
    await repo.fails(repo.client.put_instance(instance("V_T", Id="x"), namespace="root\\nope"),
                     "WBEM_E_INVALID_NAMESPACE")
    await repo.enum_fails("V_T", "WBEM_E_INVALID_NAMESPACE", namespace="root\\nope")
    await repo.fails(repo.client.delete_instance('V_T.Id="x"', namespace="root\\nope"), "WBEM_E_INVALID_NAMESPACE")
