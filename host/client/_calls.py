"""Asynchronous and semisynchronous calls on the client side.

    call = await client.put_instance_async(obj, WbemFlag.SEND_STATUS)   # raises if it cannot start
    async for event in call:          # accepted, progress..., the final event; resumes a broken stream
        ...
    await call.deliver(MySink())      # or: IWbemObjectSink / SWbemSink style callbacks

    result = await client.put_instance_semisync(obj)                    # IWbemCallResult
    status = await result.get_call_status(timeout_ms=1000)              # None while still running
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, AsyncIterator, Protocol

import grpc
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from host.errors import HResult, WbemError
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import status_pb2

if TYPE_CHECKING:
    from host.client._client import WbemClient

INFINITE = 0xFFFFFFFF
# A stream that breaks without a WMI status (host gone, connection lost) is resumed.
_RESUMABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
              grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}


class ObjectSink(Protocol):
    """IWbemObjectSink. Methods may be plain or async."""

    def indicate(self, objects: list[pb.WbemObject]) -> Any: ...

    def set_status(self, flags: int, hresult: int, str_param: str,
                   error_object: status_pb2.ExtendedStatus | None) -> Any: ...


class ScriptSink(Protocol):
    """SWbemSink's events for a put. Methods may be plain or async."""

    def on_object_put(self, path: str, async_context: pb.Context) -> Any: ...

    def on_progress(self, upper_bound: int, current: int, message: str, async_context: pb.Context) -> Any: ...

    def on_completed(self, hresult: int, error_object: status_pb2.ExtendedStatus | None,
                     async_context: pb.Context) -> Any: ...


# HRESULTs about the stream or the host, not the call: the call goes on, so the stream resumes.
_RESUMABLE_HRESULTS = {"WBEM_E_NOT_AVAILABLE", "WBEM_E_SHUTTING_DOWN", "WBEM_E_TRANSPORT_FAILURE"}


def _wmi_status(e: grpc.aio.AioRpcError) -> str | None:
    from host.server.status import HRESULT_NAME_KEY
    return next((str(v) for k, v in (e.trailing_metadata() or ()) if k == HRESULT_NAME_KEY), None)


def _resumable(e: BaseException) -> bool:
    if not isinstance(e, grpc.aio.AioRpcError):
        return False
    name = _wmi_status(e)
    return name in _RESUMABLE_HRESULTS if name is not None else e.code() in _RESUMABLE


class AsyncCall:
    """An asynchronous call: iterate it for its events, exactly once each, the final one last."""

    def __init__(self, client: "WbemClient", stream: Any, *, resume_for_s: float) -> None:
        self._client = client
        self._stream = stream
        self._resume_for_s = resume_for_s
        self.handle = ""
        self.operation = ""
        self.last_sequence = 0
        self.final: calls.SinkEvent | None = None
        self._pending: list[calls.SinkEvent] = []

    async def _start(self) -> None:
        """Read `accepted`; a call that could not start raises its WbemError here."""
        from host.client._client import error_from_rpc
        try:
            first = await self._stream.read()
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None
        if first is grpc.aio.EOF or not first.event.HasField("accepted"):
            raise WbemError("WBEM_E_TRANSPORT_FAILURE", "the stream ended before the call was accepted")
        self.handle = first.event.accepted.call_handle
        self.operation = first.event.accepted.operation
        self._pending.append(first.event)

    def __aiter__(self) -> AsyncIterator[calls.SinkEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[calls.SinkEvent]:
        from host.client._client import error_from_rpc
        while self._pending:
            yield self._pending.pop(0)
        while self.final is None:
            try:
                reply = await self._stream.read()
            except grpc.aio.AioRpcError as e:
                if not _resumable(e):
                    raise error_from_rpc(e) from None
                await self._resume(e)
                continue
            if reply is grpc.aio.EOF:
                raise WbemError("WBEM_E_TRANSPORT_FAILURE", "the event stream ended before the final event")
            e = reply.event
            if e.HasField("accepted") or e.sequence <= self.last_sequence:
                continue  # a resumed stream starts with accepted again
            self.last_sequence = e.sequence
            if e.final:
                self.final = e
            yield e

    async def _resume(self, cause: grpc.aio.AioRpcError) -> None:
        """Re-attach after the last event received, retrying while the host is unreachable."""
        from host.client._client import error_from_rpc
        retrying = AsyncRetrying(retry=retry_if_exception(_resumable), reraise=True,
                                 stop=stop_after_delay(self._resume_for_s),
                                 wait=wait_exponential_jitter(multiplier=0.05, max=1.0))
        try:
            async for attempt in retrying:
                with attempt:
                    stream = self._client.call_stub.AttachCall(
                        calls.AttachCallRequest(call_handle=self.handle, after_sequence=self.last_sequence))
                    first = await stream.read()
                    if first is grpc.aio.EOF:
                        raise cause
                    self._stream = stream
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None

    async def wait(self) -> calls.SinkEvent:
        """Consume the remaining events; the final one."""
        async for _ in self:
            pass
        assert self.final is not None
        return self.final

    async def cancel(self) -> None:
        await self._client.cancel_async_call(self.handle)

    async def deliver(self, sink: ObjectSink | ScriptSink) -> int:
        """Hand every event to `sink` (IWbemObjectSink or SWbemSink style); the final HRESULT."""
        async for e in self:
            kind = e.WhichOneof("event")
            err = None
            if kind == "indicate":
                await _maybe(sink.indicate(list(e.indicate.objects)))  # type: ignore[union-attr]
            elif kind == "set_status":
                s = e.set_status
                err = s.error_object if s.HasField("error_object") else None
                await _maybe(sink.set_status(int(s.flags), s.hresult, s.str_param, err))  # type: ignore[union-attr]
            elif kind == "object_put":
                await _maybe(sink.on_object_put(e.object_put.path, e.async_context))  # type: ignore[union-attr]
            elif kind == "progress":
                p = e.progress
                await _maybe(sink.on_progress(p.upper_bound, p.current, p.message,  # type: ignore[union-attr]
                                              e.async_context))
            elif kind == "completed":
                c = e.completed
                err = c.error_object if c.HasField("error_object") else None
                await _maybe(sink.on_completed(c.hresult, err, e.async_context))  # type: ignore[union-attr]
        return final_hresult(self.final)


def final_hresult(e: calls.SinkEvent | None) -> int:
    if e is None:
        return int(HResult.WBEM_E_FAILED)
    return e.completed.hresult if e.HasField("completed") else e.set_status.hresult


async def _maybe(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


class CallResult:
    """IWbemCallResult for a semisynchronous put. Each method waits up to `timeout_ms`
    (0 = WBEM_NO_WAIT, INFINITE = until done) and returns None while the call still runs
    (WBEM_S_TIMEDOUT); a failed put raises its WbemError from get_result_string/object."""

    def __init__(self, client: "WbemClient", handle: str) -> None:
        self._client = client
        self.handle = handle

    def _timeout(self, timeout_ms: int) -> float | None:
        return None if timeout_ms == INFINITE else timeout_ms / 1000 + 30

    async def get_call_status(self, timeout_ms: int = INFINITE) -> tuple[int, status_pb2.ExtendedStatus | None] | None:
        """(final HRESULT, error object or None), or None while the call runs."""
        r = await self._client._unary(self._client.call_result_stub.GetCallStatus, calls.GetCallStatusRequest(
            call_handle=self.handle, timeout_ms=timeout_ms), timeout=self._timeout(timeout_ms))
        if r.hresult == HResult.WBEM_S_TIMEDOUT:
            return None
        return r.call_status, (r.error_object if r.HasField("error_object") else None)

    async def get_result_string(self, timeout_ms: int = INFINITE) -> str | None:
        r = await self._client._unary(self._client.call_result_stub.GetResultString, calls.GetResultStringRequest(
            call_handle=self.handle, timeout_ms=timeout_ms), timeout=self._timeout(timeout_ms))
        return None if r.hresult == HResult.WBEM_S_TIMEDOUT else r.result_string

    async def get_result_object(self, timeout_ms: int = INFINITE) -> None:
        """Raises the put's error if it failed; None while it runs; WBEM_E_INVALID_OPERATION once
        it succeeded (a put has no result object)."""
        await self._client._unary(self._client.call_result_stub.GetResultObject, calls.GetResultObjectRequest(
            call_handle=self.handle, timeout_ms=timeout_ms), timeout=self._timeout(timeout_ms))

    async def wait(self, poll_ms: int = 1000) -> tuple[int, status_pb2.ExtendedStatus | None]:
        """Poll GetCallStatus until the call is done."""
        while True:
            got = await self.get_call_status(poll_ms)
            if got is not None:
                return got
            await asyncio.sleep(0)
