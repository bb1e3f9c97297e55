"""Asynchronous and semisynchronous puts as calls that outlive their connection.

A call is started by one host and runs there as a task, detached from the RPC that asked for
it; its state and events live in Redis (CallStore), so any host can stream its events, report
its result or cancel it. If the host running a call dies, another adopts it once the host's
lease lapses, and ends it from what the call recorded before each irreversible step:

    stage ""            nothing was written yet: the put runs again from its stored request
    stage "committing"  a repository write was sent: its receipt key says whether it applied;
                        if not, the put runs again
    stage "tx"          a provider transaction: transaction recovery settles it, and the call
                        ends with its outcome

Every call ends with exactly one final event (call_emit.lua refuses a second one).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

import redis.exceptions
from google.protobuf.message import Message

from host import logs, metrics, tracing
from host.audit import AuditLog
from host.calls import events
from host.calls.control import CallLost
from host.calls.store import CallRecord, CallStore, call_id, new_handle
from host.calls.watch import CallWatcher
from host.coordinator.dispatch import Dispatcher
from host.coordinator.transactions import Coordinator, redis_retrying
from host.errors import WbemError, as_wbem_error
from host.failpoints import failpoint
from host.flags import WbemFlag
from host.repository.keys import Keys
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire
from wmiput.v1 import services_pb2 as api

log = logs.get("wmiput.calls")
INFINITE = 0xFFFFFFFF

# The request message each operation stores, to run it again after a crash.
REQUESTS: dict[str, type[Message]] = {
    "PutInstance": api.PutInstanceRequest, "PutClass": api.PutClassRequest,
    "PutInstanceAsync": calls.PutInstanceAsyncRequest, "PutClassAsync": calls.PutClassAsyncRequest,
    "PutAsync": calls.PutAsyncRequest,
}


@dataclass
class Limits:
    per_client: int = 1000  # calls running at once for one client (WBEM_E_SERVER_TOO_BUSY past it)
    per_host: int = 20000  # calls running at once on one host
    retention_s: int = 900  # a finished call's result and events are kept this long
    max_running_s: int = 3600  # keys of a call no host could finish expire after this (plus retention)


@dataclass
class _Local:
    """A call running on this host."""

    record: CallRecord
    client: str
    call_id: str = ""
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class _Control:
    """The CallControl the dispatcher and coordinator see for one running call."""

    def __init__(self, runner: "CallRunner", local: _Local) -> None:
        self._runner = runner
        self._local = local
        self.call_id = local.record.id
        self.cancel_requested = local.cancel_requested

    async def gate(self, stage: str, *, tx: str = "", receipt: str = "", path: str = "") -> None:
        r = self._local.record
        res = await self._runner.store.gate(r.id, self._runner.host_id, stage, tx=tx, receipt=receipt, path=path)
        if res == "ok":
            r.stage, r.tx, r.receipt, r.path = stage, tx, receipt, path
            return
        if res == "cancelled":
            raise WbemError("WBEM_E_CALL_CANCELLED", "the call was cancelled (CancelAsyncCall) before the put was "
                            "decided; nothing was applied", operation=r.op)
        raise CallLost(res)

    async def progress(self, current: int, total: int, message: str) -> None:
        r = self._local.record
        if not r.send_status:
            return
        ev = events.progress(r.flavour, r.async_context, current, total, message)
        if await self._runner.store.emit(r.id, self._runner.host_id, [ev]) == -3:
            raise CallLost("adopted")


def _operation(reported: str, rec: CallRecord) -> str:
    """The COM method an error object names: the asynchronous one for an asynchronous call
    (PutAsync runs as PutInstanceAsync or PutClassAsync, as scripting does over COM)."""
    if reported in ("", "PutInstance", "PutClass") and rec.flavour != events.SEMISYNC:
        if rec.op == "PutAsync":
            return (reported or "PutInstance") + "Async"
        return rec.op
    return reported or rec.op


class CallRunner:
    def __init__(self, store: CallStore, watcher: CallWatcher, dispatcher: Dispatcher, coordinator: Coordinator,
                 keys: Keys, host_id: str, limits: Limits, *, recovery_interval_s: float = 1.0,
                 audit: AuditLog | None = None) -> None:
        self.store = store
        self.audit = audit or AuditLog(store.redis, keys, host_id)
        self._audited: dict[str, tuple[str, int, str]] = {}  # call -> (namespace, flags, class), for its entry
        self.watcher = watcher
        self.dispatcher = dispatcher
        self.repo = dispatcher.repo
        self.coordinator = coordinator
        self.keys = keys
        self.host_id = host_id
        self.limits = limits
        self.recovery_interval_s = recovery_interval_s
        self._leaving = False  # release_followers()
        self._local: dict[str, _Local] = {}
        # Calls this host owns but does not run: a final event it could not write, or an adopted
        # call waiting for its transaction to settle. Recovery looks at them again.
        self._undriven: set[str] = set()
        self._per_client: collections.Counter[str] = collections.Counter()
        self._streams: collections.Counter[str] = collections.Counter()
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.Task[None] | None = None
        watcher.on_cancel = self._cancel_seen

    @property
    def running(self) -> int:
        return len(self._local)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.watcher.start()
        self._loop = asyncio.create_task(self._recovery())

    def release_followers(self) -> None:
        """Ending: every event stream followed here ends with WBEM_E_SHUTTING_DOWN, which clients
        take as their cue to attach again on another host (the calls go on there)."""
        self._leaving = True
        self.watcher.wake_all()

    async def drain(self, timeout: float) -> bool:
        """Wait for the calls running here to end; False on timeout (the rest are adopted elsewhere)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
        tasks = [lc.task for lc in self._local.values() if lc.task is not None]
        for t in tasks:  # their calls stay active in Redis; another host adopts them
            t.cancel()
        if tasks or self._loop is not None:
            await asyncio.wait([*tasks, *([self._loop] if self._loop else [])], timeout=5)
        await self.watcher.stop()

    # ------------------------------------------------------------------ starting a call

    async def start_call(self, op: str, flavour: str, request: Message, *, principal: str, client: str,
                         send_status: bool, async_context: bytes = b"") -> str:
        """Start `request` as a call running here; its handle. WBEM_E_SERVER_TOO_BUSY past the limits."""
        return (await self.start_keyed(op, flavour, request, principal=principal, client=client,
                                       send_status=send_status, async_context=async_context))[0]

    async def start_keyed(self, op: str, flavour: str, request: Message, *, principal: str, client: str,
                          send_status: bool, async_context: bytes = b"", handle: str = "") -> tuple[str, bool]:
        """Start `request` as a call running here, under `handle` if given (a put's idempotency
        key makes it); (handle, False) if a call with that handle exists already: nothing starts."""
        if self._per_client[client] >= self.limits.per_client:
            raise WbemError("WBEM_E_SERVER_TOO_BUSY", f"this client has {self._per_client[client]} calls running, "
                            f"the most allowed (max_calls_per_client); wait for some to finish", operation=op)
        if len(self._local) >= self.limits.per_host:
            raise WbemError("WBEM_E_SERVER_TOO_BUSY", f"this host runs {len(self._local)} calls, the most allowed "
                            "(max_calls_per_host); retry later or on another host", operation=op)
        handle = handle or new_handle()
        cid = call_id(handle)
        if cid in self._local:  # running here already
            return handle, False
        rec = CallRecord(id=cid, owner=principal, op=op, flavour=flavour, host=self.host_id, state="running",
                         stage="", send_status=send_status, request=request.SerializeToString(),
                         async_context=async_context)
        local = self._register(rec, client)  # before the record exists, so recovery never takes it
        try:
            created = await self.store.create(cid, owner=principal, op=op, flavour=flavour, host=self.host_id,
                                              send_status=send_status, request=rec.request,
                                              async_context=async_context)
        except BaseException:
            self._unregister(local)
            raise
        if not created:
            self._unregister(local)
            return handle, False
        local.task = asyncio.create_task(self._drive(local))
        log.info("call started", call=cid[:12], op=op, flavour=flavour)
        return handle, True

    def _register(self, rec: CallRecord, client: str) -> _Local:
        local = _Local(record=rec, client=client, call_id=rec.id)
        self._local[rec.id] = local
        self._per_client[client] += 1
        self._idle.clear()
        return local

    def _unregister(self, local: _Local) -> None:
        self._local.pop(local.call_id, None)
        self._per_client[local.client] -= 1
        if self._per_client[local.client] <= 0:
            del self._per_client[local.client]
        if not self._local:
            self._idle.set()

    # ------------------------------------------------------------------ running a call

    async def _drive(self, local: _Local) -> None:
        rec = local.record
        start = time.perf_counter()
        try:
            try:
                with tracing.span(f"call {rec.op}", {"wmiput.call_id": rec.id, "wmiput.flavour": rec.flavour}):
                    path = await self._work(rec, _Control(self, local))
                err = None
            except CallLost:
                log.warning("call taken over by another host", call=rec.id[:12])
                return
            except asyncio.CancelledError:
                raise  # this host is stopping: the call stays active and is adopted
            except Exception as raw:  # noqa: BLE001 - every failure ends the call with an HRESULT
                err = as_wbem_error(raw, rec.op)
                err.operation = _operation(err.operation, rec)
                path = ""
            failpoint("call_before_final")
            flags = self._audited.get(rec.id, ("", 0, ""))[1]
            await self._finish(rec, path, err)
            metrics.end_call(rec.op, flags, err.name if err else "WBEM_S_NO_ERROR", time.perf_counter() - start)
            log.info("call", op=rec.op, call=rec.id[:12], target=path, ms=round((time.perf_counter() - start) * 1000, 2),
                     hresult=err.name if err else "WBEM_S_NO_ERROR", **({"error": err.description} if err else {}))
        finally:
            self._unregister(local)

    async def _work(self, rec: CallRecord, control: _Control) -> str:
        """Carry out the stored request; the path of what was put."""
        req = REQUESTS[rec.op].FromString(rec.request)
        rec.request = b""  # parsed: one copy of a large object is enough (Redis keeps the original)
        obj: pb.WbemObject = req.object
        self._audited[rec.id] = (req.namespace, int(req.flags), obj.class_name)
        flags = req.flags & ~(WbemFlag.RETURN_IMMEDIATELY | WbemFlag.SEND_STATUS)
        ctx = req.context if req.HasField("context") else None
        is_class = rec.op in ("PutClass", "PutClassAsync") or (rec.op == "PutAsync" and obj.genus == pb.GENUS_CLASS)
        if rec.op == "PutAsync" and not is_class and flags & (WbemFlag.UPDATE_SAFE_MODE | WbemFlag.UPDATE_FORCE_MODE):
            raise WbemError("WBEM_E_INVALID_PARAMETER", "class update modes (wbemChangeFlagUpdateSafeMode / "
                            "ForceMode) apply to classes only", parameter_info="iFlags", operation="PutAsync")
        if not is_class:
            caller = wire.Caller(principal=rec.owner, host=self.host_id)
            res = await self.dispatcher.put_instance(req.namespace, obj, flags, ctx, caller, control=control)
            return res.path
        ns = await self.repo.resolve_namespace(req.namespace, rec.op)
        await self.dispatcher.authorize_class(rec.owner, ns, rec.op)
        await control.gate("committing", receipt=self.keys.class_receipt(ns, rec.id),
                           path=f"\\\\{self.repo.server}\\{ns}:{obj.class_name}")
        res = await self.repo.put_class(ns, obj, flags, receipt=self.keys.class_receipt(ns, rec.id))
        await control.progress(1, 1, f"{res.relpath} accepted by the repository")
        return res.path

    async def _finish(self, rec: CallRecord, path: str, err: WbemError | None) -> None:
        """Write the call's final event (once, whoever tries); a Redis outage past the retries
        leaves the call to recovery, which ends it from its recorded stage."""
        evs = events.final(rec.flavour, rec.async_context, path, err)
        facts = self._audited.pop(rec.id, None)
        with tracing.span("final sink event", {"wmiput.call_id": rec.id, "wmiput.operation": rec.op,
                                               "wmiput.hresult": err.name if err else "WBEM_S_NO_ERROR"}):
            try:
                async for attempt in redis_retrying():
                    with attempt:
                        seq = await self.store.emit(rec.id, self.host_id, evs, final=True,
                                                    hresult=int(err.hresult) if err else 0, result=path,
                                                    error=err.to_proto().SerializeToString() if err else b"")
            except redis.exceptions.RedisError as e:
                log.warning("call result not recorded; left to recovery", call=rec.id[:12], error=str(e))
                self._undriven.add(rec.id)
                return
            tracing.annotate(sequence=seq)
        self._undriven.discard(rec.id)
        self.watcher.wake(rec.id)
        if seq >= 0:  # this host ended the call: its one audit entry
            await self._audit_end(rec, path, err, facts)

    async def _audit_end(self, rec: CallRecord, path: str, err: WbemError | None,
                         facts: tuple[str, int, str] | None) -> None:
        if facts is None:  # adopted: read what was asked from the stored request
            stored = await self.store.get(rec.id)
            req = REQUESTS[rec.op].FromString(stored.request) if stored is not None and stored.request else None
            facts = (req.namespace, int(req.flags), req.object.class_name) if req is not None else ("", 0, "")
        ns, flags, cls = facts
        self.audit.record(principal=rec.owner, op=rec.op, namespace=ns, target=path or rec.path or cls,
                                flags=flags, result=err.name if err else "WBEM_S_NO_ERROR", call=rec.id)

    # ------------------------------------------------------------------ answering for a call

    async def _owned(self, handle: str, principal: str, operation: str) -> CallRecord:
        rec = await self.store.get(call_id(handle)) if handle else None
        if rec is None or rec.owner != principal:  # someone else's call does not exist for this caller
            raise WbemError("WBEM_E_NOT_FOUND", "no such call: the handle is unknown, belongs to another caller, "
                            f"or its call ended more than {self.limits.retention_s} s ago",
                            parameter_info="call_handle", operation=operation)
        return rec

    async def follow(self, handle: str, principal: str, client: str, after: int, operation: str, *,
                     owner_checked: bool = False) -> AsyncIterator[calls.SinkEvent]:
        """The call's events after sequence `after`, as they come, up to and including the final one.
        `owner_checked`: the caller just started the call or checked its owner (no second read)."""
        cid = call_id(handle) if owner_checked else (await self._owned(handle, principal, operation)).id
        if self._streams[client] >= self.limits.per_client:
            raise WbemError("WBEM_E_SERVER_TOO_BUSY", f"this client follows {self._streams[client]} calls, the most "
                            "allowed (max_calls_per_client)", operation=operation)
        self._streams[client] += 1
        try:
            with self.watcher.watch(cid) as moved:
                while True:
                    moved.clear()
                    batch = await self.store.events_after(cid, after)
                    for e in batch:
                        e.call_handle = handle
                        yield e
                        after = e.sequence
                        if e.final:
                            return
                    if batch:
                        continue
                    if self._leaving:
                        raise WbemError("WBEM_E_SHUTTING_DOWN", "this host is stopping; the call goes on: attach "
                                        "to it on another host (AttachCall)", operation=operation)
                    now = await self.store.progress_of(cid)
                    if now is None:
                        raise WbemError("WBEM_E_NOT_FOUND", "the call's record expired", operation=operation)
                    if now[0] == "done" and now[1] <= after:
                        return  # the caller has had every event, the final one included
                    try:
                        await asyncio.wait_for(moved.wait(), self.watcher.fallback_s)
                    except asyncio.TimeoutError:
                        pass
        finally:
            self._streams[client] -= 1
            if self._streams[client] <= 0:
                del self._streams[client]

    async def record(self, handle: str, principal: str, operation: str) -> CallRecord:
        """The call's record, if this principal owns it (else WBEM_E_NOT_FOUND)."""
        return await self._owned(handle, principal, operation)

    async def accepted_event(self, handle: str, principal: str, operation: str) -> calls.SinkEvent:
        rec = await self._owned(handle, principal, operation)
        return events.accepted(handle, rec.op, rec.flavour, rec.async_context)

    async def result(self, handle: str, principal: str, timeout_ms: int, operation: str) -> CallRecord | None:
        """The finished call, or None if it is still running after `timeout_ms` (WBEM_S_TIMEDOUT)."""
        rec = await self._owned(handle, principal, operation)
        end = None if timeout_ms == INFINITE else time.monotonic() + timeout_ms / 1000
        if rec.done:
            return rec
        with self.watcher.watch(rec.id) as moved:
            while True:
                moved.clear()
                now = await self.store.progress_of(rec.id)
                if now is None:
                    raise WbemError("WBEM_E_NOT_FOUND", "the call's record expired", operation=operation)
                if now[0] == "done":
                    return await self._owned(handle, principal, operation)
                left = self.watcher.fallback_s if end is None else end - time.monotonic()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(moved.wait(), min(left, self.watcher.fallback_s))
                except asyncio.TimeoutError:
                    pass

    async def cancel(self, handle: str, principal: str) -> None:
        """CancelAsyncCall: the call ends WBEM_E_CALL_CANCELLED, or this raises why it cannot."""
        op = "CancelAsyncCall"
        cid = call_id(handle) if handle else ""
        res = await self.store.cancel(cid, principal) if cid else ["gone"]
        kind = res[0]
        if kind in ("gone", "denied"):
            raise WbemError("WBEM_E_NOT_FOUND", "no such call: the handle is unknown, belongs to another caller, or "
                            "its call has ended and expired", parameter_info="call_handle", operation=op)
        if kind == "done":
            raise WbemError("WBEM_E_INVALID_OPERATION", "the call has already ended; its result stands",
                            parameter_info="call_handle", operation=op)
        if kind == "committing":
            raise WbemError("WBEM_E_INVALID_OPERATION", "the put is being written to the repository; it can no "
                            "longer be cancelled", parameter_info="call_handle", operation=op)
        if kind == "tx":
            state = await self.coordinator.cancel(res[1])
            if state != "cancelled":
                raise WbemError("WBEM_E_INVALID_OPERATION", "the put is already decided "
                                f"({'committed' if state in ('commit', 'putting') else state or 'finished'}); it can "
                                "no longer be cancelled", parameter_info="call_handle", operation=op)
        self._cancel_seen(cid)
        await self.store.notify_cancel(cid)
        log.info("call cancelled", call=cid[:12], stage=kind)

    def _cancel_seen(self, cid: str) -> None:
        local = self._local.get(cid)
        if local is not None:
            local.cancel_requested.set()

    # ------------------------------------------------------------------ recovery

    async def _recovery(self) -> None:
        while True:
            await asyncio.sleep(self.recovery_interval_s)
            try:
                await self.recover_once()
            except (redis.exceptions.RedisError, WbemError) as e:
                log.warning("call recovery pass failed", error=repr(e))

    async def recover_once(self, batch: int = 200) -> int:
        """Adopt the calls of hosts that are gone, and look again at this host's own calls that
        it does not run; end or re-run them. Returns how many were taken."""
        if not self.coordinator.may_adopt():
            return 0
        taken = 0
        for cid in list(self._undriven):
            if cid not in self._local:
                taken += await self._take(cid, self.host_id)
        for host in await self.store.hosts():
            if host == self.host_id or await self.store.alive(host):
                continue
            ids = await self.store.active(host, batch)
            if not ids:
                await self.store.forget_host(host)
            for cid in ids:
                taken += await self._take(cid, host)
        return taken

    async def _take(self, cid: str, listed_under: str) -> int:
        rec = await self.store.get(cid)
        if rec is None or rec.done:
            await self.store.forget_active(cid, listed_under)
            self._undriven.discard(cid)
            return 0
        if rec.host != listed_under:  # adopted before, but left listed under its old host
            await self.store.move(cid, listed_under, rec.host)
            if rec.host != self.host_id:
                return 0
        if not self.coordinator.may_adopt():  # Redis went away during this pass: what looked dead may live
            return 0
        stage = await self.store.adopt(cid, rec.host, self.host_id)
        if stage is None:
            return 0
        rec.host = self.host_id
        self._undriven.discard(cid)
        await self._resume(rec)
        return 1

    async def _resume(self, rec: CallRecord) -> None:
        if rec.stage == "committing" and await self.repo.has_receipt(rec.receipt):
            log.info("adopted call: its write had applied", call=rec.id[:12], op=rec.op)
            await self._finish(rec, rec.path, None)
            return
        if rec.stage == "tx":
            outcome = await self._tx_outcome(rec)
            if outcome is None:
                self._undriven.add(rec.id)  # transaction recovery has not settled it yet: look again
                return
            log.info("adopted call: its transaction settled", call=rec.id[:12], op=rec.op)
            await self._finish(rec, rec.path if outcome is True else "", None if outcome is True else outcome)
            return
        # Nothing irreversible happened (or the write never applied): run the put again.
        log.info("adopted call: running it again", call=rec.id[:12], op=rec.op, stage=rec.stage or "start")
        local = self._register(rec, f"adopted:{rec.owner}")
        local.task = asyncio.create_task(self._drive(local))

    async def _tx_outcome(self, rec: CallRecord) -> bool | WbemError | None:
        """True (committed), the error of an abort, or None while the transaction is unsettled."""
        fields = await self.coordinator.redis.hgetall(self.keys.tx(rec.tx))
        if not fields:
            return WbemError("WBEM_E_FAILED", "the host running the call stopped and its transaction record has "
                             "expired; read the object to see whether the put applied", operation=rec.op)
        if not fields.get(b"done"):
            return None
        if fields.get(b"state") == b"commit":
            return True
        if fields.get(b"cancelled"):
            return WbemError("WBEM_E_CALL_CANCELLED", "the call was cancelled (CancelAsyncCall) before the put was "
                             "decided; nothing was applied", operation=rec.op)
        relpath = json.loads(fields[b"meta"]).get("relpath", "")
        return WbemError("WBEM_E_FAILED", "the put was not applied: the host running it stopped before it was "
                         "decided, or a provider refused it", parameter_info=relpath, operation=rec.op)
