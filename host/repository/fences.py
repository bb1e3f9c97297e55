"""Class changes that touch existing instances, without a step spanning two hash tags.

A namespace's schema and its instances live in different slots (keys.py), so a class change
that alters or deletes existing classes cannot check and delete instances in the same atomic
step as the schema write. Instead:

1. fence every bucket of each dynasty concerned (fence_bucket.lua): puts there wait, and the
   classes that must have no instance are checked to have none;
2. commit the schema (change_classes.lua), recording the decision under the change's token;
3. in each bucket, delete the instances the change dooms, raise the epoch, lift the fence
   (finish_bucket.lua).

A put planned against a schema older than its bucket's epoch re-plans. A fence whose change
stopped (its host died) lapses after its lease; whoever meets it then settles the change in the
schema's slot (decide_change.lua: committed stays committed; otherwise it is cancelled for good,
and its commit, should it still come, is refused) and finishes that bucket accordingly.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

from redis.asyncio import Redis

from host.redis_scripts import Script, source
from host.repository.keys import BUCKETS, Keys

FENCE_LEASE_MS = 10_000  # a class change finishes well within this; a put waits at most this long for one


def _script(name: str) -> str:
    return source("host.repository", name)


@dataclass
class DynastyChange:
    """What a class change does to one dynasty's instances."""

    require_empty: set[str] = field(default_factory=set)  # classes (lower) that must have no instance
    doomed: set[str] = field(default_factory=set)  # classes (lower) whose instances it deletes


class Busy(Exception):
    """Another class change of the dynasty holds a fence."""


class HasInstances(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Fence:
    """A fence as stored: "<token>|<deadline ms>|<doomed classes, comma-separated>"."""

    token: str
    doomed: tuple[str, ...]

    @classmethod
    def parse(cls, raw: bytes | str) -> Fence:
        text = raw.decode() if isinstance(raw, bytes) else raw
        token, _, rest = text.partition("|")
        doomed = rest.partition("|")[2]
        return cls(token, tuple(c for c in doomed.split(",") if c))


class Fences:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._fence = Script(redis, _script("fence_bucket"))
        self._finish = Script(redis, _script("finish_bucket"))
        self._decide = Script(redis, _script("decide_change"))

    @staticmethod
    def new_token() -> str:
        return uuid.uuid4().hex

    async def fence(self, ns: str, changes: dict[str, DynastyChange], token: str,
                    lease_ms: int = FENCE_LEASE_MS) -> None:
        """Fence every bucket of every dynasty in `changes`, or none (on Busy or HasInstances the
        fences taken are lifted again before raising). Bucket 0 of each dynasty is its gate, taken
        first and in a fixed order, so concurrent changes queue there instead of each holding some
        buckets; the other buckets follow at once. Expired fences met on the way are settled."""
        async def one(dynasty: str, b: int, ch: DynastyChange) -> None:
            give_up = time.monotonic() + 2 * lease_ms / 1000
            pause = 0.002
            while True:
                res = await self._fence(
                    keys=[self.keys.bucket_schema(ns, dynasty, b),
                          *(self.keys.members(ns, dynasty, b, c) for c in sorted(ch.require_empty))],
                    args=[token, lease_ms, ",".join(sorted(ch.doomed))])
                status = res[0].decode()
                if status == "OK":
                    return
                if status == "EXPIRED":
                    await self.settle(ns, dynasty, b, res[1])
                elif status == "BUSY":  # another change of the dynasty: it holds the fence briefly
                    if time.monotonic() > give_up:
                        raise Busy(res[1].decode())
                    await asyncio.sleep(random.uniform(pause / 2, pause))
                    pause = min(pause * 2, 0.05)
                else:
                    raise HasInstances(res[1].decode())

        try:
            for dynasty in sorted(changes):
                await one(dynasty, 0, changes[dynasty])
            results = await asyncio.gather(*(one(d, b, ch) for d, ch in changes.items() for b in range(1, BUCKETS)),
                                           return_exceptions=True)
            failure = next((r for r in results if isinstance(r, BaseException)), None)
            if failure is not None:
                raise failure
        except BaseException:
            await self.finish(ns, changes, token, "cancel", 0)
            raise

    async def finish(self, ns: str, changes: dict[str, DynastyChange], token: str, decision: str,
                     epoch: int) -> int:
        """Finish the change in every bucket it fenced; the instances deleted."""
        jobs = [self._finish_bucket(ns, d, b, token, decision, epoch, ch.doomed)
                for d, ch in changes.items() for b in range(BUCKETS)]
        return sum(await asyncio.gather(*jobs))

    async def _finish_bucket(self, ns: str, dynasty: str, b: int, token: str, decision: str, epoch: int,
                             doomed: set[str] | tuple[str, ...]) -> int:
        triples = [k for c in sorted(doomed) for k in (self.keys.records(ns, dynasty, b),
                                                      self.keys.versions(ns, dynasty, b),
                                                      self.keys.members(ns, dynasty, b, c))]
        res = await self._finish(keys=[self.keys.bucket_schema(ns, dynasty, b), *triples],
                                 args=[token, decision, epoch])
        return int(res[1])

    async def settle(self, ns: str, dynasty: str, b: int, raw_fence: bytes | str) -> None:
        """A fence outlived its lease: decide its change (it committed, or never will) and finish
        this bucket as the change would have."""
        fence = Fence.parse(raw_fence)
        decision = (await self._decide(keys=[self.keys.class_change(ns, fence.token)])).decode()
        if decision.startswith("commit"):
            # The schema version now is at least the change's: puts planned before it re-plan.
            current = int(await self.redis.get(self.keys.schema_version(ns)) or 0)
            await self._finish_bucket(ns, dynasty, b, fence.token, "commit", current, fence.doomed)
        else:
            await self._finish_bucket(ns, dynasty, b, fence.token, "cancel", 0, ())
