"""WbemService: the gRPC methods, validated at the door and answered by the repository.

Handlers are registered by hand from the service descriptor (not the generated helper) so that
request decoding is ours: a malformed, oversized or non-UTF-8 request gets a WBEM_E_* answer
instead of gRPC's bare INTERNAL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import grpc
from google.protobuf.message import DecodeError, Message

from host import logs, metrics, tracing
from host.access import rights
from host.access.policy import AccessSettings, NamespaceAccess
from host.access.rights import Right
from host.audit import WRITES, AuditLog
from host.calls import events
from host.calls.runner import INFINITE, REQUESTS, CallRunner
from host.calls.store import call_id, keyed_handle
from host.coordinator import Dispatcher, overview
from host.errors import HResult, WbemError, as_wbem_error
from host.flags import WbemFlag, check_flags
from host.repository.store import Repository
from host.server.auth import UNAUTHENTICATED, Authenticator, AuthSettings, current_principal, set_principal
from host.server.status import abort
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire
from wmiput.v1 import security_pb2 as sec
from wmiput.v1 import services_pb2 as api

SERVICE = api.DESCRIPTOR.services_by_name["WbemService"]
CALL_RESULT_SERVICE = calls.DESCRIPTOR.services_by_name["WbemCallResultService"]
SECURITY_SERVICE = sec.DESCRIPTOR.services_by_name["NamespaceSecurityService"]
SERVICES = (SERVICE, CALL_RESULT_SERVICE, SECURITY_SERVICE)
# A "client" (for the per-client call limit) is the principal at one peer address.
Ctx = grpc.aio.ServicerContext
log = logs.get("wmiput.host")
MAX_CONTEXT_VALUES = 256
MAX_IDEMPOTENCY_KEY = 128


@dataclass
class Malformed:
    """What the decoder hands the handler when the bytes are not a valid request."""

    error: WbemError


def _decoder(cls: type[Message], limit: int, operation: str) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        if len(data) > limit:
            return Malformed(WbemError("WBEM_E_QUOTA_VIOLATION", f"the request is {len(data)} bytes; the limit is "
                                       f"{limit}", operation=operation))
        try:
            return cls.FromString(data)
        except (DecodeError, RecursionError) as e:
            return Malformed(WbemError("WBEM_E_INVALID_PARAMETER", f"the request is not a valid {cls.__name__}: {e}",
                                       operation=operation))
    return decode


class WbemServicer:
    def __init__(self, repo: Repository, dispatcher: Dispatcher, runner: CallRunner, *, max_message_bytes: int,
                 host_id: str, auth: Authenticator | None = None, audit: AuditLog | None = None,
                 access: NamespaceAccess | None = None, traced: bool = False) -> None:
        self.traced = traced  # each put in a span (host/tracing.py), the client's span its parent
        self.auth = auth or Authenticator(AuthSettings())
        self.audit = audit
        self.access = access or NamespaceAccess(repo.redis, repo.keys, AccessSettings())
        self.repo = repo
        self.dispatcher = dispatcher
        self.runner = runner
        self.host_id = host_id
        self.max_message_bytes = max_message_bytes
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Answer new calls WBEM_E_SHUTTING_DOWN and wait for those in flight; False on timeout."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def _enter(self, operation: str) -> None:
        if self.draining:
            raise WbemError("WBEM_E_SHUTTING_DOWN", "the host is shutting down; reconnect to another host or "
                            "retry later", operation=operation)
        self.in_flight += 1
        self._idle.clear()
        metrics.call_started(operation)
        metrics.start_put()

    def _leave(self, operation: str = "") -> None:
        metrics.call_ended(operation)
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    # -- plumbing

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        out = []
        for service in SERVICES:
            handlers = {}
            for m in service.methods:
                req_cls = getattr(_module_of(m.input_type), m.input_type.name)
                fn = getattr(self, m.name)
                if self.traced and m.name in tracing.PUTS:
                    fn = (tracing.server_stream if m.server_streaming else tracing.server_unary)(m.name, fn)
                kw = dict(request_deserializer=_decoder(req_cls, self.max_message_bytes, m.name),
                          response_serializer=lambda msg: msg.SerializeToString())
                if m.server_streaming:
                    handlers[m.name] = grpc.unary_stream_rpc_method_handler(self._stream(m.name, fn), **kw)
                else:
                    handlers[m.name] = grpc.unary_unary_rpc_method_handler(self._unary(m.name, fn), **kw)
            out.append(grpc.method_handlers_generic_handler(service.full_name, handlers))
        return out

    def _unary(self, name: str, fn: Callable[[Any], Any]) -> Callable[..., Any]:
        async def call(request: Any, context: Ctx) -> Any:
            start = time.perf_counter()
            entered = False
            try:
                self._enter(name)
                entered = True
                self._identify(context)
                _admit(request, name)
                reply = await fn(request, context)
            except Exception as raw:  # noqa: BLE001 - every failure leaves as a WBEM_E_* status
                e = as_wbem_error(raw, name)
                e.operation = e.operation or name
                self._log(name, request, start, e)
                if not getattr(e, "recorded", False):
                    self._audit(name, request, None, e)
                await abort(context, e)
                return None
            finally:
                if entered:
                    self._leave(name)
            self._log(name, request, start, None, reply)
            # A put that ran as a call (semisynchronous, or with an idempotency key) is recorded when it ends.
            if not getattr(reply, "call_handle", "") and not getattr(request, "idempotency_key", ""):
                self._audit(name, request, reply, None)
            return reply
        return call

    def _identify(self, context: Ctx) -> None:
        try:
            set_principal(self.auth.principal(context))
        except WbemError:
            set_principal(UNAUTHENTICATED)  # what the audit entry of the refusal says
            raise

    def _audit(self, name: str, request: Any, reply: Any, err: WbemError | None) -> None:
        """An audit entry for a write that ended here (refused, or synchronous)."""
        if name not in WRITES or self.audit is None:
            return
        malformed = isinstance(request, Malformed)
        handle = "" if malformed else getattr(request, "call_handle", "")
        self.audit.record(principal=current_principal(), op=name,
                                namespace="" if malformed else getattr(request, "namespace", ""),
                                target="" if malformed or handle else _target(request, reply),
                                flags=0 if malformed else getattr(request, "flags", 0),
                                result=err.name if err else "WBEM_S_NO_ERROR", call=call_id(handle) if handle else "")

    def _stream(self, name: str, fn: Callable[[Any], AsyncIterator[Any]]) -> Callable[..., Any]:
        async def call(request: Any, context: Ctx) -> AsyncIterator[Any]:
            start = time.perf_counter()
            count = 0
            entered = False
            try:
                self._enter(name)
                entered = True
                self._identify(context)
                _admit(request, name)
                async for reply in fn(request, context):
                    count += 1
                    yield reply
            except Exception as raw:  # noqa: BLE001 - every failure leaves as a WBEM_E_* status
                e = as_wbem_error(raw, name)
                e.operation = e.operation or name
                self._log(name, request, start, e)
                if count == 0:  # it never started: no final status will record it
                    self._audit(name, request, None, e)
                await abort(context, e)
                return
            finally:
                if entered:
                    self._leave(name)
            if not _runs_as_call(name, request):  # a put run as a call has its one event from the runner
                log.info("call", op=name, namespace=getattr(request, "namespace", ""), objects=count,
                         ms=round((time.perf_counter() - start) * 1000, 2), hresult="WBEM_S_NO_ERROR")
        return call

    @staticmethod
    def _log(name: str, request: Any, start: float, err: WbemError | None, reply: Any = None) -> None:
        ms = round((time.perf_counter() - start) * 1000, 2)
        if err is not None or not _runs_as_call(name, request):  # a call is counted when it ends (runner)
            metrics.end_call(name, 0 if isinstance(request, Malformed) else getattr(request, "flags", 0),
                             err.name if err else "WBEM_S_NO_ERROR", ms / 1000)
        if isinstance(request, Malformed):
            log.warning("call", op=name, ms=ms, hresult=err.name if err else "", error=err.description if err else "")
            return
        target = _target(request, reply)
        ns, flags = getattr(request, "namespace", ""), getattr(request, "flags", 0)
        if err is None:
            log.info("call", op=name, namespace=ns, target=target, flags=flags, ms=ms, hresult="WBEM_S_NO_ERROR")
        else:
            log.info("call", op=name, namespace=ns, target=target, flags=flags, ms=ms, hresult=err.name,
                     error=err.description)

    # -- the calls

    async def _require(self, namespace: str, need: int, operation: str, what: str = "") -> str:
        """The namespace in normal form, once the caller is known to hold `need` there
        (WBEM_E_ACCESS_DENIED otherwise)."""
        ns = self.repo.namespace_text(namespace)
        principal = current_principal()
        if not self.access.is_admin(principal):
            await self.access.require(principal, ns, need, operation, what)
        return ns

    async def _authorize_put(self, r: Any, operation: str) -> None:
        """The rights an asynchronous put needs, checked before it starts (an asynchronous put is checked
        again when it runs, against the schema it then finds)."""
        if self.access.is_admin(current_principal()):
            return
        if operation == "PutClassAsync" or (operation == "PutAsync" and r.object.genus == pb.GENUS_CLASS):
            await self._require(r.namespace, rights.USE | Right.FULL_WRITE_REP, operation, "a class")
            return
        await self._require(r.namespace, rights.USE, operation)
        await self.dispatcher.instance_write_right(current_principal(), r.namespace, r.object.class_name, operation)

    async def PutClass(self, r: api.PutClassRequest, ctx: Ctx) -> api.PutClassResponse:
        _need_object(r, "PutClass")
        await self._require(r.namespace, rights.USE | Right.FULL_WRITE_REP, "PutClass", "a class")
        if r.idempotency_key:
            return api.PutClassResponse(**await self._keyed(r, "PutClass", ctx))
        if r.flags & WbemFlag.RETURN_IMMEDIATELY:
            return api.PutClassResponse(call_handle=await self._start(r, "PutClass", events.SEMISYNC, ctx))
        res = await self.repo.put_class(r.namespace, r.object, r.flags)
        return api.PutClassResponse(path=res.path, relpath=res.relpath)

    async def PutInstance(self, r: api.PutInstanceRequest, ctx: Ctx) -> api.PutInstanceResponse:
        _need_object(r, "PutInstance")
        await self._require(r.namespace, rights.USE, "PutInstance")  # the dispatcher checks the write right
        if r.idempotency_key or r.flags & WbemFlag.RETURN_IMMEDIATELY:
            await self.dispatcher.instance_write_right(current_principal(), r.namespace, r.object.class_name,
                                                       "PutInstance")
            if r.idempotency_key:
                return api.PutInstanceResponse(**await self._keyed(r, "PutInstance", ctx))
            return api.PutInstanceResponse(call_handle=await self._start(r, "PutInstance", events.SEMISYNC, ctx))
        caller = wire.Caller(principal=current_principal(), host=self.host_id)
        res = await self.dispatcher.put_instance(r.namespace, r.object, r.flags,
                                                 r.context if r.HasField("context") else None, caller)
        return api.PutInstanceResponse(path=res.path, relpath=res.relpath)

    async def ListProviders(self, r: api.ListProvidersRequest, ctx: Ctx) -> api.ListProvidersResponse:
        await self._require(r.namespace, rights.USE, "ListProviders")
        ns = await self.repo.resolve_namespace(r.namespace, "ListProviders")
        schema = await self.repo.schema(ns)
        return api.ListProvidersResponse(providers=await self.dispatcher.registry.describe(ns, schema))

    async def ListTransactions(self, r: api.ListTransactionsRequest, ctx: Ctx) -> api.ListTransactionsResponse:
        # Every namespace's puts, whoever made them: administrators only once callers authenticate
        # (is_admin holds for everyone when they do not).
        if not self.access.is_admin(current_principal()):
            raise WbemError("WBEM_E_ACCESS_DENIED", f"{current_principal()} is not an administrator (--admins); "
                            "only administrators may list transactions", operation="ListTransactions")
        ns = self.repo.namespace_text(r.namespace) if r.namespace else ""
        return await overview.list_transactions(self.repo.redis, self.repo.keys, ns, r.limit)

    async def GetObject(self, r: api.GetObjectRequest, ctx: Ctx) -> api.GetObjectResponse:
        if not r.path:
            raise WbemError("WBEM_E_INVALID_PARAMETER", "the object path is empty", parameter_info="strObjectPath")
        await self._require(self.repo.namespace_of(r.namespace, r.path, "GetObject")[0], rights.USE, "GetObject")
        return api.GetObjectResponse(object=await self.repo.get_object(r.namespace, r.path))

    async def DeleteClass(self, r: api.DeleteClassRequest, ctx: Ctx) -> api.DeleteClassResponse:
        await self._require(r.namespace, rights.USE | Right.FULL_WRITE_REP, "DeleteClass", "a class")
        n, i = await self.repo.delete_class(r.namespace, r.class_name, r.flags)
        return api.DeleteClassResponse(classes_deleted=n, instances_deleted=i)

    async def DeleteInstance(self, r: api.DeleteInstanceRequest, ctx: Ctx) -> api.DeleteInstanceResponse:
        if not r.path:
            raise WbemError("WBEM_E_INVALID_PARAMETER", "the object path is empty", parameter_info="strObjectPath")
        ns, path = self.repo.namespace_of(r.namespace, r.path, "DeleteInstance")
        await self._require(ns, rights.USE, "DeleteInstance")
        await self.dispatcher.instance_write_right(current_principal(), ns, path.class_name, "DeleteInstance")
        return api.DeleteInstanceResponse(path=await self.repo.delete_instance(r.namespace, r.path))

    async def CreateClassEnum(self, r: api.CreateClassEnumRequest, ctx: Ctx
                              ) -> AsyncIterator[api.CreateClassEnumResponse]:
        await self._require(r.namespace, rights.USE, "CreateClassEnum")
        async for o in self.repo.enum_classes(r.namespace, r.superclass, r.flags):
            yield api.CreateClassEnumResponse(object=o)

    async def CreateInstanceEnum(self, r: api.CreateInstanceEnumRequest, ctx: Ctx
                                 ) -> AsyncIterator[api.CreateInstanceEnumResponse]:
        if not r.class_name:
            raise WbemError("WBEM_E_INVALID_PARAMETER", "no class given", parameter_info="strFilter")
        await self._require(r.namespace, rights.USE, "CreateInstanceEnum")
        async for o in self.repo.enum_instances(r.namespace, r.class_name, r.flags):
            yield api.CreateInstanceEnumResponse(object=o)


    async def _keyed(self, r: Any, op: str, ctx: Ctx) -> dict[str, str]:
        """A put with an idempotency key: run as a call under the handle the key makes, or, if that
        call exists (a repeat), joined. Semisynchronous: its handle; synchronous: its outcome (the
        response's fields), waited for within the RPC's deadline."""
        key = r.idempotency_key
        if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} printable "
                            "characters", parameter_info="idempotency_key", operation=op)
        principal = current_principal()
        handle, started = await self.runner.start_keyed(op, events.SEMISYNC, r, principal=principal,
                                                         client=_client(ctx), send_status=False,
                                                         handle=keyed_handle(principal, key))
        if not started:
            rec = await self.runner.record(handle, principal, op)
            if rec.op != op or REQUESTS[rec.op].FromString(rec.request) != r:
                raise WbemError("WBEM_E_INVALID_PARAMETER", "this idempotency key was used for another request; "
                                "use a new key for each put", parameter_info="idempotency_key", operation=op)
        if r.flags & WbemFlag.RETURN_IMMEDIATELY:
            return {"call_handle": handle}
        left = ctx.time_remaining()
        rec = await self.runner.result(handle, principal, INFINITE if left is None else max(0, int((left - 0.2) * 1000)),
                                       op)
        if rec is None:
            raise _Recorded("WBEM_E_TIMED_OUT", "the put is still running (its call goes on); send it again with "
                            "the same idempotency key for its outcome", operation=op)
        if rec.hresult & 0x80000000:
            raise _Recorded.from_proto(rec.error_object())
        return {"path": rec.result, "relpath": rec.result.split(":", 1)[-1]}

    # -- asynchronous and semisynchronous calls

    async def _start(self, r: Any, op: str, flavour: str, ctx: Ctx,
                     async_context: bytes = b"") -> str:
        return await self.runner.start_call(op, flavour, r, principal=current_principal(), client=_client(ctx),
                                            send_status=bool(r.flags & WbemFlag.SEND_STATUS),
                                            async_context=async_context)

    async def _events(self, r: Any, op: str, flavour: str, ctx: Ctx,
                      wrap: Callable[..., Any], async_context: bytes = b"") -> AsyncIterator[Any]:
        _need_object(r, op)
        await self._authorize_put(r, op)
        handle = await self._start(r, op, flavour, ctx, async_context)
        yield wrap(event=events.accepted(handle, op, flavour, async_context))
        async for e in self.runner.follow(handle, current_principal(), _client(ctx), 0, op, owner_checked=True):
            yield wrap(event=e)

    def PutInstanceAsync(self, r: calls.PutInstanceAsyncRequest, ctx: Ctx
                         ) -> AsyncIterator[calls.PutInstanceAsyncResponse]:
        return self._events(r, "PutInstanceAsync", events.COM, ctx, calls.PutInstanceAsyncResponse)

    def PutClassAsync(self, r: calls.PutClassAsyncRequest, ctx: Ctx
                      ) -> AsyncIterator[calls.PutClassAsyncResponse]:
        return self._events(r, "PutClassAsync", events.COM, ctx, calls.PutClassAsyncResponse)

    def PutAsync(self, r: calls.PutAsyncRequest, ctx: Ctx
                 ) -> AsyncIterator[calls.PutAsyncResponse]:
        actx = r.async_context.SerializeToString() if r.HasField("async_context") else b""
        return self._events(r, "PutAsync", events.SCRIPT, ctx, calls.PutAsyncResponse, actx)

    async def AttachCall(self, r: calls.AttachCallRequest, ctx: Ctx
                         ) -> AsyncIterator[calls.AttachCallResponse]:
        yield calls.AttachCallResponse(event=await self.runner.accepted_event(r.call_handle, current_principal(), "AttachCall"))
        async for e in self.runner.follow(r.call_handle, current_principal(), _client(ctx), r.after_sequence, "AttachCall",
                                          owner_checked=True):  # accepted_event checked the owner
            yield calls.AttachCallResponse(event=e)

    async def CancelAsyncCall(self, r: calls.CancelAsyncCallRequest, ctx: Ctx
                              ) -> calls.CancelAsyncCallResponse:
        await self.runner.cancel(r.call_handle, current_principal())
        return calls.CancelAsyncCallResponse()

    async def GetCallStatus(self, r: calls.GetCallStatusRequest, ctx: Ctx
                            ) -> calls.GetCallStatusResponse:
        rec = await self.runner.result(r.call_handle, current_principal(), r.timeout_ms, "GetCallStatus")
        if rec is None:
            return calls.GetCallStatusResponse(hresult=HResult.WBEM_S_TIMEDOUT)
        return calls.GetCallStatusResponse(hresult=0, call_status=rec.hresult,
                                           error_object=rec.error_object() if rec.error else None)

    async def GetResultString(self, r: calls.GetResultStringRequest, ctx: Ctx
                              ) -> calls.GetResultStringResponse:
        rec = await self.runner.result(r.call_handle, current_principal(), r.timeout_ms, "GetResultString")
        if rec is None:
            return calls.GetResultStringResponse(hresult=HResult.WBEM_S_TIMEDOUT)
        _raise_failure(rec)
        if rec.op == "PutClass" or not rec.result:
            raise WbemError("WBEM_E_INVALID_OPERATION", f"{rec.op} gives no result string (IWbemCallResult offers "
                            "only GetCallStatus for PutClass)", operation="GetResultString")
        return calls.GetResultStringResponse(hresult=0, result_string=rec.result)

    async def GetResultObject(self, r: calls.GetResultObjectRequest, ctx: Ctx
                              ) -> calls.GetResultObjectResponse:
        rec = await self.runner.result(r.call_handle, current_principal(), r.timeout_ms, "GetResultObject")
        if rec is None:
            return calls.GetResultObjectResponse(hresult=HResult.WBEM_S_TIMEDOUT)
        _raise_failure(rec)
        raise WbemError("WBEM_E_INVALID_OPERATION", f"{rec.op} succeeded and has no result object (puts return "
                        "none; GetResultObject serves GetObject)", operation="GetResultObject")


    # -- namespace security (__SystemSecurity)

    async def GetNamespaceSecurity(self, r: sec.GetNamespaceSecurityRequest, ctx: Ctx
                                   ) -> sec.GetNamespaceSecurityResponse:
        await self._require(r.namespace, rights.USE | Right.READ_CONTROL, "GetNamespaceSecurity")
        ns = await self.repo.resolve_namespace(r.namespace, "GetNamespaceSecurity")
        own, version, inherited = await self.access.get(ns)
        return sec.GetNamespaceSecurityResponse(namespace=ns, security=own, inherited=inherited, version=version)

    async def SetNamespaceSecurity(self, r: sec.SetNamespaceSecurityRequest, ctx: Ctx
                                   ) -> sec.SetNamespaceSecurityResponse:
        await self._require(r.namespace, rights.USE | Right.WRITE_DAC, "SetNamespaceSecurity")
        ns = await self.repo.resolve_namespace(r.namespace, "SetNamespaceSecurity")
        version = await self.access.set(ns, r.security, r.expected_version if r.HasField("expected_version") else None,
                                        "SetNamespaceSecurity")
        log.info("namespace security changed", namespace=ns, by=current_principal(), version=version,
                 entries=len(r.security.entries), protected=r.security.protected)
        return sec.SetNamespaceSecurityResponse(version=version)

    async def GetCallerAccessRights(self, r: sec.GetCallerAccessRightsRequest, ctx: Ctx
                                    ) -> sec.GetCallerAccessRightsResponse:
        ns = await self.repo.resolve_namespace(r.namespace, "GetCallerAccessRights")
        principal = current_principal()
        return sec.GetCallerAccessRightsResponse(access_mask=await self.access.rights(principal, ns),
                                                 principal=principal, administrator=self.access.is_admin(principal))


class _Recorded(WbemError):
    """An error the audit trail already holds (the call's own final status)."""

    recorded = True


def _raise_failure(rec: Any) -> None:
    """A call-result method on a failed call fails with the call's own error (and error object)."""
    if rec.hresult & 0x80000000:
        raise WbemError.from_proto(rec.error_object())


def _client(ctx: Ctx) -> str:
    peer = ctx.peer() or ""
    address = peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer
    return f"{current_principal()}@{address}"


def _module_of(descriptor: Any) -> Any:
    return {"wmiput/v1/services.proto": api, "wmiput/v1/calls.proto": calls,
            "wmiput/v1/security.proto": sec}[descriptor.file.name]


def _runs_as_call(name: str, request: Any) -> bool:
    """Asynchronous, semisynchronous and keyed puts run as calls: CallRunner records how they end."""
    if isinstance(request, Malformed):
        return False
    return name.endswith("Async") or bool(getattr(request, "flags", 0) & WbemFlag.RETURN_IMMEDIATELY) or bool(
        getattr(request, "idempotency_key", ""))


def _target(request: Any, reply: Any) -> str:
    for src in (reply, request):
        for attr in ("path", "class_name", "superclass"):
            v = getattr(src, attr, "")
            if v:
                return str(v)
    obj = getattr(request, "object", None)
    return obj.class_name if obj is not None else ""


def _admit(request: Any, operation: str) -> None:
    """What the door checks before any I/O: decodable, flags the method accepts, a sane context."""
    if isinstance(request, Malformed):
        raise request.error
    check_flags(operation, getattr(request, "flags", 0))
    _check_context(request, operation)


def _need_object(r: Any, operation: str) -> None:
    if not r.HasField("object"):
        raise WbemError("WBEM_E_INVALID_PARAMETER", "no object given (NULL)", parameter_info="pObject",
                        operation=operation)


def _check_context(r: Any, operation: str) -> None:
    for name in ("context", "async_context"):
        if name in r.DESCRIPTOR.fields_by_name and r.HasField(name):
            _check_one_context(getattr(r, name), operation)


def _check_one_context(ctx: pb.Context, operation: str) -> None:
    if len(ctx.values) > MAX_CONTEXT_VALUES:
        raise WbemError("WBEM_E_QUOTA_VIOLATION", f"the context has {len(ctx.values)} values; the limit is "
                        f"{MAX_CONTEXT_VALUES}", parameter_info="pCtx", operation=operation)
    seen = set()
    for v in ctx.values:
        if not v.name or v.name.lower() in seen:
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"context value name {v.name!r} is empty or repeated",
                            parameter_info="pCtx", operation=operation)
        seen.add(v.name.lower())
