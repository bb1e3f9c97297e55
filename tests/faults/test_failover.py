"""A client given several hosts keeps working when one dies, and a put repeated on another host
with its idempotency key is applied once: two host processes on one Redis, one killed (-9)."""

from __future__ import annotations

import pytest

from host.client import WbemClient, WbemError, WbemFlag, instance, prop, to_dict, wmi_class
from tests.faults.test_call_handover import Hosts
from wmiput.v1 import services_pb2 as api


@pytest.fixture
async def hosts(tmp_path, redis_url, key_prefix):
    h = Hosts(tmp_path, redis_url, key_prefix)
    try:
        yield h
    finally:
        h.stop_all()


async def test_a_client_of_two_hosts_goes_on_when_one_dies(hosts, redis_url):
    t1, t2 = hosts.spawn("H1"), hosts.spawn("H2")
    c = await WbemClient.connect([t1, t2], timeout=30)
    try:
        assert c.idempotent_puts
        await c.put_class(wmi_class("Fo_C", prop("Id", "string", key=True), prop("N", "uint32")))
        # Whichever host it uses, kill that one: reads and puts go on through the other.
        first = c.target
        hosts.kill("H1" if first == t1 else "H2")
        for i in range(20):
            await c.put_instance(instance("Fo_C", Id=f"i{i}", N=i), WbemFlag.CREATE_ONLY)
        assert c.target != first
        assert to_dict(await c.get_object('Fo_C.Id="i19"'))["N"] == 19
        assert len([o async for o in c.enum_instances("Fo_C")]) == 20
        # What it cannot repeat safely fails as a transport failure rather than being sent twice.
        hosts.kill("H2" if first == t1 else "H1")
        with pytest.raises(WbemError) as e:
            await c.delete_instance('Fo_C.Id="i0"')
        assert e.value.name == "WBEM_E_TRANSPORT_FAILURE"
    finally:
        await c.close()


@pytest.mark.parametrize("failpoint", ["call_committing", "call_before_final"])
async def test_a_put_whose_host_dies_mid_way_is_applied_once_through_the_other_host(hosts, redis_url, failpoint):
    """H1 is killed just before its write commits, or after it applied and before it answered; the
    client repeats the put (CREATE_ONLY) on H2 with the same idempotency key; H2 waits for the call,
    which H2's recovery adopts and finishes; the answer is the put's one outcome, success (a second
    run would be WBEM_E_ALREADY_EXISTS)."""
    t1 = hosts.spawn("H1", {"WMIPUT_FAILPOINTS": failpoint})
    t2 = hosts.spawn("H2")
    setup = await WbemClient.connect(t2)
    await setup.put_class(wmi_class("Fo_D", prop("Id", "string", key=True), prop("N", "uint32")))
    c = await WbemClient.connect([t1, t2], timeout=60)
    c.channel.endpoints._current = 0  # noqa: SLF001 - start on H1, the host that dies
    try:
        res = await c.put_instance(instance("Fo_D", Id="once", N=1), WbemFlag.CREATE_ONLY)
        assert res.relpath == 'Fo_D.Id="once"'
        assert hosts.died("H1"), "the failpoint did not fire: the test proves nothing"
        assert c.target == t2
        assert to_dict(await setup.get_object('Fo_D.Id="once"'))["N"] == 1
        # The instance was written once: a put of it with a new key is a second put.
        with pytest.raises(WbemError) as e:
            await setup.put_instance(instance("Fo_D", Id="once", N=1), WbemFlag.CREATE_ONLY)
        assert e.value.name == "WBEM_E_ALREADY_EXISTS"
    finally:
        await c.close()
        await setup.close()


async def test_idempotency_keys(hosts):
    t = hosts.spawn("H1")
    c = await WbemClient.connect(t)
    try:
        await c.put_class(wmi_class("Fo_K", prop("Id", "string", key=True), prop("N", "uint32")))
        one = await c.put_instance(instance("Fo_K", Id="a", N=1), WbemFlag.CREATE_ONLY, idempotency_key="k1")
        assert await c.put_instance(instance("Fo_K", Id="a", N=1), WbemFlag.CREATE_ONLY, idempotency_key="k1") == one
        with pytest.raises(WbemError) as e:  # the same key, another request
            await c.put_instance(instance("Fo_K", Id="b", N=1), WbemFlag.CREATE_ONLY, idempotency_key="k1")
        assert e.value.name == "WBEM_E_INVALID_PARAMETER"
        with pytest.raises(WbemError) as e:  # without a key, a repeat is a second put
            await c.put_instance(instance("Fo_K", Id="a", N=1), WbemFlag.CREATE_ONLY)
        assert e.value.name == "WBEM_E_ALREADY_EXISTS"
        for bad in ("x" * 129, "tab\there"):
            with pytest.raises(WbemError) as e:
                await c.put_instance(instance("Fo_K", Id="c"), idempotency_key=bad)
            assert e.value.name == "WBEM_E_INVALID_PARAMETER"
        # Semisynchronous with a key: a repeat gets the same handle.
        r = api.PutInstanceRequest(namespace="root\\cimv2", object=instance("Fo_K", Id="s", N=3),
                                   flags=int(WbemFlag.RETURN_IMMEDIATELY), idempotency_key="k-semi")
        h1, h2 = (await c.stub.PutInstance(r)).call_handle, (await c.stub.PutInstance(r)).call_handle
        assert h1 and h1 == h2
        got = await c.call_result(h1).get_call_status(10_000)
        assert got is not None and got[0] == 0
        # A class put with a key, repeated.
        k = wmi_class("Fo_K2", prop("Id", "string", key=True))
        assert (await c.put_class(k, WbemFlag.CREATE_ONLY, idempotency_key="kc")).path == \
            (await c.put_class(k, WbemFlag.CREATE_ONLY, idempotency_key="kc")).path

        # A failed put's repeat fails the same way, without running again.
        async def refused() -> str:
            try:
                await c.put_instance(instance("Fo_K", Id="a", N=9), WbemFlag.CREATE_ONLY, idempotency_key="k9")
            except WbemError as err:
                return err.name
            return "ok"
        assert await refused() == "WBEM_E_ALREADY_EXISTS"
        await c.delete_instance('Fo_K.Id="a"')
        assert await refused() == "WBEM_E_ALREADY_EXISTS"  # the recorded outcome, though it would pass now
    finally:
        await c.close()
