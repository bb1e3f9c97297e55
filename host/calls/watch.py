"""Wake whoever waits on a call (an event stream, a GetCallStatus with a timeout) when the call
moves, wherever it runs: every event is published on one pub/sub channel, which each host
follows on a single connection. Pub/sub can drop messages (a reconnect), so every waiter also
re-reads on its own after `fallback_s`, and all are woken after a reconnect."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Callable, Iterator

import redis.exceptions
from redis.asyncio import Redis

from host import logs

log = logs.get("wmiput.calls")


class CallWatcher:
    def __init__(self, redis: Redis, channel: str, *, fallback_s: float = 15.0) -> None:
        self.redis = redis
        self.channel = channel
        self.fallback_s = fallback_s
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.on_cancel: Callable[[str], None] = lambda cid: None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)

    @contextlib.contextmanager
    def watch(self, cid: str) -> Iterator[asyncio.Event]:
        """An event set whenever call `cid` may have moved; clear it before each read."""
        ev = asyncio.Event()
        self._waiters[cid].add(ev)
        try:
            yield ev
        finally:
            waiters = self._waiters.get(cid)
            if waiters is not None:
                waiters.discard(ev)
                if not waiters:
                    del self._waiters[cid]

    def wake(self, cid: str) -> None:
        for ev in self._waiters.get(cid, ()):
            ev.set()

    def wake_all(self) -> None:
        self._wake_all()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for ev in waiters:
                ev.set()

    async def _run(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._wake_all()  # anything published while we were away
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    data = msg["data"].decode()
                    if data.startswith("cancel:"):
                        self.on_cancel(data[7:])
                    else:
                        self.wake(data)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                log.warning("call notifications unreachable; retrying", error=str(e))
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
