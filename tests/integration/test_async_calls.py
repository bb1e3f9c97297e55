"""Asynchronous puts (sink events) and semisynchronous ones (call handles), on one host."""

from __future__ import annotations

import pytest

from host.client import INFINITE, WbemError, WbemFlag, instance, prop, wmi_class
from tests.helpers import async_wait_for, redis_snapshot
from tests.provider_env import Workers, dynamic, register, wait_live
from wmiput.v1 import status_pb2 as st

S_OK, S_TIMEDOUT = 0, 0x40004
COMPLETE, PROGRESS = st.WBEM_STATUS_COMPLETE, st.WBEM_STATUS_PROGRESS


def thing(name: str = "A_Thing") -> object:
    return wmi_class(name, prop("Id", "string", key=True), prop("Size", "uint32"))


def kinds(evs: list) -> list[str]:
    return [e.WhichOneof("event") for e in evs]


async def events_of(call) -> list:
    return [e async for e in call]


@pytest.fixture
async def chain(client, tmp_path, redis_url, key_prefix):
    """Async_A (provider LevelA) <- Async_B (provider LevelB, refuses Color=red, holds Color=hold)."""
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        for n in ("LevelA", "LevelB"):
            await register(client, n)
        w.start("LevelA")
        w.start("LevelB", refuse_when="Color:red", hold_when="Color:hold")
        await client.put_class(dynamic("Async_A", "LevelA", prop("Id", "string", key=True), prop("Color", "string")))
        await client.put_class(dynamic("Async_B", "LevelB", prop("Shape", "string"), superclass="Async_A"))
        await wait_live(client, "LevelA", "LevelB")
        yield w
    finally:
        (w.data_dir / "LevelB.release").touch()
        w.stop_all()


# ---------------------------------------------------------------- PutInstanceAsync / PutClassAsync


async def test_put_instance_async_without_send_status_streams_accepted_then_one_complete(client):
    await client.put_class(thing())
    call = await client.put_instance_async(instance("A_Thing", Id="a1", Size=1))
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "set_status"]
    assert evs[0].accepted.call_handle == call.handle and evs[0].accepted.operation == "PutInstanceAsync"
    done = evs[-1]
    assert done.final and done.sequence == 1 and done.call_handle == call.handle
    assert done.set_status.flags == COMPLETE and done.set_status.hresult == S_OK
    assert done.set_status.str_param.endswith('\\root\\cimv2:A_Thing.Id="a1"')
    assert not done.set_status.HasField("error_object")
    assert (await client.get_object('A_Thing.Id="a1"')).class_name == "A_Thing"


async def test_put_instance_async_with_send_status_reports_each_level_then_completes(client, chain):
    call = await client.put_instance_async(instance("Async_B", Id="s1", Color="blue", Shape="round"),
                                           WbemFlag.SEND_STATUS | WbemFlag.CREATE_ONLY)
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "set_status", "set_status", "set_status"]
    p1, p2, done = (e.set_status for e in evs[1:])
    assert (p1.flags, p1.current, p1.total, p1.hresult) == (PROGRESS, 1, 2, (2 << 16) | 1)
    assert (p2.flags, p2.current, p2.total, p2.hresult) == (PROGRESS, 2, 2, (2 << 16) | 2)
    assert "LevelA" in p1.str_param and "LevelB" in p2.str_param
    assert [e.sequence for e in evs] == [0, 1, 2, 3] and [e.final for e in evs] == [False] * 3 + [True]
    assert done.flags == COMPLETE and done.hresult == S_OK and done.str_param.endswith('Async_B.Id="s1"')
    assert 'async_b.id="s1"' in chain.items("LevelA") and 'async_b.id="s1"' in chain.items("LevelB")


async def test_a_provider_refusal_is_the_final_status_with_its_error_object(client, chain):
    call = await client.put_instance_async(instance("Async_B", Id="r1", Color="red"), WbemFlag.SEND_STATUS)
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "set_status", "set_status"], "level A accepted, then B refused"
    done = evs[-1].set_status
    assert done.flags == COMPLETE and done.hresult == 0x80041008 and done.str_param == ""
    assert done.error_object.hresult_name == "WBEM_E_INVALID_PARAMETER"
    assert done.error_object.provider_name == "LevelB" and done.error_object.operation == "PutInstanceAsync"
    assert 'async_b.id="r1"' not in chain.items("LevelA")


@pytest.mark.parametrize("flags, code", [(WbemFlag.CREATE_ONLY, "WBEM_E_ALREADY_EXISTS"),
                                         (WbemFlag.UPDATE_ONLY, "WBEM_E_NOT_FOUND")])
async def test_repository_refusals_arrive_as_the_final_status(client, redis, key_prefix, flags, code):
    await client.put_class(thing())
    await client.put_instance(instance("A_Thing", Id="exists", Size=1))
    before = await redis_snapshot(redis, key_prefix, exclude=("{c|", ":calls:"))
    target = "exists" if code == "WBEM_E_ALREADY_EXISTS" else "missing"
    call = await client.put_instance_async(instance("A_Thing", Id=target, Size=2), flags)
    done = (await call.wait()).set_status
    assert done.error_object.hresult_name == code and done.hresult == int(WbemError(code, "").hresult)
    assert await redis_snapshot(redis, key_prefix, exclude=("{c|", ":calls:")) == before


async def test_errors_found_after_the_start_go_to_the_sink_not_the_rpc(client):
    """WMI: the dynamic/static decision, existence and class checks come through SetStatus."""
    call = await client.put_instance_async(instance("No_Such_Class", Id="x"))
    done = (await call.wait()).set_status
    assert done.error_object.hresult_name == "WBEM_E_INVALID_CLASS"
    call = await client.put_instance_async(wmi_class("Not_An_Instance"))
    assert (await call.wait()).set_status.error_object.hresult_name == "WBEM_E_INVALID_OBJECT"
    call = await client.put_instance_async(instance("A_Thing", Id="x"), namespace="root\\nowhere")
    assert (await call.wait()).set_status.error_object.hresult_name == "WBEM_E_INVALID_NAMESPACE"


@pytest.mark.parametrize("method, flags", [("put_instance_async", WbemFlag.RETURN_IMMEDIATELY),
                                           ("put_instance_async", WbemFlag.UPDATE_SAFE_MODE),
                                           ("put_instance_async", 0x3),
                                           ("put_class_async", WbemFlag.RETURN_IMMEDIATELY),
                                           ("put_class_async", 0x60),
                                           ("put_async", WbemFlag.OWNER_UPDATE)])
async def test_a_call_that_cannot_start_fails_the_rpc_and_sends_no_event(client, redis, key_prefix, method, flags):
    before = await redis_snapshot(redis, key_prefix)
    obj = thing("A_Never") if method == "put_class_async" else instance("A_Thing", Id="never")
    with pytest.raises(WbemError) as e:
        await getattr(client, method)(obj, flags)
    assert e.value.name == "WBEM_E_INVALID_PARAMETER"
    assert await redis_snapshot(redis, key_prefix) == before, "no call record, nothing written"


async def test_a_null_object_cannot_start(client):
    from wmiput.v1 import calls_pb2 as calls
    with pytest.raises(WbemError) as e:
        await client._async_call(client.stub.PutInstanceAsync, calls.PutInstanceAsyncRequest(namespace="root\\cimv2"),
                                 1.0)
    assert e.value.name == "WBEM_E_INVALID_PARAMETER" and e.value.parameter_info == "pObject"


async def test_put_class_async_with_and_without_send_status(client):
    call = await client.put_class_async(thing("A_Class1"))
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "set_status"]
    assert evs[-1].set_status.hresult == S_OK and evs[-1].set_status.str_param.endswith("\\root\\cimv2:A_Class1")
    call = await client.put_class_async(thing("A_Class2"), WbemFlag.SEND_STATUS)
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "set_status", "set_status"]
    assert (evs[1].set_status.flags, evs[1].set_status.current, evs[1].set_status.total) == (PROGRESS, 1, 1)
    assert evs[2].final and evs[2].set_status.flags == COMPLETE
    call = await client.put_class_async(thing("A_Class2"), WbemFlag.CREATE_ONLY | WbemFlag.SEND_STATUS)
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "set_status"], "a refused class put reports no progress"
    assert evs[-1].set_status.error_object.hresult_name == "WBEM_E_ALREADY_EXISTS"
    assert evs[-1].set_status.error_object.operation == "PutClassAsync"


# ---------------------------------------------------------------- PutAsync (scripting)


async def test_put_async_echoes_the_async_context_on_every_event(client):
    await client.put_class(thing())
    actx = {"CallNo": 7, "Label": "first", "Tags": ["a", "b"]}
    call = await client.put_async(instance("A_Thing", Id="sc1", Size=1), WbemFlag.SEND_STATUS, async_context=actx)
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "progress", "object_put", "completed"]
    sent = call._client  # the same Context message the client built
    from host.client._client import _context
    want = _context(actx)
    assert all(e.async_context == want for e in evs), "objWbemAsyncContext handed back unchanged"
    assert (evs[1].progress.upper_bound, evs[1].progress.current) == (1, 1)
    assert evs[2].object_put.path.endswith('A_Thing.Id="sc1"') and not evs[2].final
    assert evs[3].final and evs[3].completed.hresult == 0 and not evs[3].completed.HasField("error_object")
    assert sent is client


async def test_put_async_failure_gives_on_completed_with_the_error_object_and_the_context(client):
    actx = {"Who": "me"}
    call = await client.put_async(instance("No_Such_Class", Id="x"), async_context=actx)
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "completed"]
    c = evs[-1].completed
    assert c.hresult == 0x80041010 and c.error_object.hresult_name == "WBEM_E_INVALID_CLASS"
    assert evs[-1].async_context.values[0].name == "Who"


async def test_put_async_puts_a_class_too_but_refuses_update_modes_on_an_instance(client):
    call = await client.put_async(thing("A_Scripted"), WbemFlag.UPDATE_SAFE_MODE)
    evs = await events_of(call)
    assert kinds(evs) == ["accepted", "object_put", "completed"]
    assert evs[1].object_put.path.endswith(":A_Scripted")
    call = await client.put_async(instance("A_Scripted", Id="i"), WbemFlag.UPDATE_FORCE_MODE)
    assert (await call.wait()).completed.error_object.hresult_name == "WBEM_E_INVALID_PARAMETER"


async def test_sinks_receive_the_callbacks_in_order(client):
    await client.put_class(thing())
    got: list[tuple] = []

    class Sink:  # IWbemObjectSink
        def indicate(self, objects):
            got.append(("indicate", len(objects)))

        async def set_status(self, flags, hresult, str_param, error_object):
            got.append(("set_status", flags, hresult, str_param.rsplit(":", 1)[-1], error_object))

    call = await client.put_instance_async(instance("A_Thing", Id="k1", Size=1), WbemFlag.SEND_STATUS)
    assert await call.deliver(Sink()) == 0
    assert got == [("set_status", PROGRESS, (1 << 16) | 1, "A_Thing accepted by the repository", None),
                   ("set_status", COMPLETE, 0, 'A_Thing.Id="k1"', None)]

    seen: list[tuple] = []

    class ScriptSink:  # SWbemSink
        def on_object_put(self, path, async_context):
            seen.append(("put", path.rsplit(":", 1)[-1], async_context.values[0].value.sint))

        def on_progress(self, upper_bound, current, message, async_context):
            seen.append(("progress", upper_bound, current))

        def on_completed(self, hresult, error_object, async_context):
            seen.append(("completed", hresult, error_object))

    call = await client.put_async(instance("A_Thing", Id="k2"), async_context={"N": 5})
    assert await call.deliver(ScriptSink()) == 0
    assert seen == [("put", 'A_Thing.Id="k2"', 5), ("completed", 0, None)]


# ---------------------------------------------------------------- semisynchronous


async def test_semisync_put_instance_returns_a_handle_then_reports_status_path_and_object(client):
    await client.put_class(thing())
    res = await client.put_instance_semisync(instance("A_Thing", Id="ss1", Size=1))
    assert len(res.handle) >= 32
    assert await res.get_call_status(INFINITE) == (S_OK, None)
    assert (await res.get_result_string(0)).endswith('\\root\\cimv2:A_Thing.Id="ss1"')
    with pytest.raises(WbemError) as e:
        await res.get_result_object(0)
    assert e.value.name == "WBEM_E_INVALID_OPERATION", "a put has no result object"
    assert (await client.get_object('A_Thing.Id="ss1"')).class_name == "A_Thing"


async def test_semisync_failure_is_the_call_status_and_the_error_of_result_string_and_object(client):
    await client.put_class(thing())
    await client.put_instance(instance("A_Thing", Id="dup"))
    res = await client.put_instance_semisync(instance("A_Thing", Id="dup"), WbemFlag.CREATE_ONLY)
    status, err = await res.get_call_status(INFINITE)
    assert status == 0x80041019 and err.hresult_name == "WBEM_E_ALREADY_EXISTS" and err.operation == "PutInstance"
    for get in (res.get_result_string, res.get_result_object):
        with pytest.raises(WbemError) as e:
            await get(0)
        assert e.value.name == "WBEM_E_ALREADY_EXISTS"


async def test_semisync_put_class_offers_only_the_call_status(client):
    res = await client.put_class_semisync(thing("A_Semi"))
    assert await res.get_call_status(INFINITE) == (S_OK, None)
    with pytest.raises(WbemError) as e:
        await res.get_result_string(0)
    assert e.value.name == "WBEM_E_INVALID_OPERATION"
    assert (await client.get_object("A_Semi")).class_name == "A_Semi"


async def test_semisync_polling_times_out_while_a_provider_holds_the_put(client, chain):
    res = await client.put_instance_semisync(instance("Async_B", Id="h1", Color="hold"))
    assert await res.get_call_status(0) is None, "WBEM_NO_WAIT on a running call: WBEM_S_TIMEDOUT"
    assert await res.get_call_status(200) is None
    assert await res.get_result_string(100) is None
    assert await res.get_result_object(0) is None
    (chain.data_dir / "LevelB.release").touch()
    assert await res.get_call_status(INFINITE) == (S_OK, None)
    assert (await res.get_result_string(0)).endswith('Async_B.Id="h1"')
    assert 'async_b.id="h1"' in chain.items("LevelB")


async def test_an_unknown_handle_is_not_found_everywhere(client):
    from host.client import CallResult
    bogus = CallResult(client, "x" * 32)
    for get in (bogus.get_call_status, bogus.get_result_string, bogus.get_result_object):
        with pytest.raises(WbemError) as e:
            await get(0)
        assert e.value.name == "WBEM_E_NOT_FOUND"
    for coro in (client.cancel_async_call("x" * 32), client.attach_call("x" * 32), client.cancel_async_call("")):
        with pytest.raises(WbemError) as e:
            await coro
        assert e.value.name == "WBEM_E_NOT_FOUND"


# ---------------------------------------------------------------- cancel


async def test_cancel_before_the_decision_ends_the_call_cancelled_and_applies_nothing(client, chain):
    call = await client.put_instance_async(instance("Async_B", Id="c1", Color="hold"), WbemFlag.SEND_STATUS)
    it = call.__aiter__()
    assert (await it.__anext__()).HasField("accepted")
    # level A has prepared (its progress event is out) and B is holding its prepare
    progress = await it.__anext__()
    assert progress.set_status.flags == PROGRESS and progress.set_status.current == 1
    await call.cancel()
    done = await it.__anext__()
    assert done.final and done.set_status.error_object.hresult_name == "WBEM_E_CALL_CANCELLED"
    (chain.data_dir / "LevelB.release").touch()
    for n in ("LevelA", "LevelB"):
        assert 'async_b.id="c1"' not in chain.items(n)
    # the held prepare finishes after the abort: the provider's abort fence keeps it out
    assert any(c[2] == "abort" for c in chain.calls("LevelA"))
    with pytest.raises(WbemError) as e:
        await call.cancel()
    assert e.value.name == "WBEM_E_INVALID_OPERATION", "a finished call cannot be cancelled"


async def test_cancel_after_the_call_ended_is_refused_and_the_result_stands(client):
    await client.put_class(thing())
    call = await client.put_instance_async(instance("A_Thing", Id="late"))
    await call.wait()
    with pytest.raises(WbemError) as e:
        await call.cancel()
    assert e.value.name == "WBEM_E_INVALID_OPERATION"
    assert (await client.get_object('A_Thing.Id="late"')).class_name == "A_Thing"


async def test_a_semisync_call_can_be_cancelled_by_its_handle(client, chain):
    res = await client.put_instance_semisync(instance("Async_B", Id="c2", Color="hold"))
    await client.cancel_async_call(res.handle)
    status, err = await res.get_call_status(INFINITE)
    assert status == 0x80041032 and err.hresult_name == "WBEM_E_CALL_CANCELLED"
    (chain.data_dir / "LevelB.release").touch()
    assert 'async_b.id="c2"' not in chain.items("LevelA")


async def test_cancel_once_a_one_phase_put_is_with_its_provider_is_refused_and_the_put_completes(client, chain):
    """A put with a single provider hands the decision to it with its PUT: a cancel comes too late."""
    await client.put_class(dynamic("Async_Solo", "LevelB", prop("Id", "string", key=True), prop("Color", "string")))
    call = await client.put_instance_async(instance("Async_Solo", Id="o1", Color="hold"))
    await async_wait_for(lambda: _asked(chain, "LevelB", "Async_Solo"), timeout=30, message="the PUT is with LevelB")
    with pytest.raises(WbemError) as e:
        await call.cancel()
    assert e.value.name == "WBEM_E_INVALID_OPERATION" and "already decided" in e.value.description
    (chain.data_dir / "LevelB.release").touch()
    done = (await call.wait()).set_status
    assert done.hresult == S_OK and 'async_solo.id="o1"' in chain.items("LevelB")


async def _asked(chain, provider: str, class_name: str) -> bool:
    return any(c[3] == class_name for c in chain.calls(provider))


async def test_provider_failures_found_after_the_start_are_final_statuses(client, tmp_path, redis_url, key_prefix):
    await register(client, "Nobody")  # registered, but no worker runs it
    await client.put_class(dynamic("Async_Orphan", "Nobody", prop("Id", "string", key=True)))
    await client.put_class(dynamic("Async_Unknown", "NotRegistered", prop("Id", "string", key=True)))
    await register(client, "ReadOnly", supports_put=False)
    await client.put_class(dynamic("Async_ReadOnly", "ReadOnly", prop("Id", "string", key=True)))
    for cls, code in (("Async_Orphan", "WBEM_E_PROVIDER_LOAD_FAILURE"), ("Async_Unknown", "WBEM_E_PROVIDER_NOT_FOUND"),
                      ("Async_ReadOnly", "WBEM_E_PROVIDER_NOT_CAPABLE")):
        call = await client.put_instance_async(instance(cls, Id="x"), WbemFlag.SEND_STATUS)
        evs = await events_of(call)
        assert kinds(evs) == ["accepted", "set_status"], cls
        assert evs[-1].set_status.error_object.hresult_name == code


async def test_a_host_shutting_down_refuses_to_start_calls(host, client):
    await client.put_class(thing())
    host.servicer.draining = True
    try:
        for start in (client.put_instance_async(instance("A_Thing", Id="sd")),
                      client.put_instance_semisync(instance("A_Thing", Id="sd"))):
            with pytest.raises(WbemError) as e:
                await start
            assert e.value.name == "WBEM_E_SHUTTING_DOWN"
    finally:
        host.servicer.draining = False


async def test_a_call_answers_only_its_owner(host, client):
    """Until callers are authenticated every caller is "anonymous"; the check binds a call to
    the principal that started it, and to anyone else the call does not exist."""
    await client.put_class(thing())
    res = await client.put_instance_semisync(instance("A_Thing", Id="own"))
    assert await res.get_call_status(INFINITE) == (S_OK, None)
    runner = host.calls
    for attempt in (runner.result(res.handle, "mallory", 0, "GetCallStatus"),
                    runner.cancel(res.handle, "mallory"),
                    runner.accepted_event(res.handle, "mallory", "AttachCall")):
        with pytest.raises(WbemError) as e:
            await attempt
        assert e.value.name == "WBEM_E_NOT_FOUND"
    with pytest.raises(WbemError) as e:
        async for _ in runner.follow(res.handle, "mallory", "mallory@x", 0, "AttachCall"):
            pass
    assert e.value.name == "WBEM_E_NOT_FOUND"
    assert (await runner.result(res.handle, "anonymous", 0, "GetCallStatus")).hresult == 0
