"""10,000 calls in flight on one host process: its memory stays bounded, the per-client limit
refuses the next call and starts nothing, event streams a client never reads cost the host
nothing more, and every call, once cancelled, ends with exactly one final status.

The calls are semisynchronous puts of a provider-backed class. One worker serves the provider,
16 tasks at once (its default concurrency), and the provider holds the prepares of puts with
Color = "hold" (InventoryProvider's hold_when). First, 16 "plug" calls fill the worker's 16
slots: their prepares are held in the provider, and stay held after the plug calls are
cancelled (a provider does not learn of a cancel) until the hold is released, or for 60 s, when
InventoryProvider lets a held prepare go on its own. Every prepare of the 10,000 then waits in
the provider's task stream, unanswered, and every call stays running, waiting on its provider;
none fails, as the put deadline is 600 s. Should the plugs' prepares be let go before the end
(a slow machine), the worker goes through the plugs' aborts, then holds the next 16 prepares
for 60 s more: the first calls are cancelled long before.

The class has a static superclass, so a put is a two-phase transaction (the repository's level,
then the provider's): a put whose only participant is one provider runs as a single PUT task
that hands the decision to the provider, and can no longer be cancelled once it is sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from host.calls.store import call_id
from host.client import INFINITE, CallResult, WbemClient, WbemError, instance, prop, wmi_class
from host.repository.keys import Keys
from tests.helpers import async_wait_for
from tests.provider_env import Workers, dynamic, register, wait_live
from wmiput.v1 import provider_pb2 as wire

T = TypeVar("T")

CALLS = 10_000  # semisynchronous puts held in flight
STREAMS = 300  # asynchronous puts whose event stream the client never reads past `accepted`
LIMIT = CALLS + STREAMS  # WMIPUT_MAX_CALLS_PER_CLIENT: exactly what is started
PLUGS = 16  # held prepares that fill the worker: its concurrency (wmiput worker --concurrency, default 16)
PARALLEL = 200  # requests the test has in the air at once
WARMUP = 200  # a semisynchronous and an asynchronous put each, PARALLEL at once
SAMPLE = 100
# Measured on 2 cores (CPython 3.11, grpcio 1.85, protobuf upb, 10 runs): 23.2-23.5 KB of host RSS
# per held call, about 11 KB of it Python objects (tracemalloc: the call's task and the stack of
# coroutines waiting on the provider's reply, its record, timers, futures, Redis replies; no
# single item above 1 KB) and the rest protobuf messages (the request, kept as bytes and parsed,
# the instance's record and view, the transaction's task template and the task sent) and
# allocator slack; and 36.6-43.5 KB per unread stream (a call, plus its RPC and the follower of
# its events). About twice that fails: one more copy of the request per call, or a leaked
# buffer, shows up well above it.
MAX_KB_PER_CALL = 50
MAX_KB_PER_STREAM = 80
# How long a cancelled put waits for its provider to acknowledge the abort before leaving it
# to recovery. The provider is busy for the whole test, so every cancelled call waits that
# long before it ends; 10 s by default.
COMMIT_TIMEOUT_S = 4
NAMESPACE = "root\\cimv2"
E_CALL_CANCELLED = 0x80041032


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


async def bounded(items: list[T], fn: Callable[[T], Awaitable[object]], parallel: int = PARALLEL) -> list[object]:
    """fn over items, at most `parallel` at once, results in order."""
    sem = asyncio.Semaphore(parallel)

    async def one(x: T) -> object:
        async with sem:
            return await fn(x)

    return list(await asyncio.gather(*(one(x) for x in items)))


class HostProcess:
    def __init__(self, tmp: Path, redis_url: str, prefix: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log = tmp / "host.log"
        args = [sys.executable, "-m", "host.cli", "serve", "--listen", self.target, "--redis-url", redis_url,
                "--prefix", prefix, "--server-name", "FLIGHT", "--log-format", "json", "--log-level", "warning"]
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=f, env={**os.environ, **env},
                                         start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self, client: WbemClient) -> None:
        async def serving() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            await asyncio.wait_for(client.list_providers(), 2)
            return True
        await async_wait_for(serving, timeout=30, message="host process serving")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


async def active_calls(r: Redis, prefix: str) -> int:
    """Calls listed as running (P:{meta}:calls:active, one zset per host)."""
    return sum([await r.zcard(k) async for k in r.scan_iter(match=f"{prefix}:{{meta}}:calls:active*", count=10_000)])


async def prepares(r: Redis, stream: str, after: str = "-") -> dict[str, int]:
    """PREPARE tasks waiting in a provider's stream (an answered task is deleted from it) after
    entry `after`, counted by the first letter of the put's Id ("h": held calls, "p": plugs...)."""
    out: dict[str, int] = {}
    start = after
    while batch := await r.xrange(stream, min=start if start == "-" else f"({start}", count=2000):
        for _, fields in batch:
            t = wire.ProviderTask.FromString(fields[b"task"])
            if t.phase == wire.TASK_PHASE_PREPARE:
                key = next((p.value.string for p in t.object.properties if p.name == "Id"), "")
                out[key[:1]] = out.get(key[:1], 0) + 1
        start = batch[-1][0].decode()
    return out


async def call_keys(r: Redis, prefix: str) -> int:
    """Call records (P:{c|<id>} hashes, not their event streams)."""
    n = 0
    async for k in r.scan_iter(match=f"{prefix}:{{c|*", count=10_000):
        n += not k.endswith(b":events")
    return n


@pytest.mark.timeout(200)
async def test_ten_thousand_calls_in_flight_keep_the_host_memory_bounded(tmp_path: Path, redis_url: str,
                                                                        key_prefix: str):
    t0 = time.monotonic()
    keys = Keys(key_prefix)
    workers = Workers(tmp_path, redis_url, key_prefix)
    release = workers.data_dir / "Flight.release"
    r = Redis.from_url(redis_url)
    host = HostProcess(tmp_path, redis_url, key_prefix, {
        "WMIPUT_PUT_TIMEOUT_SECONDS": "600", "WMIPUT_MAX_CALLS_PER_CLIENT": str(LIMIT),
        "WMIPUT_COMMIT_TIMEOUT_SECONDS": str(COMMIT_TIMEOUT_S), "WMIPUT_GRACE_SECONDS": "2"})
    try:
        client = await WbemClient.connect(host.target, timeout=60)
    except BaseException:
        host.stop()
        raise
    try:
        await host.ready(client)
        await register(client, "Flight")
        workers.start("Flight", hold_when="Color:hold")
        await client.put_class(wmi_class("Flight_Base", prop("Id", "string", key=True), prop("Color", "string")))
        await client.put_class(dynamic("Flight_Item", "Flight", prop("Note", "string"), superclass="Flight_Base"))
        await wait_live(client, "Flight")
        task_stream = keys.tasks(NAMESPACE, "Flight")

        def prepared() -> int:
            """Prepares the provider has started (InventoryProvider logs each as it begins)."""
            return sum(1 for c in workers.calls("Flight") if c[2] == "prepare")

        plug_txs: list[bytes] = []

        async def counts() -> tuple[int, int, int]:
            """(calls running, call records, transactions running other than the plugs'): the plugs'
            end once the provider has let their prepares go and worked through their aborts."""
            txs = await r.zcard(keys.active_transactions)
            if plug_txs:
                txs -= sum(x is not None for x in await r.zmscore(keys.active_transactions, plug_txs))
            return await active_calls(r, key_prefix), await call_keys(r, key_prefix), txs

        async def status(h: CallResult) -> object:
            return await h.get_call_status(INFINITE)

        def cancelled(statuses: list) -> list:
            return [(i, s) for i, s in enumerate(statuses) if s is None or s[0] != E_CALL_CANCELLED
                    or s[1].hresult_name != "WBEM_E_CALL_CANCELLED"]

        # -- warm up: each path a call takes, to its end, as many at once as later
        async def warm(i: int) -> None:
            res = await client.put_instance_semisync(instance("Flight_Item", Id=f"w{i}", Color="warm"))
            assert await res.get_call_status(INFINITE) == (0, None)
            call = await client.put_instance_async(instance("Flight_Item", Id=f"wa{i}", Color="warm"))
            assert (await call.wait()).set_status.hresult == 0
        await bounded(list(range(WARMUP)), warm)

        async def settled() -> bool:  # a commit acknowledged late is finished by recovery
            return await counts() == (0, 2 * WARMUP, 0)
        await async_wait_for(settled, timeout=30, message="warm-up calls and transactions finished")

        # -- plugs: the worker's every slot busy with a held prepare, their calls cancelled
        plugs = await bounded(list(range(PLUGS)), lambda i: client.put_instance_semisync(
            instance("Flight_Item", Id=f"p{i}", Color="hold")))
        await async_wait_for(lambda: prepared() == 2 * WARMUP + PLUGS, timeout=30, message="plugs held")
        await bounded([h.handle for h in plugs], client.cancel_async_call)
        assert cancelled(await bounded(plugs, status)) == []
        assert await counts() == (0, 2 * WARMUP + PLUGS, PLUGS), "the plugs' transactions wait for their aborts"
        plug_txs += [await r.hget(keys.call(call_id(h.handle)), "tx") for h in plugs]
        baseline = rss_kb(host.pid)
        t_warm = time.monotonic() - t0

        # -- 10,000 semisynchronous puts, each waiting on the provider
        started = time.monotonic()
        handles = await bounded(list(range(CALLS)), lambda i: client.put_instance_semisync(
            instance("Flight_Item", Id=f"h{i}", Color="hold")))
        t_start = time.monotonic() - started
        assert len({h.handle for h in handles}) == CALLS
        # running: WBEM_NO_WAIT answers "still running" (WBEM_S_TIMEDOUT); one record, one active
        # entry and one transaction each (opened just after the RPC answers); one PREPARE each in the
        # provider's stream, none answered (the worker deletes a task from the stream once answered)
        sample = handles[:: CALLS // SAMPLE] + [handles[-1]]
        assert await bounded(sample, lambda h: h.get_call_status(0)) == [None] * len(sample)

        async def all_sent(streams: int) -> bool:
            """Each call has its transaction, and its PREPARE waits in the provider's stream."""
            sent = await prepares(r, task_stream)
            n = CALLS + streams
            return (await counts() == (n, n + 2 * WARMUP + PLUGS, n) and sent.get("h") == CALLS
                    and sent.get("s", 0) == streams)
        await async_wait_for(lambda: all_sent(0), timeout=30, interval=0.2, message="every call sent its PREPARE")
        with_calls = rss_kb(host.pid)
        redis_mb = (await r.info("memory"))["used_memory"] / 2**20

        # -- event streams the client never reads past `accepted`
        streams = await bounded(list(range(STREAMS)), lambda i: client.put_instance_async(
            instance("Flight_Item", Id=f"s{i}", Color="hold")))
        assert all(s.handle and s.last_sequence == 0 for s in streams)
        await async_wait_for(lambda: all_sent(STREAMS), timeout=30, interval=0.2, message="every call sent its PREPARE")
        before = await counts()
        with_streams = rss_kb(host.pid)

        # -- one call past the limit: refused, and nothing is started
        last = (await r.xrevrange(task_stream, count=1))[0][0].decode()
        for start in (client.put_instance_semisync, client.put_instance_async):
            with pytest.raises(WbemError) as e:
                await start(instance("Flight_Item", Id="x-one-too-many", Color="warm"))
            assert e.value.name == "WBEM_E_SERVER_TOO_BUSY", e.value
        assert await counts() == before
        assert "x" not in await prepares(r, task_stream, after=last)

        # -- end them all: each ends WBEM_E_CALL_CANCELLED, once
        everything = [h.handle for h in handles] + [s.handle for s in streams]
        cancelling = time.monotonic()
        await bounded(everything, client.cancel_async_call)
        t_cancel = time.monotonic() - cancelling
        checking = time.monotonic()
        bad = cancelled(await bounded(handles + [client.call_result(s.handle) for s in streams], status))
        assert bad == [], f"{len(bad)} calls did not end cancelled, e.g. {bad[:3]}"
        t_status = time.monotonic() - checking
        # exactly one final event each: the record is done at sequence 1 and its stream holds that one event
        async with r.pipeline(transaction=False) as p:
            for h in everything:
                p.hmget(keys.call(call_id(h)), "state", "seq", "hresult")
                p.xlen(keys.call_events(call_id(h)))
            got = await p.execute()
        assert {tuple(x) for x in got[0::2]} == {(b"done", b"1", str(E_CALL_CANCELLED).encode())}
        assert set(got[1::2]) == {1}
        # the streams nobody read deliver that final event now, right after `accepted`
        finals = await bounded(streams, lambda s: s.wait())
        assert {(f.sequence, f.set_status.hresult) for f in finals} == {(1, E_CALL_CANCELLED)}

        async def none_running() -> bool:  # (a call leaves the list of running calls just after its final event)
            return (await counts())[0] == 0
        await async_wait_for(none_running, timeout=10)
        release.touch()
        after = rss_kb(host.pid)

        # the limit is free again (a put the repository alone serves: the provider first has the
        # cancelled calls' prepares and aborts to work through)
        res = await client.put_instance_semisync(instance("Flight_Base", Id="after", Color="warm"))
        assert await res.get_call_status(INFINITE) == (0, None)

        per_call = (with_calls - baseline) / CALLS
        per_stream = (with_streams - with_calls) / STREAMS
        print(f"\ncalls in flight: {CALLS}, host RSS baseline {baseline / 1024:.1f} MB, with calls "
              f"{with_calls / 1024:.1f} MB (+{per_call:.1f} KB/call), after {after / 1024:.1f} MB")
        print(f"unread event streams: {STREAMS}, host RSS {with_streams / 1024:.1f} MB (+{per_stream:.1f} KB/stream); "
              f"redis used_memory with the calls {redis_mb:.1f} MB; warm-up {t_warm:.1f} s, {CALLS} calls started "
              f"in {t_start:.1f} s, {LIMIT} cancelled in {t_cancel:.1f} s, their status read in {t_status:.1f} s, "
              f"test {time.monotonic() - t0:.1f} s")
        assert per_call < MAX_KB_PER_CALL
        assert per_stream < MAX_KB_PER_STREAM
        assert after <= with_streams, "ending the calls grew the host beyond its peak"
    finally:
        release.parent.mkdir(parents=True, exist_ok=True)
        release.touch()
        await client.close()
        host.stop()
        workers.stop_all()
        try:  # some 50,000 keys: not left to slow down the SCANs of later tests on the session's Redis
            doomed = [k async for k in r.scan_iter(match=f"{key_prefix}:*", count=10_000)]
            for i in range(0, len(doomed), 1000):
                await r.unlink(*doomed[i:i + 1000])
        finally:
            await r.aclose()
