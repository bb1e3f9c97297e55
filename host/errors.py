"""HRESULTs and the one exception type that carries them.

    WbemError                  every failure of a WMI call: .hresult (HResult), .description,
                               .operation, .parameter_info, .provider_name

HResult mirrors the proto enum `wmiput.v1.HResult` value for value (unsigned, as scripting
prints them: 0x80041019 = 2147749889), so user code never imports generated modules.
"""

from __future__ import annotations

import enum

import redis.exceptions

from host import logs
from wmiput.v1 import status_pb2

PROVIDER_WINDOWS_MANAGEMENT = "Windows Management"


def _unsigned(value: int) -> int:
    return value & 0xFFFFFFFF


HResult = enum.IntEnum(  # type: ignore[misc]
    "HResult",
    {v.name: _unsigned(v.number) for v in status_pb2.DESCRIPTOR.enum_types_by_name["HResult"].values},
)
HResult.__doc__ = "WMI's HRESULTs with their unsigned 32-bit values (proto wmiput.v1.HResult)."


def _hresult_str(self: enum.IntEnum) -> str:
    return f"{self.name} (0x{self.value:08X})"


HResult.__str__ = _hresult_str  # type: ignore[assignment,method-assign]


def hresult_name(code: int) -> str:
    """The name of an HRESULT, or its hex text if WMI has no name for it."""
    try:
        return HResult(_unsigned(code)).name
    except ValueError:
        return f"0x{_unsigned(code):08X}"


def succeeded(code: int) -> bool:
    """Severity bit clear: every success code counts as WBEM_S_NO_ERROR (MS-WMI §2.2.3)."""
    return not _unsigned(code) & 0x80000000


class WbemError(Exception):
    """A WMI call failed with an HRESULT; the fields are those of __ExtendedStatus."""

    def __init__(
        self,
        hresult: int | str,
        description: str,
        *,
        parameter_info: str = "",
        operation: str = "",
        provider_name: str = PROVIDER_WINDOWS_MANAGEMENT,
    ) -> None:
        self.hresult = HResult[hresult] if isinstance(hresult, str) else HResult(_unsigned(hresult))
        self.description = description
        self.parameter_info = parameter_info
        self.operation = operation
        self.provider_name = provider_name
        super().__init__(f"{self.hresult.name} (0x{self.hresult.value:08X}): {description}")

    @property
    def name(self) -> str:
        return self.hresult.name

    def to_proto(self) -> status_pb2.ExtendedStatus:
        return status_pb2.ExtendedStatus(
            status_code=int(self.hresult),
            hresult_name=self.hresult.name,
            description=self.description,
            operation=self.operation,
            parameter_info=self.parameter_info,
            provider_name=self.provider_name,
        )

    @classmethod
    def from_proto(cls, status: status_pb2.ExtendedStatus) -> "WbemError":
        return cls(
            status.status_code,
            status.description,
            parameter_info=status.parameter_info,
            operation=status.operation,
            provider_name=status.provider_name,
        )


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
    if isinstance(e, (redis.exceptions.ClusterError, redis.exceptions.ClusterDownError,
                      redis.exceptions.TryAgainError, redis.exceptions.MasterDownError)):
        # A Redis Cluster with a shard down or moving slots: the step was refused whole.
        return WbemError("WBEM_E_NOT_AVAILABLE", f"the repository (Redis Cluster) is not serving every slot: "
                         f"{e}; try again", operation=operation)
    if isinstance(e, redis.exceptions.ReadOnlyError):
        return WbemError("WBEM_E_NOT_AVAILABLE", "the repository (Redis) is a read-only replica; try again "
                         "after failover", operation=operation)
    logs.get("wmiput.host").exception("unexpected failure", op=operation)
    return WbemError("WBEM_E_FAILED", f"unexpected {type(e).__name__} in the host; see its log", operation=operation)
