"""The worker process: serves one or more providers from their Redis streams.

For each provider it reads the task stream in the consumer group "workers", takes over tasks
left pending by dead workers (XAUTOCLAIM after `claim_idle_ms`), heartbeats, and answers each
task exactly once in effect: a task already answered gets its recorded reply again, a task
being run by another live worker is left to it (docs/provider-protocol.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis.exceptions
from redis.asyncio import Redis

from host import logs, metrics, tracing
from host.errors import WbemError
from host.failpoints import armed, failpoint
from host.repository.keys import WORKER_GROUP, Keys
from host.shared_pipeline import Op, SharedPipeline, op
from host.signing import Signer
from wmiput.v1 import provider_pb2 as wire
from workers.provider import Phase, Provider, Task

log = logs.get("wmiput.worker")
DONE_TTL_S = 24 * 3600  # how long a task's reply is kept for redeliveries and adopting hosts
REPLY_STREAM_TTL_S = 3600


@dataclass
class WorkerSettings:
    namespace: str = "root\\cimv2"
    prefix: str = "wmiput"
    concurrency: int = 16
    claim_idle_ms: int = 5000  # a task unacknowledged this long is taken over from its worker
    heartbeat_ms: int = 1000
    exec_lease_ms: int = 30000  # how long a running task is this worker's alone


class Worker:
    def __init__(self, redis: Redis, providers: list[Provider], settings: WorkerSettings | None = None,
                 worker_id: str | None = None, signer: Signer | None = None) -> None:
        self.redis = redis
        self.signer = signer or Signer()  # with a key: only signed tasks run, replies are signed
        self.providers = providers
        self.s = settings or WorkerSettings()
        self.keys = Keys(self.s.prefix)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._slots = asyncio.Semaphore(self.s.concurrency)
        self._running: dict[str, set[bytes]] = {p.name: set() for p in providers}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._shared = SharedPipeline(redis)  # the round trips of the tasks in hand, batched
        self.processed = 0

    async def run(self) -> None:
        """Serve until stop() is called; then finish the tasks in hand and leave the groups."""
        for p in self.providers:
            await p.start()
            try:
                await self.redis.xgroup_create(self._stream(p), WORKER_GROUP, id="0", mkstream=True)
            except redis.exceptions.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise
        await self._heartbeat_once()
        loops = [asyncio.create_task(self._read(p)) for p in self.providers]
        loops += [asyncio.create_task(self._claim(p)) for p in self.providers]
        loops.append(asyncio.create_task(self._heartbeat()))
        log.info("worker serving", worker=self.id, providers=[p.name for p in self.providers],
                 namespace=self.s.namespace)
        try:
            await self._stop.wait()
        finally:
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._leave()
            for p in self.providers:
                await p.stop()
            log.info("worker stopped", worker=self.id, processed=self.processed)

    def stop(self) -> None:
        self._stop.set()

    def _stream(self, p: Provider) -> str:
        return self.keys.tasks(self.s.namespace, p.name)

    # ------------------------------------------------------------------ loops

    async def _read(self, p: Provider) -> None:
        while not self._stop.is_set():
            try:
                got = await self.redis.xreadgroup(WORKER_GROUP, self.id, {self._stream(p): ">"},
                                                  count=self.s.concurrency, block=1000)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                log.warning("redis unreachable; retrying", error=str(e))
                await asyncio.sleep(0.5)
                continue
            except redis.exceptions.ResponseError as e:
                if "NOGROUP" in str(e):  # the stream was reset (Redis restarted without data)
                    await self.redis.xgroup_create(self._stream(p), WORKER_GROUP, id="0", mkstream=True)
                    continue
                raise
            for _stream, entries in got or []:
                for entry_id, fields in entries:
                    await self._spawn(p, entry_id, fields)

    async def _claim(self, p: Provider) -> None:
        """Take over tasks a dead (or stuck) worker left unacknowledged."""
        while not self._stop.is_set():
            await asyncio.sleep(self.s.claim_idle_ms / 2000)
            try:
                start = "0-0"
                while True:
                    res = await self.redis.xautoclaim(self._stream(p), WORKER_GROUP, self.id,
                                                      min_idle_time=self.s.claim_idle_ms, start_id=start, count=16)
                    start, entries = res[0], res[1]
                    for entry_id, fields in entries:
                        if fields is not None:
                            log.info("task taken over", worker=self.id, provider=p.name, entry=entry_id)
                            metrics.redelivered(p.name)
                            await self._spawn(p, entry_id, fields)
                        else:  # deleted meanwhile: nothing to do but acknowledge
                            await self.redis.xack(self._stream(p), WORKER_GROUP, entry_id)
                    if start in (b"0-0", "0-0"):
                        break
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                    redis.exceptions.ResponseError) as e:
                log.warning("claim failed; retrying", error=str(e))

    async def _heartbeat(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(self.s.heartbeat_ms / 1000)
            try:
                await self._heartbeat_once()
                for p in self.providers:
                    if self._running[p.name]:  # keep our running tasks from being taken over
                        await self.redis.xclaim(self._stream(p), WORKER_GROUP, self.id, 0,
                                                list(self._running[p.name]), justid=True)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                log.warning("heartbeat failed", error=str(e))

    async def _heartbeat_once(self) -> None:
        beat = json.dumps({"hostname": socket.gethostname(), "pid": os.getpid(),
                           "last_seen_unix_ms": int(time.time() * 1000)})
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in self.providers:
                pipe.hset(self.keys.workers(self.s.namespace, p.name), self.id, beat)
            await pipe.execute()

    async def _leave(self) -> None:
        try:
            for p in self.providers:
                await self.redis.hdel(self.keys.workers(self.s.namespace, p.name), self.id)
                pending = await self.redis.xpending_range(self._stream(p), WORKER_GROUP, "-", "+", 1,
                                                          consumername=self.id)
                if not pending:
                    await self.redis.xgroup_delconsumer(self._stream(p), WORKER_GROUP, self.id)
        except redis.exceptions.RedisError as e:
            log.warning("could not leave the consumer groups cleanly", error=str(e))

    # ------------------------------------------------------------------ one task

    async def _spawn(self, p: Provider, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        if entry_id in self._running[p.name]:
            return  # claimed back while we still run it: one run is enough
        await self._slots.acquire()
        self._running[p.name].add(entry_id)
        t = asyncio.create_task(self._handle(p, entry_id, fields))
        self._tasks.add(t)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self._running[p.name].discard(entry_id)
            self._slots.release()
            if not task.cancelled() and task.exception() is not None:
                log.error("task handling failed; it will be redelivered", error=repr(task.exception()))

        t.add_done_callback(done)

    async def _handle(self, p: Provider, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        stream = self._stream(p)
        payload = self.signer.verified("task", stream, fields)
        if payload is None:  # not written by a host holding the key (or no task at all): never run
            log.warning("rejected a task entry that no host signed" if b"task" in fields
                        else "dropping an entry with no task", provider=p.name, entry=entry_id,
                        signed=b"sig" in fields)
            await self._ack(stream, entry_id)
            return
        try:
            msg = wire.ProviderTask.FromString(payload)
            if msg.reply_to and not self._reply_stream(msg.reply_to):
                raise ValueError("its reply_to is not a host's reply stream")
        except Exception as e:  # noqa: BLE001 - a malformed entry can never be answered
            log.error("dropping a malformed task entry", provider=p.name, entry=entry_id, error=str(e)[:200])
            await self._ack(stream, entry_id)
            return
        done_key = self.keys.done(self.s.namespace, p.name, msg.task_id)
        run_key = self.keys.running(self.s.namespace, p.name, msg.task_id)
        voting = msg.phase in (Phase.TASK_PHASE_PREPARE, Phase.TASK_PHASE_PUT)
        phase_name = _phase_name(msg.phase)
        ran: tuple[str, bytes | None] | None = None  # (run key, reply to record) once we ran the task
        # One round trip: the recorded reply, the run lease, and (for a vote) whether the level
        # was aborted already.
        begin = [op("get", done_key), op("set", run_key, self.id, nx=True, px=self.s.exec_lease_ms)]
        got = await self._shared.run(begin + self._abort_check(p, msg) if voting else begin)
        reply, leased = got[0], got[1]
        if reply is not None and leased:
            await self.redis.delete(run_key)  # answered already: the lease we just took is not needed
        if reply is None:
            if not leased:
                holder = (await self.redis.get(run_key) or b"").decode()
                if holder and holder != self.id and await self._alive(p, holder):
                    # Another live worker runs it: leave this entry pending; once that worker has
                    # recorded its reply, the next delivery of the entry answers it from the record.
                    return
                await self.redis.set(run_key, self.id, px=self.s.exec_lease_ms)  # its runner is gone: ours now
            aborted = voting and self._abort_seen(msg, got[2], got[3])
            try:
                with metrics.worker_task(p.name, phase_name) as outcome:
                    reply_msg = await self._execute(p, msg, aborted)
                    if reply_msg.hresult == 0 and await self._aborted(p, msg):
                        # The level's ABORT ran while this prepare was still working (recovery or a
                        # cancel decided meanwhile): undo what it staged, and vote no.
                        reply_msg = await self._undo(p, msg)
                    outcome["outcome"] = "ok" if reply_msg.hresult == 0 else "refused"
            except BaseException:
                await self.redis.delete(run_key)  # let a redelivery run it
                raise
            failpoint("worker_before_record")
            failpoint(f"worker_before_record_{phase_name}")
            reply = reply_msg.SerializeToString()
            # A vote is final, so it is recorded; a failed commit or abort is not, so that the
            # coordinator's retry runs it again.
            final = reply_msg.hresult == 0 or msg.phase in (Phase.TASK_PHASE_PREPARE, Phase.TASK_PHASE_PUT)
            ran = (run_key, reply if final else None)
            self.processed += 1
        # Record, reply and acknowledgement in one round trip, in that order: a crash part-way
        # leaves the task pending, and its redelivery answers again from the recorded reply.
        ops = []
        if ran is not None:
            if ran[1] is not None:
                ops.append(op("set", done_key, ran[1], ex=DONE_TTL_S))
            ops.append(op("delete", ran[0]))
        if armed("worker_before_reply", f"worker_before_reply_{phase_name}"):
            # A fault test stops us between the record and the reply: a state that a crash in the
            # middle of the round trip below can leave too.
            if ops:
                await self._shared.run(ops)
            ops = []
            failpoint("worker_before_reply")
            failpoint(f"worker_before_reply_{phase_name}")
        if msg.reply_to:
            ops += [op("xadd", msg.reply_to, self.signer.entry("reply", msg.reply_to, reply)),
                    op("expire", msg.reply_to, REPLY_STREAM_TTL_S)]
        await self._shared.run([*ops, op("xack", stream, WORKER_GROUP, entry_id), op("xdel", stream, entry_id)])

    def _reply_stream(self, key: str) -> bool:
        """Replies go only to a host's reply stream: a task naming any other key (written by someone
        without the task key) must not make us write to, or set an expiry on, that key."""
        return key.startswith(f"{self.keys.prefix}:{{h|") and key.endswith("}:replies") and len(key) < 1024

    async def _ack(self, stream: str, entry_id: bytes) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, WORKER_GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()

    async def _alive(self, p: Provider, worker_id: str) -> bool:
        raw = await self.redis.hget(self.keys.workers(self.s.namespace, p.name), worker_id)
        if raw is None:
            return False
        return time.time() * 1000 - json.loads(raw)["last_seen_unix_ms"] <= 3 * self.s.heartbeat_ms + 1000

    def _abort_check(self, p: Provider, msg: wire.ProviderTask) -> list[Op]:
        return [op("exists", self.keys.done(self.s.namespace, p.name, f"{msg.transaction_id}/{msg.level}/abort")),
                op("hget", self.keys.tx(msg.transaction_id), "state")]

    @staticmethod
    def _abort_seen(msg: wire.ProviderTask, fenced: Any, state: Any) -> bool:
        # A transaction already decided "abort" (a cancel, or recovery) needs no prepare: its ABORT
        # may still be queued behind this task.
        return bool(fenced) or (msg.phase == Phase.TASK_PHASE_PREPARE and state == b"abort")

    async def _aborted(self, p: Provider, msg: wire.ProviderTask) -> bool:
        """A PREPARE or PUT that arrives after its level's ABORT was done must not stage anything."""
        if msg.phase not in (Phase.TASK_PHASE_PREPARE, Phase.TASK_PHASE_PUT):
            return False
        fenced, state = await self._shared.run(self._abort_check(p, msg))
        return self._abort_seen(msg, fenced, state)

    async def _undo(self, p: Provider, msg: wire.ProviderTask) -> wire.ProviderReply:
        await p.abort(Task(msg))
        reply = wire.ProviderReply(task_id=msg.task_id, transaction_id=msg.transaction_id, phase=msg.phase,
                                   level=msg.level, worker_id=self.id)
        err = WbemError("WBEM_E_CALL_CANCELLED", "the transaction was aborted while this task ran",
                        provider_name=p.name, operation="PutInstanceAsync")
        reply.hresult = int(err.hresult)
        reply.status.CopyFrom(err.to_proto())
        return reply

    async def _execute(self, p: Provider, msg: wire.ProviderTask, aborted: bool = False) -> wire.ProviderReply:
        reply = wire.ProviderReply(task_id=msg.task_id, transaction_id=msg.transaction_id, phase=msg.phase,
                                   level=msg.level, worker_id=self.id)
        task = Task(msg)
        fn = {Phase.TASK_PHASE_PREPARE: p.prepare, Phase.TASK_PHASE_COMMIT: p.commit,
              Phase.TASK_PHASE_ABORT: p.abort, Phase.TASK_PHASE_PUT: p.put}.get(msg.phase)
        try:
            if fn is None:
                raise WbemError("WBEM_E_INVALID_PARAMETER", f"unknown task phase {msg.phase}")
            if aborted:
                raise WbemError("WBEM_E_CALL_CANCELLED", "the transaction was aborted before this task ran")
            voting = msg.phase in (Phase.TASK_PHASE_PREPARE, Phase.TASK_PHASE_PUT)
            left = (msg.deadline_unix_ms - time.time() * 1000) / 1000 if msg.deadline_unix_ms else None
            if voting and left is not None and left <= 0:
                raise WbemError("WBEM_E_PROVIDER_TIMED_OUT", "the task arrived after its deadline")
            with tracing.provider_span(p.name, msg):  # in the put's trace, if the task carries one
                async with asyncio.timeout(left if voting else None):
                    await fn(task)
        except WbemError as e:
            e.provider_name = p.name
            e.operation = e.operation or "PutInstanceAsync"
            reply.hresult = int(e.hresult)
            reply.status.CopyFrom(e.to_proto())
        except asyncio.TimeoutError:
            err = WbemError("WBEM_E_PROVIDER_TIMED_OUT", f"{p.name} did not finish before the deadline",
                            provider_name=p.name, operation="PutInstanceAsync")
            reply.hresult = int(err.hresult)
            reply.status.CopyFrom(err.to_proto())
        except Exception as e:  # noqa: BLE001 - a provider bug is the caller's WBEM_E_PROVIDER_FAILURE
            log.exception("provider failed", provider=p.name, task=msg.task_id)
            err = WbemError("WBEM_E_PROVIDER_FAILURE", f"{p.name} failed: {type(e).__name__}: {e}",
                            provider_name=p.name, operation="PutInstanceAsync")
            reply.hresult = int(err.hresult)
            reply.status.CopyFrom(err.to_proto())
        return reply


def _phase_name(phase: int) -> str:
    """"prepare", "commit", ...; "unknown" for a number this version does not know (answered
    WBEM_E_INVALID_PARAMETER by _execute)."""
    try:
        return Phase.Name(phase).removeprefix("TASK_PHASE_").lower()
    except ValueError:
        return "unknown"
