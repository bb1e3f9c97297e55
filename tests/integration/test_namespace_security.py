"""Namespace permissions, WMI's bits and rules, against a real host whose callers authenticate
with bearer tokens: each operation with exactly the rights it needs and with each of them
missing; inheritance, protection and deny entries; the descriptors' API, CLI and limits."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from host.access.rights import ALL, USE, Right, describe
from host.client import (AsyncCall, Credentials, WbemClient, WbemError, WbemFlag, final_hresult, instance, prop,
                         wmi_class)
from host.config import Settings
from host.server.app import Host
from tests.helpers import async_wait_for, redis_snapshot, serving
from tests.provider_env import Workers, dynamic, register, wait_live
from wmiput.v1 import security_pb2 as sec

ADMIN, ALICE, BOB = "admin-token-0123456789abcdef", "alice-token-0123456789abcdef", "bob-token-0123456789abcdef"
NS = "root\\cimv2"


def allow(trustee: str, mask: int, inherit: bool = True) -> sec.AccessEntry:
    return sec.AccessEntry(trustee=trustee, ace_type=sec.ACE_TYPE_ACCESS_ALLOWED, access_mask=int(mask),
                           inherit=inherit)


def deny(trustee: str, mask: int, inherit: bool = True) -> sec.AccessEntry:
    return sec.AccessEntry(trustee=trustee, ace_type=sec.ACE_TYPE_ACCESS_DENIED, access_mask=int(mask),
                           inherit=inherit)


def only(*entries: sec.AccessEntry) -> sec.NamespaceSecurity:
    """A protected descriptor: exactly these entries, nothing inherited."""
    return sec.NamespaceSecurity(entries=list(entries), protected=True)


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    f = tmp_path / "tokens"
    f.write_text(f"admin {ADMIN}\nalice {ALICE}\nbob {BOB}\n")
    return f


@pytest.fixture
def secured_settings(host_settings: Settings, tokens: Path) -> Settings:
    return dataclasses.replace(host_settings, tokens_file=str(tokens), admins="admin")


@pytest.fixture
async def secured(secured_settings: Settings) -> AsyncIterator[Host]:
    async with serving(secured_settings) as h:
        yield h


async def _connect(h: Host, token: str) -> WbemClient:
    return await WbemClient.connect(h.target, timeout=30.0, credentials=Credentials(token=token))


@pytest.fixture
async def admin(secured: Host) -> AsyncIterator[WbemClient]:
    c = await _connect(secured, ADMIN)
    yield c
    await c.close()


@pytest.fixture
async def alice(secured: Host) -> AsyncIterator[WbemClient]:
    c = await _connect(secured, ALICE)
    yield c
    await c.close()


async def _denied(call: Awaitable[object]) -> WbemError:
    with pytest.raises(WbemError) as e:
        await call
    assert e.value.name == "WBEM_E_ACCESS_DENIED", e.value
    return e.value


# -- each operation with and without each right it needs

async def _schema(admin: WbemClient) -> None:
    await admin.put_class(wmi_class("Sec_Base", prop("Id", "string", key=True), prop("Size", "uint32")))
    await admin.put_class(wmi_class("Sec_Derived", prop("Color", "string"), superclass="Sec_Base"))
    await admin.put_instance(instance("Sec_Derived", Id="fixed", Size=1, Color="red"))


async def _final(call: AsyncCall) -> None:
    hr = final_hresult(await call.wait())
    if hr:
        raise AssertionError(f"the call ended with 0x{hr:08X}")


async def _sync_get(c: WbemClient, n: int) -> None:
    await c.get_object('Sec_Derived.Id="fixed"')


async def _enum_classes(c: WbemClient, n: int) -> None:
    assert [o async for o in c.enum_classes("Sec_Base")]


async def _enum_instances(c: WbemClient, n: int) -> None:
    assert [o async for o in c.enum_instances("Sec_Base")]


async def _list_providers(c: WbemClient, n: int) -> None:
    await c.list_providers()


async def _put_class(c: WbemClient, n: int) -> None:
    await c.put_class(wmi_class(f"Sec_New{n}", prop("K", "string", key=True)))


async def _put_class_semisync(c: WbemClient, n: int) -> None:
    call = await c.put_class_semisync(wmi_class(f"Sec_New{n}", prop("K", "string", key=True)))
    got = await c.call_result(call.handle).get_call_status(10_000)
    assert got is not None and got[0] == 0, got


async def _put_class_async(c: WbemClient, n: int) -> None:
    await _final(await c.put_class_async(wmi_class(f"Sec_New{n}", prop("K", "string", key=True))))


async def _delete_class(c: WbemClient, n: int) -> None:
    await c.delete_class("Sec_Derived")


async def _put_instance(c: WbemClient, n: int) -> None:
    await c.put_instance(instance("Sec_Derived", Id=f"i{n}", Color="blue"))


async def _update_instance(c: WbemClient, n: int) -> None:
    await c.put_instance(instance("Sec_Derived", Id="fixed", Color=f"c{n}"), WbemFlag.UPDATE_ONLY)


async def _put_instance_semisync(c: WbemClient, n: int) -> None:
    call = await c.put_instance_semisync(instance("Sec_Derived", Id=f"i{n}"))
    got = await c.call_result(call.handle).get_call_status(10_000)
    assert got is not None and got[0] == 0, got


async def _put_instance_async(c: WbemClient, n: int) -> None:
    await _final(await c.put_instance_async(instance("Sec_Derived", Id=f"i{n}")))


async def _put_async(c: WbemClient, n: int) -> None:
    await _final(await c.put_async(instance("Sec_Derived", Id=f"i{n}")))


async def _delete_instance(c: WbemClient, n: int) -> None:
    await c.delete_instance('Sec_Derived.Id="fixed"')


async def _put_system_instance(c: WbemClient, n: int) -> None:
    await c.put_instance(instance("__Win32Provider", Name=f"P{n}", HostingModel="Decoupled:Com"))


async def _create_namespace(c: WbemClient, n: int) -> None:
    await c.create_namespace(f"child{n}", parent=NS)


async def _get_security(c: WbemClient, n: int) -> None:
    await c.get_namespace_security()


async def _set_security(c: WbemClient, n: int) -> None:
    await c.set_namespace_security(only(allow("alice", USE | Right.WRITE_DAC), allow(f"someone{n}", Right.ENABLE)))


# Each operation, the rights it needs, and the rights that may stand in for one of them.
OPERATIONS: list[tuple[str, Callable[[WbemClient, int], Awaitable[None]], int]] = [
    ("GetObject", _sync_get, USE),
    ("CreateClassEnum", _enum_classes, USE),
    ("CreateInstanceEnum", _enum_instances, USE),
    ("ListProviders", _list_providers, USE),
    ("PutClass", _put_class, USE | Right.FULL_WRITE_REP),
    ("PutClass semisynchronous", _put_class_semisync, USE | Right.FULL_WRITE_REP),
    ("PutClassAsync", _put_class_async, USE | Right.FULL_WRITE_REP),
    ("DeleteClass", _delete_class, USE | Right.FULL_WRITE_REP),
    ("PutInstance (static)", _put_instance, USE | Right.PARTIAL_WRITE_REP),
    ("PutInstance update (static)", _update_instance, USE | Right.PARTIAL_WRITE_REP),
    ("PutInstance semisynchronous", _put_instance_semisync, USE | Right.PARTIAL_WRITE_REP),
    ("PutInstanceAsync", _put_instance_async, USE | Right.PARTIAL_WRITE_REP),
    ("PutAsync", _put_async, USE | Right.PARTIAL_WRITE_REP),
    ("DeleteInstance (static)", _delete_instance, USE | Right.PARTIAL_WRITE_REP),
    ("PutInstance of a system class", _put_system_instance, USE | Right.FULL_WRITE_REP),
    ("PutInstance __NAMESPACE", _create_namespace, USE | Right.FULL_WRITE_REP),
    ("GetNamespaceSecurity", _get_security, USE | Right.READ_CONTROL),
    ("SetNamespaceSecurity", _set_security, USE | Right.WRITE_DAC),
]


@pytest.mark.parametrize("name,op,need", OPERATIONS, ids=[o[0] for o in OPERATIONS])
async def test_each_operation_needs_its_rights(admin, alice, secured, redis, key_prefix, name, op, need):
    await _schema(admin)
    attempt = 0
    for right in Right:
        if not need & right:
            continue
        # Every right but this one (and but Full Write, which stands in for Partial Write).
        lacking = right | (Right.FULL_WRITE_REP if right == Right.PARTIAL_WRITE_REP else 0)
        await admin.set_namespace_security(only(allow("alice", ALL & ~lacking)), namespace=NS)
        before = await redis_snapshot(redis, key_prefix)
        attempt += 1
        e = await _denied(op(alice, attempt))
        assert f"lacks {describe(right)}" in e.description, e.description
        assert await redis_snapshot(redis, key_prefix) == before, \
            f"{name} without {describe(right)} changed the repository"
    # Exactly the rights it needs: it works.
    await admin.set_namespace_security(only(allow("alice", need)), namespace=NS)
    await op(alice, 0)


async def test_full_write_stands_in_for_partial_write(admin, alice):
    await _schema(admin)
    await admin.set_namespace_security(only(allow("alice", USE | Right.FULL_WRITE_REP)), namespace=NS)
    await _put_instance(alice, 1)
    await _delete_instance(alice, 1)
    # ...but not Partial Write for Full Write, nor Provider Write for either.
    await admin.set_namespace_security(only(allow("alice", USE | Right.PARTIAL_WRITE_REP | Right.WRITE_PROVIDER)),
                                       namespace=NS)
    await _denied(_put_class(alice, 2))
    await _denied(_put_system_instance(alice, 2))
    await admin.set_namespace_security(only(allow("alice", USE | Right.WRITE_PROVIDER)), namespace=NS)
    await _denied(_put_instance(alice, 3))


async def test_caller_rights_need_only_authentication(admin, alice):
    await admin.set_namespace_security(only(), namespace=NS)
    r = await alice.caller_access_rights(namespace=NS)
    assert (r.principal, r.access_mask, r.administrator) == ("alice", 0, False)
    await _denied(_sync_get(alice, 0))
    r = await admin.caller_access_rights(namespace=NS)
    assert (r.principal, r.access_mask, r.administrator) == ("admin", int(ALL), True)


async def test_provider_writes_need_provider_write(admin, alice, secured, tmp_path, redis, redis_url, key_prefix):
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        await register(admin, "SecInv")
        w.start("SecInv")
        await admin.put_class(dynamic("Sec_Dyn", "SecInv", prop("Id", "string", key=True), prop("V", "uint32")))
        await wait_live(admin, "SecInv")
        for mask in (ALL & ~Right.WRITE_PROVIDER, USE | Right.FULL_WRITE_REP | Right.PARTIAL_WRITE_REP):
            await admin.set_namespace_security(only(allow("alice", mask)), namespace=NS)
            e = await _denied(alice.put_instance(instance("Sec_Dyn", Id="d1", V=1)))
            assert "ProviderWrite" in e.description and "provider" in e.description
            await _denied(alice.put_instance_async(instance("Sec_Dyn", Id="d1", V=1)))
        assert w.items("SecInv") == {} and w.calls("SecInv") == [], "a refused put reached the provider"
        await admin.set_namespace_security(only(allow("alice", USE | Right.WRITE_PROVIDER)), namespace=NS)
        await alice.put_instance(instance("Sec_Dyn", Id="d1", V=1))
        await _final(await alice.put_instance_async(instance("Sec_Dyn", Id="d2", V=2)))
        assert set(w.items("SecInv")) == {'sec_dyn.id="d1"', 'sec_dyn.id="d2"'}
    finally:
        w.stop_all()


# -- inheritance, protection, deny

async def test_entries_are_inherited_unless_this_namespace_only(admin, alice):
    await admin.create_namespace("child", parent=NS)
    await admin.create_namespace("grandchild", parent=NS + "\\child")
    await admin.set_namespace_security(only(allow("alice", USE | Right.READ_CONTROL),
                                            allow("alice", Right.FULL_WRITE_REP, inherit=False)), namespace=NS)
    for ns in (NS, NS + "\\child", NS + "\\child\\grandchild"):
        got = (await alice.caller_access_rights(namespace=ns)).access_mask
        want = USE | Right.READ_CONTROL | (Right.FULL_WRITE_REP if ns == NS else 0)
        assert got == want, f"{ns}: {describe(got)}"
    r = await alice.get_namespace_security(namespace=NS + "\\child\\grandchild")
    assert list(r.security.entries) == [] and r.version == 0
    assert [(i.entry.access_mask, i.from_namespace) for i in r.inherited][:1] == [(USE | Right.READ_CONTROL, NS)]


async def test_a_protected_child_ignores_its_parent_and_a_deny_wins(admin, alice):
    await admin.create_namespace("child", parent=NS)
    child = NS + "\\child"
    await admin.set_namespace_security(only(allow("alice", ALL)), namespace=NS)
    # A deny in the child beats the allow inherited from the parent.
    await admin.set_namespace_security(sec.NamespaceSecurity(entries=[deny("alice", Right.FULL_WRITE_REP)]),
                                       namespace=child)
    assert (await alice.caller_access_rights(namespace=child)).access_mask == ALL & ~Right.FULL_WRITE_REP
    await _denied(alice.put_class(wmi_class("Sec_C", prop("K", "string", key=True)), namespace=child))
    # A deny for a group the caller is in wins over an allow to the caller by name.
    await admin.set_namespace_security(sec.NamespaceSecurity(entries=[
        allow("alice", ALL), deny("Authenticated Users", Right.WRITE_DAC)]), namespace=child)
    assert (await alice.caller_access_rights(namespace=child)).access_mask == ALL & ~Right.WRITE_DAC
    # Protected: the parent's entries stop at the child.
    await admin.set_namespace_security(sec.NamespaceSecurity(entries=[allow("alice", USE)], protected=True),
                                       namespace=child)
    assert (await alice.caller_access_rights(namespace=child)).access_mask == USE
    await alice.put_class(wmi_class("Sec_P", prop("K", "string", key=True)), namespace=NS)
    await _denied(alice.put_class(wmi_class("Sec_P", prop("K", "string", key=True)), namespace=child))
    # A deny inherited from the parent wins over an allow in the child.
    await admin.set_namespace_security(sec.NamespaceSecurity(entries=[allow("Everyone", ALL),
                                                                      deny("alice", Right.ENABLE)]), namespace=NS)
    await admin.set_namespace_security(sec.NamespaceSecurity(entries=[allow("alice", ALL)]), namespace=child)
    assert (await alice.caller_access_rights(namespace=child)).access_mask == ALL & ~Right.ENABLE


async def test_default_rights_and_administrators(admin, alice, secured_settings):
    # No descriptor set anywhere: Authenticated Users get the default on root, inherited.
    r = await alice.caller_access_rights(namespace=NS)
    assert r.access_mask == (Right.ENABLE | Right.METHOD_EXECUTE | Right.FULL_WRITE_REP | Right.WRITE_PROVIDER
                             | Right.REMOTE_ACCESS)
    root = await admin.get_namespace_security(namespace="root")
    assert [(e.trustee, e.inherit) for e in root.security.entries] == [("Authenticated Users", True)]
    await _denied(alice.get_namespace_security(namespace=NS))  # no Read Security by default
    # An administrator holds everything, whatever the entries say.
    await admin.set_namespace_security(only(deny("admin", ALL), deny("Everyone", ALL)), namespace=NS)
    await admin.put_class(wmi_class("Sec_A", prop("K", "string", key=True)))
    await _denied(_sync_get(alice, 0))


async def test_default_rights_are_configurable(host_settings, tokens):
    s = dataclasses.replace(host_settings, tokens_file=str(tokens), admins="admin", default_rights="Enable,RemoteAccess")
    async with serving(s) as h:
        c = await _connect(h, BOB)
        try:
            assert (await c.caller_access_rights(namespace=NS)).access_mask == USE
            await _denied(c.put_class(wmi_class("Sec_D", prop("K", "string", key=True))))
        finally:
            await c.close()
    with pytest.raises(RuntimeError, match="default-rights"):
        async with serving(dataclasses.replace(s, default_rights="Enable,Fly")):
            pass


async def test_without_authentication_everyone_is_an_administrator(client):
    r = await client.caller_access_rights(namespace=NS)
    assert (r.principal, r.access_mask, r.administrator) == ("anonymous", int(ALL), True)
    await client.set_namespace_security(only(deny("Everyone", ALL)), namespace=NS)
    await client.put_class(wmi_class("Sec_N", prop("K", "string", key=True)))


# -- the descriptors: versions, validation, other hosts, deleted namespaces

async def test_set_with_a_stale_version_changes_nothing(admin):
    r = await admin.get_namespace_security(namespace=NS)
    assert r.version == 0
    v1 = await admin.set_namespace_security(only(allow("alice", USE)), namespace=NS, expected_version=0)
    assert v1 == 1
    with pytest.raises(WbemError) as e:
        await admin.set_namespace_security(only(allow("bob", USE)), namespace=NS, expected_version=0)
    assert e.value.name == "WBEM_E_INVALID_OPERATION"
    r = await admin.get_namespace_security(namespace=NS)
    assert [x.trustee for x in r.security.entries] == ["alice"] and r.version == 1


@pytest.mark.parametrize("entry,code", [
    (sec.AccessEntry(trustee="", ace_type=sec.ACE_TYPE_ACCESS_ALLOWED, access_mask=1), "WBEM_E_INVALID_PARAMETER"),
    (sec.AccessEntry(trustee="x" * 257, ace_type=sec.ACE_TYPE_ACCESS_ALLOWED, access_mask=1),
     "WBEM_E_INVALID_PARAMETER"),
    (sec.AccessEntry(trustee="al\nice", ace_type=sec.ACE_TYPE_ACCESS_ALLOWED, access_mask=1),
     "WBEM_E_INVALID_PARAMETER"),
    (sec.AccessEntry(trustee="alice", access_mask=1), "WBEM_E_INVALID_PARAMETER"),
    (sec.AccessEntry(trustee="alice", ace_type=7, access_mask=1), "WBEM_E_INVALID_PARAMETER"),
    (sec.AccessEntry(trustee="alice", ace_type=sec.ACE_TYPE_ACCESS_ALLOWED, access_mask=0x100),
     "WBEM_E_INVALID_PARAMETER"),
], ids=["empty trustee", "long trustee", "control character", "no ace type", "unknown ace type", "unknown right"])
async def test_bad_descriptors_are_refused(admin, redis, key_prefix, entry, code):
    before = await redis_snapshot(redis, key_prefix)
    with pytest.raises(WbemError) as e:
        await admin.set_namespace_security(sec.NamespaceSecurity(entries=[allow("bob", USE), entry]), namespace=NS)
    assert e.value.name == code, e.value
    assert await redis_snapshot(redis, key_prefix) == before


async def test_limits_and_unknown_namespaces(admin):
    many = sec.NamespaceSecurity(entries=[allow(f"p{i}", USE) for i in range(257)])
    with pytest.raises(WbemError) as e:
        await admin.set_namespace_security(many, namespace=NS)
    assert e.value.name == "WBEM_E_QUOTA_VIOLATION"
    for call in (admin.get_namespace_security(namespace="root\\nowhere"),
                 admin.set_namespace_security(only(), namespace="root\\nowhere"),
                 admin.caller_access_rights(namespace="root\\nowhere")):
        with pytest.raises(WbemError) as e:
            await call
        assert e.value.name == "WBEM_E_INVALID_NAMESPACE"


async def test_another_host_applies_a_change_within_its_cache_time(secured_settings, admin, alice):
    other = dataclasses.replace(secured_settings, security_cache_ms=200)
    async with serving(other) as h2:
        bob2 = await _connect(h2, BOB)
        try:
            await bob2.put_class(wmi_class("Sec_X", prop("K", "string", key=True)))
            await admin.set_namespace_security(only(allow("bob", USE)), namespace=NS)

            async def refused() -> bool:
                try:
                    await bob2.put_class(wmi_class("Sec_Y", prop("K", "string", key=True)))
                except WbemError as e:
                    return e.name == "WBEM_E_ACCESS_DENIED"
                await bob2.delete_class("Sec_Y")
                return False
            await async_wait_for(refused, timeout=10, message="the other host applies the new descriptor")
        finally:
            await bob2.close()


async def test_a_namespace_created_again_starts_without_its_old_security(admin, alice):
    await admin.create_namespace("gone", parent=NS)
    await admin.set_namespace_security(only(allow("alice", ALL)), namespace=NS + "\\gone")
    await admin.delete_instance('__NAMESPACE.Name="gone"', namespace=NS)
    await admin.create_namespace("gone", parent=NS)
    r = await admin.get_namespace_security(namespace=NS + "\\gone")
    assert list(r.security.entries) == [] and not r.security.protected


async def test_security_changes_are_audited(admin, redis, key_prefix):
    await admin.set_namespace_security(only(allow("alice", USE)), namespace=NS)

    async def entry() -> dict[bytes, bytes] | None:
        for _, fields in await redis.xrange(f"{key_prefix}:{{meta}}:audit"):
            if fields.get(b"op") == b"SetNamespaceSecurity":
                return fields
        return None
    await async_wait_for(entry, timeout=10, message="an audit entry")
    fields = await entry()
    assert fields is not None and fields[b"principal"] == b"admin" and fields[b"namespace"] == NS.encode()


# -- the CLI

async def _cli(target: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(  # in a thread: the host answering it runs on this event loop
        subprocess.run,[sys.executable, "-m", "host.cli", "security", *args, "--target", target],
        capture_output=True, text=True, timeout=60, env={**os.environ, "WMIPUT_TOKEN": token})


async def test_the_cli_grants_denies_revokes_and_shows(secured, alice):
    t = secured.target
    assert (await _cli(t, ADMIN, "protect")).returncode == 0
    out = await _cli(t, ALICE, "rights")
    assert out.returncode == 0 and out.stdout.startswith("alice: none"), out
    assert (await _cli(t, ADMIN, "grant", "alice", "Enable,RemoteAccess,PartialWrite,ReadSecurity")).returncode == 0
    assert (await _cli(t, ADMIN, "deny", "alice", "PartialWrite", "--this-namespace-only")).returncode == 0
    shown = await _cli(t, ALICE, "show")
    assert shown.returncode == 0, shown.stderr
    assert "protected" in shown.stdout
    assert "allow alice: Enable,PartialWrite,RemoteAccess,ReadSecurity" in shown.stdout
    assert "deny  alice: PartialWrite  [this namespace only]" in shown.stdout
    out = await _cli(t, ALICE, "rights")
    assert "alice: Enable,RemoteAccess,ReadSecurity" in out.stdout, out
    refused = await _cli(t, ALICE, "grant", "alice", "all")
    assert refused.returncode == 1 and "WBEM_E_ACCESS_DENIED" in refused.stderr
    assert (await _cli(t, ADMIN, "revoke", "alice")).returncode == 0
    assert (await alice.caller_access_rights(namespace=NS)).access_mask == 0
    bad = await _cli(t, ADMIN, "grant", "alice", "Fly")
    assert bad.returncode != 0 and "unknown right 'Fly'" in bad.stderr


# -- a call checked again when it runs

@pytest.mark.parametrize("op,obj", [
    ("PutClassAsync", wmi_class("Sec_Late", prop("K", "string", key=True))),
    ("PutInstanceAsync", instance("Sec_Derived", Id="late")),
], ids=["class", "instance"])
async def test_a_call_adopted_after_its_rights_were_revoked_ends_denied(secured_settings, tokens, redis, key_prefix,
                                                                        op, obj):
    """A call recorded by a host that died before running it: the host adopting it checks the
    owner's rights as they are now, not as they were when the call started."""
    from host.calls import events
    from host.calls.store import call_id, new_handle
    from wmiput.v1 import calls_pb2 as calls

    async with serving(dataclasses.replace(secured_settings, host_lease_ms=300)) as h:
        adm, al = await _connect(h, ADMIN), await _connect(h, ALICE)
        try:
            await _schema(adm)
            await adm.set_namespace_security(only(allow("alice", USE | Right.PARTIAL_WRITE_REP)), namespace=NS)
            handle = new_handle()
            request = getattr(calls, f"{op}Request")(namespace=NS, object=obj)
            await h.calls.store.create(call_id(handle), owner="alice", op=op, flavour=events.COM, host="gone-host",
                                       send_status=False, request=request.SerializeToString(), async_context=b"")
            # Rights as the call runs: none to write anything.
            await adm.set_namespace_security(only(allow("alice", USE)), namespace=NS)
            got = await al.call_result(handle).get_call_status(20_000)  # the host's recovery adopts it
            assert got is not None and got[1] is not None and got[1].hresult_name == "WBEM_E_ACCESS_DENIED", got
            with pytest.raises(WbemError) as e:
                await adm.get_object(f'{obj.class_name}' if op == "PutClassAsync" else 'Sec_Derived.Id="late"')
            assert e.value.name in ("WBEM_E_NOT_FOUND", "WBEM_E_INVALID_CLASS")
        finally:
            await adm.close()
            await al.close()
