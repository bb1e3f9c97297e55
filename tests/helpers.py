"""Polling helpers for tests: wait on a condition with a deadline instead of sleeping.

Tests synchronise only through these (never a bare ``sleep`` to "give it time").
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["async_wait_for", "redis_snapshot", "wait_for"]


def _describe(predicate: Callable[..., Any], message: str | None) -> str:
    return message or getattr(predicate, "__qualname__", None) or repr(predicate)


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str | None = None,
) -> T:
    """Call ``predicate`` until it returns a truthy value (returned) or ``timeout`` expires.

    Raises AssertionError on timeout, with the last falsy value or exception for context.
    Exceptions raised by the predicate count as "not yet"; the last one is chained.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    last_exc: BaseException | None = None
    while True:
        try:
            last = predicate()
            last_exc = None
            if last:
                return last
        except AssertionError as exc:  # allow predicates written with plain asserts
            last_exc = exc
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.2f}s waiting for {_describe(predicate, message)} "
                f"(last value {last!r}, last error {last_exc!r})"
            ) from last_exc
        time.sleep(interval)


async def async_wait_for(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str | None = None,
) -> T:
    """Async variant of :func:`wait_for`; ``predicate`` may be sync or async."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
            if inspect.isawaitable(result):
                remaining = max(deadline - loop.time(), 0.001)
                result = await asyncio.wait_for(result, timeout=remaining)
            last = result
            last_exc = None
            if last:
                return last  # type: ignore[return-value]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # includes AssertionError and the wait_for TimeoutError
            last_exc = exc
        if loop.time() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.2f}s waiting for {_describe(predicate, message)} "
                f"(last value {last!r}, last error {last_exc!r})"
            ) from last_exc
        await asyncio.sleep(interval)


async def redis_snapshot(redis: Any, prefix: str, exclude: tuple[str, ...] = ()) -> dict[bytes, tuple[str, Any]]:
    """Every key under `prefix:` with its type and full content: the "nothing changed" oracle.
    Keys containing any of `exclude` are left out (e.g. the records of asynchronous calls), and so
    is the audit trail, which records every write attempt, refused ones included."""
    out: dict[bytes, tuple[str, Any]] = {}
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        if any(x.encode() in key for x in exclude) or key == f"{prefix}:{{meta}}:audit".encode():
            continue
        kind = (await redis.type(key)).decode()
        if kind == "hash":
            content: Any = await redis.hgetall(key)
        elif kind == "set":
            content = frozenset(await redis.smembers(key))
        elif kind == "string":
            content = await redis.get(key)
        elif kind == "zset":
            content = tuple(await redis.zrange(key, 0, -1, withscores=True))
        elif kind == "list":
            content = tuple(await redis.lrange(key, 0, -1))
        else:
            content = await redis.dump(key)
        out[key] = (kind, content)
    return out


# -- hand-built protobuf wire bytes, for malformed requests (tests/integration/test_bad_input.py, tests/fuzz)


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers as protobuf writes them: ten bytes
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, message)."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def vi(field: int, n: int) -> bytes:
    """A varint field."""
    return varint(field << 3) + varint(n)


@contextlib.asynccontextmanager
async def serving(settings: Any) -> AsyncIterator[Any]:
    """An in-process host (host.server.app.Host) with these settings, stopped on the way out."""
    from host.server.app import Host
    h = Host(settings)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
