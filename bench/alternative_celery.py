"""The alternative a user would build: a Celery chain of the six steps of a depth-3 atomic put.

``run_celery_chain`` starts ``workers`` Celery worker processes on the given Redis (broker and
result backend both), then drives ``count`` chains of

    prepare_1 -> prepare_2 -> prepare_3 -> commit_1 -> commit_2 -> commit_3

with ``concurrency`` chains in flight from client threads (``apply_async`` + ``AsyncResult.get``),
after a short warm-up. Latency is per chain, from submit to the final result in the client.

What each step does is what ``workers/examples/inventory.py`` does for one level, statement for
statement, in the level's own SQLite file (WAL) under ``tmp``: a connection per statement group, the
``calls`` log row, then prepare stages the row (``BEGIN IMMEDIATE``, look up the committed row,
``INSERT OR REPLACE`` into ``staged``) and commit moves it into place (``BEGIN IMMEDIATE``, the
``applied`` check, read the staged row, write ``items``, drop the staged row, record the task). No
more than that: no two-phase bookkeeping in Redis, no abort path, no recovery.

Worker processes. Our provider workers are one OS process per provider, and level ``i`` of S2 is
served by its own provider. So step ``prepare_i``/``commit_i`` is routed to queue ``level<i>`` and each
Celery worker is one OS process consuming the queue(s) of its level(s) (with 3 workers: one level
each; fewer workers share levels, more workers are replicas of a level). The default pool is
``threads`` with 16 threads: one process with up to 16 tasks in hand, as our worker runtime does
(``WorkerSettings.concurrency = 16``, SQLite in ``asyncio.to_thread``). ``solo`` (one process, one
task at a time) and ``prefork`` (concurrency 1: a parent plus one child, i.e. two processes per
worker) are available through ``pool=``; see the report for how they compare. The CPU of every
process of a worker (a prefork child included) is counted.

Settings, chosen so Celery is not handicapped (each one favours it, never us):
- results: the Redis result backend is push-based (the client SUBSCRIBEs to the task's channel and
  the worker PUBLISHes the result), so there is no polling interval to tune; ``AsyncResult.get`` is
  called with ``interval=0.005`` anyway, which only matters for polling backends. Intermediate steps
  store their results (Celery's default), as a user who wants to see a failed step would keep.
- the worker runs ``--without-gossip --without-mingle --without-heartbeat`` (no background
  broadcast traffic in the measured window), with ``worker_prefetch_multiplier`` left at 4.
- ``task_acks_late`` is left off (Celery's default: the message is acknowledged when it is received,
  so a worker crash loses the step, where our host redelivers it): less Redis work than the
  durable setting.
- the client's broker connection pool is at least ``concurrency`` so submitting threads never wait
  on it.

CPU seconds per put: user + system CPU of the client process (all its threads), every worker
process and the redis-server process (found by its listening port with psutil; if it cannot be found,
e.g. a remote Redis, ``redis_cpu_included`` is False) over the measured window, divided by ``count``.

Run standalone (starts its own throwaway redis-server under a temporary directory):

    python -m bench.alternative_celery [--count 200] [--concurrency 16] [--workers 3] [--pool threads]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kombu.pools
import psutil
from celery import Celery, chain

from workers.examples.inventory import SCHEMA  # the example provider's own tables: both sides run the same SQL

__all__ = ["run_celery_chain"]

DEPTH = 3
QUEUE_PREFIX = "bench-celery-level"
ENV_REDIS_URL = "BENCH_CELERY_REDIS_URL"
ENV_DATA_DIR = "BENCH_CELERY_DATA_DIR"
ENV_STEPS = "BENCH_CELERY_STEPS"  # "inventory" (the SQLite work) or "null" (steps that do nothing)
STEPS = ("inventory", "null")
MODULE = "bench.alternative_celery"  # task names and `celery -A`, also when run as __main__
ROOT = Path(__file__).resolve().parent.parent  # the repository: `bench` is importable from here
POOLS = ("threads", "solo", "prefork")
THREADS_PER_WORKER = 16  # as workers.runtime.WorkerSettings.concurrency


app = Celery("bench_celery")


def _configure(redis_url: str, pool_limit: int = 10) -> None:
    app.conf.update(
        broker_url=redis_url,
        result_backend=redis_url,
        broker_connection_retry_on_startup=True,
        broker_pool_limit=pool_limit,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_routes={f"{MODULE}.{phase}_{lvl}": {"queue": f"{QUEUE_PREFIX}{lvl}"}
                     for lvl in range(1, DEPTH + 1) for phase in ("prepare", "commit")},
        worker_hijack_root_logger=False,
        result_expires=3600,
    )


if os.environ.get(ENV_REDIS_URL):  # inside a worker process started by run_celery_chain
    _configure(os.environ[ENV_REDIS_URL])


# --------------------------------------------------------------------------- the six steps


def _db(level: int) -> Path:
    return Path(os.environ[ENV_DATA_DIR]) / f"celery-level{level}.sqlite"


def _sql(level: int, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    c = sqlite3.connect(_db(level), timeout=30, isolation_level=None)
    try:
        return fn(c)
    finally:
        c.close()


def _log(level: int, tx: str, phase: str, class_name: str, relpath: str) -> None:
    _sql(level, lambda c: c.execute(
        "INSERT INTO calls (tx, level, phase, class, relpath, at_ns) VALUES (?, ?, ?, ?, ?, ?)",
        (tx, level, phase, class_name, relpath, time.monotonic_ns())))


def _null() -> bool:
    return os.environ.get(ENV_STEPS) == "null"


def _prepare(level: int, tx: str, class_name: str, relpath: str, props: dict[str, Any]) -> None:
    if _null():  # like bench/providers.py:NullProvider
        return
    _log(level, tx, "prepare", class_name, relpath)
    key = relpath.lower()

    def stage(c: sqlite3.Connection) -> None:
        c.execute("BEGIN IMMEDIATE")
        c.execute("SELECT props FROM items WHERE relpath = ?", (key,)).fetchone()
        c.execute("INSERT OR REPLACE INTO staged VALUES (?, ?, ?, ?, ?)",
                  (tx, level, key, class_name, json.dumps(props, default=str)))
        c.execute("COMMIT")

    _sql(level, stage)


def _commit(level: int, tx: str, class_name: str, relpath: str) -> None:
    if _null():
        return
    _log(level, tx, "commit", class_name, relpath)
    task_id = f"{tx}/{level}"

    def apply(c: sqlite3.Connection) -> None:
        c.execute("BEGIN IMMEDIATE")
        if c.execute("SELECT 1 FROM applied WHERE task = ?", (task_id,)).fetchone():
            c.execute("ROLLBACK")
            return
        row = c.execute("SELECT relpath, class, props FROM staged WHERE tx = ? AND level = ?",
                        (tx, level)).fetchone()
        if row is not None:
            c.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)", (*row, tx))
            c.execute("DELETE FROM staged WHERE tx = ? AND level = ?", (tx, level))
        c.execute("INSERT INTO applied VALUES (?)", (task_id,))
        c.execute("COMMIT")

    _sql(level, apply)


@app.task(name=f"{MODULE}.prepare_1")
def prepare_1(tx: str, class_name: str, relpath: str, props: dict[str, Any]) -> str:
    _prepare(1, tx, class_name, relpath, props)
    return tx


@app.task(name=f"{MODULE}.prepare_2")
def prepare_2(tx: str, class_name: str, relpath: str, props: dict[str, Any]) -> str:
    _prepare(2, tx, class_name, relpath, props)
    return tx


@app.task(name=f"{MODULE}.prepare_3")
def prepare_3(tx: str, class_name: str, relpath: str, props: dict[str, Any]) -> str:
    _prepare(3, tx, class_name, relpath, props)
    return tx


@app.task(name=f"{MODULE}.commit_1")
def commit_1(tx: str, class_name: str, relpath: str) -> str:
    _commit(1, tx, class_name, relpath)
    return tx


@app.task(name=f"{MODULE}.commit_2")
def commit_2(tx: str, class_name: str, relpath: str) -> str:
    _commit(2, tx, class_name, relpath)
    return tx


@app.task(name=f"{MODULE}.commit_3")
def commit_3(tx: str, class_name: str, relpath: str) -> str:
    _commit(3, tx, class_name, relpath)
    return tx


def _put_chain(n: int) -> Any:
    """The six steps for the n-th put: an instance of a depth-3 class with a handful of properties."""
    tx = uuid.uuid4().hex
    relpath = f'Bench_Level3.Name="item{n}"'
    props = {"Name": f"item{n}", "Count": n, "Label": "bench", "Enabled": True, "Size": 1024}
    classes = [f"Bench_Level{lvl}" for lvl in range(1, DEPTH + 1)]
    return chain(
        prepare_1.si(tx, classes[0], relpath, props),
        prepare_2.si(tx, classes[1], relpath, props),
        prepare_3.si(tx, classes[2], relpath, props),
        commit_1.si(tx, classes[0], relpath),
        commit_2.si(tx, classes[1], relpath),
        commit_3.si(tx, classes[2], relpath),
    )


# --------------------------------------------------------------------------- processes


def _init_db(path: Path) -> None:
    c = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        c.execute("PRAGMA journal_mode=WAL")
        c.executescript(SCHEMA)
    finally:
        c.close()


def _levels_of(w: int, workers: int) -> list[int]:
    """The levels worker w serves: one level each with 3 workers, shared with fewer, replicated with more."""
    return sorted({lvl for lvl in range(1, DEPTH + 1) if (lvl - 1) % workers == w} | {w % DEPTH + 1})


def _start_workers(redis_url: str, workers: int, pool: str, tmp: Path, run_id: str,
                   steps: str = "inventory") -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, ENV_REDIS_URL: redis_url, ENV_DATA_DIR: str(tmp), ENV_STEPS: steps,
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    procs: list[subprocess.Popen[bytes]] = []
    for w in range(workers):
        queues = ",".join(f"{QUEUE_PREFIX}{lvl}" for lvl in _levels_of(w, workers))
        args = [sys.executable, "-m", "celery", "-A", MODULE,
                "worker", f"--pool={pool}", "-Q", queues, "-n", f"bench{w}-{run_id}@%h", "--loglevel=WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if pool == "threads":
            args.append(f"--concurrency={THREADS_PER_WORKER}")
        elif pool == "prefork":
            args.append("--concurrency=1")
        log = open(tmp / f"celery-worker{w}.log", "ab")  # noqa: SIM115 - handed to the process
        try:
            procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
        finally:
            log.close()
    return procs


def _stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)  # warm shutdown
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            pass
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)
        else:
            try:  # a prefork child left behind by its parent
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _wait_ready(names: list[str], procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    missing = set(names)
    while missing:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"celery worker exited with code {p.returncode} (see celery-worker*.log)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"celery workers not ready after {timeout}s: {sorted(missing)}")
        for reply in app.control.ping(destination=sorted(missing), timeout=0.5) or []:
            missing -= set(reply)


def _release_client() -> None:
    """Close the client's broker connections and forget its pools, so a later run starts afresh."""
    kombu.pools.reset()
    app.close()  # drops the app's reference to its connection pool
    app.amqp._producer_pool = None


def _redis_process(redis_url: str) -> psutil.Process | None:
    parts = urlsplit(redis_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    port = parts.port or 6379
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                return psutil.Process(c.pid)
    except psutil.AccessDenied:
        pass
    for proc in psutil.process_iter(["name"]):
        try:
            if "redis" in (proc.info["name"] or "") and any(
                    c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in proc.net_connections("tcp")):
                return proc
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
    return None


class _Cpu:
    """user + system CPU seconds of a fixed set of processes, read at the start and end of a window."""

    def __init__(self, procs: list[psutil.Process]) -> None:
        self.procs = procs
        self.last = {p.pid: self._read(p, 0.0) for p in procs}
        self.first = dict(self.last)

    @staticmethod
    def _read(p: psutil.Process, default: float) -> float:
        try:
            t = p.cpu_times()
            return t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return default

    def used(self) -> float:
        self.last = {p.pid: self._read(p, self.last[p.pid]) for p in self.procs}
        return sum(self.last[pid] - self.first[pid] for pid in self.first)


def _percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    return sorted_ms[max(0, min(len(sorted_ms), math.ceil(q / 100 * len(sorted_ms))) - 1)]


# --------------------------------------------------------------------------- the run


def _drive(ex: ThreadPoolExecutor, n_chains: int, concurrency: int, first: int, timeout: float,
           progress: Callable[[int, int], None] | None = None) -> list[float]:
    """Run n_chains chains with `concurrency` in flight; per-chain latency in ms, in completion order.

    Each of `concurrency` client loops (threads of `ex`, reused across calls so that their
    thread-local result backends and their subscriptions are set up once, in the warm-up) submits a
    chain and waits for its final result, then the next. The first failure stops every loop.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()
    next_n = iter(range(first, first + n_chains))

    def client() -> None:
        try:
            while not stop.is_set():
                with lock:
                    n = next(next_n, None)
                if n is None:
                    return
                t0 = time.perf_counter()
                failure = None
                res = _put_chain(n).apply_async()
                try:
                    res.get(timeout=timeout, interval=0.005)
                except Exception as e:
                    failure = RuntimeError(f"celery chain {n} failed: {type(e).__name__}: {e}")
                    # The backend keeps a pending result until it completes; unsubscribe now, while
                    # Redis is up, rather than in AsyncResult.__del__ at exit.
                    with contextlib.suppress(Exception):
                        res.backend.remove_pending_result(res)
                if failure is not None:
                    raise failure
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(ms)
                    done = len(latencies)
                if progress is not None:
                    progress(done, n_chains)
        except BaseException:
            stop.set()
            raise

    futures = [ex.submit(client) for _ in range(concurrency)]
    try:
        for f in futures:
            f.result()
    except BaseException:  # a failed chain, or Ctrl-C: let the other loops finish the chain in hand only
        stop.set()
        raise
    return latencies


def run_celery_chain(redis_url: str, *, workers: int, concurrency: int, count: int, tmp: Path,
                     pool: str = "threads", warmup: int | None = None, timeout: float = 60.0,
                     progress: Callable[[int, int], None] | None = None, steps: str = "inventory") -> dict[str, Any]:
    """Start `workers` Celery workers on `redis_url`, run `count` six-step chains, stop the workers.

    `pool` is the worker pool ("threads" with 16 threads, "solo" or "prefork" with concurrency 1);
    `warmup` chains (default: max(20, 2 x concurrency)) run first and are not measured; `timeout`
    bounds each chain; `progress` is called with (done, count) as measured chains finish. `steps`:
    "inventory" runs the example provider's SQL in each step, "null" nothing (`--provider null`). Returns
    throughput (chains per second), p50/p95/p99 latency in ms and CPU seconds per put over the
    measured window.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    if steps not in STEPS:
        raise ValueError(f"steps must be one of {STEPS}, got {steps!r}")
    if workers < 1 or concurrency < 1 or count < 1:
        raise ValueError("workers, concurrency and count must be >= 1")
    tmp = Path(tmp).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    for lvl in range(1, DEPTH + 1):
        _init_db(tmp / f"celery-level{lvl}.sqlite")
    _configure(redis_url, pool_limit=max(10, concurrency + 2))
    run_id = uuid.uuid4().hex[:8]
    procs: list[subprocess.Popen[bytes]] = []
    ex = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="celery-client")
    try:
        procs = _start_workers(redis_url, workers, pool, tmp, run_id, steps)
        _wait_ready([f"bench{w}-{run_id}@{socket.gethostname()}" for w in range(workers)], procs)
        _drive(ex, warmup if warmup is not None else max(20, 2 * concurrency), concurrency, 0, timeout)

        watched = [psutil.Process()]
        for p in procs:
            wp = psutil.Process(p.pid)
            watched += [wp, *wp.children(recursive=True)]
        redis_proc = _redis_process(redis_url)
        if redis_proc is not None:
            watched.append(redis_proc)
        cpu = _Cpu(watched)
        t0 = time.perf_counter()
        latencies = _drive(ex, count, concurrency, 1_000_000, timeout, progress)
        elapsed = time.perf_counter() - t0
        cpu_s = cpu.used()
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
        _stop_workers(procs)
        _release_client()

    lat = sorted(latencies)
    return {
        "throughput": count / elapsed,
        "p50_ms": _percentile(lat, 50),
        "p95_ms": _percentile(lat, 95),
        "p99_ms": _percentile(lat, 99),
        "cpu_s_per_put": cpu_s / count,
        "workers": workers,
        "concurrency": concurrency,
        "count": count,
        "pool": pool,
        "steps": steps,
        "redis_cpu_included": redis_proc is not None,
    }


def main(argv: list[str] | None = None) -> None:
    import tempfile

    from host.redis_server import EmbeddedRedis

    ap = argparse.ArgumentParser(description="A Celery chain of prepare x3, commit x3 on a throwaway Redis.")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--pool", choices=POOLS, default="threads")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-celery-") as d:
        redis = EmbeddedRedis(Path(d) / "redis")
        redis.start()
        try:
            t0 = time.monotonic()
            result = run_celery_chain(redis.url, workers=args.workers, concurrency=args.concurrency,
                                      count=args.count, tmp=Path(d) / "celery", pool=args.pool)
            result["wall_s"] = round(time.monotonic() - t0, 1)
            print(json.dumps(result, indent=2))
        finally:
            redis.stop()


if __name__ == "__main__":
    # Run the importable module's main, so that the client and the workers share one task registry.
    from bench.alternative_celery import main as _main

    _main()
