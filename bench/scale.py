"""python -m bench --sweep-scale: how throughput grows with hosts, workers and Redis shards.

For each Redis (one server, then a 3-master Redis Cluster on loopback) the sweep measures, at one
client concurrency and for a fixed time per point:

    S1 (static PutInstance)             with 1 and 2 hosts
    S2 (provider-backed, depth 3)       with 1 and 2 hosts x 1 and 2 worker processes per provider,
                                        for each provider kind asked (null, inventory)

The client spreads its puts evenly over the hosts (put i goes to host i mod n, one WbemClient per
host). Processes not part of a point are stopped (a second host is started when needed, extra
workers are stopped again), so every process measured is one the point uses. Per point: throughput,
p50/p99, and CPU seconds per put of every process (psutil): the client, each host, each worker,
each Redis node; with the commands each Redis node ran (INFO commandstats: calls and microseconds).

After the points, a census of what one put asks of Redis, by hash tag (the tag decides the Cluster
slot): a short S1 and S2 run on the single server under MONITOR, every command sorted by the tag
of its keys ({meta}, {s|ns}, {i|ns|dynasty|bucket}, {p|ns|provider}, {tx|id}, {c|id}, {h|host}). With
the commandstats of the measured points it gives the Redis CPU per put of each tag family: the part
that spreads over shards and the parts that stay on one slot whatever the number of shards.

Finally the capacity model of docs/scaling.md, from these figures alone: each tier's capacity is
(cores given to it) / (its CPU per put), the Redis tier per shard with the keys' real slots, and the
throughput is the minimum over tiers. Everything goes to OUT/scaling.json (and OUT/scaling.png).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench import report, scenarios
from bench.env import NAMESPACE, PREFIX, PROVIDERS, CpuMeter, Env, Proc, dynamic, free_port, spawn
from bench.runner import Stop, drive, line
from host.client import WbemClient, WbemFlag
from host.redis_cluster import LocalCluster
from host.repository.keys import BUCKETS

REDIS_KINDS = ("single", "cluster3")
BUSY = 0.25  # cores other processes may use during a point before it is measured again
RETRIES = {"left": 6}  # such repeats per sweep (a long foreign run should not double the sweep)
QUIET = {"point": 60.0, "left": 300.0}  # before a point, wait this long at most for the others to calm down
DEPTH = 3  # S2: three levels, one provider each
_runs = itertools.count(1)


def _commandstats(url: str) -> dict[str, tuple[int, int]]:
    """INFO commandstats of one server (or one cluster node): name -> (calls, usec)."""
    from redis import Redis
    with Redis.from_url(url) as r:
        stats = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


class ScaleMeter(CpuMeter):
    """CPU per process, and the commands of every Redis node (calls and microseconds, by name)."""

    def __init__(self, pids: dict[str, int], nodes: dict[str, str]) -> None:
        super().__init__(pids, children_of={r for r in pids if r.startswith("redis")})
        self.nodes = nodes  # role -> url
        self.stats_before: dict[str, dict[str, tuple[int, int]]] = {}
        self.node_commands: dict[str, dict[str, list[int]]] = {}

    @staticmethod
    def _machine_busy() -> float:
        """CPU seconds the whole machine has spent busy (every process, ours and others')."""
        t = psutil.cpu_times()
        return float(sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal")))

    def start(self, label: str = "", concurrency: int = 0) -> None:
        self.stats_before = {role: _commandstats(url) for role, url in self.nodes.items()}
        super().start(label, concurrency)
        self.machine_before = self._machine_busy()

    def stop(self) -> dict[str, float]:
        self.machine_busy_s = self._machine_busy() - self.machine_before
        cpu = super().stop()
        total: dict[str, int] = {}
        for role, url in self.nodes.items():
            now, before = _commandstats(url), self.stats_before[role]
            diff = {}
            for name, (calls, usec) in now.items():
                c0, u0 = before.get(name, (0, 0))
                if name == "info":
                    calls -= 1  # our own INFO
                if calls - c0 > 0:
                    diff[name] = [calls - c0, usec - u0]
            self.node_commands[role] = dict(sorted(diff.items(), key=lambda kv: -kv[1][0]))
            for name, (calls, _) in diff.items():
                total[name] = total.get(name, 0) + calls
        self.commands = dict(sorted(total.items(), key=lambda kv: -kv[1]))
        return cpu


@dataclass
class ScaleEnv(Env):
    """An Env with a choice of Redis (one server or a LocalCluster), several hosts, and several
    worker processes per provider."""

    kind: str = "single"
    cluster: LocalCluster | None = None
    hosts: list[Proc] = field(default_factory=list)
    clients: list[WbemClient] = field(default_factory=list)
    workers: dict[str, list[list[Proc]]] = field(default_factory=dict)  # provider kind -> per level, its workers

    def start_redis(self) -> None:
        if self.kind == "single":
            super().start_redis()
            return
        self.cluster = LocalCluster(self.tmp / "cluster", masters=3, appendfsync=self.appendfsync)
        self.cluster.start()

    @property
    def redis_url(self) -> str:
        return self.cluster.url if self.cluster is not None else super().redis_url

    @property
    def shards(self) -> int:
        return len(self.cluster.ports) if self.cluster is not None else 1

    def redis_nodes(self) -> dict[str, tuple[int, str]]:
        """role -> (pid, url): "redis-server" for the single server, "redis-<i>" per cluster node."""
        if self.cluster is None:
            assert self.redis is not None and self.redis.pid is not None
            return {"redis-server": (self.redis.pid, self.redis.url)}
        return {f"redis-{i}": (self.cluster.procs[p].pid, f"redis://127.0.0.1:{p}/0")
                for i, p in enumerate(self.cluster.ports)}

    def start_host(self) -> None:
        i = len(self.hosts)
        target = f"127.0.0.1:{free_port()}"
        p = spawn(f"host-{i}", ["-m", "host.cli", "serve", "--listen", target, "--redis-url", self.redis_url,
                                "--prefix", PREFIX, "--server-name", "BENCH", "--log-format", "json",
                                "--log-level", "warning"], self.tmp)
        p.target = target  # type: ignore[attr-defined]
        self.procs.append(p)
        self.hosts.append(p)
        if i == 0:
            self.host, self.target = p, target

    async def connect_hosts(self) -> None:
        """A client per host (the first is env.client, for setting up), each checked to answer."""
        for h in self.hosts[len(self.clients):]:
            c = await WbemClient.connect(h.target, timeout=120.0, idempotent_puts=False)  # type: ignore[attr-defined]
            deadline = time.monotonic() + 60
            while True:
                if h.popen.poll() is not None:
                    raise RuntimeError(f"{h.role} exited: see {h.log}\n{h.log.read_text()[-2000:]}")
                try:
                    await asyncio.wait_for(c.list_providers(), 2)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
            self.clients.append(c)
        self.client = self.clients[0]

    async def aclose_clients(self) -> None:
        for c in self.clients:
            with contextlib.suppress(Exception):
                await c.close()
        self.clients.clear()
        self.client = None

    def close(self) -> None:
        super().close()
        if self.cluster is not None:
            self.cluster.stop()

    # ------------------------------------------------------------------ providers

    @staticmethod
    def provider_names(kind: str) -> list[str]:
        return [f"BenchScale_{kind}_L{k}" for k in range(DEPTH)]

    async def chain(self, kind: str) -> str:
        """Bench_Scale_<kind>_L0 <- _L1 <- _L2, level k served by provider BenchScale_<kind>_L<k>
        (the `kind` of PROVIDERS); the leaf's name. Workers are started by set_workers."""
        key = f"scale-chain:{kind}"
        if key not in self.state:
            assert self.client is not None
            names = [f"Bench_Scale_{kind}_L{k}" for k in range(DEPTH)]
            providers = self.provider_names(kind)
            for p in providers:
                await self.register(p)
            for k, (name, ps) in enumerate(zip(names, scenarios._spread(DEPTH, 5), strict=True)):
                await self.client.put_class(dynamic(name, providers[k], *ps,  # type: ignore[arg-type]
                                                    superclass=names[k - 1] if k else ""))
            self.state[key] = names[-1]
            self.workers[kind] = [[] for _ in range(DEPTH)]
        return str(self.state[key])

    def _start_worker(self, kind: str, level: int) -> Proc:
        name = self.provider_names(kind)[level]
        j = len(self.workers[kind][level])
        args = ["-m", "host.cli", "worker", "--provider", PROVIDERS[kind], "--redis-url", self.redis_url,
                "--prefix", PREFIX, "--namespace", NAMESPACE, "--log-format", "json",
                "--concurrency", str(self.worker_concurrency), "--option", f"name={name}",
                "--option", f"data_dir={self.tmp / 'providers'}"]
        p = spawn(f"worker-{kind}-L{level}-{j}", args, self.tmp)
        self.procs.append(p)
        self.workers[kind][level].append(p)
        return p

    async def set_workers(self, kind: str, n: int, timeout: float = 60) -> None:
        """Exactly n worker processes per provider of `kind` (starting or stopping the last ones),
        and wait until the host sees them."""
        for level in range(DEPTH):
            while len(self.workers[kind][level]) < n:
                self._start_worker(kind, level)
        stopping = []
        for level in range(DEPTH):
            while len(self.workers[kind][level]) > n:
                stopping.append(self.workers[kind][level].pop())
        if stopping:  # SIGTERM: each finishes what it holds and leaves the consumer group
            def stop_all() -> None:
                for p in stopping:
                    p.stop()
            await asyncio.to_thread(stop_all)
            for p in stopping:
                if p in self.procs:
                    self.procs.remove(p)
        assert self.client is not None
        names = set(self.provider_names(kind))
        deadline = time.monotonic() + timeout
        while True:
            seen = {p.name: len(p.workers) for p in await self.client.list_providers() if p.name in names}
            if all(seen.get(x, 0) == n for x in names):
                return
            for level in range(DEPTH):
                for p in self.workers[kind][level]:
                    if p.popen.poll() is not None:
                        raise RuntimeError(f"{p.role} exited: see {p.log}\n{p.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers of {kind}: wanted {n} per provider, the host sees {seen}")
            await asyncio.sleep(0.1)

    def running_workers(self, kind: str) -> list[Proc]:
        return [p for level in self.workers.get(kind, []) for p in level]

    def scale_meter(self, procs: list[Proc]) -> ScaleMeter:
        pids = {"client": os.getpid()}
        nodes = {}
        for role, (pid, url) in self.redis_nodes().items():
            pids[role] = pid
            nodes[role] = url
        for p in procs:
            pids[p.role] = p.pid
        return ScaleMeter(pids, nodes)


# ---------------------------------------------------------------------- one point


def tier(role: str) -> str:
    for t in ("client", "host", "worker", "redis"):
        if role.startswith(t):
            return t
    return "other"


async def point(env: ScaleEnv, scenario: str, kind: str, hosts: int, workers: int, *, seconds: float,
                concurrency: int) -> dict[str, Any]:
    """One measured point: `scenario` (S1, or S2 served by providers of `kind`) through `hosts` hosts."""
    assert len(env.clients) >= hosts
    if scenario == "S1":
        leaf = await scenarios.static_classes(env)
        procs: list[Proc] = []
    else:
        leaf = await env.chain(kind)
        procs = env.running_workers(kind)
    clients = env.clients[:hosts]
    template = scenarios._template(leaf, 5)
    tag = f"sc{next(_runs)}"

    async def op(i: int) -> None:
        await clients[i % hosts].put_instance(scenarios._with_id(template, f"{tag}-{i}"), WbemFlag.CREATE_OR_UPDATE)

    async def warm(i: int) -> None:
        await clients[i % hosts].put_instance(scenarios._with_id(template, f"{tag}-w{i}"),
                                              WbemFlag.CREATE_OR_UPDATE)

    what = "S1 static" if scenario == "S1" else f"S2 {kind}"
    label = f"{what} {env.kind} h{hosts}" + ("" if scenario == "S1" else f" w{workers}")
    meter = env.scale_meter([*env.hosts[:hosts], *procs])
    run = await drive(label, op, count=0, concurrency=concurrency, meter=meter, warmup=warm,
                      warmup_count=2 * concurrency, duration=seconds)
    run.pop("results", None)
    ok = run["ok"] or 1
    by_tier: dict[str, float] = {}
    for role, s in run["cpu_s_by_process"].items():
        if s == s:  # not NaN
            by_tier[tier(role)] = by_tier.get(tier(role), 0.0) + s
    redis_roles = [r for r in run["cpu_s_by_process"] if r.startswith("redis")]
    redis_cpu = sum(run["cpu_s_by_process"][r] for r in redis_roles)
    run.update(
        scenario=scenario, provider=kind if scenario == "S2" else None, redis=env.kind, shards=env.shards,
        hosts=hosts, workers_per_provider=workers if scenario == "S2" else 0,
        cpu_s_per_put_by_tier={t: round(v / ok, 6) for t, v in sorted(by_tier.items())},
        cpu_s_per_put_by_process={r: round(v / ok, 6) for r, v in run["cpu_s_by_process"].items()},
        cores_busy_by_process={r: round(v / run["elapsed_s"], 3) for r, v in run["cpu_s_by_process"].items()},
        cores_busy=round(run["cpu_s"] / run["elapsed_s"], 3),
        # the whole machine meanwhile, and what was not ours (other people's runs on the box)
        machine_cores_busy=round(meter.machine_busy_s / run["elapsed_s"], 3),
        others_cores_busy=round(max(meter.machine_busy_s - run["cpu_s"], 0.0) / run["elapsed_s"], 3),
        redis_cpu_share_by_node={r: round(run["cpu_s_by_process"][r] / redis_cpu, 4) if redis_cpu else None
                                 for r in redis_roles},
        redis_commands_by_node={r: {"calls": sum(v[0] for v in cmds.values()),
                                    "usec": sum(v[1] for v in cmds.values()), "by_command": cmds}
                                for r, cmds in meter.node_commands.items()},
    )
    return run


def short(run: dict[str, Any]) -> str:
    t = run["cpu_s_per_put_by_tier"]
    tiers = "  ".join(f"{k} {v * 1e3:.3f}" for k, v in t.items())
    return (f"{line(run)}\n    cpu ms/put by tier: {tiers}; cores busy {run['cores_busy']:.2f} "
            f"(others' processes {run['others_cores_busy']:.2f})")


# ---------------------------------------------------------------------- census: commands per put by hash tag

TAG_RE = re.compile(re.escape(PREFIX) + r":\{([^}]*)\}")
FAMILIES = ("meta", "s", "i", "p", "tx", "c", "h")


def family(tag: str) -> str:
    head = tag.split("|", 1)[0]
    return head if head in FAMILIES else "other"


class Census:
    """MONITOR of one server while a few puts run: each top-level command by the tag of its keys."""

    END = "wmiput-bench-census-end"

    def __init__(self, url: str) -> None:
        self.url = url
        self.lines: list[tuple[str, str]] = []  # (client type, command text)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        from redis import Redis
        with Redis.from_url(self.url) as r, r.monitor() as m:
            self.ready.set()
            while True:
                c = m.next_command()
                if self.END in c["command"]:
                    return
                self.lines.append((c["client_type"], c["command"]))

    def __enter__(self) -> Census:
        self.thread.start()
        self.ready.wait(10)
        time.sleep(0.1)
        return self

    def __exit__(self, *exc: Any) -> None:
        from redis import Redis
        with Redis.from_url(self.url) as r:
            r.echo(self.END)
        self.thread.join(30)

    def tally(self, puts: int) -> dict[str, Any]:
        """Per put: top-level commands by tag family, by command name within each family, and the
        tags seen per family (how many distinct slots the family used)."""
        fam_cmds: dict[str, dict[str, int]] = {}
        tags: dict[str, set[str]] = {}
        inner = 0
        for ctype, text in self.lines:
            if ctype == "lua":  # run by a script: part of its EVALSHA
                inner += 1
                continue
            name = text.split(" ", 1)[0].lower()
            found = TAG_RE.findall(text)
            fam = family(found[0]) if found else "none"
            for t in found[:1]:
                tags.setdefault(fam, set()).add(t)
            fam_cmds.setdefault(fam, {})
            fam_cmds[fam][name] = fam_cmds[fam].get(name, 0) + 1
        return {
            "puts": puts,
            "commands_per_put": {f: round(sum(c.values()) / puts, 3) for f, c in sorted(fam_cmds.items())},
            "by_command_per_put": {f: {n: round(k / puts, 3) for n, k in sorted(c.items(), key=lambda kv: -kv[1])}
                                   for f, c in sorted(fam_cmds.items())},
            "distinct_tags": {f: len(t) for f, t in sorted(tags.items())},
            "script_inner_calls_per_put": round(inner / puts, 3),
        }


async def census(env: ScaleEnv, scenario: str, kind: str, puts: int, concurrency: int = 16) -> dict[str, Any]:
    assert env.cluster is None and len(env.clients) >= 1
    leaf = await (scenarios.static_classes(env) if scenario == "S1" else env.chain(kind))
    template = scenarios._template(leaf, 5)
    tag = f"cen{next(_runs)}"
    client = env.clients[0]
    for i in range(concurrency):  # warm (schema cache, connections) before listening
        await client.put_instance(scenarios._with_id(template, f"{tag}-w{i}"), WbemFlag.CREATE_OR_UPDATE)
    todo = iter(range(puts))

    async def one() -> None:
        for i in todo:
            Stop.check()
            await client.put_instance(scenarios._with_id(template, f"{tag}-{i}"), WbemFlag.CREATE_OR_UPDATE)
    with Census(env.redis_url) as c:
        await asyncio.gather(*(one() for _ in range(concurrency)))
        await asyncio.sleep(0.2)  # the audit trail is written just after the answer
    out = c.tally(puts)
    out.update(scenario=scenario, provider=kind if scenario == "S2" else None, concurrency=concurrency)
    return out


# ---------------------------------------------------------------------- where the tags land


def host_slots(env: ScaleEnv) -> list[int]:
    """The slots of the reply streams of the hosts running now ({h|<host id>}, a random id per host)."""
    from redis import Redis
    from redis.crc import key_slot
    found = set()
    for _, url in env.redis_nodes().values():
        with Redis.from_url(url) as r:
            for k in r.scan_iter(match=f"{PREFIX}:{{h|*}}:alive", count=1000):
                found.add(key_slot(k))
    return sorted(found)


def slot_map(env: ScaleEnv, kinds: list[str], dynasties: list[str]) -> dict[str, Any]:
    """The slots of the hot tags and of every instance bucket, and (on the cluster) their node."""
    from redis.crc import key_slot

    ns = NAMESPACE.lower()
    tags = {"meta": "meta", "s": f"s|{ns}"}
    for kind in kinds:
        for p in ScaleEnv.provider_names(kind):
            tags[f"p:{p}"] = f"p|{ns}|{p.lower()}"
    slots = {name: key_slot(f"{PREFIX}:{{{t}}}:x".encode()) for name, t in tags.items()}
    buckets = {d.lower(): [key_slot(f"{PREFIX}:{{i|{ns}|{d.lower()}|{b}}}:x".encode()) for b in range(BUCKETS)]
               for d in dynasties}
    out: dict[str, Any] = {"hot_slots": slots, "bucket_slots": buckets}
    if env.cluster is not None:
        from redis import Redis
        with Redis.from_url(env.redis_url) as r:
            ranges = r.execute_command("CLUSTER SLOTS")
        port_role = {p: f"redis-{i}" for i, p in enumerate(env.cluster.ports)}
        owner: list[tuple[int, int, str]] = [(int(lo), int(hi), port_role[int(nodes[1])])
                                             for lo, hi, nodes, *_ in ranges]

        def node(slot: int) -> str:
            return next(role for lo, hi, role in owner if lo <= slot <= hi)
        out["slot_ranges"] = sorted([lo, hi, role] for lo, hi, role in owner)
        out["hot_nodes"] = {name: node(s) for name, s in slots.items()}
        out["host_reply_stream_nodes"] = [node(s) for s in host_slots(env)]
        out["buckets_per_node"] = {d: {role: sum(1 for s in ss if node(s) == role) for role in port_role.values()}
                                   for d, ss in buckets.items()}
    return out


# ---------------------------------------------------------------------- the model


def _even_ranges(n: int) -> list[tuple[int, int]]:
    """The slot ranges `redis-cli --cluster create` gives n masters (16384 slots split evenly)."""
    per = 16384 / n
    return [(round(i * per), round((i + 1) * per) - 1) for i in range(n)]


def _shard(slot: int, n: int) -> int:
    return next(i for i, (lo, hi) in enumerate(_even_ranges(n)) if lo <= slot <= hi)


def family_costs(ref: dict[str, Any], cen: dict[str, Any]) -> dict[str, float]:
    """Redis CPU seconds per put of each tag family, from a measured point (psutil CPU of redis and
    its commandstats) and the census (top-level commands per put, by family and name): each
    top-level command costs its name's mean execution time plus an equal share of the rest of the
    server's CPU (reading, parsing, replying: per command, whatever its keys)."""
    cmds: dict[str, list[int]] = {}
    for node in ref["redis_commands_by_node"].values():
        for name, (calls, usec) in node["by_command"].items():
            c = cmds.setdefault(name, [0, 0])
            c[0] += calls
            c[1] += usec
    mean_us = {n: u / c for n, (c, u) in cmds.items() if c}
    redis_s = ref["cpu_s_per_put_by_tier"].get("redis", 0.0)
    exec_s = {f: sum(k * mean_us.get(n, 0.0) for n, k in by.items()) * 1e-6
              for f, by in cen["by_command_per_put"].items()}
    top = sum(cen["commands_per_put"].values())
    overhead = max(redis_s - sum(exec_s.values()), 0.0) / top if top else 0.0
    return {f: exec_s[f] + overhead * cen["commands_per_put"][f] for f in exec_s}


def shard_loads(costs: dict[str, float], n: int, sm: dict[str, Any], dynasty: str, providers: list[str],
                host_slot: int | None = None) -> list[float]:
    """Redis CPU seconds per put on each of n shards (slots split evenly, as redis-cli does):
    the hot tags on their slot's shard, the instance buckets on theirs, the rest spread evenly.
    `host_slot`: the slot of the one host's reply stream (h); without it the hosts' streams spread."""
    load = [0.0] * n
    for f, c in costs.items():
        if f == "h" and host_slot is not None:
            load[_shard(host_slot, n)] += c
        elif f == "meta":
            load[_shard(sm["hot_slots"]["meta"], n)] += c
        elif f == "s":
            load[_shard(sm["hot_slots"]["s"], n)] += c
        elif f == "p":  # the providers' streams: equal shares, each on its own tag's shard
            for p in providers:
                load[_shard(sm["hot_slots"][f"p:{p}"], n)] += c / len(providers)
        elif f == "i":
            for s in sm["bucket_slots"][dynasty]:
                load[_shard(s, n)] += c / BUCKETS
        else:  # tx, c, h (random ids or one per host), none: spread
            for k in range(n):
                load[k] += c / n
    return load


def model(points: list[dict[str, Any]], censuses: dict[str, dict[str, Any]], sm: dict[str, Any],
          kinds: list[str], *, cores: int) -> dict[str, Any]:
    """The capacity model of docs/scaling.md, from the measured figures only.

    Inputs per scenario: the CPU per put of each tier at the least crowded point (one host, one
    worker per provider), on one Redis server and on the 3-shard cluster (a cluster client costs the
    hosts and workers more, and the cluster's nodes more in all than one server), and the Redis CPU
    per put of each hash-tag family (census). A tier's capacity is (its cores) / (its CPU per put):
    hosts 2 cores per machine (two host processes: one Python process uses at most about one core),
    each worker process one core, each Redis shard one core (one main thread) holding the tags its
    slots hold. Throughput is the smallest of them. The client's CPU is left out: clients are the
    users' machines."""
    out: dict[str, Any] = {}

    def find(sc: str, kind: str | None, redis: str, h: int, w: int) -> dict[str, Any] | None:
        for r in points:
            if (r["scenario"], r["provider"], r["redis"], r["hosts"], r["workers_per_provider"]) == (
                    sc, kind, redis, h, w):
                return r
        return None

    for sc, kind in [("S1", None)] + [("S2", k) for k in kinds]:
        name = sc if kind is None else f"S2-{kind}"
        w1 = 0 if sc == "S1" else 1
        ref, cref = find(sc, kind, "single", 1, w1), find(sc, kind, "cluster3", 1, w1)
        cen = censuses.get(name) or censuses.get("S2-null")
        if ref is None or cen is None:
            continue
        cref = cref or ref
        base = None
        if kind not in (None, "null"):
            # The host's and Redis's work per put does not depend on what the provider does (the same
            # tasks and replies), but their CPU per put falls as the rate rises (they batch more), and
            # a slow provider keeps the rate low: take those two tiers from the null provider's points.
            nref, ncref = find(sc, "null", "single", 1, 1), find(sc, "null", "cluster3", 1, 1)
            if nref is not None:
                base = (nref, ncref or nref, censuses.get("S2-null") or cen)
        out[name] = model_case(sc, kind, ref, cref, cen, sm, points, cores, base)
    return out


def _worker_max(r: dict[str, Any]) -> float:
    """CPU per put of the busiest provider's worker (one process per provider at the reference)."""
    return max((v for k, v in r["cpu_s_per_put_by_process"].items() if k.startswith("worker")), default=0.0)


def model_case(sc: str, kind: str | None, ref: dict[str, Any], cref: dict[str, Any], cen: dict[str, Any],
               sm: dict[str, Any], points: list[dict[str, Any]], cores: int,
               base: tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The model of one scenario (see model()). `base`: the points (single, cluster) and census the
    host and Redis tiers are taken from, when not `ref`'s own (a slow provider: see model())."""
    t, ct = dict(ref["cpu_s_per_put_by_tier"]), dict(cref["cpu_s_per_put_by_tier"])
    href, hcref, hcen = base or (ref, cref, cen)
    for tier_name in ("host", "redis"):
        t[tier_name] = href["cpu_s_per_put_by_tier"][tier_name]
        ct[tier_name] = hcref["cpu_s_per_put_by_tier"][tier_name]
    dynasty = ("Bench_S1_d3p5_L0" if sc == "S1" else f"Bench_Scale_{kind}_L0").lower()
    providers = [] if kind is None else ScaleEnv.provider_names(kind)
    costs = family_costs(href, hcen)
    ratio = ct.get("redis", 0.0) / t["redis"] if t.get("redis") else 1.0
    inputs = {
        "reference_point": ref["label"], "cluster_reference_point": cref["label"],
        "host_and_redis_from": [href["label"], hcref["label"]],
        "cpu_ms_per_put": {k: round(v * 1e3, 4) for k, v in t.items()},
        "cpu_ms_per_put_cluster": {k: round(v * 1e3, 4) for k, v in ct.items()},
        "cpu_ms_per_put_own_points": {k: round(v * 1e3, 4) for k, v in ref["cpu_s_per_put_by_tier"].items()},
        "cpu_ms_per_put_own_points_cluster": {k: round(v * 1e3, 4)
                                              for k, v in cref["cpu_s_per_put_by_tier"].items()},
        "worker_cpu_ms_per_put_busiest_provider": round(_worker_max(ref) * 1e3, 4),
        "worker_cpu_ms_per_put_busiest_provider_cluster": round(_worker_max(cref) * 1e3, 4),
        "redis_ms_per_put_by_tag_family": {f: round(c * 1e3, 4) for f, c in costs.items()},
        "cluster_redis_cpu_over_single": round(ratio, 3),
        "host_process_cores_busy_at_reference": max(
            (v for r, v in ref["cores_busy_by_process"].items() if r.startswith("host")), default=0.0),
    }

    def shard_ms(n: int, host_slot: int | None = None) -> list[float]:
        scale = 1.0 if n == 1 else ratio
        return shard_loads({f: c * scale for f, c in costs.items()}, n, sm, dynasty, providers, host_slot)

    def caps(machines: int, w: int, n: int) -> dict[str, float]:
        c = {"host": 2 * machines / (t if n == 1 else ct)["host"], "redis": 1.0 / max(shard_ms(n))}
        if sc == "S2":
            c["worker"] = w / _worker_max(ref if n == 1 else cref)
        return c

    grid = []
    for machines in (1, 2, 4, 8):
        for w in ((0,) if sc == "S1" else (1, 2, 4, 8)):
            for n in (1, 3, 6, 12):
                c = caps(machines, w, n)
                bound = min(c, key=lambda k: c[k])
                grid.append({"host_machines_x2_cores": machines, "workers_per_provider": w, "shards": n,
                             "capacity": {k: round(v) for k, v in c.items()},
                             "throughput": round(c[bound]), "bound_by": bound})
    ceilings = {  # what more shards cannot raise: the load that stays on one slot (cluster costs)
        "all_writes_meta_slot": round(1.0 / (costs["meta"] * ratio)) if costs.get("meta") else None,
        "one_namespace_schema_slot": round(1.0 / (costs["s"] * ratio)) if costs.get("s") else None,
        "one_provider_stream_slot": (round(len(providers) / (costs["p"] * ratio))
                                     if costs.get("p") and providers else None),
        "one_dynasty_16_buckets": round(BUCKETS / (costs["i"] * ratio)) if costs.get("i") else None,
    }
    # Where the model puts the Redis CPU of the 3-shard cluster, against where psutil found it.
    node_check = {}
    if sm.get("slot_ranges"):
        roles = [role for _, _, role in sorted(sm["slot_ranges"])]
        loads = shard_ms(3, sm.get("host0_slot"))  # the reference point had one host
        node_check = {"predicted_share": {role: round(x / sum(loads), 3)
                                          for role, x in zip(roles, loads, strict=False)},
                      "measured_share": hcref.get("redis_cpu_share_by_node", {}), "measured_at": hcref["label"]}
    # The box the figures come from. Every process shares its `cores`, so the model says
    # throughput = min(cores / (CPU per put of every process, the client's included), what the
    # host and worker processes can do at most: each at most `proc_max` cores, the most any one
    # Python process of the sweep used), with the CPU per put of the scenario's own reference
    # point whatever the number of processes; against the measured points.
    proc_max = max(v for r in points for k, v in r["cores_busy_by_process"].items()
                   if k.startswith(("host", "worker")))
    shared = []
    for r in points:
        if r["scenario"] != sc or r["provider"] != kind:
            continue
        own = ref if r["redis"] == "single" else cref
        total = sum(own["cpu_s_per_put_by_tier"].values())
        bounds = {"box": cores / total,
                  "host processes": r["hosts"] * proc_max / own["cpu_s_per_put_by_tier"]["host"]}
        if sc == "S2":
            bounds["worker processes"] = r["workers_per_provider"] * proc_max / _worker_max(own)
        bound = min(bounds, key=lambda k: bounds[k])
        pred = bounds[bound]
        shared.append({"label": r["label"], "measured": r["throughput"], "predicted": round(pred),
                       "bound_by": bound, "predicted_box_only": round(bounds["box"]),
                       "measured_over_predicted": round(r["throughput"] / pred, 3),
                       "cores_busy": r["cores_busy"], "others_cores_busy": r["others_cores_busy"],
                       "cpu_ms_per_put_measured": round(r["cpu_s_per_put"] * 1e3, 4),
                       "cpu_ms_per_put_model": round(total * 1e3, 4)})
    inputs["one_process_max_cores"] = round(proc_max, 3)
    return {"inputs": inputs,
            "redis_shard_loads_ms_per_put": {n: [round(x * 1e3, 4) for x in shard_ms(n)] for n in (1, 3, 6, 12)},
            "redis_3_shards_node_shares": node_check,
            "ceilings_puts_per_s": ceilings, "predictions": grid, "on_this_box": shared}


# ---------------------------------------------------------------------- the sweep


def others_busy(env: ScaleEnv, seconds: float = 1.0) -> float:
    """Cores the machine's other processes (not this sweep's) used over the next `seconds`."""
    ours = [psutil.Process(pid) for pid in {os.getpid(), *(p.pid for p in env.procs),
                                            *(pid for pid, _ in env.redis_nodes().values())}]

    def cpu() -> float:
        total = 0.0
        for p in ours:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total
    m0, c0 = ScaleMeter._machine_busy(), cpu()
    time.sleep(seconds)
    return max(ScaleMeter._machine_busy() - m0 - (cpu() - c0), 0.0) / seconds


async def until_quiet(env: ScaleEnv) -> float:
    """Before a point: while other processes use more than BUSY cores, wait (at most QUIET["point"]
    seconds per point and QUIET["left"] per sweep). The seconds waited."""
    waited = 0.0
    while QUIET["left"] > 0 and waited < QUIET["point"]:
        busy = await asyncio.to_thread(others_busy, env)
        if busy <= BUSY:
            break
        if waited == 0:
            print(f"    other processes use {busy:.2f} cores: waiting for them (at most {QUIET['point']:.0f} s)",
                  flush=True)
        await asyncio.sleep(2)
        waited += 3
        QUIET["left"] -= 3
    return waited


async def sweep_redis(kind: str, tmp: Path, args: Any, kinds: list[str], points: list[dict[str, Any]],
                      censuses: dict[str, Any], slotmaps: dict[str, Any]) -> None:
    env = ScaleEnv(tmp / kind, appendfsync=args.appendfsync, worker_concurrency=args.worker_concurrency,
                   kind=kind)
    env.tmp.mkdir(parents=True, exist_ok=True)
    secs, c = args.scale_seconds, args.scale_concurrency

    async def measure(sc: str, k: str, h: int, w: int) -> None:
        """One point; measured again (a few times per sweep) when other processes took CPU meanwhile."""
        tries: list[dict[str, Any]] = []
        waited = 0.0
        while True:
            waited += await until_quiet(env)
            run = await point(env, sc, k, h, w, seconds=secs, concurrency=c)
            tries.append(run)
            print(short(run), flush=True)
            if run["others_cores_busy"] <= BUSY or RETRIES["left"] <= 0 or len(tries) > 2:
                break
            RETRIES["left"] -= 1
            print(f"    other processes used {run['others_cores_busy']:.2f} cores meanwhile: again in 5 s",
                  flush=True)
            await asyncio.sleep(5)
        best = min(tries, key=lambda r: r["others_cores_busy"])
        best["attempts_others_cores_busy"] = [r["others_cores_busy"] for r in tries]
        best["waited_for_quiet_s"] = round(waited, 1)
        points.append(best)

    try:
        await asyncio.to_thread(env.start_redis)
        env.start_host()
        await env.connect_hosts()
        host0 = host_slots(env)
        print(f"-- redis {kind} ({env.shards} shard{'s' if env.shards > 1 else ''}) at {env.redis_url}; "
              f"host-0 {env.hosts[0].target}", flush=True)  # type: ignore[attr-defined]
        # Only the workers of the provider kind being measured run. The order starts as few worker
        # processes as it can: one host with 1 then 2 workers per provider, kind after kind; then two
        # hosts, kinds in reverse, the kind already at 2 workers first.
        await measure("S1", "", 1, 0)
        for k in kinds:
            await env.chain(k)
            for w in (1, 2):
                await env.set_workers(k, w)
                await measure("S2", k, 1, w)
            if k != kinds[-1]:
                await env.set_workers(k, 0)
        env.start_host()
        await env.connect_hosts()
        await measure("S1", "", 2, 0)
        for k in reversed(kinds):
            for w in ((2, 1) if len(env.running_workers(k)) == 2 * DEPTH else (1, 2)):
                await env.set_workers(k, w)
                await measure("S2", k, 2, w)
            await env.set_workers(k, 0)
        if kind == "single":  # what one put asks of Redis, by hash tag (MONITOR slows it: not a measured point)
            n1, n2 = (100, 40) if args.quick else (1000, 300)
            censuses["S1"] = await census(env, "S1", "", n1)
            for k in kinds:
                await env.set_workers(k, 1)
                censuses[f"S2-{k}"] = await census(env, "S2", k, n2)
                await env.set_workers(k, 0)
            for name, cen in censuses.items():
                print(f"   census {name}: Redis commands per put by tag family {cen['commands_per_put']}", flush=True)
        dyn = ["Bench_S1_d3p5_L0"] + [f"Bench_Scale_{k}_L0" for k in kinds]
        slotmaps[kind] = slot_map(env, kinds, dyn)
        slotmaps[kind]["host0_slot"] = host0[0] if len(host0) == 1 else None
        if kind == "cluster3":
            print(f"   cluster: hot tags on {slotmaps[kind]['hot_nodes']}; instance buckets per node "
                  f"{slotmaps[kind]['buckets_per_node']}", flush=True)
    finally:
        await env.aclose_clients()
        await asyncio.to_thread(env.close)


async def run_scale(args: Any, tmp: Path, started_at: str) -> dict[str, Any]:
    t0 = time.monotonic()
    machine = report.machine()
    kinds = args.scale_providers
    print(f"scaling sweep: S1 and S2 ({', '.join(kinds)} providers) at concurrency {args.scale_concurrency}, "
          f"{args.scale_seconds:g} s per point, Redis {' then '.join(REDIS_KINDS)}; load average "
          f"{machine['loadavg_at_start']}", flush=True)
    RETRIES["left"] = 0 if args.quick else 6
    QUIET["left"] = 0.0 if args.quick else 300.0
    points: list[dict[str, Any]] = []
    censuses: dict[str, Any] = {}
    slotmaps: dict[str, Any] = {}
    redis_version = ""
    for kind in REDIS_KINDS:
        await sweep_redis(kind, tmp, args, kinds, points, censuses, slotmaps)
    with contextlib.suppress(Exception):
        from host.redis_server import find_redis_server
        redis_version = subprocess.run([find_redis_server(), "--version"], capture_output=True, text=True,
                                       timeout=5).stdout.strip()
    cores = machine.get("cpus") or 2
    doc = {
        "started_at": started_at,
        "duration_s": round(time.monotonic() - t0, 1),
        "machine": machine,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "versions": report.versions(redis_version),
        "settings": {"concurrency": args.scale_concurrency, "seconds_per_point": args.scale_seconds,
                     "providers": kinds, "redis": list(REDIS_KINDS), "appendfsync": args.appendfsync,
                     "worker_concurrency": args.worker_concurrency, "quick": args.quick, "depth": DEPTH,
                     "buckets_per_dynasty": BUCKETS, "remeasure_if_others_busy_over": BUSY,
                     "command": " ".join(["python", "-m", "bench", *sys.argv[1:]])},
        "points": points,
        "census": censuses,
        "slots": slotmaps.get("cluster3") or slotmaps.get("single") or {},
    }
    try:
        doc["model"] = model(points, censuses, slotmaps.get("cluster3") or slotmaps["single"], kinds, cores=cores)
    except Exception as e:  # noqa: BLE001 - the measurements stand without it
        import traceback
        traceback.print_exc()
        doc["model"] = {"error": f"{type(e).__name__}: {e}"}
    return doc


def remodel(path: Path) -> dict[str, Any]:
    """A scaling.json written before, with its model computed again (the model reads nothing else)."""
    doc: dict[str, Any] = json.loads(path.read_text())
    sm = doc["slots"]
    doc["model"] = model(doc["points"], doc["census"], sm, doc["settings"]["providers"],
                         cores=doc["machine"].get("cpus") or 2)
    doc["model_recomputed_from"] = str(path)
    return doc


def summary(doc: dict[str, Any]) -> str:
    rows = [f"{'point':<34} {'puts/s':>8} {'p50 ms':>8} {'p99 ms':>8}  cpu ms/put: "
            f"{'client':>7} {'host':>7} {'worker':>7} {'redis':>7} {'total':>7}  cores busy (others)"]
    for r in doc["points"]:
        t = r["cpu_s_per_put_by_tier"]
        rows.append(f"{r['label']:<34} {r['throughput']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}              "
                    + " ".join(f"{t.get(k, 0) * 1e3:>7.3f}" for k in ("client", "host", "worker", "redis"))
                    + f" {r['cpu_s_per_put'] * 1e3:>7.3f}  {r['cores_busy']:.2f} ({r['others_cores_busy']:.2f})")
    return "\n".join(rows)


def write(out: Path, doc: dict[str, Any]) -> tuple[Path, Path]:
    jpath, ppath = out / "scaling.json", out / "scaling.png"
    jpath.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    try:
        write_png(ppath, doc)
    except Exception as e:  # noqa: BLE001 - the JSON is the result
        print(f"no plot: {type(e).__name__}: {e}")
    return jpath, ppath


def write_png(path: Path, doc: dict[str, Any]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = doc["points"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5.5))
    labels = [p["label"] for p in pts]
    xs = range(len(pts))
    ax1.bar(xs, [p["throughput"] for p in pts], color=["C0" if p["redis"] == "single" else "C1" for p in pts])
    ax1.set_xticks(list(xs), labels, rotation=75, ha="right", fontsize=7)
    ax1.set_ylabel("puts/s")
    ax1.set_yscale("log")
    ax1.set_title("throughput (blue: one Redis server, orange: 3-shard cluster)")
    bottom = [0.0] * len(pts)
    for k, tname in enumerate(("client", "host", "worker", "redis")):
        vals = [p["cpu_s_per_put_by_tier"].get(tname, 0.0) * 1e3 for p in pts]
        ax2.bar(xs, vals, bottom=bottom, label=tname, color=f"C{k + 2}")
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax2.set_xticks(list(xs), labels, rotation=75, ha="right", fontsize=7)
    ax2.set_ylabel("CPU ms per put")
    ax2.set_title("CPU per put, by tier")
    ax2.legend(fontsize=8)
    m = doc["machine"]
    fig.suptitle(f"wmiput scaling sweep - {m['cpus']} CPUs (shared by every process), concurrency "
                 f"{doc['settings']['concurrency']}, {doc['settings']['seconds_per_point']:g} s per point, "
                 f"load {m['loadavg_at_start']}, {doc['started_at']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
