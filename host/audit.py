"""The audit trail: one entry per write (who, what, flags, outcome), kept in a capped Redis stream
that every host appends to (`P:{meta}:audit`), and logged as an `audit` event.

Synchronous writes are recorded by the front door when they end, refused ones included;
asynchronous and semisynchronous puts when their final status is written (by whichever host ends
the call), so each call is one entry with its real outcome. Object values are never recorded.
"""

from __future__ import annotations

import asyncio
import time

import redis.exceptions
from redis.asyncio import Redis

from host import logs
from host.repository.keys import Keys

log = logs.get("wmiput.audit")

# The operations that write; the asynchronous and semisynchronous ones are recorded at their end.
WRITES = frozenset({"PutClass", "PutInstance", "DeleteClass", "DeleteInstance", "PutClassAsync",
                    "PutInstanceAsync", "PutAsync", "CancelAsyncCall", "SetNamespaceSecurity"})


class AuditLog:
    """Entries are written in the background, batched (one pipeline for all those of a loop turn),
    so a write's answer does not wait for its audit entry; `drain()` at shutdown writes the rest."""

    def __init__(self, redis: Redis, keys: Keys, host_id: str, max_entries: int = 100_000) -> None:
        self.redis = redis
        self.stream = keys.audit
        self.host_id = host_id
        self.max_entries = max_entries
        self._queue: list[dict[str, str]] = []
        self._flushing: asyncio.Task[None] | None = None

    def record(self, *, principal: str, op: str, namespace: str, target: str, flags: int, result: str,
               call: str = "") -> None:
        entry = {"at_ms": str(int(time.time() * 1000)), "host": self.host_id, "principal": principal, "op": op,
                 "namespace": namespace, "target": target[:1024], "flags": f"0x{flags & 0xFFFFFFFF:X}",
                 "result": result, "call": call}
        log.info("audit", **entry)
        self._queue.append(entry)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the other writes of this turn of the loop join the batch
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                async with self.redis.pipeline(transaction=False) as p:
                    for entry in batch:
                        p.xadd(self.stream, entry, maxlen=self.max_entries, approximate=True)  # type: ignore[arg-type]
                    await p.execute()
            except redis.exceptions.RedisError as e:  # the writes are done: losing their record is logged loudly
                for entry in batch:
                    log.error("audit entry not stored", error=str(e), **entry)

    async def drain(self, timeout: float = 5.0) -> None:
        """Write what is queued (at shutdown)."""
        if self._flushing is not None and not self._flushing.done():
            await asyncio.wait([self._flushing], timeout=timeout)
