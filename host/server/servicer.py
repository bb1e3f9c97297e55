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
import redis.exceptions
from google.protobuf.message import DecodeError, Message

from host import logs
from host.coordinator import Dispatcher
from host.errors import WbemError
from host.flags import check_flags
from host.repository.store import Repository
from host.server.status import abort
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire
from wmiput.v1 import services_pb2 as api

SERVICE = api.DESCRIPTOR.services_by_name["WbemService"]
log = logs.get("wmiput.host")
MAX_CONTEXT_VALUES = 256


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
    def __init__(self, repo: Repository, dispatcher: Dispatcher, *, max_message_bytes: int, host_id: str) -> None:
        self.repo = repo
        self.dispatcher = dispatcher
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

    def _leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    # -- plumbing

    def handler(self) -> grpc.GenericRpcHandler:
        handlers = {}
        for m in SERVICE.methods:
            req_cls = getattr(api, m.input_type.name)
            fn = getattr(self, m.name)
            kw = dict(request_deserializer=_decoder(req_cls, self.max_message_bytes, m.name),
                      response_serializer=lambda msg: msg.SerializeToString())
            if m.server_streaming:
                handlers[m.name] = grpc.unary_stream_rpc_method_handler(self._stream(m.name, fn), **kw)
            else:
                handlers[m.name] = grpc.unary_unary_rpc_method_handler(self._unary(m.name, fn), **kw)
        return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)

    def _unary(self, name: str, fn: Callable[[Any], Any]) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            entered = False
            try:
                self._enter(name)
                entered = True
                _admit(request, name)
                reply = await fn(request)
            except Exception as raw:  # noqa: BLE001 - every failure leaves as a WBEM_E_* status
                e = as_wbem_error(raw, name)
                e.operation = e.operation or name
                self._log(name, request, start, e)
                await abort(context, e)
                return None
            finally:
                if entered:
                    self._leave()
            self._log(name, request, start, None, reply)
            return reply
        return call

    def _stream(self, name: str, fn: Callable[[Any], AsyncIterator[Any]]) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            start = time.perf_counter()
            count = 0
            entered = False
            try:
                self._enter(name)
                entered = True
                _admit(request, name)
                async for reply in fn(request):
                    count += 1
                    yield reply
            except Exception as raw:  # noqa: BLE001 - every failure leaves as a WBEM_E_* status
                e = as_wbem_error(raw, name)
                e.operation = e.operation or name
                self._log(name, request, start, e)
                await abort(context, e)
                return
            finally:
                if entered:
                    self._leave()
            log.info("call", op=name, namespace=request.namespace, objects=count,
                     ms=round((time.perf_counter() - start) * 1000, 2), hresult="WBEM_S_NO_ERROR")
        return call

    @staticmethod
    def _log(name: str, request: Any, start: float, err: WbemError | None, reply: Any = None) -> None:
        ms = round((time.perf_counter() - start) * 1000, 2)
        if isinstance(request, Malformed):
            log.warning("call", op=name, ms=ms, hresult=err.name if err else "", error=err.description if err else "")
            return
        target = _target(request, reply)
        if err is None:
            log.info("call", op=name, namespace=request.namespace, target=target, flags=request.flags, ms=ms,
                     hresult="WBEM_S_NO_ERROR")
        else:
            log.info("call", op=name, namespace=request.namespace, target=target, flags=request.flags, ms=ms,
                     hresult=err.name, error=err.description)

    # -- the calls

    async def PutClass(self, r: api.PutClassRequest) -> api.PutClassResponse:
        _need_object(r, "PutClass")
        res = await self.repo.put_class(r.namespace, r.object, r.flags)
        return api.PutClassResponse(path=res.path, relpath=res.relpath)

    async def PutInstance(self, r: api.PutInstanceRequest) -> api.PutInstanceResponse:
        _need_object(r, "PutInstance")
        caller = wire.Caller(principal="anonymous", host=self.host_id)
        res = await self.dispatcher.put_instance(r.namespace, r.object, r.flags,
                                                 r.context if r.HasField("context") else None, caller)
        return api.PutInstanceResponse(path=res.path, relpath=res.relpath)

    async def ListProviders(self, r: api.ListProvidersRequest) -> api.ListProvidersResponse:
        ns = await self.repo.resolve_namespace(r.namespace, "ListProviders")
        schema = await self.repo.schema(ns)
        return api.ListProvidersResponse(providers=await self.dispatcher.registry.describe(ns, schema))

    async def GetObject(self, r: api.GetObjectRequest) -> api.GetObjectResponse:
        if not r.path:
            raise WbemError("WBEM_E_INVALID_PARAMETER", "the object path is empty", parameter_info="strObjectPath")
        return api.GetObjectResponse(object=await self.repo.get_object(r.namespace, r.path))

    async def DeleteClass(self, r: api.DeleteClassRequest) -> api.DeleteClassResponse:
        n, i = await self.repo.delete_class(r.namespace, r.class_name, r.flags)
        return api.DeleteClassResponse(classes_deleted=n, instances_deleted=i)

    async def DeleteInstance(self, r: api.DeleteInstanceRequest) -> api.DeleteInstanceResponse:
        if not r.path:
            raise WbemError("WBEM_E_INVALID_PARAMETER", "the object path is empty", parameter_info="strObjectPath")
        return api.DeleteInstanceResponse(path=await self.repo.delete_instance(r.namespace, r.path))

    async def CreateClassEnum(self, r: api.CreateClassEnumRequest) -> AsyncIterator[api.CreateClassEnumResponse]:
        async for o in self.repo.enum_classes(r.namespace, r.superclass, r.flags):
            yield api.CreateClassEnumResponse(object=o)

    async def CreateInstanceEnum(self, r: api.CreateInstanceEnumRequest
                                 ) -> AsyncIterator[api.CreateInstanceEnumResponse]:
        if not r.class_name:
            raise WbemError("WBEM_E_INVALID_PARAMETER", "no class given", parameter_info="strFilter")
        async for o in self.repo.enum_instances(r.namespace, r.class_name, r.flags):
            yield api.CreateInstanceEnumResponse(object=o)


def as_wbem_error(e: Exception, operation: str) -> WbemError:
    """Redis out of reach is WBEM_E_NOT_AVAILABLE (retryable); anything unforeseen WBEM_E_FAILED,
    logged with its traceback, so no failure ever leaves without an HRESULT."""
    if isinstance(e, WbemError):
        return e
    if isinstance(e, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return WbemError("WBEM_E_NOT_AVAILABLE", f"the repository (Redis) cannot be reached: {e}; try again",
                         operation=operation)
    if isinstance(e, redis.exceptions.OutOfMemoryError) or (
            isinstance(e, redis.exceptions.ResponseError) and "OOM command not allowed" in str(e)):
        # Redis refuses a script at its first write when full, so nothing of the call was written.
        return WbemError("WBEM_E_OUT_OF_MEMORY", "the repository (Redis) is at its maxmemory limit; nothing was "
                         "written", operation=operation)
    if isinstance(e, redis.exceptions.ReadOnlyError):
        return WbemError("WBEM_E_NOT_AVAILABLE", "the repository (Redis) is a read-only replica; try again "
                         "after failover", operation=operation)
    log.exception("unexpected failure", op=operation)
    return WbemError("WBEM_E_FAILED", f"unexpected {type(e).__name__} in the host; see its log", operation=operation)


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
    check_flags(operation, request.flags)
    _check_context(request, operation)


def _need_object(r: Any, operation: str) -> None:
    if not r.HasField("object"):
        raise WbemError("WBEM_E_INVALID_PARAMETER", "no object given (NULL)", parameter_info="pObject",
                        operation=operation)


def _check_context(r: Any, operation: str) -> None:
    if not r.HasField("context"):
        return
    ctx: pb.Context = r.context
    if len(ctx.values) > MAX_CONTEXT_VALUES:
        raise WbemError("WBEM_E_QUOTA_VIOLATION", f"the context has {len(ctx.values)} values; the limit is "
                        f"{MAX_CONTEXT_VALUES}", parameter_info="pCtx", operation=operation)
    seen = set()
    for v in ctx.values:
        if not v.name or v.name.lower() in seen:
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"context value name {v.name!r} is empty or repeated",
                            parameter_info="pCtx", operation=operation)
        seen.add(v.name.lower())
