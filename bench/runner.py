"""The closed-loop load generator: `concurrency` clients, each sending its next request as soon as
the previous one is answered, `count` requests in all; latencies, throughput and CPU per request."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from bench.env import CpuMeter

Op = Callable[[int], Awaitable[Any]]


class Stop:
    """Set on Ctrl-C / SIGTERM. grpc.aio turns the cancellation of a call's task into an RpcError
    (CANCELLED), which a load loop would count as a failed put and carry on: the loops check this."""

    requested = False

    @classmethod
    def check(cls) -> None:
        if cls.requested:
            raise asyncio.CancelledError("benchmark interrupted")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


class Progress:
    """A counter on stderr for runs longer than a couple of seconds (a line every 10 s when not a tty)."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.last = self.started
        self.shown = False

    def tick(self) -> None:
        self.done += 1
        now = time.monotonic()
        every = 0.5 if self.tty else 10.0
        if now - self.started > 2.0 and now - self.last >= every:
            self.last = now
            of = f"/{self.total}" if self.total else ""  # a timed run: no total
            text = f"  {self.label}: {self.done}{of} ({self.done / (now - self.started):.0f}/s)"
            if self.tty:
                sys.stderr.write("\r" + text.ljust(70))
            else:
                sys.stderr.write(text + "\n")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown and self.tty:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


async def drive(label: str, op: Op, *, count: int, concurrency: int, meter: CpuMeter,
                before: Callable[[int], Awaitable[Any]] | None = None, warmup: Op | None = None,
                warmup_count: int = 0, duration: float | None = None) -> dict[str, Any]:
    """Run op(0..count-1) with `concurrency` in flight. `before(i)`, if given, is awaited untimed
    before op(i) (S4: the parent class must exist). Failures are counted, not timed.
    `duration` (seconds): run op(0), op(1), ... until that long has passed instead (`count` is then
    ignored: the run's count is what was sent; the scaling sweep)."""
    if warmup is not None and warmup_count:
        nxt = iter(range(warmup_count))

        async def warm() -> None:
            for i in nxt:
                Stop.check()
                await warmup(i)
        await asyncio.gather(*(warm() for _ in range(min(concurrency, warmup_count))))

    latencies: list[float] = []
    errors: list[str] = []
    results: list[Any] = []
    progress = Progress(label, count if duration is None else 0)
    indices: Iterator[int] = iter(range(count)) if duration is None else itertools.count()
    deadline = float("inf")

    async def client() -> None:
        for i in indices:
            Stop.check()
            if time.perf_counter() >= deadline:
                break
            if before is not None:
                await before(i)
            t0 = time.perf_counter()
            try:
                r = await op(i)
            except Exception as e:  # noqa: BLE001 - a failed put is reported, the run goes on
                Stop.check()
                errors.append(f"{type(e).__name__}: {e}")
                progress.tick()
                continue
            latencies.append(time.perf_counter() - t0)
            results.append(r)
            progress.tick()

    meter.start(label, concurrency)
    t_start = time.perf_counter()
    if duration is not None:
        deadline = t_start + duration
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t_start
    cpu = meter.stop()
    progress.clear()
    lat = sorted(latencies)
    ok = len(lat)
    cpu_total = sum(v for v in cpu.values() if v == v)
    return {
        "label": label,
        "concurrency": concurrency,
        "count": count if duration is None else ok + len(errors),
        "ok": ok,
        "errors": len(errors),
        "first_errors": sorted(set(errors))[:3],
        "elapsed_s": round(elapsed, 3),
        "throughput": round(ok / elapsed, 2) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(lat, 0.50) * 1e3, 3),
        "p95_ms": round(percentile(lat, 0.95) * 1e3, 3),
        "p99_ms": round(percentile(lat, 0.99) * 1e3, 3),
        "mean_ms": round(statistics.fmean(lat) * 1e3, 3) if lat else float("nan"),
        "cpu_s": round(cpu_total, 3),
        "cpu_s_per_put": round(cpu_total / ok, 6) if ok else float("nan"),
        "cpu_s_by_process": cpu,
        "redis_commands_per_put": round(sum(meter.commands.values()) / ok, 2) if ok else float("nan"),
        "redis_commands": meter.commands,
        "results": results,
    }


def line(run: dict[str, Any]) -> str:
    err = f"  ERRORS {run['errors']}: {run['first_errors'][:1]}" if run["errors"] else ""
    extra = f"  events/put {run['events_per_put']:.2f}" if "events_per_put" in run else ""
    return (f"{run['label']:<28} c={run['concurrency']:<3} n={run['ok']:<6} {run['throughput']:>9.1f}/s  "
            f"p50 {run['p50_ms']:>8.2f}  p95 {run['p95_ms']:>8.2f}  p99 {run['p99_ms']:>8.2f} ms  "
            f"cpu/put {run['cpu_s_per_put'] * 1e3:>7.3f} ms  redis cmds/put {run['redis_commands_per_put']:>5.1f}  "
            f"({run['elapsed_s']:.1f}s){extra}{err}")
