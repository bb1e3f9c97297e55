"""Several hosts behind one client: calls go to one host, and move to the next when it is gone.

Any host serves any call (the calls and the repository live in Redis), so a client given several
addresses sends each call to its current host and, when that host is unreachable, retries on the
next one, but only calls that cannot run twice by being sent twice:

- reads, and the call-result and AttachCall methods (they change nothing);
- puts that carry an idempotency key (the hosts recognise a repeat: docs/calls.md);
- anything a host refused because it is shutting down (it ran nothing).

Everything else (deletes, the start of an asynchronous put, security changes) fails with
WBEM_E_TRANSPORT_FAILURE as before: whether it ran is then unknown, and the caller decides.

`FailoverChannel` stands in for a grpc.aio.Channel under the generated stubs: each call picks the
current host's channel when it is made.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from host.server.status import HRESULT_NAME_KEY

# Methods that change nothing, by their full gRPC name's last part.
READS = frozenset({"GetObject", "CreateClassEnum", "CreateInstanceEnum", "ListProviders", "GetCallStatus",
                   "GetResultString", "GetResultObject", "AttachCall", "GetNamespaceSecurity",
                   "GetCallerAccessRights"})
KEYED = frozenset({"PutClass", "PutInstance"})  # safe to repeat when they carry an idempotency key


def _shutting_down(e: grpc.aio.AioRpcError) -> bool:
    return any(k == HRESULT_NAME_KEY and v == "WBEM_E_SHUTTING_DOWN" for k, v in (e.trailing_metadata() or ()))


def may_repeat(method: str, request: Any, e: grpc.aio.AioRpcError, hosts: int) -> bool:
    """Whether a call that failed with `e` may be sent again (to the next of `hosts` hosts)."""
    if e.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    if _shutting_down(e):  # it ran nothing; worth it only if there is another host
        return hosts > 1
    name = method.rsplit("/", 1)[-1]
    return name in READS or (name in KEYED and bool(getattr(request, "idempotency_key", "")))


class Endpoints:
    """The hosts' channels, made on first use; the current one, and moving on from a failed one."""

    def __init__(self, targets: Sequence[str], make_channel: Callable[[str], grpc.aio.Channel]) -> None:
        if not targets:
            raise ValueError("no host address given")
        self.targets = list(targets)
        self._make = make_channel
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._current = random.randrange(len(self.targets))  # clients spread over the hosts

    def current(self) -> tuple[int, grpc.aio.Channel]:
        i = self._current
        if i not in self._channels:
            self._channels[i] = self._make(self.targets[i])
        return i, self._channels[i]

    def failed(self, i: int) -> None:
        if i == self._current:
            self._current = (i + 1) % len(self.targets)

    @property
    def target(self) -> str:
        return self.targets[self._current]

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()


class FailoverChannel:
    """What the generated stubs need of a channel, over several hosts."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints

    def unary_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                    **kwargs: Any) -> Callable[..., Any]:
        def multicallable(ch: grpc.aio.Channel) -> Any:
            return ch.unary_unary(method, request_serializer=request_serializer,
                                  response_deserializer=response_deserializer, **kwargs)

        async def call(request: Any, **options: Any) -> Any:
            tries = 2 * len(self.endpoints.targets)
            for n in range(tries):
                i, ch = self.endpoints.current()
                try:
                    return await multicallable(ch)(request, **options)
                except grpc.aio.AioRpcError as e:
                    if n == tries - 1 or not may_repeat(method, request, e, len(self.endpoints.targets)):
                        raise
                    self.endpoints.failed(i)
                    await asyncio.sleep(min(0.05 * 2 ** n, 1.0) * random.uniform(0.5, 1.0))
            raise AssertionError("unreachable")
        return call

    def unary_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     **kwargs: Any) -> Callable[..., Any]:
        def call(request: Any, **options: Any) -> _Stream:
            return _Stream(self.endpoints, lambda ch: ch.unary_stream(
                method, request_serializer=request_serializer, response_deserializer=response_deserializer,
                **kwargs)(request, **options), method, request)
        return call

    async def close(self) -> None:
        await self.endpoints.close()


class _Stream:
    """A server stream opened on the current host when first read; reopened on the next host if it
    fails before its first message and may be repeated."""

    def __init__(self, endpoints: Endpoints, open_on: Callable[[grpc.aio.Channel], Any], method: str,
                 request: Any) -> None:
        self._endpoints = endpoints
        self._open_on = open_on
        self._method = method
        self._request = request
        self._call: Any = None
        self._received = False

    async def read(self) -> Any:
        tries = 2 * len(self._endpoints.targets)
        for n in range(tries):
            if self._call is None:
                i, ch = self._endpoints.current()
                self._index, self._call = i, self._open_on(ch)
            try:
                msg = await self._call.read()
                self._received = True
                return msg
            except grpc.aio.AioRpcError as e:
                if (self._received or n == tries - 1
                        or not may_repeat(self._method, self._request, e, len(self._endpoints.targets))):
                    raise
                self._endpoints.failed(self._index)
                self._call = None
                await asyncio.sleep(min(0.05 * 2 ** n, 1.0) * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> Any:
        msg = await self.read()
        if msg is grpc.aio.EOF:
            raise StopAsyncIteration
        return msg

    def cancel(self) -> bool:
        return bool(self._call is not None and self._call.cancel())
