"""A real multi-host run on one machine (issue 7, part 5).

Redis, two hosts and three worker nodes, each in its own network namespace on a private bridge
(tests/multinode/nodes.py); the clients, in the root namespace, spread over both hosts over TLS.
Under a steady load of asynchronous two-phase puts (class Multi_B, served by provider LevelB, whose
superclass Multi_A is served by LevelA), the test kills host 1 (-9), cuts worker 1's link for a
while, brings host 1 back, and kills Redis (-9) and restarts it from its append-only file. Then:

- every call that started ends with exactly one final status, with its events numbered 1, 2, 3 ...
  without a gap or a repeat, at the client and in Redis, and the hosts report the same status;
- no acknowledged put is lost: a success is in both providers' stores;
- nothing is half-applied: an instance is in both stores or in neither;
- a definite failure applied nothing; an in-doubt one (the host or Redis went away) is whole or
  absent; nothing appears that no client asked for.

docs/multinode-test.md describes it and keeps its figures. Run: `sudo pytest tests/multinode -s`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from host.calls.store import call_id
from host.client import AsyncCall, Credentials, WbemClient, WbemError, WbemFlag, final_hresult, instance, prop
from host.errors import hresult_name
from tests.multinode.nodes import Net, unavailable_reason
from tests.provider_env import INVENTORY, dynamic, register
from wmiput.v1 import calls_pb2 as calls

REPO = Path(__file__).resolve().parents[2]

# The nodes: name -> last octet of its address.
NODES = {"r": 10, "h1": 11, "h2": 12, "w1": 21, "w2": 22, "w3": 23}
GRPC_PORT, REDIS_PORT = 50051, 6379
HOST_LEASE_MS = 2000
CLAIM_IDLE_MS = 1500

# The load and the faults, in seconds from the start of the load.
LOOPS = 8  # concurrent client loops, half homed on each host
LOAD_S = 55
KILL_HOST1_AT = 10
# Longer than the 10 s socket timeout of the Redis clients (host/redis_connect.py): worker 1's
# commands in flight time out and it reconnects, instead of only stalling.
CUT_WORKER1_AT, CUT_WORKER1_FOR = 18, 12
RESTART_HOST1_AT = 32
KILL_REDIS_AT, REDIS_DOWN_FOR = 40, 3
TOTAL_S = 280  # the whole scenario, inside pytest's timeout, so that clean-up always runs

START_TIMEOUT_S = 20  # one PutInstanceAsync until `accepted`
RESUME_FOR_S = 3  # the SDK's own re-attach to the same host; then the loop re-attaches elsewhere
FOLLOW_DEADLINE_S = 60  # a call with no final event by then is a hang (a put's own deadline is 30 s)
SETTLE_S = 40  # after the load: transactions, calls and staged rows gone
IN_DOUBT = {"WBEM_E_NOT_AVAILABLE", "WBEM_E_TRANSPORT_FAILURE", "WBEM_E_SHUTTING_DOWN"}
FLAGS = WbemFlag.CREATE_ONLY | WbemFlag.SEND_STATUS


@dataclass
class Call:
    id: str
    loop: int
    host: str  # where it was started
    t_start: float
    handle: str = ""
    # (sequence, kind, final, hresult, seconds since the load started) of every event but `accepted`
    events: list[tuple[int, str, bool, int, float]] = field(default_factory=list)
    accepted: int = 0  # `accepted` events seen: one per stream (the first, and one per re-attach)
    attaches: list[str] = field(default_factory=list)  # where the loop re-attached, in order
    stream_errors: list[str] = field(default_factory=list)
    outcome: str = ""  # the final HRESULT's name, "ok" for success; "" if none arrived
    t_end: float = 0.0
    problem: str = ""

    def key(self) -> str:
        return relpath(self.id)


def relpath(i: str) -> str:
    return f'multi_b.id="{i.lower()}"'


@dataclass
class NotStarted:
    id: str
    loop: int
    host: str
    error: str
    t: float


class Cluster:
    """The nodes' processes and what the test needs to reach them."""

    def __init__(self, net: Net, tmp: Path) -> None:
        self.net, self.tmp = net, tmp
        self.prefix = f"mn-{net.id}"
        self.redis_ip = net.nodes["r"].ip
        self.redis_url = f"redis://{self.redis_ip}:{REDIS_PORT}/0"
        self.data = tmp / "providers"
        self.data.mkdir()
        self.redis_dir = tmp / "redis"
        self.redis_dir.mkdir()
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.procs: dict[str, Any] = {}
        self._log_offsets: dict[str, int] = {}  # where a host's log stood when it was last started
        self._certs()

    def _certs(self) -> None:
        import trustme
        ca = trustme.CA()
        cert = ca.issue_cert(self.net.nodes["h1"].ip, self.net.nodes["h2"].ip)
        self.ca_pem = self.tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_pem))
        self.cert_pem, self.key_pem = self.tmp / "host.pem", self.tmp / "host.key"
        cert.cert_chain_pems[0].write_to_path(str(self.cert_pem))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(self.cert_pem), append=True)
        cert.private_key_pem.write_to_path(str(self.key_pem))
        self.credentials = Credentials(ca=str(self.ca_pem))

    def target(self, host: str) -> str:
        return f"{self.net.nodes[host].ip}:{GRPC_PORT}"

    @staticmethod
    def _env(extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WMIPUT_")}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return {**env, **extra}

    # -- Redis

    def start_redis(self) -> None:
        from host.redis_server import find_redis_server
        conf = self.redis_dir / "redis.conf"
        conf.write_text("\n".join([
            f"bind {self.redis_ip}", "protected-mode no", f"port {REDIS_PORT}", "daemonize no",
            f'dir "{self.redis_dir}"', 'save ""', "appendonly yes", 'appendfilename "appendonly.aof"',
            "appendfsync always", "aof-load-truncated yes", "loglevel notice",
        ]) + "\n")
        self.procs["r"] = self.net.spawn("r", "redis", [find_redis_server(), str(conf)], self._env({}),
                                         self.logs / "redis.log")

    async def redis_ready(self, timeout: float = 30) -> None:
        from redis.asyncio import Redis
        deadline = time.monotonic() + timeout
        while True:
            r = Redis(host=self.redis_ip, port=REDIS_PORT, socket_timeout=2, socket_connect_timeout=2)
            try:
                if await r.ping():
                    return
            except Exception as e:  # noqa: BLE001 - loading the AOF, or not up yet
                last = e
            finally:
                await r.aclose()
            assert self.procs["r"].poll() is None, self.tail("redis.log")
            if time.monotonic() > deadline:
                raise AssertionError(f"Redis not ready in {timeout}s: {last!r}\n{self.tail('redis.log')}")
            await asyncio.sleep(0.05)

    # -- hosts

    def start_host(self, name: str) -> Path:
        log = self.logs / f"host-{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        env = self._env({
            "WMIPUT_LISTEN": self.target(name), "WMIPUT_REDIS_URL": self.redis_url, "WMIPUT_PREFIX": self.prefix,
            "WMIPUT_SERVER_NAME": "MULTI", "WMIPUT_LOG_FORMAT": "json", "WMIPUT_LOG_LEVEL": "info",
            "WMIPUT_HOST_LEASE_MS": str(HOST_LEASE_MS), "WMIPUT_TLS_CERT": str(self.cert_pem),
            "WMIPUT_TLS_KEY": str(self.key_pem), "WMIPUT_GRACE_SECONDS": "2",
        })
        self._log_offsets[name] = offset
        self.procs[name] = self.net.spawn(name, "host", [sys.executable, "-m", "host.cli", "serve"], env, log)
        return log

    async def host_serving(self, name: str, timeout: float = 45) -> None:
        log = self.logs / f"host-{name}.log"
        deadline = time.monotonic() + timeout
        while b"host serving" not in log.read_bytes()[self._log_offsets[name]:]:
            assert self.procs[name].poll() is None, f"host {name} exited\n{self.tail(log.name)}"
            assert time.monotonic() < deadline, f"host {name} not serving in {timeout}s\n{self.tail(log.name)}"
            await asyncio.sleep(0.05)

    # -- workers

    def start_worker(self, node: str, provider: str) -> None:
        label = f"worker-{node}-{provider}"
        env = self._env({
            "WMIPUT_REDIS_URL": self.redis_url, "WMIPUT_PREFIX": self.prefix, "WMIPUT_NAMESPACE": "root\\cimv2",
            "WMIPUT_PROVIDERS": INVENTORY, "WMIPUT_PROVIDER_OPTIONS": f"data_dir={self.data},name={provider}",
            "WMIPUT_CLAIM_IDLE_MS": str(CLAIM_IDLE_MS), "WMIPUT_LOG_FORMAT": "json",
        })
        self.procs[label] = self.net.spawn(node, label, [sys.executable, "-m", "host.cli", "worker"], env,
                                           self.logs / f"{label}.log")

    async def workers_serving(self, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        for label, p in self.procs.items():
            if not label.startswith("worker-"):
                continue
            while b"worker serving" not in (self.logs / f"{label}.log").read_bytes():
                assert p.poll() is None, f"{label} exited\n{self.tail(label + '.log')}"
                assert time.monotonic() < deadline, f"{label} not serving\n{self.tail(label + '.log')}"
                await asyncio.sleep(0.05)

    # -- evidence

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / name
        if not path.exists():
            return f"({name}: no log)"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {name} (last {len(text)} lines)\n" + "\n".join(text)

    def all_tails(self) -> str:
        return "\n".join(self.tail(p.name) for p in sorted(self.logs.glob("*.log")))

    def log_count(self, pattern: str, text: str) -> int:
        return sum(path.read_text(errors="replace").count(text) for path in self.logs.glob(pattern))


class Load:
    """LOOPS client loops of asynchronous puts; each follows its call to its one final event,
    re-attaching on the other host when its stream breaks."""

    def __init__(self, cluster: Cluster, t0: float) -> None:
        self.c = cluster
        self.t0 = t0
        self.calls: list[Call] = []
        self.not_started: list[NotStarted] = []
        self.stop = asyncio.Event()
        self.clients: dict[tuple[int, str], WbemClient] = {}
        self.retired: list[WbemClient] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def client(self, loop: int, host: str, fresh: bool = False) -> WbemClient:
        key = (loop, host)
        if fresh and key in self.clients:
            self.retired.append(self.clients.pop(key))  # closed at the end: no stream of ours is on it
        if key not in self.clients:
            self.clients[key] = await WbemClient.connect(self.c.target(host), credentials=self.c.credentials,
                                                         timeout=30)
        return self.clients[key]

    async def run_loop(self, n: int) -> None:
        home = "h1" if n < LOOPS // 2 else "h2"
        other = {"h1": "h2", "h2": "h1"}
        host, back_home_at, k = home, 0.0, 0
        while not self.stop.is_set():
            if host != home and self.now() >= back_home_at:
                host = home  # a client tries its own host again now and then
            i = f"L{n}-{k}"
            k += 1
            obj = instance("Multi_B", Id=i, Note=f"note-{i}", Extra=f"extra-{i}")
            t = self.now()
            try:
                c = await self.client(n, host)
                async with asyncio.timeout(START_TIMEOUT_S):
                    call = await c.put_instance_async(obj, FLAGS, resume_for_s=RESUME_FOR_S)
            except (WbemError, TimeoutError) as e:
                name = e.name if isinstance(e, WbemError) else "start timed out"
                self.not_started.append(NotStarted(i, n, host, name, t))
                await self.client(n, host, fresh=True)  # a new channel: no reconnect backoff
                if host == home:
                    back_home_at = self.now() + 3
                host = other[host]
                await asyncio.sleep(0.1)
                continue
            rec = Call(i, n, host, t, handle=call.handle)
            self.calls.append(rec)
            try:
                async with asyncio.timeout(FOLLOW_DEADLINE_S):
                    await self.follow(rec, call, n, host)
            except TimeoutError:
                rec.problem = "; ".join(filter(None, [rec.problem, f"no final event within {FOLLOW_DEADLINE_S}s"]))
            rec.t_end = self.now()

    async def follow(self, rec: Call, call: AsyncCall, n: int, host: str) -> None:
        current = call
        where = host
        while True:
            try:
                async for e in current:
                    if e.HasField("accepted"):
                        rec.accepted += 1
                        continue
                    hr = final_hresult(e) if e.final else 0
                    rec.events.append((e.sequence, e.WhichOneof("event"), e.final, hr, self.now()))
                    if e.final:
                        rec.outcome = "ok" if hr == 0 else hresult_name(hr)
                return
            except WbemError as e:
                rec.stream_errors.append(f"{where}: {e.name}")
                last = current.last_sequence
            # Re-attach after the last event seen, on the other host first, then either.
            while True:
                where = {"h1": "h2", "h2": "h1"}[where]
                try:
                    c = await self.client(n, where)
                    async with asyncio.timeout(START_TIMEOUT_S):
                        current = await c.attach_call(rec.handle, after_sequence=last, resume_for_s=RESUME_FOR_S)
                    rec.attaches.append(where)
                    break
                except (WbemError, TimeoutError) as e:
                    name = e.name if isinstance(e, WbemError) else "attach timed out"
                    rec.stream_errors.append(f"attach {where}: {name}")
                    if name not in ("WBEM_E_TRANSPORT_FAILURE", "WBEM_E_NOT_AVAILABLE", "WBEM_E_SHUTTING_DOWN",
                                    "attach timed out"):
                        rec.problem = f"re-attach refused: {name}"  # e.g. NOT_FOUND: the call is gone
                    await self.client(n, where, fresh=True)
                    await asyncio.sleep(0.2)

    async def close(self) -> None:
        for c in [*self.clients.values(), *self.retired]:
            with contextlib.suppress(Exception):
                await c.close()


class Chaos:
    def __init__(self, cluster: Cluster, load: Load) -> None:
        self.c, self.load = cluster, load
        self.faults: list[dict[str, Any]] = []

    async def at(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.load.now()))  # the schedule, not a synchronisation

    def note(self, fault: str, **kw: Any) -> dict[str, Any]:
        f = {"fault": fault, "t": round(self.load.now(), 2), "utc": utc(), **kw}
        self.faults.append(f)
        return f

    async def run(self) -> None:
        await self.at(KILL_HOST1_AT)
        Net.kill(self.c.procs["h1"])
        self.note("kill -9 host h1")

        await self.at(CUT_WORKER1_AT)
        self.c.net.cut("w1")
        f = self.note("cut worker w1's link")
        await self.at(CUT_WORKER1_AT + CUT_WORKER1_FOR)
        self.c.net.heal("w1")
        f["healed_t"], f["healed_utc"] = round(self.load.now(), 2), utc()

        await self.at(RESTART_HOST1_AT)
        self.c.start_host("h1")
        await self.c.host_serving("h1")
        self.faults.append({"heal": "host h1 restarted", "t": round(self.load.now(), 2), "utc": utc()})

        await self.at(KILL_REDIS_AT)
        Net.kill(self.c.procs["r"])
        f = self.note("kill -9 Redis")
        await asyncio.sleep(REDIS_DOWN_FOR)  # how long it stays down: part of the fault
        self.c.start_redis()
        await self.c.redis_ready()
        f["restarted_t"], f["restarted_utc"] = round(self.load.now(), 2), utc()


def utc() -> str:
    """Now, as the nodes' JSON logs write their timestamps (comparable as text)."""
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_lines(path: Path, text: str, start: str = "", end: str = "~") -> int:
    """Lines of a node's JSON log containing `text`, stamped in [start, end]."""
    n = 0
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        if text in line:
            try:
                ts = json.loads(line).get("timestamp", "")
            except ValueError:
                continue
            n += start <= ts <= end
    return n


async def settle(cluster: Cluster) -> tuple[bool, dict[str, Any]]:
    """Wait (with a deadline) until no transaction, call, staged row or task is left anywhere.
    (True, counts), or (False, what was left)."""
    from redis.asyncio import Redis

    from host.repository.keys import Keys
    keys = Keys(cluster.prefix)
    r = Redis(host=cluster.redis_ip, port=REDIS_PORT, socket_timeout=5)
    state: dict[str, Any] = {}

    async def quiet() -> bool:
        state["tx_active"] = await r.zcard(keys.active_transactions)
        state["tx_orphans"] = await r.zcard(keys.orphan_transactions)
        active = 0
        async for k in r.scan_iter(match=f"{cluster.prefix}:{{meta}}:calls:active:*", count=500):
            active += await r.zcard(k)
        state["calls_active"] = active
        state["tasks_queued"] = sum([await r.xlen(keys.tasks("root\\cimv2", p)) for p in ("LevelA", "LevelB")])
        state["staged"] = sum(staged(cluster.data / f"{p}.sqlite") for p in ("LevelA", "LevelB"))
        return not any(state.values())

    try:
        deadline = time.monotonic() + SETTLE_S
        while not await quiet():
            if time.monotonic() > deadline:
                return False, state
            await asyncio.sleep(0.1)
        return True, state
    finally:
        await r.aclose()


def host_names(cluster: Cluster) -> dict[str, str]:
    """Host id (as Redis and the audit entries name it) -> node, from the hosts' logs."""
    out = {}
    for path in cluster.logs.glob("host-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if '"event": "audit"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    out.setdefault(json.loads(line)["host"], path.stem.removeprefix("host-"))
    return out


async def dump_unsettled(cluster: Cluster, load: Load) -> dict[str, Any]:
    """What Redis holds about the transactions and calls that did not end: the failure's evidence."""
    from redis.asyncio import Redis

    from host.repository.keys import Keys
    keys = Keys(cluster.prefix)
    names = host_names(cluster)
    by_cid = {call_id(r.handle): r for r in load.calls}
    r = Redis(host=cluster.redis_ip, port=REDIS_PORT, socket_timeout=10)

    def text(h: dict[bytes, bytes], drop: tuple[bytes, ...] = ()) -> dict[str, str]:
        out = {k.decode(): v.decode(errors="replace") for k, v in h.items() if k not in drop}
        for f in ("host", "owner"):
            if f in out:
                out[f] += f" ({names.get(out[f], '?')})"
        return out

    try:
        out: dict[str, Any] = {"host_ids": names, "transactions": {}, "calls": {}, "alive_ms_left": {}}
        for tx in await r.zrange(keys.active_transactions, 0, -1):
            out["transactions"][tx.decode()] = text(await r.hgetall(keys.tx(tx.decode())), (b"task",))
        for tx in await r.zrange(keys.orphan_transactions, 0, -1):
            out["transactions"].setdefault(tx.decode(), text(await r.hgetall(keys.tx(tx.decode())), (b"task",)))
        async for k in r.scan_iter(match=f"{cluster.prefix}:{{meta}}:calls:active:*", count=500):
            listed_under = k.decode().rsplit(":", 1)[1]
            for cid in await r.zrange(k, 0, -1):
                c = cid.decode()
                rec = text(await r.hgetall(keys.call(c)), (b"request", b"result_error"))
                rec["listed_under"] = f"{listed_under} ({names.get(listed_under, '?')})"
                rec["events"] = str([(e[0].decode(), calls.SinkEvent.FromString(e[1][b"e"]).WhichOneof("event"))
                                     for e in await r.xrange(keys.call_events(c))])
                if c in by_cid:
                    rec["client_id"] = by_cid[c].id
                out["calls"][c] = rec
        for h in names:
            out["alive_ms_left"][f"{h} ({names[h]})"] = await r.pttl(keys.host_alive(h))
        return out
    finally:
        await r.aclose()


def staged(db: Path) -> int:
    c = sqlite3.connect(db, timeout=30)
    try:
        return int(c.execute("SELECT COUNT(*) FROM staged").fetchone()[0])
    finally:
        c.close()


def items(db: Path) -> dict[str, dict[str, Any]]:
    c = sqlite3.connect(db, timeout=30)
    try:
        return {r[0]: json.loads(r[1]) for r in c.execute("SELECT relpath, props FROM items")}
    finally:
        c.close()


async def stored_events(cluster: Cluster, handles: list[str]) -> dict[str, list[calls.SinkEvent]]:
    from redis.asyncio import Redis

    from host.repository.keys import Keys
    keys = Keys(cluster.prefix)
    r = Redis(host=cluster.redis_ip, port=REDIS_PORT, socket_timeout=10)
    out: dict[str, list[calls.SinkEvent]] = {}
    try:
        for start in range(0, len(handles), 200):
            chunk = handles[start:start + 200]
            async with r.pipeline(transaction=False) as p:
                for h in chunk:
                    p.xrange(keys.call_events(call_id(h)))
                res = await p.execute()
            for h, entries in zip(chunk, res, strict=True):
                out[h] = []
                for entry_id, f in entries:  # the sequence is the entry id, "<sequence>-0"
                    e = calls.SinkEvent.FromString(f[b"e"])
                    e.sequence = int(entry_id.decode().split("-")[0])
                    out[h].append(e)
    finally:
        await r.aclose()
    return out


def check_events(rec: Call, stored: list[calls.SinkEvent]) -> str:
    """'' if the call's events are whole: 1..n, one final, the last; the same in Redis."""
    seqs = [e[0] for e in rec.events]
    if seqs != list(range(1, len(seqs) + 1)):
        return f"client events not 1..n: {seqs}"
    finals = [e for e in rec.events if e[2]]
    if len(finals) != 1 or not rec.events[-1][2]:
        return f"client saw {len(finals)} final events"
    s_seqs = [e.sequence for e in stored]
    if s_seqs != seqs:
        return f"stored events {s_seqs} differ from the client's {seqs}"
    if sum(e.final for e in stored) != 1 or not stored[-1].final:
        return "stored events do not end with exactly one final"
    if final_hresult(stored[-1]) != finals[0][3]:
        return "stored final status differs from the client's"
    return ""


async def audited_calls(cluster: Cluster) -> set[str]:
    """The call ids the audit trail has an entry for (informational: it is written in the background)."""
    from redis.asyncio import Redis

    from host.repository.keys import Keys
    r = Redis(host=cluster.redis_ip, port=REDIS_PORT, socket_timeout=10)
    out: set[str] = set()
    try:
        last = "-"
        while True:
            entries = await r.xrange(Keys(cluster.prefix).audit, min=last, count=5000)
            if last != "-":
                entries = entries[1:]
            if not entries:
                return out
            out |= {f.get(b"call", b"").decode() for _, f in entries}
            last = entries[-1][0].decode()
    finally:
        await r.aclose()


@dataclass
class Run:
    net: Net
    cluster: Cluster | None = None
    load: Load | None = None
    admin: WbemClient | None = None


@pytest.mark.timeout(TOTAL_S + 60)
async def test_multinode_faults_under_load(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"multi-node test: {reason}")
    run = Run(Net())
    atexit.register(run.net.destroy)  # last resort, should the interpreter be stopped mid-test
    ok = False
    try:
        async with asyncio.timeout(TOTAL_S):
            await scenario(run, tmp_path)
        ok = True
    finally:
        if run.load is not None:
            await run.load.close()
        if run.admin is not None:
            with contextlib.suppress(Exception):
                await run.admin.close()
        if not ok and run.cluster is not None:
            print(f"\nmultinode test failed; logs and records in {tmp_path}\n{run.cluster.all_tails()}")
        problems = run.net.destroy()
        atexit.unregister(run.net.destroy)
        assert not problems, f"could not remove: {problems}"


async def scenario(run: Run, tmp_path: Path) -> None:
    wall0 = time.monotonic()
    net = run.net
    net.create(NODES)
    cluster = run.cluster = Cluster(net, tmp_path)
    cluster.start_redis()
    await cluster.redis_ready()
    cluster.start_host("h1")
    cluster.start_host("h2")
    await cluster.host_serving("h1")
    await cluster.host_serving("h2")

    admin = run.admin = await WbemClient.connect(cluster.target("h2"), credentials=cluster.credentials, timeout=30)
    for name in ("LevelA", "LevelB"):
        await register(admin, name)
    await admin.put_class(dynamic("Multi_A", "LevelA", prop("Id", "string", key=True), prop("Note", "string")))
    await admin.put_class(dynamic("Multi_B", "LevelB", prop("Extra", "string"), superclass="Multi_A"))
    for node, provider in (("w1", "LevelA"), ("w2", "LevelB"), ("w3", "LevelA"), ("w3", "LevelB")):
        cluster.start_worker(node, provider)
    await cluster.workers_serving()

    async def two_each() -> bool:
        ps = {p.name: len(p.workers) for p in await admin.list_providers()}
        return ps.get("LevelA", 0) >= 2 and ps.get("LevelB", 0) >= 2
    deadline = time.monotonic() + 30
    while not await two_each():
        assert time.monotonic() < deadline, "workers did not register (two per provider)"
        await asyncio.sleep(0.05)
    # One put through each host before the load: the path works end to end.
    for h in ("h1", "h2"):
        async with await WbemClient.connect(cluster.target(h), credentials=cluster.credentials, timeout=30) as c:
            await c.put_instance(instance("Multi_B", Id=f"warmup-{h}", Note="w", Extra="w"), WbemFlag.CREATE_ONLY)
    setup_s = time.monotonic() - wall0

    # -- the load and the faults
    load = run.load = Load(cluster, time.monotonic())
    chaos = Chaos(cluster, load)
    loops = [asyncio.create_task(load.run_loop(n)) for n in range(LOOPS)]

    async def stopper() -> None:
        await asyncio.sleep(LOAD_S)
        load.stop.set()
    try:
        await asyncio.gather(chaos.run(), stopper())
        done, pending = await asyncio.wait(loops, timeout=FOLLOW_DEADLINE_S + START_TIMEOUT_S + 30)
    finally:
        for t in loops:
            t.cancel()
    for t in done:
        t.result()  # a loop that crashed is a test bug: show it
    load_s = load.now()
    assert not pending, f"{len(pending)} client loops did not finish"
    settled, left = await settle(cluster)
    unsettled = {} if settled else await dump_unsettled(cluster, load)
    if unsettled:
        (tmp_path / "unsettled.json").write_text(json.dumps(unsettled, indent=2))

    # -- the oracle
    store_a = items(cluster.data / "LevelA.sqlite")
    store_b = items(cluster.data / "LevelB.sqlite")
    a_keys = {k for k in store_a if k.startswith("multi_b.")}
    b_keys = {k for k in store_b if k.startswith("multi_b.")}
    partial = sorted(a_keys ^ b_keys)
    present = a_keys & b_keys
    by_key = {r.key(): r for r in load.calls}
    not_started_keys = {relpath(n.id) for n in load.not_started}
    warmups = {relpath(f"warmup-{h}") for h in ("h1", "h2")}

    stored = await stored_events(cluster, [r.handle for r in load.calls])
    event_problems = {r.id: p for r in load.calls if (p := r.problem or check_events(r, stored[r.handle]))}
    no_final = [r.id for r in load.calls if not r.outcome]
    lost = [r.id for r in load.calls if r.outcome == "ok" and r.key() not in present]
    contradicted = [r.id for r in load.calls
                    if r.outcome not in ("ok", "") and r.outcome not in IN_DOUBT and r.key() in present]
    unknown = sorted(present - set(by_key) - not_started_keys - warmups)
    wrong_props = [k for k in present if store_a[k] != store_b[k]
                   or (k in by_key and (store_a[k].get("Note"), store_a[k].get("Extra"))
                       != (f"note-{by_key[k].id}", f"extra-{by_key[k].id}"))]
    in_doubt = [r for r in load.calls if r.outcome in IN_DOUBT]
    ghosts = sorted(present & not_started_keys)

    # Read back through the hosts: each call's status as a host reports it (GetCallStatus), alternating
    # between the two, and the class through GetObject.
    mismatch = []
    async with await WbemClient.connect(cluster.target("h1"), credentials=cluster.credentials, timeout=30) as c1:
        for idx, r in enumerate(load.calls):
            if not r.outcome:
                continue
            got = await (c1 if idx % 2 else admin).call_result(r.handle).get_call_status(0)
            said = None if got is None else "ok" if got[0] == 0 else hresult_name(got[0])
            if said != r.outcome:
                mismatch.append((r.id, r.outcome, said))
        assert (await c1.get_object("Multi_B")).class_name == "Multi_B"
    audited = await audited_calls(cluster)

    outcomes = Counter(r.outcome or "NO FINAL" for r in load.calls)
    gaps = [max((b[4] - a[4] for a, b in zip([(0, "", False, 0, r.t_start), *r.events], r.events, strict=False)),
                default=0.0) for r in load.calls]
    cut = next(f for f in chaos.faults if f.get("fault", "").startswith("cut"))
    redis_kill = next(f for f in chaos.faults if f.get("fault") == "kill -9 Redis")
    logs = cluster.logs
    summary = {
        "nodes": {k: net.nodes[k].ip for k in NODES}, "subnet": str(net.subnet),
        "calls_started": len(load.calls), "not_started": len(load.not_started),
        "not_started_by_error": dict(Counter(n.error for n in load.not_started)),
        "outcomes": dict(outcomes), "re_attached_calls": sum(1 for r in load.calls if r.attaches),
        "in_doubt": len(in_doubt), "in_doubt_applied": sum(1 for r in in_doubt if r.key() in present),
        "ghosts_of_not_started": len(ghosts),
        "faults": chaos.faults,
        "lost": len(lost), "partial": len(partial), "contradicted": len(contradicted),
        "unknown": len(unknown), "wrong_props": len(wrong_props), "event_problems": len(event_problems),
        "no_final": len(no_final), "status_mismatch": len(mismatch),
        "instances_stored": len(present),
        "max_event_gap_s": round(max(gaps, default=0.0), 2),
        "max_call_s": round(max((r.t_end - r.t_start for r in load.calls), default=0.0), 2),
        "evidence": {
            "w1_tasks_taken_over_during_cut": log_lines(logs / "worker-w3-LevelA.log", "task taken over",
                                                        cut["utc"], cut["healed_utc"]),
            # No host died around the Redis restart: an adoption then took a live host's work.
            "adopted_from_live_hosts_after_redis_restart": sum(
                log_lines(p, t, redis_kill["utc"], "~") for p in logs.glob("host-*.log")
                for t in ("adopted transaction", "adopted call")),
            # This test never cancels a call.
            "calls_ended_cancelled_without_a_cancel": outcomes.get("WBEM_E_CALL_CANCELLED", 0),
            "calls_adopted_by_a_host": cluster.log_count("host-*.log", "adopted call"),
            "transactions_adopted": cluster.log_count("host-*.log", "adopted transaction"),
            "tasks_taken_over": cluster.log_count("worker-*.log", "task taken over"),
            "calls_without_audit_entry": sum(1 for r in load.calls if call_id(r.handle) not in audited),
        },
        "settled": settled, "left_after_settling": left,
        "seconds": {"setup": round(setup_s, 1), "load_and_drain": round(load_s, 1),
                    "total": round(time.monotonic() - wall0, 1)},
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary, indent=2))
    with open(tmp_path / "calls.jsonl", "w") as f:
        for r in load.calls:
            f.write(json.dumps(asdict(r)) + "\n")
        for n in load.not_started:
            f.write(json.dumps({"not_started": asdict(n)}) + "\n")
    faults = [(f.get("fault") or f.get("heal"), f["t"]) for f in chaos.faults]
    print(f"\nmultinode: calls {len(load.calls)} started ({len(load.not_started)} not started: "
          f"{summary['not_started_by_error']}), final statuses {dict(outcomes)}, re-attached "
          f"{summary['re_attached_calls']}, faults {faults}, lost {len(lost)}, partial {len(partial)}, "
          f"contradicted {len(contradicted)}, no final {len(no_final)}, event problems {len(event_problems)}, "
          f"in-doubt {len(in_doubt)} (applied {summary['in_doubt_applied']}), max event gap "
          f"{summary['max_event_gap_s']}s, evidence {summary['evidence']}, wall {summary['seconds']['total']}s; "
          f"details {tmp_path / 'summary.json'}")

    assert load.calls and outcomes.get("ok", 0) > 0
    assert settled, f"the system did not settle in {SETTLE_S}s: {left}; Redis holds {json.dumps(unsettled)[:3000]}"
    assert not no_final, f"calls without a final status: {no_final[:20]}"
    assert not event_problems, f"calls with broken event streams: {list(event_problems.items())[:20]}"
    assert not lost, f"acknowledged puts lost: {lost[:20]}"
    assert not partial, f"half-applied instances: {partial[:20]}"
    assert not contradicted, f"failed calls whose put applied: {contradicted[:20]}"
    assert not unknown, f"instances no client asked for: {unknown[:20]}"
    assert not wrong_props, f"instances whose stores disagree: {wrong_props[:20]}"
    assert not mismatch, f"hosts report another status than the client saw: {mismatch[:20]}"
