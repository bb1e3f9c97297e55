"""The asyncio client: IWbemServices' calls over gRPC, failures raised as WbemError."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping

import grpc
from grpc_status import rpc_status

from host import tracing as _tracing
from host.client._auth import Credentials
from host.client._calls import AsyncCall, CallResult
from host.client._failover import Endpoints, FailoverChannel
from host.errors import WbemError
from host.flags import WbemFlag
from host.model import values
from host.server.status import HRESULT_KEY
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import calls_pb2_grpc as calls_grpc
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import security_pb2 as sec
from wmiput.v1 import security_pb2_grpc as sec_grpc
from wmiput.v1 import services_pb2 as api
from wmiput.v1 import services_pb2_grpc as api_grpc
from wmiput.v1 import status_pb2

DEFAULT_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True)
class PutResult:
    path: str
    relpath: str


def error_from_rpc(e: grpc.aio.AioRpcError) -> WbemError:
    """The WbemError a failed call carries; transport failures become WBEM_E_TRANSPORT_FAILURE."""
    try:
        status = rpc_status.from_call(e)  # type: ignore[arg-type]
    except ValueError:  # details that disagree with the call's code (the transport replaced it): not ours
        status = None
    if status is not None:
        for d in status.details:
            ext = status_pb2.ExtendedStatus()
            if d.Unpack(ext):
                return WbemError.from_proto(ext)
    for k, v in e.trailing_metadata() or ():
        if k == HRESULT_KEY:
            return WbemError(int(v, 16), e.details() or "")
    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return WbemError("WBEM_E_TIMED_OUT", e.details() or "deadline exceeded")
    return WbemError("WBEM_E_TRANSPORT_FAILURE", f"{e.code().name}: {e.details()}")


def _context(ctx: Mapping[str, Any] | pb.Context | None) -> pb.Context | None:
    if ctx is None or isinstance(ctx, pb.Context):
        return ctx
    c = pb.Context()
    for k, v in ctx.items():
        nv = c.values.add(name=k)
        pv = values.from_python(v)
        if pv is not None:
            nv.value.CopyFrom(pv)
    return c


class WbemClient:
    """`async with await WbemClient.connect("127.0.0.1:50051") as c: await c.put_class(...)`.

    Given several hosts (`connect(["h1:50051", "h2:50051"])`), calls go to one of them and move to
    the next when it is gone (host/client/_failover.py); puts then carry an idempotency key, so a
    put repeated on another host is not applied twice.

    Tracing (docs/observability.md): each put runs in a client span "wmiput.client/<Method>" when
    the process has an OpenTelemetry tracer provider (or `tracing=True`), and the current span's
    context goes to the host in the call's metadata (traceparent, tracestate)."""

    def __init__(self, channel: Any, *, namespace: str, timeout: float | None,
                 idempotent_puts: bool = False, tracing: bool | None = None) -> None:
        self.channel = channel
        self.tracing = tracing  # the client's own span per put: None = when a tracer provider is installed
        self.namespace = namespace
        self.timeout = timeout
        self.idempotent_puts = idempotent_puts
        self.stub = api_grpc.WbemServiceStub(channel)
        self.call_stub = self.stub
        self.call_result_stub = calls_grpc.WbemCallResultServiceStub(channel)
        self.security_stub = sec_grpc.NamespaceSecurityServiceStub(channel)

    @classmethod
    async def connect(cls, target: str | Sequence[str] = DEFAULT_TARGET, *, namespace: str = "root\\cimv2",
                      timeout: float | None = 30.0, max_message_bytes: int = 64 * 1024 * 1024,
                      credentials: Credentials | None = None, idempotent_puts: bool | None = None,
                      tracing: bool | None = None) -> "WbemClient":
        """`target`: one host ("h1:50051", or "dns:///name:50051" for every address a name has),
        or several, comma-separated or as a list. `credentials`: TLS (mutual with a client
        certificate) and a bearer token, if the host asks. `idempotent_puts` (default: with more
        than one host): every put carries a fresh idempotency key. `tracing`: a client span per put
        (default: when this process has an OpenTelemetry tracer provider; False: never)."""
        creds = credentials or Credentials()
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        targets = [t.strip() for t in (target.split(",") if isinstance(target, str) else target) if t.strip()]
        if any(t.startswith("dns:") for t in targets):  # every address of the name, in turn
            options.append(("grpc.lb_policy_name", "round_robin"))
        tls = creds.channel_credentials()

        def make(t: str) -> grpc.aio.Channel:
            if tls is not None:
                return grpc.aio.secure_channel(t, tls, options=options, interceptors=creds.interceptors())
            return grpc.aio.insecure_channel(t, options=options, interceptors=creds.interceptors())

        many = len(targets) > 1 or any(t.startswith("dns:") for t in targets)
        return cls(FailoverChannel(Endpoints(targets, make)), namespace=namespace, timeout=timeout,
                   idempotent_puts=many if idempotent_puts is None else idempotent_puts, tracing=tracing)

    @property
    def target(self) -> str:
        """The host calls go to now."""
        return self.channel.endpoints.target if isinstance(self.channel, FailoverChannel) else ""

    def _key(self, key: str | None) -> str:
        return key if key is not None else (uuid.uuid4().hex if self.idempotent_puts else "")

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> "WbemClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(self, method: Any, request: Any, *, timeout: float | None | str = "default",
                     traced: str = "") -> Any:
        """`traced`: the put's method name: the call carries the trace context (host/tracing.py)."""
        deadline = self.timeout if timeout == "default" else timeout
        if not traced:
            try:
                return await method(request, timeout=deadline)
            except grpc.aio.AioRpcError as e:
                raise error_from_rpc(e) from None
        with _tracing.client_call(traced, self.tracing) as metadata:
            try:
                return await method(request, timeout=deadline, metadata=metadata)
            except grpc.aio.AioRpcError as e:
                raise error_from_rpc(e) from None

    async def _stream(self, method: Any, request: Any) -> AsyncIterator[pb.WbemObject]:
        try:
            async for reply in method(request, timeout=self.timeout):
                yield reply.object
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None

    def _ns(self, namespace: str | None) -> str:
        return namespace if namespace is not None else self.namespace

    async def put_class(self, obj: pb.WbemObject, flags: int = 0, *, context: Mapping[str, Any] | None = None,
                        namespace: str | None = None, idempotency_key: str | None = None) -> PutResult:
        """`idempotency_key`: see PutClassRequest (made up when the client has idempotent_puts)."""
        r = await self._unary(self.stub.PutClass, api.PutClassRequest(
            namespace=self._ns(namespace), object=obj, flags=int(flags), context=_context(context),
            idempotency_key=self._key(idempotency_key)), traced="PutClass")
        return PutResult(r.path, r.relpath)

    async def put_instance(self, obj: pb.WbemObject, flags: int = 0, *, context: Mapping[str, Any] | None = None,
                           namespace: str | None = None, idempotency_key: str | None = None) -> PutResult:
        """`idempotency_key`: see PutInstanceRequest (made up when the client has idempotent_puts)."""
        r = await self._unary(self.stub.PutInstance, api.PutInstanceRequest(
            namespace=self._ns(namespace), object=obj, flags=int(flags), context=_context(context),
            idempotency_key=self._key(idempotency_key)), traced="PutInstance")
        return PutResult(r.path, r.relpath)

    # -- asynchronous calls (sink events) and semisynchronous ones (call handles)

    async def _async_call(self, method: Any, request: Any, resume_for_s: float, traced: str = "") -> AsyncCall:
        """`traced`: the put's method name: the client span covers the call's start (its accepted event)."""
        if not traced:
            call = AsyncCall(self, method(request), resume_for_s=resume_for_s)
            await call._start()
            return call
        with _tracing.client_call(traced, self.tracing) as metadata:
            call = AsyncCall(self, method(request, metadata=metadata), resume_for_s=resume_for_s)
            await call._start()
        return call

    async def put_instance_async(self, obj: pb.WbemObject, flags: int = 0, *,
                                 context: Mapping[str, Any] | None = None, namespace: str | None = None,
                                 resume_for_s: float = 30.0) -> AsyncCall:
        """IWbemServices::PutInstanceAsync. Returns once the call has started (else raises);
        a broken event stream is resumed for up to `resume_for_s` seconds."""
        return await self._async_call(self.stub.PutInstanceAsync, calls.PutInstanceAsyncRequest(
            namespace=self._ns(namespace), object=obj, flags=int(flags), context=_context(context)), resume_for_s,
            "PutInstanceAsync")

    async def put_class_async(self, obj: pb.WbemObject, flags: int = 0, *,
                              context: Mapping[str, Any] | None = None, namespace: str | None = None,
                              resume_for_s: float = 30.0) -> AsyncCall:
        """IWbemServices::PutClassAsync."""
        return await self._async_call(self.stub.PutClassAsync, calls.PutClassAsyncRequest(
            namespace=self._ns(namespace), object=obj, flags=int(flags), context=_context(context)), resume_for_s,
            "PutClassAsync")

    async def put_async(self, obj: pb.WbemObject, flags: int = 0, *, context: Mapping[str, Any] | None = None,
                        async_context: Mapping[str, Any] | pb.Context | None = None,
                        namespace: str | None = None, resume_for_s: float = 30.0) -> AsyncCall:
        """SWbemServicesEx.PutAsync: SWbemSink events, each with `async_context` handed back."""
        return await self._async_call(self.stub.PutAsync, calls.PutAsyncRequest(
            namespace=self._ns(namespace), object=obj, flags=int(flags), context=_context(context),
            async_context=_context(async_context)), resume_for_s, "PutAsync")

    async def attach_call(self, handle: str, after_sequence: int = 0, *, resume_for_s: float = 30.0) -> AsyncCall:
        """Resume the events of a call started elsewhere (any host), after `after_sequence`."""
        call = await self._async_call(self.stub.AttachCall, calls.AttachCallRequest(
            call_handle=handle, after_sequence=after_sequence), resume_for_s)
        call.last_sequence = after_sequence
        return call

    async def cancel_async_call(self, handle: str) -> None:
        """IWbemServices::CancelAsyncCall: WBEM_E_INVALID_OPERATION once the put is decided."""
        await self._unary(self.stub.CancelAsyncCall, calls.CancelAsyncCallRequest(call_handle=handle))

    async def put_instance_semisync(self, obj: pb.WbemObject, flags: int = 0, *,
                                    context: Mapping[str, Any] | None = None,
                                    namespace: str | None = None) -> CallResult:
        """PutInstance with WBEM_FLAG_RETURN_IMMEDIATELY: an IWbemCallResult at once."""
        r = await self._unary(self.stub.PutInstance, api.PutInstanceRequest(
            namespace=self._ns(namespace), object=obj, flags=int(flags) | WbemFlag.RETURN_IMMEDIATELY,
            context=_context(context)), traced="PutInstance")
        return CallResult(self, r.call_handle)

    async def put_class_semisync(self, obj: pb.WbemObject, flags: int = 0, *,
                                 namespace: str | None = None) -> CallResult:
        """PutClass with WBEM_FLAG_RETURN_IMMEDIATELY: an IWbemCallResult at once."""
        r = await self._unary(self.stub.PutClass, api.PutClassRequest(
            namespace=self._ns(namespace), object=obj, flags=int(flags) | WbemFlag.RETURN_IMMEDIATELY),
            traced="PutClass")
        return CallResult(self, r.call_handle)

    def call_result(self, handle: str) -> CallResult:
        """IWbemCallResult for a handle (from this client or another)."""
        return CallResult(self, handle)

    async def get_object(self, path: str, flags: int = 0, *, namespace: str | None = None) -> pb.WbemObject:
        r = await self._unary(self.stub.GetObject, api.GetObjectRequest(
            namespace=self._ns(namespace), path=path, flags=int(flags)))
        return r.object

    async def delete_class(self, name: str, flags: int = 0, *, namespace: str | None = None) -> tuple[int, int]:
        r = await self._unary(self.stub.DeleteClass, api.DeleteClassRequest(
            namespace=self._ns(namespace), class_name=name, flags=int(flags)))
        return r.classes_deleted, r.instances_deleted

    async def delete_instance(self, path: str, flags: int = 0, *, namespace: str | None = None) -> str:
        r = await self._unary(self.stub.DeleteInstance, api.DeleteInstanceRequest(
            namespace=self._ns(namespace), path=path, flags=int(flags)))
        return r.path

    def enum_classes(self, superclass: str = "", flags: int = 0, *, namespace: str | None = None
                     ) -> AsyncIterator[pb.WbemObject]:
        return self._stream(self.stub.CreateClassEnum, api.CreateClassEnumRequest(
            namespace=self._ns(namespace), superclass=superclass, flags=int(flags)))

    def enum_instances(self, class_name: str, flags: int = 0, *, namespace: str | None = None
                       ) -> AsyncIterator[pb.WbemObject]:
        return self._stream(self.stub.CreateInstanceEnum, api.CreateInstanceEnumRequest(
            namespace=self._ns(namespace), class_name=class_name, flags=int(flags)))

    async def list_providers(self, *, namespace: str | None = None) -> list[api.ProviderInfo]:
        """Registered providers with their live workers and stream backlog."""
        r = await self._unary(self.stub.ListProviders, api.ListProvidersRequest(namespace=self._ns(namespace)))
        return list(r.providers)

    async def list_transactions(self, *, namespace: str | None = "", limit: int = 0) -> api.ListTransactionsResponse:
        """Provider-backed puts not finished yet (in doubt), oldest first; namespace "" means every
        namespace. Administrators only when the host authenticates (WBEM_E_ACCESS_DENIED otherwise)."""
        return await self._unary(self.stub.ListTransactions, api.ListTransactionsRequest(
            namespace=namespace or "", limit=limit))

    async def create_namespace(self, name: str, *, parent: str = "root") -> PutResult:
        """Create parent\\name the WMI way: put an instance of __NAMESPACE in the parent."""
        from host.client._objects import instance
        return await self.put_instance(instance("__NAMESPACE", Name=name), namespace=parent)

    # -- namespace security (__SystemSecurity)

    async def get_namespace_security(self, *, namespace: str | None = None) -> sec.GetNamespaceSecurityResponse:
        """The namespace's own descriptor, what it inherits, and its version (needs ReadSecurity)."""
        return await self._unary(self.security_stub.GetNamespaceSecurity,
                                 sec.GetNamespaceSecurityRequest(namespace=self._ns(namespace)))

    async def set_namespace_security(self, security: sec.NamespaceSecurity, *, namespace: str | None = None,
                                     expected_version: int | None = None) -> int:
        """Replace the namespace's own descriptor (needs EditSecurity); the new version.
        With `expected_version`, only if nobody changed it since (else WBEM_E_INVALID_OPERATION)."""
        r = await self._unary(self.security_stub.SetNamespaceSecurity, sec.SetNamespaceSecurityRequest(
            namespace=self._ns(namespace), security=security, expected_version=expected_version))
        return int(r.version)

    async def caller_access_rights(self, *, namespace: str | None = None) -> sec.GetCallerAccessRightsResponse:
        """The rights this caller holds in the namespace (__SystemSecurity::GetCallerAccessRights)."""
        return await self._unary(self.security_stub.GetCallerAccessRights,
                                 sec.GetCallerAccessRightsRequest(namespace=self._ns(namespace)))
