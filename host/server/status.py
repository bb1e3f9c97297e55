"""How a WbemError travels over gRPC: a fitting status code, google.rpc.Status details packing the
ExtendedStatus, and plain trailing metadata any client can read without protobuf."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2 as rpc_status_pb2
from grpc_status import rpc_status

from host.errors import WbemError

HRESULT_KEY = "wbem-hresult"
HRESULT_NAME_KEY = "wbem-hresult-name"

_CODES: dict[str, grpc.StatusCode] = {
    "WBEM_E_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "WBEM_E_INVALID_NAMESPACE": grpc.StatusCode.NOT_FOUND,
    "WBEM_E_ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "WBEM_E_ACCESS_DENIED": grpc.StatusCode.PERMISSION_DENIED,
    "WBEM_E_CLASS_HAS_CHILDREN": grpc.StatusCode.FAILED_PRECONDITION,
    "WBEM_E_CLASS_HAS_INSTANCES": grpc.StatusCode.FAILED_PRECONDITION,
    "WBEM_E_QUOTA_VIOLATION": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "WBEM_E_TOO_MANY_PROPERTIES": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "WBEM_E_OUT_OF_MEMORY": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "WBEM_E_SERVER_TOO_BUSY": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "WBEM_E_NOT_SUPPORTED": grpc.StatusCode.UNIMPLEMENTED,
    "WBEM_E_SHUTTING_DOWN": grpc.StatusCode.UNAVAILABLE,
    "WBEM_E_NOT_AVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "WBEM_E_TRANSPORT_FAILURE": grpc.StatusCode.UNAVAILABLE,
    "WBEM_E_PROVIDER_NOT_FOUND": grpc.StatusCode.FAILED_PRECONDITION,
    "WBEM_E_PROVIDER_LOAD_FAILURE": grpc.StatusCode.UNAVAILABLE,
    "WBEM_E_PROVIDER_NOT_CAPABLE": grpc.StatusCode.FAILED_PRECONDITION,
    "WBEM_E_TIMED_OUT": grpc.StatusCode.DEADLINE_EXCEEDED,
    "WBEM_E_PROVIDER_TIMED_OUT": grpc.StatusCode.DEADLINE_EXCEEDED,
    "WBEM_E_CALL_CANCELLED": grpc.StatusCode.CANCELLED,
    "WBEM_E_FAILED": grpc.StatusCode.INTERNAL,
    "WBEM_E_CRITICAL_ERROR": grpc.StatusCode.INTERNAL,
}


def grpc_code(err: WbemError) -> grpc.StatusCode:
    """INVALID_ARGUMENT for the rest: they all say the request cannot be carried out as sent. An
    error may name its own (auth.Unauthenticated: UNAUTHENTICATED)."""
    own = getattr(err, "grpc_status", None)
    return own if own is not None else _CODES.get(err.name, grpc.StatusCode.INVALID_ARGUMENT)


# The error travels in trailing metadata (grpc-message, grpc-status-details-bin), and gRPC clients
# refuse metadata past 8-16 KiB: so texts that may quote the caller's input are cut short.
MAX_MESSAGE_CHARS = 1024
MAX_PARAMETER_CHARS = 256


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_grpc_status(err: WbemError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]:
    """(code, details, trailing metadata) for a failed call."""
    ext = err.to_proto()
    ext.description = _cut(ext.description, MAX_MESSAGE_CHARS)
    ext.parameter_info = _cut(ext.parameter_info, MAX_PARAMETER_CHARS)
    ext.provider_name = _cut(ext.provider_name, MAX_PARAMETER_CHARS)
    ext.operation = _cut(ext.operation, MAX_PARAMETER_CHARS)
    detail = any_pb2.Any()
    detail.Pack(ext)
    code = grpc_code(err)
    message = _cut(str(err), MAX_MESSAGE_CHARS)
    status = rpc_status.to_status(rpc_status_pb2.Status(code=code.value[0], message=message, details=[detail]))
    metadata = tuple(status.trailing_metadata) + (
        (HRESULT_KEY, f"0x{int(err.hresult):08X}"),
        (HRESULT_NAME_KEY, err.name),
    )
    return code, message, metadata


async def abort(context: grpc.aio.ServicerContext, err: WbemError) -> None:
    code, details, metadata = to_grpc_status(err)
    await context.abort(code, details, trailing_metadata=metadata)
