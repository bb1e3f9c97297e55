"""Two-phase commit of a provider-backed put, across the providers of every level of the
derivation (topmost first) and the repository.

    1. a transaction record in Redis (state "preparing", owner = this host) and the object lock
    2. PREPARE each level in order; the first refusal, silence or a cancel aborts
    3. the decision, one atomic write: from here the outcome is fixed, whoever crashes
    4. COMMIT each level in order (or ABORT those asked to prepare)
    5. the lock released, the record marked done (kept an hour for late readers)

A put with one provider and nothing else skips the second phase (one PUT task); its record goes
"preparing" -> "putting" just before the PUT is sent, handing the decision to that provider. State lives in
Redis, never only here: if this host dies, another (or this one, restarted) adopts the
transaction once this host's alive key lapses; decided -> driven to the end, undecided ->
aborted (presumed abort). Providers are idempotent by task id, so re-sending is always safe.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis.exceptions
import structlog
from redis.asyncio import Redis
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from host import logs, metrics, tracing
from host.calls.control import CallControl, CallLost
from host.coordinator.registry import Level
from host.errors import WbemError
from host.failpoints import failpoint
from host.model import instances
from host.redis_scripts import Script
from host.repository.keys import Keys
from host.repository.store import PutResult, Repository, _script
from host.shared_pipeline import op
from host.signing import Signer
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire

log = logs.get("wmiput.coordinator")
Phase = wire.TaskPhase
TX_RETENTION_S = 3600
LOCK_TTL_MS = 120_000  # an object lock outlives any deadline; adoption releases it sooner

# Transient Redis failures while driving a decided transaction: retried within bounds, then
# the transaction is left to recovery (it stays in the active set).
def redis_retrying() -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception_type((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)),
        stop=stop_after_delay(15), wait=wait_exponential_jitter(multiplier=0.05, max=1.0), reraise=True)


class NoAnswer(WbemError):
    """A task got no reply in time: unlike a provider's own refusal, its outcome is unknown."""


@dataclass
class TxMeta:
    """What any host needs to finish a transaction."""

    ns: str
    class_name: str
    dynasty: str
    identity: str
    relpath: str
    levels: list[tuple[int, str, str]]  # (level, class, provider or "" for the repository)
    deadline_ms: int
    flags: int
    creator: str = ""  # the host that started it: its list of active transactions names it

    @classmethod
    def from_json(cls, raw: bytes) -> "TxMeta":
        d = json.loads(raw)
        d["levels"] = [tuple(x) for x in d["levels"]]
        return cls(**d)

    def plan(self) -> instances.InstancePlan:
        return instances.InstancePlan(class_name=self.class_name, dynasty=self.dynasty, identity=self.identity,
                                      relpath=self.relpath, record=pb.WbemObject())


@dataclass
class Timeouts:
    put_s: float = 30.0  # prepare phase, overall
    commit_s: float = 10.0  # waiting for commit acknowledgements before leaving them to recovery
    lock_wait_s: float = 30.0


class ReplyRouter:
    """One XREAD loop per host on its reply stream, handing each reply to the task waiting for it."""

    def __init__(self, redis: Redis, stream: str, signer: Signer | None = None) -> None:
        self.redis = redis
        self.stream = stream
        self.signer = signer or Signer()
        self._waiting: dict[str, asyncio.Future[wire.ProviderReply]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)

    def expect(self, task_id: str) -> asyncio.Future[wire.ProviderReply]:
        fut = self._waiting.get(task_id)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self._waiting[task_id] = fut
        return fut

    def forget(self, task_id: str) -> None:
        self._waiting.pop(task_id, None)
        tracing.task_forgotten(task_id)

    async def _run(self) -> None:
        last = "0-0"  # the stream is this host's own and new: every entry in it is for us
        while True:
            try:
                got = await self.redis.xread({self.stream: last}, count=256, block=1000)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                log.warning("reply stream unreachable; retrying", error=str(e))
                await asyncio.sleep(0.2)
                continue
            for _stream, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    payload = self.signer.verified("reply", self.stream, fields)
                    if payload is None:
                        log.warning("ignored a reply entry that no worker signed", entry=entry_id)
                        continue
                    try:
                        reply = wire.ProviderReply.FromString(payload)
                    except Exception:  # noqa: BLE001 - a stray entry: not ours to answer
                        continue
                    tracing.task_replied(reply)
                    fut = self._waiting.get(reply.task_id)
                    if fut is not None and not fut.done():
                        fut.set_result(reply)


class Coordinator:
    def __init__(self, repo: Repository, redis: Redis, keys: Keys, host_id: str, *,
                 timeouts: Timeouts | None = None, alive_ms: int = 5000, signer: Signer | None = None) -> None:
        self.repo = repo
        self.redis = redis
        self.keys = keys
        self.host_id = host_id
        self.t = timeouts or Timeouts()
        self.alive_ms = alive_ms
        self.signer = signer or Signer()  # tasks signed with the task key, replies checked against it
        self.router = ReplyRouter(redis, keys.host_replies(host_id), self.signer)
        self.shared = repo.shared
        self._decide = Script(redis, _script("tx_decide"))
        self._adopt = Script(redis, _script("tx_adopt"))
        self._release = Script(redis, _script("release_lock"))
        self._cancel = Script(redis, _script("tx_cancel"))
        self._driving: set[str] = set()
        # Ours, but nobody drives them: a failure we could not even record. Recovery retries them.
        self._undriven: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False
        self._healthy_since: float | None = time.monotonic()

    async def start(self) -> None:
        await self.redis.script_load(self._release.script)  # _finish runs it by its digest in a pipeline
        await self.redis.set(self.keys.host_alive(self.host_id), "1", px=self.alive_ms)
        self.router.start()
        self._loops = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._recovery())]

    async def stop(self) -> None:
        self._closing = True
        for t in self._loops:
            t.cancel()
        if self._loops:  # bounded: a cancellation swallowed by wait_for (Python 3.11) must not hang us
            await asyncio.wait(self._loops, timeout=5)
        await self.router.stop()
        try:  # our transactions become adoptable at once, not after the lease
            await self.redis.delete(self.keys.host_alive(self.host_id))
        except redis.exceptions.RedisError:
            pass

    async def cancel(self, tx_id: str) -> str:
        """CancelAsyncCall of a put running as transaction `tx_id`: "cancelled" if the cancel won (the
        put ends WBEM_E_CALL_CANCELLED), else the decision that came first (commit, abort,
        putting) or "" if the transaction is gone."""
        state = await self._cancel(keys=[self.keys.tx(tx_id)])
        return state.decode() if state else ""

    async def _heartbeat(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.alive_ms / 5000)
            try:
                await self.redis.set(self.keys.host_alive(self.host_id), "1", px=self.alive_ms)
                if self._healthy_since is None:
                    self._healthy_since = time.monotonic()
            except Exception as e:  # noqa: BLE001 - the heartbeat must outlive any failure
                # Other hosts' alive keys may lapse too while Redis is away: adopt nothing until
                # they have had a full lease to come back.
                self._healthy_since = None
                log.warning("host heartbeat failed", error=repr(e))

    # ------------------------------------------------------------------ a put

    async def put(self, ns: str, plan: instances.InstancePlan, levels: list[Level], flags: int,
                  ctx: pb.Context | None, caller: wire.Caller, schema_record: pb.WbemObject,
                  control: CallControl | None = None) -> PutResult:
        """Run one provider-backed put to its end; the result or the refusing level's error.
        `control`: the asynchronous call this put runs for (cancel, progress), if any."""
        tx_id = uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(tx=tx_id)  # the put's log event names its transaction
        deadline = time.time() + self.t.put_s
        meta = TxMeta(ns=ns, class_name=plan.class_name, dynasty=plan.dynasty, identity=plan.identity,
                      relpath=plan.relpath, levels=[(lv.level, lv.class_name, lv.provider) for lv in levels],
                      deadline_ms=int(deadline * 1000), flags=flags, creator=self.host_id)
        template = wire.ProviderTask(transaction_id=tx_id, namespace=ns, flags=flags, caller=caller,
                                     deadline_unix_ms=meta.deadline_ms, reply_to=self.keys.host_replies(self.host_id))
        template.object.CopyFrom(schema_record)
        if ctx is not None:
            template.context.values.extend(v for v in ctx.values if v.name.lower() != "__put_ext_client_request")
        tx = self.keys.tx(tx_id)
        self._driving.add(tx_id)  # before the record exists: our own recovery must never take it
        try:
            now_ms = time.time() * 1000
            # Listed, recorded, then the object lock tried once (_lock waits for it if another
            # transaction holds the object), in one round trip. Not atomic, and need not be: listed
            # without a record, recovery drops the id; a record without the lock is presumed aborted.
            got = await self.shared.run([
                op("zadd", self.keys.active_transactions, {tx_id: now_ms}),
                op("zadd", self.keys.host_transactions(self.host_id), {tx_id: now_ms}),
                op("sadd", self.keys.transaction_hosts, self.host_id),
                op("hset", tx, mapping={"state": "preparing", "owner": self.host_id, "meta": json.dumps(asdict(meta)),
                                        "task": template.SerializeToString(), "created_ms": int(now_ms)}),
                op("set", self._lock_key(meta), tx_id, nx=True, px=LOCK_TTL_MS)])
            locked = bool(got[-1])
            if control is not None:
                try:  # from here a cancel goes through the transaction's own decision
                    await control.gate("tx", tx=tx_id, path=f"\\\\{self.repo.server}\\{ns}:{plan.relpath}")
                except BaseException:
                    await self._decide(keys=[self.keys.tx(tx_id)], args=["abort"])
                    await self._finish(tx_id, meta)
                    raise
            return await self._run(tx_id, meta, template, plan, deadline, control, locked)
        except CallLost:
            # Another host took the call over (this one was thought dead): it waits for this
            # transaction's outcome, which recovery now settles.
            await self._orphan(tx_id)
            raise
        except redis.exceptions.RedisError:
            # Redis failed under us: hand the transaction to recovery (presumed abort if
            # undecided); if even that fails, recovery adopts it as ours and not driven.
            try:
                await self._orphan(tx_id)
            except redis.exceptions.RedisError:
                self._undriven.add(tx_id)
            raise
        finally:
            self._driving.discard(tx_id)

    async def _run(self, tx_id: str, meta: TxMeta, template: wire.ProviderTask, plan: instances.InstancePlan,
                   deadline: float, control: CallControl | None, locked: bool) -> PutResult:
        path = PutResult(f"\\\\{self.repo.server}\\{meta.ns}:{meta.relpath}", meta.relpath, False)
        if not locked:
            await self._lock(tx_id, meta, deadline)
        failpoint("before_prepare")
        providers = [lv for lv in meta.levels if lv[2]]
        if len(providers) == 1 and len(meta.levels) == 1:
            return await self._one_phase(tx_id, meta, template, deadline, path, control)
        asked: list[tuple[int, str, str]] = []
        staged = False
        for i, lv in enumerate(meta.levels):
            level, cls, provider = lv
            try:
                if provider:
                    asked.append(lv)
                    with metrics.phase("prepare", level):
                        await self._call(template, Phase.TASK_PHASE_PREPARE, lv, deadline, control, tx_id)
                elif not staged:  # the repository takes part once, at its topmost static level
                    staged = True
                    with metrics.phase("prepare", level), tracing.span("repository prepare", {"wmiput.level": level}):
                        schema = await self.repo.schema(meta.ns)
                        record = await self.repo.stage(meta.ns, plan, meta.flags, schema)
                        await self.redis.hset(self.keys.tx(tx_id), "static",
                                              record.SerializeToString(deterministic=True))
                if control is not None:
                    await control.progress(i + 1, len(meta.levels), f"{cls} accepted by "
                                           f"{'provider ' + provider if provider else 'the repository'}")
            except WbemError as refusal:
                await self._abort(tx_id, meta, template, asked)
                if refusal.name == "WBEM_E_CALL_CANCELLED":  # a provider found it aborted: say by whom
                    raise await self._abort_reason(tx_id, meta) from None
                raise refusal
            if i < len(meta.levels) - 1:
                failpoint("between_prepares")
        with metrics.phase("decide"), tracing.span("decision", {"wmiput.transaction_id": tx_id}):
            decision = await self._decide(keys=[self.keys.tx(tx_id)], args=["commit"])
            tracing.annotate(decision=decision)
        if decision != b"commit":
            # Aborted under us: by CancelAsyncCall, or by recovery (this host was thought dead).
            await self._abort(tx_id, meta, template, asked)
            raise await self._abort_reason(tx_id, meta)
        failpoint("after_decision")
        try:
            with metrics.phase("commit"):
                await asyncio.wait_for(self._commit_all(tx_id, meta, template), self.t.commit_s)
        except (asyncio.TimeoutError, redis.exceptions.RedisError, WbemError) as e:
            # Decided is decided: the put succeeded; recovery finishes the commits.
            log.warning("commit not finished; left to recovery", tx=tx_id, error=repr(e))
            await self._orphan(tx_id)
            return path
        await self._finish(tx_id, meta)
        return path

    async def _abort_reason(self, tx_id: str, meta: TxMeta) -> WbemError:
        if await self.redis.hget(self.keys.tx(tx_id), "cancelled"):
            return WbemError("WBEM_E_CALL_CANCELLED", "the call was cancelled (CancelAsyncCall) before the put "
                             "was decided; nothing was applied", parameter_info=meta.relpath)
        return WbemError("WBEM_E_FAILED", "the transaction was aborted by recovery while it prepared "
                         "(this host was thought dead)", parameter_info=meta.relpath)

    async def _one_phase(self, tx_id: str, meta: TxMeta, template: wire.ProviderTask, deadline: float,
                         path: PutResult, control: CallControl | None) -> PutResult:
        lv = meta.levels[0]
        # The decision passes to the provider with its PUT: no cancel can abort it past this.
        if await self._decide(keys=[self.keys.tx(tx_id)], args=["putting"]) != b"putting":
            await self._finish(tx_id, meta)
            raise await self._abort_reason(tx_id, meta)
        try:
            with metrics.phase("commit"):  # one provider, no repository: its PUT applies at once
                await self._call(template, Phase.TASK_PHASE_PUT, lv, deadline)
        except WbemError as e:
            if isinstance(e, NoAnswer):
                # No answer: the PUT may still run before its deadline. Recovery asks again and
                # settles the outcome; the caller learns it by reading the object.
                await self._orphan(tx_id)
                e.description += "; the outcome is settled by recovery: read the object to see it"
                raise
            await self._decide(keys=[self.keys.tx(tx_id)], args=["abort"])
            await self._finish(tx_id, meta)
            raise
        await self._decide(keys=[self.keys.tx(tx_id)], args=["commit"])
        failpoint("after_decision")
        if control is not None:
            await control.progress(1, 1, f"{lv[1]} accepted by provider {lv[2]}")
        await self._finish(tx_id, meta)
        return path

    async def _lock(self, tx_id: str, meta: TxMeta, deadline: float) -> None:
        key = self._lock_key(meta)
        backoff = 0.005
        give_up = min(deadline, time.time() + self.t.lock_wait_s)
        while not await self.redis.set(key, tx_id, nx=True, px=LOCK_TTL_MS):
            if time.time() > give_up:
                await self._decide(keys=[self.keys.tx(tx_id)], args=["abort"])
                await self._finish(tx_id, meta)
                raise WbemError("WBEM_E_TIMED_OUT", f"{meta.relpath} stayed locked by another transaction",
                                parameter_info=meta.relpath, operation="PutInstance")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.2)

    def _lock_key(self, meta: TxMeta) -> str:
        return self.keys.lock(meta.ns, meta.dynasty, Keys.bucket(meta.identity), meta.identity)

    def _task(self, template: wire.ProviderTask, phase: int, lv: tuple[int, str, str]) -> wire.ProviderTask:
        t = wire.ProviderTask()
        t.CopyFrom(template)
        t.phase = phase  # type: ignore[assignment]
        t.level, t.class_name, t.provider = lv
        t.task_id = f"{template.transaction_id}/{lv[0]}/{Phase.Name(phase).removeprefix('TASK_PHASE_').lower()}"
        t.reply_to = self.keys.host_replies(self.host_id)
        tracing.start_task(t)  # its span's context in t.trace_context, when the put is traced
        return t

    async def _call(self, template: wire.ProviderTask, phase: int, lv: tuple[int, str, str],
                    deadline: float, control: CallControl | None = None, tx_id: str = "") -> wire.ProviderReply:
        """Send one task and wait for its reply until the deadline; an error reply raises. With a
        `control`, a cancel that aborted transaction `tx_id` ends the wait (WBEM_E_CALL_CANCELLED)."""
        task = self._task(template, phase, lv)
        fut = self.router.expect(task.task_id)
        try:
            stream = self.keys.tasks(task.namespace, task.provider)
            await self.shared.run([op("xadd", stream, self.signer.entry("task", stream, task.SerializeToString()))])
            try:
                reply = await self._reply(fut, max(0.0, deadline - time.time()), control, tx_id)
            except asyncio.TimeoutError:
                metrics.task_sent(task.provider, _phase_label(phase), "timeout")
                raise NoAnswer("WBEM_E_PROVIDER_TIMED_OUT", f"provider {task.provider} did not answer "
                                f"{Phase.Name(phase)} for {task.class_name} in time", parameter_info=task.class_name,
                                provider_name=task.provider, operation="PutInstance") from None
        finally:
            self.router.forget(task.task_id)
        metrics.task_sent(task.provider, _phase_label(phase), "ok" if reply.hresult == 0 else "refused")
        return self._check(task, reply)

    async def _reply(self, fut: asyncio.Future[wire.ProviderReply], timeout: float,
                     control: CallControl | None, tx_id: str) -> wire.ProviderReply:
        if control is None:
            async with asyncio.timeout(timeout):  # cheaper than wait_for: no task of its own
                return await fut
        end = time.monotonic() + timeout
        while True:
            cancel = asyncio.ensure_future(control.cancel_requested.wait())
            try:
                done, _ = await asyncio.wait({fut, cancel}, timeout=max(0.0, end - time.monotonic()),
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                cancel.cancel()
            if fut in done:
                return fut.result()
            if not done:
                raise asyncio.TimeoutError
            control.cancel_requested.clear()
            if await self.redis.hget(self.keys.tx(tx_id), "cancelled"):
                raise WbemError("WBEM_E_CALL_CANCELLED", "the call was cancelled (CancelAsyncCall) while a provider "
                                "prepared; nothing is applied")

    async def _commit_all(self, tx_id: str, meta: TxMeta, template: wire.ProviderTask) -> None:
        """COMMIT every level at once: the outcome is decided, so their order cannot matter."""
        async def static() -> None:
            record = await self.redis.hget(self.keys.tx(tx_id), "static")
            if record is not None:
                with tracing.span("repository commit", {"wmiput.transaction_id": tx_id}):
                    await self.repo.apply(meta.ns, meta.plan(), record, tx_id)
        jobs = [self._call_all(template, Phase.TASK_PHASE_COMMIT, [lv for lv in meta.levels if lv[2]],
                               time.time() + self.t.commit_s, sent=lambda: failpoint("commits_sent"))]
        if any(not lv[2] for lv in meta.levels):
            jobs.append(static())
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for r in results:  # every level had its chance; the first failure leaves the rest to recovery
            if isinstance(r, BaseException):
                raise r

    async def _call_all(self, template: wire.ProviderTask, phase: int, lvs: list[tuple[int, str, str]],
                        deadline: float, sent: Callable[[], None] | None = None) -> None:
        """Send one task per level in one round trip and wait for every reply; the first error
        reply raises once all have answered (or the deadline passed)."""
        if not lvs:
            return
        tasks = [self._task(template, phase, lv) for lv in lvs]
        futs = [self.router.expect(t.task_id) for t in tasks]
        try:
            streams = [self.keys.tasks(t.namespace, t.provider) for t in tasks]
            await self.shared.run([op("xadd", st, self.signer.entry("task", st, t.SerializeToString()))
                                   for st, t in zip(streams, tasks, strict=True)])
            if sent is not None:
                sent()
            done, _ = await asyncio.wait(futs, timeout=max(0.0, deadline - time.time()))
        finally:
            for t in tasks:
                self.router.forget(t.task_id)
        for t, fut in zip(tasks, futs, strict=True):
            metrics.task_sent(t.provider, _phase_label(phase), "timeout" if fut not in done else
                              "ok" if not fut.cancelled() and fut.exception() is None and fut.result().hresult == 0
                              else "refused")
        for t, fut in zip(tasks, futs, strict=True):
            if fut not in done:
                raise NoAnswer("WBEM_E_PROVIDER_TIMED_OUT", f"provider {t.provider} did not answer "
                               f"{Phase.Name(phase)} for {t.class_name} in time", parameter_info=t.class_name,
                               provider_name=t.provider, operation="PutInstance")
            self._check(t, fut.result())

    @staticmethod
    def _check(task: wire.ProviderTask, reply: wire.ProviderReply) -> wire.ProviderReply:
        if reply.hresult != 0:
            raise WbemError.from_proto(reply.status) if reply.status.status_code else WbemError(
                reply.hresult, f"provider {task.provider} refused", provider_name=task.provider)
        return reply

    async def _abort(self, tx_id: str, meta: TxMeta, template: wire.ProviderTask,
                     asked: list[tuple[int, str, str]]) -> None:
        """Abort everywhere a prepare was sent; a provider that does not acknowledge in time gets
        the abort again from recovery."""
        await self._decide(keys=[self.keys.tx(tx_id)], args=["abort"])
        try:
            await self._call_all(template, Phase.TASK_PHASE_ABORT, asked, time.time() + self.t.commit_s)
        except (WbemError, redis.exceptions.RedisError) as e:
            log.warning("abort not acknowledged; left to recovery", tx=tx_id, error=repr(e))
            await self._orphan(tx_id)
            return
        await self._finish(tx_id, meta)

    async def _orphan(self, tx_id: str) -> None:
        """Hand a decided transaction to recovery (any host), keeping the object locked."""
        async for attempt in redis_retrying():
            with attempt:
                # Two slots, so not one atomic step: listed first, then released. Listed but still
                # owned (a crash in between) is adopted once this host's lease lapses.
                async with self.redis.pipeline(transaction=False) as p:
                    p.zadd(self.keys.orphan_transactions, {tx_id: time.time() * 1000})
                    p.hset(self.keys.tx(tx_id), "owner", "")
                    await p.execute()
        self._undriven.discard(tx_id)

    async def _finish(self, tx_id: str, meta: TxMeta) -> None:
        async for attempt in redis_retrying():
            with attempt:
                try:
                    await self._finish_once(tx_id, meta)
                except redis.exceptions.NoScriptError:  # Redis restarted without its script cache
                    await self.redis.script_load(self._release.script)
                    await self._finish_once(tx_id, meta)
        self._undriven.discard(tx_id)

    async def _finish_once(self, tx_id: str, meta: TxMeta) -> None:
        """The lock released and the record marked done, then unlisted, in one round trip
        (idempotent; cut part-way, recovery finds it still listed and finishes it again)."""
        await self.shared.run([
            op("evalsha", self._release.sha, 1, self._lock_key(meta), tx_id),
            op("hset", self.keys.tx(tx_id), "done", "1"),
            op("expire", self.keys.tx(tx_id), TX_RETENTION_S),
            op("zrem", self.keys.active_transactions, tx_id),
            op("zrem", self.keys.orphan_transactions, tx_id),
            op("zrem", self.keys.host_transactions(meta.creator or self.host_id), tx_id)])

    # ------------------------------------------------------------------ recovery

    async def _recovery(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.alive_ms / 5000)
            try:
                await self.recover_once()
            except (redis.exceptions.RedisError, WbemError) as e:
                log.warning("recovery pass failed", error=repr(e))

    def may_adopt(self) -> bool:
        """False until Redis has answered our heartbeats for a whole lease: after an outage, other
        hosts' alive keys may have lapsed although the hosts live."""
        return self._healthy_since is not None and time.monotonic() - self._healthy_since >= self.alive_ms / 1000

    async def recover_once(self, batch: int = 200, parallel: int = 32) -> int:
        """Adopt and finish the transactions nobody drives: those handed to recovery (orphans),
        those of hosts whose lease lapsed, and our own left undriven. Returns how many were
        finished."""
        if not self.may_adopt():
            return 0
        candidates: dict[str, str] = {}  # transaction -> the list it was found in ("" = none)
        for raw in await self.redis.zrange(self.keys.orphan_transactions, 0, batch - 1):
            candidates[raw.decode()] = self.keys.orphan_transactions
        for raw in await self.redis.smembers(self.keys.transaction_hosts):
            host = raw.decode()
            if host == self.host_id or await self.redis.exists(self.keys.host_alive(host)):
                continue
            listed = self.keys.host_transactions(host)
            ids = await self.redis.zrange(listed, 0, batch - 1)
            if not ids:
                await self.redis.srem(self.keys.transaction_hosts, host)
            candidates.update((x.decode(), listed) for x in ids)
        candidates.update((tx_id, "") for tx_id in list(self._undriven))
        slots = asyncio.Semaphore(parallel)

        async def take(tx_id: str, listed: str) -> int:
            async with slots:
                return await self._take(tx_id, listed)
        results = await asyncio.gather(*(take(t, listed) for t, listed in candidates.items()
                                         if t not in self._driving and not self._closing))
        return sum(results)

    async def _take(self, tx_id: str, listed: str) -> int:
        tx = self.keys.tx(tx_id)
        owner_raw, state_raw = await self.redis.hmget(tx, "owner", "state")
        if owner_raw is not None and state_raw is None:
            # Only an owner field: written by an orphaning that came after the record expired (or
            # never made it). There is nothing to finish.
            await self.redis.delete(tx)
            owner_raw = None
        if owner_raw is None:  # record gone (expired): nothing left to do
            async with self.redis.pipeline(transaction=False) as p:
                p.zrem(self.keys.active_transactions, tx_id)
                if listed:
                    p.zrem(listed, tx_id)
                await p.execute()
            self._undriven.discard(tx_id)
            return 0
        owner = owner_raw.decode()
        alive = bool(owner and owner != self.host_id and await self.redis.exists(self.keys.host_alive(owner)))
        if not self.may_adopt():  # Redis went away during this pass: what looked dead may live
            return 0
        state = await self._adopt(keys=[tx], args=[owner, self.host_id, "1" if alive else "0"])
        if not state or tx_id in self._driving:
            return 0
        self._driving.add(tx_id)
        self._undriven.discard(tx_id)
        try:
            await self._drive(tx_id, state.decode())
            return 1
        finally:
            self._driving.discard(tx_id)

    async def _drive(self, tx_id: str, state: str) -> None:
        fields = await self.redis.hgetall(self.keys.tx(tx_id))
        meta = TxMeta.from_json(fields[b"meta"])
        template = wire.ProviderTask.FromString(fields[b"task"])
        if fields.get(b"done"):
            await self._finish(tx_id, meta)
            return
        log.info("adopted transaction", tx=tx_id, state=state, relpath=meta.relpath)
        one_phase = len(meta.levels) == 1 and bool(meta.levels[0][2])
        try:
            if one_phase and state in ("preparing", "abort"):
                # The PUT was never sent ("putting" is recorded first), or a cancel aborted it.
                await self._decide(keys=[self.keys.tx(tx_id)], args=["abort"])
            elif one_phase and state == "commit":
                pass
            elif one_phase:
                # The PUT may or may not have run: asking again gets its recorded answer, or runs it
                # now, or (past its deadline) refuses it. That answer is the outcome.
                try:
                    await self._call(template, Phase.TASK_PHASE_PUT, meta.levels[0], time.time() + self.t.commit_s)
                    outcome = "commit"
                except WbemError as e:
                    if isinstance(e, NoAnswer):
                        raise
                    outcome = "abort"
                await self._decide(keys=[self.keys.tx(tx_id)], args=[outcome])
            else:
                if state == "preparing":  # presumed abort: the coordinator died before deciding
                    state = (await self._decide(keys=[self.keys.tx(tx_id)], args=["abort"])).decode()
                if state == "commit":
                    await asyncio.wait_for(self._commit_all(tx_id, meta, template), self.t.commit_s)
                else:  # ABORT for every provider level: one that never prepared just acknowledges
                    await self._call_all(template, Phase.TASK_PHASE_ABORT, [lv for lv in meta.levels if lv[2]],
                                         time.time() + self.t.commit_s)
        except (asyncio.TimeoutError, WbemError, redis.exceptions.RedisError) as e:
            log.warning("adopted transaction not finished; will retry", tx=tx_id, error=repr(e))
            await self._orphan(tx_id)
            return
        await self._finish(tx_id, meta)


def _phase_label(phase: int) -> str:
    return Phase.Name(phase).removeprefix("TASK_PHASE_").lower()
