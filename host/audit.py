"""The audit trail: one entry per write (who, what, flags, outcome), kept in a capped Redis stream
that every host appends to (`P:{meta}:audit`), and logged as an `audit` event.

Synchronous writes are recorded by the front door when they end, refused ones included;
asynchronous and semisynchronous puts when their final status is written (by whichever host ends
the call), so each call is one entry with its real outcome. Object values are never recorded.
"""

from __future__ import annotations

import time

import redis.exceptions
from redis.asyncio import Redis

from host import logs
from host.repository.keys import Keys

log = logs.get("wmiput.audit")

# The operations that write; the asynchronous and semisynchronous ones are recorded at their end.
WRITES = frozenset({"PutClass", "PutInstance", "DeleteClass", "DeleteInstance", "PutClassAsync",
                    "PutInstanceAsync", "PutAsync", "CancelAsyncCall"})


class AuditLog:
    def __init__(self, redis: Redis, keys: Keys, host_id: str, max_entries: int = 100_000) -> None:
        self.redis = redis
        self.stream = keys.audit
        self.host_id = host_id
        self.max_entries = max_entries

    async def record(self, *, principal: str, op: str, namespace: str, target: str, flags: int, result: str,
                     call: str = "") -> None:
        entry = {"at_ms": str(int(time.time() * 1000)), "host": self.host_id, "principal": principal, "op": op,
                 "namespace": namespace, "target": target[:1024], "flags": f"0x{flags & 0xFFFFFFFF:X}",
                 "result": result, "call": call}
        log.info("audit", **entry)
        try:
            await self.redis.xadd(self.stream, entry, maxlen=self.max_entries, approximate=True)
        except redis.exceptions.RedisError as e:  # the write itself is done: losing its record is logged loudly
            log.error("audit entry not stored", error=str(e), **entry)
