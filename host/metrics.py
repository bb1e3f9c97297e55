"""Prometheus metrics of hosts and workers, and the endpoint each process serves them on.

    metrics.enable()                          # once per process, when --metrics-listen is set
    metrics.serve("0.0.0.0:9464")             # the text endpoint: GET /metrics
    with metrics.phase("prepare", level=0): ...

Off (the default) every recording function returns at once: no registry work, no Redis hook.
Each process serves its own endpoint (give each worker process its own port, or port 0 to take a
free one: the port is logged); nothing is shared between processes, so several worker processes
on one machine are safe. The names are the contract of deploy/grafana/wmiput-dashboard.json and
docs/observability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

from host import logs

log = logs.get("metrics")

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TRIPS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)
PUTS = {"PutInstance", "PutClass", "PutInstanceAsync", "PutClassAsync", "PutAsync"}

# -- host
puts = Counter("wmiput_puts", "Puts that ended, by operation, flags class and final HRESULT",
               ["operation", "flags", "hresult"])
put_phase = Histogram("wmiput_put_phase_seconds", "Time of each phase of a put (prepare: per level of the derivation)",
                      ["phase", "level"], buckets=_LATENCY)
calls_in_flight = Gauge("wmiput_calls_in_flight", "gRPC calls being served, by operation", ["operation"])
round_trips = Histogram("wmiput_redis_round_trips_per_put", "Redis round trips the host made for one put",
                        ["operation"], buckets=_TRIPS)
provider_tasks = Counter("wmiput_provider_tasks", "Provider tasks the host sent, by phase and outcome",
                         ["provider", "phase", "outcome"])
provider_backlog = Gauge("wmiput_provider_stream_backlog", "Entries in a provider's task stream not yet delivered",
                         ["provider"])
provider_pending = Gauge("wmiput_provider_pending", "Entries delivered to a provider's workers and not acknowledged",
                         ["provider"])
provider_oldest = Gauge("wmiput_provider_oldest_pending_seconds", "Age of the oldest unacknowledged task",
                        ["provider"])
provider_workers = Gauge("wmiput_provider_live_workers", "Workers of a provider with a fresh heartbeat", ["provider"])

# -- worker
worker_tasks = Counter("wmiput_worker_tasks", "Tasks a worker handled, by phase and outcome",
                       ["provider", "phase", "outcome"])
worker_task_seconds = Histogram("wmiput_worker_task_seconds", "Time a worker spent on a task", ["provider", "phase"],
                                buckets=_LATENCY)
worker_redeliveries = Counter("wmiput_worker_redeliveries", "Tasks taken over from a worker that stopped",
                              ["provider"])
worker_in_flight = Gauge("wmiput_worker_tasks_in_flight", "Tasks a worker is running", ["provider"])

_enabled = False
_trips: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("wmiput_trips", default=None)


def enabled() -> bool:
    return _enabled


def enable() -> None:
    """Start recording (idempotent): also counts Redis round trips made on behalf of a put."""
    global _enabled
    if not _enabled:
        _hook_redis()
        _enabled = True


def serve(listen: str) -> Any:
    """Serve GET /metrics on HOST:PORT in a thread of this process. Returns the HTTP server: its
    server_address has the port bound (0 picks one); shutdown() stops it."""
    enable()
    host, _, port = listen.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0", registry=REGISTRY)
    except (OSError, ValueError) as e:
        raise RuntimeError(f"cannot serve metrics on {listen!r}: {e}") from None
    log.info("metrics endpoint", listen=f"{host or '0.0.0.0'}:{server.server_address[1]}", path="/metrics")
    return server


async def census_loop(registry: Any, repo: Any, every_s: float) -> None:
    """Refresh the per-provider gauges from Redis every `every_s` seconds (one host's view)."""
    while True:
        try:
            rows = []
            for ns in await repo.namespaces():
                schema = await repo.schema(ns)
                for info in await registry.describe(ns, schema, fresh=False):
                    rows.append({"name": info.name, "backlog": info.backlog, "pending": info.pending,
                                 "oldest_ms": info.oldest_pending_ms, "workers": len(info.workers)})
            provider_census(rows)
        except Exception as e:  # noqa: BLE001 - a census is best effort; the next one tries again
            log.warning("provider census failed", error=str(e)[:200])
        await asyncio.sleep(every_s)


def flags_class(flags: int) -> str:
    if flags & 0x2:
        return "create_only"
    if flags & 0x1:
        return "update_only"
    return "create_or_update"


# -- recording (each a no-op when off)

def start_put() -> None:
    """In the task serving a put: from here its Redis round trips are counted."""
    if _enabled:
        _trips.set([0])


def trip(n: int = 1) -> None:
    """A round trip made for the current put (the shared pipeline counts its batches this way)."""
    if _enabled:
        t = _trips.get()
        if t is not None:
            t[0] += n


def end_call(operation: str, flags: int, hresult: str, seconds: float) -> None:
    if not _enabled or operation not in PUTS:
        return
    puts.labels(operation, flags_class(flags), hresult).inc()
    put_phase.labels("total", "").observe(seconds)
    t = _trips.get()
    if t is not None:
        round_trips.labels(operation).observe(t[0])
        _trips.set(None)


def call_started(operation: str) -> None:
    if _enabled:
        calls_in_flight.labels(operation).inc()


def call_ended(operation: str) -> None:
    if _enabled:
        calls_in_flight.labels(operation).dec()


@contextlib.contextmanager
def phase(name: str, level: int | None = None) -> Iterator[None]:
    if not _enabled:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        put_phase.labels(name, "" if level is None else str(level)).observe(time.perf_counter() - started)


def task_sent(provider: str, phase_name: str, outcome: str) -> None:
    if _enabled:
        provider_tasks.labels(provider, phase_name, outcome).inc()


def provider_census(rows: list[dict[str, Any]]) -> None:
    """The per-provider gauges from a census (name, backlog, pending, oldest_ms, workers)."""
    if not _enabled:
        return
    for r in rows:
        name = r["name"]
        provider_backlog.labels(name).set(r["backlog"])
        provider_pending.labels(name).set(r["pending"])
        provider_oldest.labels(name).set(r["oldest_ms"] / 1000.0)
        provider_workers.labels(name).set(r["workers"])


@contextlib.contextmanager
def worker_task(provider: str, phase_name: str) -> Iterator[dict[str, str]]:
    """Around a task in a worker; set outcome["outcome"] to what happened (default ok)."""
    outcome = {"outcome": "ok"}
    if not _enabled:
        yield outcome
        return
    worker_in_flight.labels(provider).inc()
    started = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        outcome["outcome"] = "error"
        raise
    finally:
        worker_in_flight.labels(provider).dec()
        worker_task_seconds.labels(provider, phase_name).observe(time.perf_counter() - started)
        worker_tasks.labels(provider, phase_name, outcome["outcome"]).inc()


def redelivered(provider: str, n: int = 1) -> None:
    if _enabled and n:
        worker_redeliveries.labels(provider).inc(n)


def _hook_redis() -> None:
    """Count round trips: each command sent on its own and each pipeline sent counts one."""
    from redis.asyncio.client import Pipeline, Redis

    classes: list[Any] = [Redis, Pipeline]
    try:
        from redis.asyncio.cluster import ClusterPipeline, RedisCluster
        classes += [RedisCluster, ClusterPipeline]
    except ImportError:  # pragma: no cover - redis-py without cluster support
        pass
    for cls in classes:
        name = "execute" if "Pipeline" in cls.__name__ else "execute_command"
        original = cls.__dict__.get(name)
        if original is not None and not getattr(original, "_wmiput_counted", False):
            setattr(cls, name, _counting(original))


def _counting(original: Any) -> Any:
    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        t = _trips.get()
        if t is not None:
            t[0] += 1
        return await original(self, *args, **kwargs)

    counted._wmiput_counted = True  # type: ignore[attr-defined]
    return counted
