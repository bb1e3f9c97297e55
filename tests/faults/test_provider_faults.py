"""Faults under a load of provider-backed puts (the acceptance fault tests of provider transactions).

Every scenario runs a real Redis (EmbeddedRedis, AOF with appendfsync always), two host processes on the
same Redis and key prefix, and one worker process per provider of a three-level chain
Flt_A <- Flt_B <- Flt_C (each level Dynamic with its own SQLite InventoryProvider). A load of CREATE_ONLY
puts with distinct keys runs while something is killed with SIGKILL:

* host 1 at each step of the two-phase commit (before prepare, between prepares, after the decision,
  between commits), through its failpoints; host 2 adopts its transactions once its lease lapses;
* a worker right after its provider ran a task (before the reply is recorded) and right before it
  replies; a replica of that worker takes the task over;
* Redis itself (kill -9 and restart from its append-only file).

After the load settles (no transaction active), for every put: it ended with one outcome, it is applied at
all three levels or at none (never partially), an acknowledged put is applied, a refused put is not, and
each provider applied each commit once, only for a transaction decided "commit".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from host.client import WbemClient, WbemError, WbemFlag, instance, prop
from host.coordinator.transactions import ReplyRouter
from host.redis_server import EmbeddedRedis
from host.repository.keys import WORKER_GROUP, Keys
from tests.helpers import async_wait_for, wait_for
from tests.provider_env import Workers, dynamic, register, wait_live
from wmiput.v1 import provider_pb2 as wire

NS = "root\\cimv2"
CHAIN = (("Flt_A", "LevelA"), ("Flt_B", "LevelB"), ("Flt_C", "LevelC"))  # topmost first
PROVIDERS = tuple(p for _, p in CHAIN)
PUTS = 48
CONCURRENCY = 4
CLAIM_IDLE_MS = 1000
HOST_LEASE_MS = 1000
PUT_TIMEOUT_S = 15
COMMIT_TIMEOUT_S = 5
WORKER_PHASE_HIT = 3
SETTLE_S = 60  # how long the cluster gets to finish every transaction after the load
# Outcomes that leave the put's fate unknown to the caller: it may have been applied or not.
UNKNOWN = frozenset({"WBEM_E_TRANSPORT_FAILURE", "WBEM_E_PROVIDER_TIMED_OUT"})


def relpath(key: str) -> str:
    return f'flt_c.id="{key}"'  # as the providers store it (lower-case relpath)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------- processes


@dataclass
class HostProc:
    name: str
    proc: subprocess.Popen[bytes]
    target: str
    log: Path
    died_ns: int = 0  # time.monotonic_ns() when its death was seen


class Cluster:
    """Redis, hosts and workers of one scenario, all under tmp; everything stopped by close()."""

    def __init__(self, tmp: Path, prefix: str) -> None:
        self.tmp = tmp
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.redis_server = EmbeddedRedis(tmp / "redis", appendfsync="always")
        self.hosts: dict[str, HostProc] = {}
        self.workers: Workers | None = None
        self.redis: Redis | None = None
        self.clients: dict[str, WbemClient] = {}
        self.down: set[str] = set()  # hosts the clients saw die

    def start_redis(self) -> None:
        self.redis_server.start()
        self.redis = Redis.from_url(self.redis_server.url)
        self.workers = Workers(self.tmp, self.redis_server.url, self.prefix)

    def spawn_host(self, name: str, env: dict[str, str] | None = None) -> HostProc:
        port = free_port()
        log = self.tmp / f"host-{name}.log"
        args = [sys.executable, "-m", "host.cli", "serve", "--listen", f"127.0.0.1:{port}",
                "--redis-url", self.redis_server.url, "--prefix", self.prefix, "--server-name", name,
                "--host-lease-ms", str(HOST_LEASE_MS), "--put-timeout-seconds", str(PUT_TIMEOUT_S),
                "--commit-timeout-seconds", str(COMMIT_TIMEOUT_S), "--log-format", "json"]
        with open(log, "ab") as f:
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=f, env={**os.environ, **(env or {})},
                                 start_new_session=True)
        h = HostProc(name, p, f"127.0.0.1:{port}", log)
        self.hosts[name] = h
        return h

    def wait_serving(self, h: HostProc) -> None:
        wait_for(lambda: b"host serving" in h.log.read_bytes() or h.proc.poll() is not None, timeout=30,
                 message=f"host {h.name} serving")
        assert h.proc.poll() is None, h.log.read_text()

    async def connect(self) -> None:
        for name, h in self.hosts.items():
            self.clients[name] = await WbemClient.connect(h.target, timeout=30)

    async def close(self) -> None:
        for c in self.clients.values():
            with contextlib.suppress(Exception):
                await c.close()
        try:
            if self.workers is not None:
                self.workers.stop_all()
        finally:
            for h in self.hosts.values():
                if h.proc.poll() is None:
                    h.proc.send_signal(signal.SIGTERM)
            for h in self.hosts.values():
                try:
                    h.proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(h.proc.pid, signal.SIGKILL)
                    h.proc.wait(10)
            if self.redis is not None:
                with contextlib.suppress(Exception):
                    await self.redis.aclose()
            self.redis_server.stop()


@contextlib.asynccontextmanager
async def cluster(tmp: Path, prefix: str, *, host1_env: dict[str, str] | None = None,
                  worker_env: dict[str, str] | None = None, replica: bool = False) -> AsyncIterator[Cluster]:
    """Redis, host H1 (with host1_env), host H2, and the chain's workers; LevelB's first worker gets
    worker_env, and with replica=True a second LevelB worker (without it) shares its stream."""
    cl = Cluster(tmp, prefix)
    try:
        cl.start_redis()
        h1 = cl.spawn_host("H1", host1_env)
        h2 = cl.spawn_host("H2")
        cl.wait_serving(h1)
        cl.wait_serving(h2)
        await cl.connect()
        c = cl.clients["H2"]
        assert cl.workers is not None
        for _cls, provider in CHAIN:
            await register(c, provider)
        cl.workers.start("LevelA", claim_idle_ms=CLAIM_IDLE_MS)
        cl.workers.start("LevelB", claim_idle_ms=CLAIM_IDLE_MS, env=worker_env)
        if replica:
            cl.workers.start("LevelB", claim_idle_ms=CLAIM_IDLE_MS)
        cl.workers.start("LevelC", claim_idle_ms=CLAIM_IDLE_MS)
        await c.put_class(dynamic("Flt_A", "LevelA", prop("Id", "string", key=True), prop("Payload", "string")))
        await c.put_class(dynamic("Flt_B", "LevelB", prop("Shape", "string"), superclass="Flt_A"))
        await c.put_class(dynamic("Flt_C", "LevelC", prop("Weight", "uint32"), superclass="Flt_B"))
        await wait_live(c, *PROVIDERS)
        yield cl
    finally:
        await cl.close()


# ---------------------------------------------------------------------------------------- the load


async def run_load(cl: Cluster, route: Callable[[int], str], *, on_outcome: Callable[[str], None] | None = None,
                   puts: int = PUTS) -> dict[str, str]:
    """PUTS CREATE_ONLY puts of Flt_C with distinct keys, CONCURRENCY at a time; key -> outcome."""
    outcomes: dict[str, str] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(puts):
        queue.put_nowait(i)

    async def one() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            key = f"k{i:03d}"
            name = route(i)
            try:
                await cl.clients[name].put_instance(
                    instance("Flt_C", Id=key, Payload=f"p{i}", Shape="round", Weight=i), WbemFlag.CREATE_ONLY)
                outcome = "ok"
            except WbemError as e:
                outcome = e.name
                if outcome == "WBEM_E_TRANSPORT_FAILURE":
                    cl.down.add(name)  # the host died under the call: the clients move on
            assert key not in outcomes, f"{key} ended twice"
            outcomes[key] = outcome
            if on_outcome is not None:
                on_outcome(outcome)

    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    assert len(outcomes) == puts, "every put ends with exactly one outcome"
    return outcomes


async def settle(cl: Cluster) -> None:
    """Wait until no transaction is active and every task on the provider streams is answered."""
    r = cl.redis
    assert r is not None

    async def quiet() -> bool:
        if await r.zcard(cl.keys.active_transactions):
            return False
        for p in PROVIDERS:
            stream = cl.keys.tasks(NS, p)
            if await r.xlen(stream):
                return False
            if int((await r.xpending(stream, WORKER_GROUP)).get("pending") or 0):
                return False
        return True

    async def active() -> list[str]:
        return [x.decode() for x in await r.zrange(cl.keys.active_transactions, 0, -1)]

    try:
        await async_wait_for(quiet, timeout=SETTLE_S, interval=0.05, message="no transaction active, no task pending")
    except AssertionError as e:
        raise AssertionError(f"{e}; still active: {await active()}") from None


# ---------------------------------------------------------------------------------------- what is stored


@dataclass
class Tx:
    tx_id: str
    state: str
    done: bool
    owner: str
    origin: str  # the host id that started it (from its reply stream)
    relpath: str


@dataclass
class Level:
    provider: str
    items: dict[str, str]  # relpath -> transaction that wrote it
    applied: set[str]  # task ids applied (commits)
    staged: list[tuple[str, int]]  # (tx, level) still staged
    calls: list[tuple[str, int, str, str, int]]  # (tx, level, phase, relpath, at_ns)


def read_level(db: Path, provider: str) -> Level:
    c = sqlite3.connect(db)
    try:
        return Level(provider,
                     {r[0]: r[1] for r in c.execute("SELECT relpath, tx FROM items")},
                     {r[0] for r in c.execute("SELECT task FROM applied")},
                     list(c.execute("SELECT tx, level FROM staged")),
                     list(c.execute("SELECT tx, level, phase, relpath, at_ns FROM calls ORDER BY seq")))
    finally:
        c.close()


async def read_transactions(cl: Cluster) -> dict[str, Tx]:
    r = cl.redis
    assert r is not None
    out: dict[str, Tx] = {}
    async for key in r.scan_iter(match=f"{cl.prefix}:{{tx|*", count=1000):
        if (await r.type(key)) != b"hash":
            continue
        f = await r.hgetall(key)
        tx_id = key.decode().split("{tx|", 1)[1].split("}", 1)[0]
        task = wire.ProviderTask.FromString(f[b"task"])
        origin = task.reply_to.split("{h|", 1)[1].split("}", 1)[0]
        out[tx_id] = Tx(tx_id, f[b"state"].decode(), bool(f.get(b"done")), f[b"owner"].decode(), origin,
                        json.loads(f[b"meta"])["relpath"].lower())
    return out


@dataclass
class Report:
    scenario: str
    outcomes: dict[str, str]
    applied: set[str] = field(default_factory=set)  # keys applied at every level
    partial: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    refused_but_applied: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    levels: dict[str, Level] = field(default_factory=dict)
    txs: dict[str, Tx] = field(default_factory=dict)
    reruns: list[tuple[str, str, float]] = field(default_factory=list)  # (provider, task, seconds between runs)

    def line(self) -> str:
        failed = Counter(v for v in self.outcomes.values() if v != "ok")
        unknown_applied = sum(1 for k, v in self.outcomes.items() if v in UNKNOWN and k in self.applied)
        return (f"[{self.scenario}] issued={len(self.outcomes)} acknowledged="
                f"{sum(v == 'ok' for v in self.outcomes.values())} failed={dict(sorted(failed.items()))} "
                f"found_applied={len(self.applied)} (of which unknown-outcome={unknown_applied}) "
                f"partial={len(self.partial)} lost={len(self.lost)} refused_but_applied="
                f"{len(self.refused_but_applied)} transactions={Counter(t.state for t in self.txs.values())} "
                f"reruns={len(self.reruns)} leftover_staged={sum(len(lv.staged) for lv in self.levels.values())}")


async def check(cl: Cluster, scenario: str, outcomes: dict[str, str], unknown: frozenset[str] = UNKNOWN) -> Report:
    """Every invariant of the issue, on the providers' stores and the transaction records."""
    assert cl.workers is not None and cl.redis is not None
    rep = Report(scenario, outcomes)
    rep.levels = {p: read_level(cl.workers.data_dir / f"{p}.sqlite", p) for p in PROVIDERS}
    rep.txs = await read_transactions(cl)
    present = {p: set(cl.workers.items(p)) for p in PROVIDERS}
    for key, outcome in sorted(outcomes.items()):
        at = {p for p in PROVIDERS if relpath(key) in present[p]}
        if at == set(PROVIDERS):
            rep.applied.add(key)
        elif at:
            rep.partial.append(f"{key} ({outcome}) applied only at {sorted(at)}")
        if outcome == "ok" and at != set(PROVIDERS):
            rep.lost.append(f"{key} acknowledged but applied at {sorted(at)}")
        if outcome != "ok" and outcome not in unknown and at:
            rep.refused_but_applied.append(f"{key} failed with {outcome} but applied at {sorted(at)}")
    # Nothing appears that no put asked for.
    asked = {relpath(k) for k in outcomes}
    for p in PROVIDERS:
        stray = present[p] - asked
        if stray:
            rep.problems.append(f"{p} holds instances no put asked for: {sorted(stray)[:5]}")
    # Transactions: each one finished; "commit" applied at every level by that transaction and by its
    # commit task applied once; "abort" applied nowhere.
    by_relpath: dict[str, list[Tx]] = {}
    for t in rep.txs.values():
        by_relpath.setdefault(t.relpath, []).append(t)
        if not t.done or t.state not in ("commit", "abort"):
            rep.problems.append(f"transaction {t.tx_id} ({t.relpath}) not finished: state {t.state}, done {t.done}")
    for i, (_cls, p) in enumerate(CHAIN):
        lv = rep.levels[p]
        committed = {f"{t.tx_id}/{i}/commit" for t in rep.txs.values() if t.state == "commit"}
        applied_commits = {a for a in lv.applied if a.endswith("/commit")}
        if applied_commits != committed:
            rep.problems.append(f"{p}: commits applied {len(applied_commits)} != transactions decided commit "
                                f"{len(committed)}; extra {sorted(applied_commits - committed)[:3]}, missing "
                                f"{sorted(committed - applied_commits)[:3]}")
        for rp, tx in lv.items.items():
            writer = rep.txs.get(tx)
            if writer is None or writer.state != "commit":
                rep.problems.append(f"{p}: {rp} written by transaction {tx} whose state is "
                                    f"{writer.state if writer else 'unknown'}")
        for tx, _level in lv.staged:
            stager = rep.txs.get(tx)
            if stager is not None and stager.state == "commit":
                rep.problems.append(f"{p}: committed transaction {tx} is still staged")
        # Each task the provider ran has its reply recorded (a task is answered, once in effect), and a
        # task run more than once (taken over) was re-run promptly.
        runs: dict[str, list[int]] = {}
        for tx, level, phase, _rp, at_ns in lv.calls:
            runs.setdefault(f"{tx}/{level}/{phase}", []).append(at_ns)
        for task_id, ats in runs.items():
            if not await cl.redis.exists(cl.keys.done(NS, p, task_id)):
                rep.problems.append(f"{p}: task {task_id} ran {len(ats)}x but its reply was never recorded")
            if len(ats) > 1:
                rep.reruns.append((p, task_id, (max(ats) - min(ats)) / 1e9))
    for rp, txs in by_relpath.items():
        commits = [t for t in txs if t.state == "commit"]
        if len(commits) > 1:
            rep.problems.append(f"{rp} committed by {len(commits)} transactions")
        for p in PROVIDERS:
            got = rep.levels[p].items.get(rp)
            if commits and got != commits[0].tx_id:
                rep.problems.append(f"{p}: {rp} decided commit by {commits[0].tx_id} but holds {got}")
            if not commits and got is not None:
                rep.problems.append(f"{p}: {rp} has no committed transaction but holds one from {got}")
    # No object lock is left behind.
    locks = [k async for k in cl.redis.scan_iter(match=f"{cl.prefix}:*:lock:*", count=1000)]
    if locks:
        rep.problems.append(f"object locks left: {locks[:3]}")
    print(rep.line())
    return rep


def assert_whole(rep: Report) -> None:
    assert rep.partial == [], f"puts applied partially: {rep.partial}"
    assert rep.lost == [], f"acknowledged puts lost: {rep.lost}"
    assert rep.refused_but_applied == [], f"refused puts applied: {rep.refused_but_applied}"
    assert rep.problems == [], "\n".join(rep.problems)


def calls_of(rep: Report, tx: str) -> dict[tuple[int, str], list[int]]:
    out: dict[tuple[int, str], list[int]] = {}
    for lv in rep.levels.values():
        for t, level, phase, _rp, at_ns in lv.calls:
            if t == tx:
                out.setdefault((level, phase), []).append(at_ns)
    return out


def adopted_by(log: Path) -> set[str]:
    """The transactions a host's log says it adopted."""
    out = set()
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if rec.get("event") == "adopted transaction":
                out.add(str(rec["tx"]))
    return out


def key_of(t: Tx) -> str:
    return t.relpath.split('"')[1]


# ---------------------------------------------------------------------------------------- scenarios


async def watch_death(proc: subprocess.Popen[bytes], on_death: Callable[[], None]) -> None:
    await async_wait_for(lambda: proc.poll() is not None, timeout=110, interval=0.005,
                         message="the failpoint process died")
    on_death()


HOST_STEPS = [
    # (failpoint, hit: about the 12th put of 48, decided when it fires)
    pytest.param("before_prepare", 12, False, id="before_prepare"),
    pytest.param("between_prepares", 23, False, id="between_prepares"),  # 2 hits per put (after levels 0, 1)
    pytest.param("after_decision", 12, True, id="after_decision"),
    pytest.param("commits_sent", 12, True, id="commits_sent"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("step", "nth", "decided"), HOST_STEPS)
async def test_a_host_killed_at_each_step_of_the_commit_leaves_every_put_whole_and_loses_no_acknowledged_put(
        tmp_path: Path, key_prefix: str, step: str, nth: int, decided: bool) -> None:
    async with cluster(tmp_path, key_prefix, host1_env={"WMIPUT_FAILPOINTS": f"{step}@{nth}"}) as cl:
        h1 = cl.hosts["H1"]
        death = asyncio.create_task(watch_death(h1.proc, lambda: setattr(h1, "died_ns", time.monotonic_ns())))
        try:
            # Clients use host 1 until it dies, then host 2.
            outcomes = await run_load(cl, lambda i: "H2" if "H1" in cl.down or h1.proc.poll() is not None else "H1")
            await asyncio.wait_for(death, 30)
        finally:
            death.cancel()
        assert h1.proc.returncode == -signal.SIGKILL, f"host 1 was not killed by its failpoint {step}@{nth}"
        await settle(cl)
        rep = await check(cl, f"host killed {step}@{nth}", outcomes)
        assert_whole(rep)
        other = {k: v for k, v in outcomes.items() if v not in ("ok", "WBEM_E_TRANSPORT_FAILURE")}
        assert other == {}, f"only calls cut by the host's death may fail; these failed otherwise: {other}"
        assert "WBEM_E_TRANSPORT_FAILURE" in outcomes.values()

        # The transaction host 1 was driving when it died was adopted by host 2 and ended as its step says.
        adopted = [t for t in rep.txs.values() if t.origin.startswith("H1-") and t.owner.startswith("H2-")]
        assert adopted, "host 2 adopted none of host 1's transactions"
        died = h1.died_ns

        def at(t: Tx, level: int, phase: str) -> list[int]:
            return calls_of(rep, t.tx_id).get((level, phase), [])

        if step == "before_prepare":  # locked, no prepare sent: presumed abort
            hit = [t for t in adopted if not any(at(t, lv, "prepare") for lv in range(3))]
        elif step == "between_prepares":  # topmost level(s) prepared, the last never asked: presumed abort
            hit = [t for t in adopted if at(t, 0, "prepare") and min(at(t, 0, "prepare")) < died
                   and not at(t, 2, "prepare")]
        elif step == "after_decision":  # decided commit, no commit sent before the death: host 2 commits all
            hit = [t for t in adopted if t.state == "commit" and all(
                at(t, lv, "commit") and min(at(t, lv, "commit")) > died for lv in range(3))]
        else:  # commits_sent: COMMIT sent to every level, no acknowledgement awaited: host 2 sends it again
            hit = [t for t in adopted if t.state == "commit" and all(at(t, lv, "commit") for lv in range(3))]
        assert hit, f"no adopted transaction matches {step}: {[(t.tx_id, t.state) for t in adopted]}"
        for t in hit:
            key = key_of(t)
            assert outcomes[key] == "WBEM_E_TRANSPORT_FAILURE", (key, outcomes[key])
            assert t.state == ("commit" if decided else "abort"), (step, t)
            if decided:
                assert key in rep.applied, f"{key}: decided commit before host 1 died, yet not applied everywhere"
            else:
                assert all(relpath(key) not in rep.levels[p].items for p in PROVIDERS), (
                    f"{key}: host 1 died before deciding, yet applied somewhere")
        print(f"    in-flight put(s) at the failpoint: {[(key_of(t), t.state) for t in hit]}; "
              f"adopted by host 2: {len(adopted)}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("step", ["worker_before_record", "worker_before_reply"])
@pytest.mark.parametrize("phase", ["prepare", "commit"])
async def test_a_worker_killed_mid_task_has_its_task_taken_over_by_its_replica_and_nothing_applied_twice(
        tmp_path: Path, key_prefix: str, step: str, phase: str) -> None:
    # The LevelB worker dies at its WORKER_PHASE_HIT-th task of that phase.
    env = {"WMIPUT_FAILPOINTS": f"{step}_{phase}@{WORKER_PHASE_HIT}"}
    async with cluster(tmp_path, key_prefix, worker_env=env, replica=True) as cl:
        assert cl.workers is not None
        victim, replica = [(i, p) for i, (name, p) in enumerate(cl.workers.procs) if name == "LevelB"]
        victim_proc = victim[1]
        replica_log = tmp_path / f"worker-LevelB-{replica[0]}.log"  # as Workers.start names its logs
        outcomes = await run_load(cl, lambda i: "H1" if i % 2 else "H2")
        await async_wait_for(lambda: victim_proc.poll() is not None, timeout=10, message="the LevelB worker died")
        assert victim_proc.returncode == -signal.SIGKILL, f"the LevelB worker was not killed by its failpoint {step}"
        await settle(cl)
        rep = await check(cl, f"worker killed {step} of a {phase}@{WORKER_PHASE_HIT}", outcomes)
        print(f"    re-run tasks: {[(p, t.split('/', 1)[1], round(s, 2)) for p, t, s in rep.reruns]}")
        wrong: list[str] = []
        # A live replica serves the level: nothing fails, the killed worker's task is taken over.
        if set(outcomes.values()) != {"ok"}:
            wrong.append(f"puts failed though a replica was live: {Counter(outcomes.values())}")
        if b"task taken over" not in replica_log.read_bytes():
            wrong.append("the replica took nothing over")
        if step == "worker_before_record":
            # The provider ran the task but its reply was not recorded: the replica runs it again once the
            # task has been idle claim_idle_ms (the provider's own guard keeps a commit from applying twice).
            if not rep.reruns:
                wrong.append("the killed worker's task was never run again by the replica")
            slow = [(t, round(secs, 1)) for _p, t, secs in rep.reruns if secs > 10]
            if slow:
                wrong.append(f"tasks run again only after (s): {slow} (claim_idle_ms is {CLAIM_IDLE_MS})")
        wrong += rep.partial + rep.lost + rep.refused_but_applied + rep.problems
        assert wrong == [], "\n".join(wrong)


@pytest.mark.timeout(120)
async def test_a_redis_kill_and_restart_mid_load_loses_no_acknowledged_put_and_applies_none_partially(
        tmp_path: Path, key_prefix: str) -> None:
    async with cluster(tmp_path, key_prefix) as cl:
        progress = asyncio.Event()
        failed_while_down = asyncio.Event()
        ended: list[str] = []

        def on_outcome(outcome: str) -> None:
            ended.append(outcome)
            if len(ended) >= PUTS // 3:
                progress.set()
            if outcome != "ok" and progress.is_set() and not cl.redis_server.running:
                failed_while_down.set()

        async def chaos() -> None:
            await progress.wait()
            cl.redis_server.kill()
            down = time.monotonic()
            # Down until some call has run out of retries (both paths are seen), at most a few seconds.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(failed_while_down.wait(), 6)
            await asyncio.to_thread(cl.redis_server.start)
            print(f"    Redis down {time.monotonic() - down:.1f} s after {len(ended)} puts ended")

        _, outcomes = await asyncio.gather(
            chaos(), run_load(cl, lambda i: "H1" if i % 2 else "H2", on_outcome=on_outcome))
        assert all(h.proc.poll() is None for h in cl.hosts.values()), "a host died with Redis"
        await settle(cl)
        # WBEM_E_NOT_AVAILABLE: Redis out of reach; the put may have been decided before that.
        rep = await check(cl, "redis kill -9 and restart", outcomes, UNKNOWN | {"WBEM_E_NOT_AVAILABLE"})
        # Neither host died, yet a lease shorter than the outage lets each adopt the other's transactions.
        crossed = sorted({(key_of(rep.txs[tx]), name, rep.txs[tx].state, outcomes[key_of(rep.txs[tx])])
                          for name, h in cl.hosts.items() for tx in adopted_by(h.log)
                          if tx in rep.txs and not rep.txs[tx].origin.startswith(name + "-")})
        print(f"    transactions of a live host adopted by the other (key, adopter, state, outcome): {crossed}")
        assert_whole(rep)
        assert "ok" in outcomes.values()


@pytest.mark.timeout(60)
async def test_a_reply_that_lands_while_a_host_is_busy_between_two_reads_still_reaches_its_put(tmp_path: Path) -> None:
    """What a failover does to the surviving host: idle until then, it suddenly serves a burst of calls, and
    the first provider reply to it lands while its event loop is busy, between two blocking reads of its
    reply stream. That reply must still reach the put waiting for it (a lost reply leaves the put waiting
    until its deadline: WBEM_E_PROVIDER_TIMED_OUT although the provider answered)."""
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always")
    server.start()
    r = Redis.from_url(server.url)
    sync = SyncRedis.from_url(server.url)
    router = ReplyRouter(r, Keys("t").host_replies("H-idle"))
    try:
        router.start()

        def blocked() -> int:
            return int(sync.info("clients")["blocked_clients"])

        await async_wait_for(blocked, timeout=10, message="the router waiting on its reply stream")
        fut = router.expect("tx/0/prepare")
        added = threading.Event()

        def provider_replies() -> None:  # while the host's loop is busy: the router's read times out, then
            wait_for(lambda: blocked() == 0, timeout=10, message="the router's read ended")  # the reply lands
            sync.xadd(router.stream, {"reply": wire.ProviderReply(task_id="tx/0/prepare").SerializeToString()})
            added.set()

        t = threading.Thread(target=provider_replies)
        t.start()
        assert added.wait(15), "the reply was never added"  # the event loop is busy (blocked) meanwhile
        t.join()
        try:
            reply = await asyncio.wait_for(fut, 5)
        except asyncio.TimeoutError:
            raise AssertionError(f"the reply in {router.stream} ({sync.xlen(router.stream)} entry) never reached "
                                 "the put: ReplyRouter reads from '$' until its first reply") from None
        assert reply.task_id == "tx/0/prepare"
    finally:
        await router.stop()
        await r.aclose()
        sync.close()
        server.stop()
