"""Round trips shared by concurrent tasks: the Redis commands tasks queue in the same turn of the
event loop go to Redis in one pipeline.

A worker runs many tasks at once and a host many puts, each needing a few round trips (a worker:
begin, finish; a host: read the schema, record the transaction, send tasks, finish). Under load
many of them are ready together; sending their commands in one pipeline costs one write, one read
and one pool checkout instead of one each, which was most of a worker's CPU (bench/). A lone
caller waits one extra turn of the loop, nothing more. Commands go in order, but not atomically:
callers queue only steps whose partial application is safe.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from redis.asyncio import Redis

from host import metrics

Op = tuple[str, tuple[Any, ...], dict[str, Any]]  # a pipeline method, its arguments


def op(name: str, *args: Any, **kwargs: Any) -> Op:
    return name, args, kwargs


class SharedPipeline:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._queue: list[tuple[list[Op], asyncio.Future[list[Any]]]] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def run(self, ops: list[Op]) -> list[Any]:
        """Run `ops` in order, in one pipeline with whatever other tasks queue meanwhile; their
        replies. A command that fails raises its error here (the others of the batch are not affected)."""
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        metrics.trip()  # the batch's one round trip, counted once for each caller that waits on it
        self._queue.append((ops, fut))
        if len(self._queue) == 1:  # the first of this turn schedules the flush for the next one
            asyncio.get_running_loop().call_soon(self._start_flush)
        results = await fut
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results

    def _start_flush(self) -> None:
        # A context of its own: the flush is nobody's round trip in particular (see run).
        t = asyncio.get_running_loop().create_task(self._flush(self._queue), context=contextvars.Context())
        self._queue = []
        self._flushes.add(t)
        t.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[tuple[list[Op], asyncio.Future[list[Any]]]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as p:
                for ops, _ in batch:
                    for name, args, kwargs in ops:
                        getattr(p, name)(*args, **kwargs)
                results = await p.execute(raise_on_error=False)
        except BaseException as e:  # the connection failed (or we were cancelled): every task learns it
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e if isinstance(e, Exception) else asyncio.CancelledError())
            if not isinstance(e, Exception):
                raise
            return
        i = 0
        for ops, fut in batch:
            if not fut.done():
                fut.set_result(results[i:i + len(ops)])
            i += len(ops)
