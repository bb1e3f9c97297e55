"""The processes a benchmark run starts and owns: redis-server, the host, provider workers, floors.

Everything lives under one temporary directory and is stopped by `Env.close()` (also on error and
Ctrl-C: `python -m bench` calls it from a `finally`). CPU time is read per process with psutil.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from host.client import WbemClient, instance, qualifier, wmi_class
from host.redis_server import EmbeddedRedis

PREFIX = "bench"
NAMESPACE = "root\\cimv2"
INVENTORY = "workers.examples.inventory:InventoryProvider"
PROVIDERS = {"inventory": INVENTORY, "null": "bench.providers:NullProvider"}
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A child process of the benchmark, with its role (for CPU accounting and the report)."""

    role: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


def spawn(role: str, args: list[str], tmp: Path, env: dict[str, str] | None = None) -> Proc:
    log = tmp / f"{role}.log"
    with open(log, "ab") as f:
        p = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=f, cwd=ROOT,
                             env={**os.environ, **(env or {})}, start_new_session=True)
    return Proc(role, p, log)


def redis_commandstats(url: str) -> dict[str, int]:
    """Commands redis-server has run so far, by name (INFO commandstats)."""
    from redis import Redis
    with Redis.from_url(url) as r:
        stats = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


class CpuMeter:
    """CPU seconds (user + system) of a set of processes between `start()` and `stop()`, and the
    Redis commands run meanwhile (`commands`, by name)."""

    def __init__(self, pids: dict[str, int], children_of: set[str] = frozenset(),  # type: ignore[assignment]
                 redis_url: str | None = None, profile_dir: Path | None = None) -> None:
        self.pids = pids
        self.profile_dir = profile_dir
        self.sampler: Any = None
        self.procs = {role: psutil.Process(pid) for role, pid in pids.items()}
        self.children_of = children_of
        self.before: dict[str, float] = {}
        self.redis_url = redis_url
        self.cmds_before: dict[str, int] = {}
        self.commands: dict[str, int] = {}

    def _read(self) -> dict[str, float]:
        out = {}
        for role, p in self.procs.items():
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                out[role] = float("nan")
                continue
            s = t.user + t.system
            if role in self.children_of:  # redis-server forks for AOF rewrites
                s += t.children_user + t.children_system
            out[role] = s
        return out

    def start(self, label: str = "", concurrency: int = 0) -> None:
        if self.profile_dir is not None:  # python -m bench --profile DIR
            from bench.profile import Sampler
            self.sampler = Sampler(self.profile_dir, label, concurrency, self.pids)
            self.sampler.start()
        if self.redis_url:
            self.cmds_before = redis_commandstats(self.redis_url)
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
        if self.redis_url:
            now = redis_commandstats(self.redis_url)
            diff = {k: v - self.cmds_before.get(k, 0) for k, v in now.items()}
            diff["info"] = diff.get("info", 0) - 1  # our own INFO
            self.commands = dict(sorted(((k, v) for k, v in diff.items() if v > 0), key=lambda kv: -kv[1]))
        return {role: round(after[role] - self.before[role], 4) for role in after}


@dataclass
class Env:
    tmp: Path
    appendfsync: str = "everysec"
    worker_concurrency: int = 16
    provider: str = "inventory"  # what serves S2/S3's levels: a key of PROVIDERS
    profile_dir: Path | None = None  # --profile: py-spy samples of the host and a worker per run
    metrics: bool = False  # --metrics-cost: host and workers serve Prometheus metrics (port 0 each)
    redis: EmbeddedRedis | None = None
    host: Proc | None = None
    target: str = ""
    procs: list[Proc] = field(default_factory=list)
    client: WbemClient | None = None
    registered: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)  # what scenarios set up once (classes, chains)

    # ----------------------------------------------------------------- lifecycle

    def start_redis(self) -> None:
        self.redis = EmbeddedRedis(self.tmp / "redis", appendfsync=self.appendfsync)
        self.redis.start()

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return self.redis.url

    def start_host(self) -> None:
        port = free_port()
        self.target = f"127.0.0.1:{port}"
        self.host = spawn("host", ["-m", "host.cli", "serve", "--listen", self.target, "--redis-url", self.redis_url,
                                   "--prefix", PREFIX, "--server-name", "BENCH", "--log-format", "json",
                                   "--log-level", "warning",
                                   *(["--metrics-listen", "127.0.0.1:0"] if self.metrics else [])], self.tmp)
        self.procs.append(self.host)

    async def connect(self) -> WbemClient:
        self.client = await WbemClient.connect(self.target, timeout=120.0)
        deadline = time.monotonic() + 60
        while True:
            assert self.host is not None
            if self.host.popen.poll() is not None:
                raise RuntimeError(f"the host exited: see {self.host.log}\n{self.host.log.read_text()[-2000:]}")
            try:
                await asyncio.wait_for(self.client.list_providers(), 2)
                return self.client
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def start_worker(self, name: str) -> Proc:
        """One worker process serving the provider class (InventoryProvider by default) as `name`."""
        args = ["-m", "host.cli", "worker", "--provider", PROVIDERS[self.provider], "--redis-url", self.redis_url, "--prefix", PREFIX,
                "--namespace", NAMESPACE, "--log-format", "json", "--concurrency", str(self.worker_concurrency),
                "--option", f"name={name}", "--option", f"data_dir={self.tmp / 'providers'}",
                *(["--metrics-listen", "127.0.0.1:0"] if self.metrics else [])]
        p = spawn(f"worker-{name}", args, self.tmp)
        self.procs.append(p)
        return p

    def start_floor(self, role: str, args: list[str]) -> Proc:
        p = spawn(role, ["-m", "bench.floors", *args], self.tmp)
        self.procs.append(p)
        return p

    def stop_proc(self, p: Proc) -> None:
        p.stop()
        if p in self.procs:
            self.procs.remove(p)

    async def aclose_client(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None

    def close(self) -> None:
        """Stop every process this run started: workers and floors first, then the host, then Redis."""
        for p in [p for p in self.procs if p is not self.host]:
            p.stop(10)
        if self.host is not None:
            self.host.stop(30)
        self.procs.clear()
        if self.redis is not None:
            self.redis.stop()

    # ----------------------------------------------------------------- CPU accounting

    def pids(self, *extra: Proc) -> dict[str, int]:
        out = {"client": os.getpid()}
        if self.redis is not None and self.redis.pid is not None:
            out["redis-server"] = self.redis.pid
        if self.host is not None:
            out["host"] = self.host.pid
        for p in extra:
            out[p.role] = p.pid
        return out

    def meter(self, *extra: Proc, host: bool = True) -> CpuMeter:
        pids = self.pids(*extra)
        if not host:
            pids.pop("host", None)
        return CpuMeter(pids, children_of={"redis-server"}, redis_url=self.redis_url if self.redis else None,
                        profile_dir=self.profile_dir)

    # ----------------------------------------------------------------- providers

    async def register(self, name: str) -> None:
        """__Win32Provider and __InstanceProviderRegistration, as a provider MOF declares them."""
        if name in self.registered:
            return
        assert self.client is not None
        await self.client.put_instance(instance("__Win32Provider", Name=name, HostingModel="Decoupled:Com"))
        await self.client.put_instance(instance("__InstanceProviderRegistration",
                                                provider=f'__Win32Provider.Name="{name}"',
                                                SupportsPut=True, SupportsGet=True))
        self.registered.add(name)

    async def wait_live(self, *names: str, timeout: float = 60) -> None:
        assert self.client is not None
        deadline = time.monotonic() + timeout
        while True:
            up = {p.name for p in await self.client.list_providers() if p.workers}
            if set(names) <= up:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers of {sorted(set(names) - up)} not live after {timeout}s; logs in {self.tmp}")
            await asyncio.sleep(0.1)


def dynamic(name: str, provider: str, *props: object, superclass: str = "") -> object:
    return wmi_class(name, *props, superclass=superclass,  # type: ignore[arg-type]
                     qualifiers=[qualifier("Dynamic", True, 0x1 | 0x2), qualifier("Provider", provider, 0)])
