"""Calls outlive their host and their connection: two host processes on one Redis.

A call started on host H1 is polled, re-attached and cancelled through host H2; and when H1 is
killed (-9) at each step of a call, H2 adopts it and ends it with exactly one final event, the
outcome matching what was applied.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from host.calls.store import call_id
from host.client import INFINITE, WbemClient, WbemError, WbemFlag, instance, prop, wmi_class
from host.repository.keys import Keys
from tests.helpers import async_wait_for, wait_for
from tests.provider_env import Workers, dynamic, register, wait_live
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import status_pb2 as st

LEASE_MS = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hosts:
    def __init__(self, tmp: Path, redis_url: str, prefix: str) -> None:
        self.tmp, self.redis_url, self.prefix = tmp, redis_url, prefix
        self.procs: dict[str, tuple[subprocess.Popen[bytes], str, Path]] = {}

    def spawn(self, name: str, env: dict[str, str] | None = None) -> str:
        port = free_port()
        log = self.tmp / f"host-{name}.log"
        args = [sys.executable, "-m", "host.cli", "serve", "--listen", f"127.0.0.1:{port}", "--redis-url",
                self.redis_url, "--prefix", self.prefix, "--server-name", "HV", "--host-lease-ms", str(LEASE_MS),
                "--put-timeout-seconds", "60", "--log-format", "json"]
        with open(log, "ab") as f:
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=f, env={**os.environ, **(env or {})},
                                 start_new_session=True)
        self.procs[name] = (p, f"127.0.0.1:{port}", log)
        wait_for(lambda: b"host serving" in log.read_bytes() or p.poll() is not None, timeout=30,
                 message=f"host {name} serving")
        assert p.poll() is None, log.read_text()
        return f"127.0.0.1:{port}"

    def kill(self, name: str) -> None:
        p = self.procs[name][0]
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def died(self, name: str) -> bool:
        return self.procs[name][0].poll() is not None

    def stop_all(self) -> None:
        for p, _, _ in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, _, _ in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


@contextlib.asynccontextmanager
async def pair(tmp: Path, redis_url: str, prefix: str, h1_env: dict[str, str] | None = None
               ) -> AsyncIterator[tuple[Hosts, Workers, WbemClient, WbemClient]]:
    """Hosts H1 (with h1_env) and H2, and H_A (LevelA) <- H_B (LevelB, holds Color=hold) <- static H_S."""
    hosts, workers = Hosts(tmp, redis_url, prefix), Workers(tmp, redis_url, prefix)
    clients: list[WbemClient] = []
    try:
        t1 = hosts.spawn("H1", h1_env)
        t2 = hosts.spawn("H2")
        c1, c2 = await WbemClient.connect(t1), await WbemClient.connect(t2)
        clients += [c1, c2]
        for n in ("LevelA", "LevelB"):
            await register(c2, n)
        workers.start("LevelA")
        workers.start("LevelB", hold_when="Color:hold")
        await c2.put_class(dynamic("H_A", "LevelA", prop("Id", "string", key=True), prop("Color", "string")))
        await c2.put_class(dynamic("H_B", "LevelB", prop("Shape", "string"), superclass="H_A"))
        await c2.put_class(wmi_class("H_S", prop("Id", "string", key=True)))
        await wait_live(c2, "LevelA", "LevelB")
        yield hosts, workers, c1, c2
    finally:
        (workers.data_dir / "LevelB.release").touch()
        for c in clients:
            with contextlib.suppress(Exception):
                await c.close()
        try:
            workers.stop_all()
        finally:
            hosts.stop_all()


async def stored_events(redis: Redis, prefix: str, handle: str) -> list[calls.SinkEvent]:
    entries = await redis.xrange(Keys(prefix).call_events(call_id(handle)))
    return [calls.SinkEvent.FromString(f[b"e"]) for _, f in entries]


async def assert_one_final(redis: Redis, prefix: str, handle: str) -> calls.SinkEvent:
    evs = await stored_events(redis, prefix, handle)
    finals = [e for e in evs if e.final]
    assert len(finals) == 1 and evs[-1].final, [e.WhichOneof("event") for e in evs]
    return finals[0]


@pytest.mark.timeout(120)
async def test_a_call_started_on_one_host_is_polled_reattached_and_cancelled_through_another(
        tmp_path, redis_url, key_prefix, redis):
    async with pair(tmp_path, redis_url, key_prefix) as (hosts, workers, c1, c2):
        release = workers.data_dir / "LevelB.release"
        # Semisynchronous on H1, polled on H2.
        semi = await c1.put_instance_semisync(instance("H_B", Id="s1", Color="hold"))
        assert await c2.call_result(semi.handle).get_call_status(0) is None
        assert await c2.call_result(semi.handle).get_call_status(300) is None
        # Asynchronous on H1: read up to level A's progress, then lose the connection.
        call = await c1.put_instance_async(instance("H_B", Id="a1", Color="hold"), WbemFlag.SEND_STATUS)
        it = call.__aiter__()
        assert (await it.__anext__()).HasField("accepted")
        p1 = await it.__anext__()
        assert p1.set_status.flags == st.WBEM_STATUS_PROGRESS and p1.set_status.current == 1
        await c1.close()
        # Re-attached on H2 after the last event seen: the rest, once each.
        again = await c2.attach_call(call.handle, after_sequence=p1.sequence)
        release.touch()
        rest = [e async for e in again]
        assert rest[0].HasField("accepted") and rest[0].accepted.operation == "PutInstanceAsync"
        assert [e.sequence for e in rest[1:]] == [p1.sequence + 1, p1.sequence + 2]
        assert rest[1].set_status.current == 2 and rest[2].final and rest[2].set_status.hresult == 0
        assert await c2.call_result(semi.handle).get_call_status(INFINITE) == (0, None)
        assert (await c2.call_result(semi.handle).get_result_string(0)).endswith('H_B.Id="s1"')
        for key in ("a1", "s1"):
            assert f'h_b.id="{key}"' in workers.items("LevelA") and f'h_b.id="{key}"' in workers.items("LevelB")
        await assert_one_final(redis, key_prefix, call.handle)

        # Cancelled through H2 while H1 waits on the held provider: H1 hears of it at once.
        release.unlink()
        c1 = await WbemClient.connect(hosts.procs["H1"][1])
        try:
            held = await c1.put_instance_async(instance("H_B", Id="x1", Color="hold"), WbemFlag.SEND_STATUS)
            it = held.__aiter__()
            await it.__anext__()
            assert (await it.__anext__()).set_status.current == 1  # level A prepared; B is holding
            start = time.monotonic()
            await c2.cancel_async_call(held.handle)
            done = await it.__anext__()
            assert time.monotonic() - start < 5, "the cancel reached the running host through pub/sub"
            assert done.final and done.set_status.error_object.hresult_name == "WBEM_E_CALL_CANCELLED"
        finally:
            await c1.close()
        release.touch()
        assert 'h_b.id="x1"' not in workers.items("LevelA")


# (scenario, failpoint on H1 or "" to kill it while the provider holds, the put, its Color, outcome,
#  how H2 ended the call, as its log says)
SCENARIOS = [
    ("held_prepare", "", "H_B", "hold", "WBEM_E_FAILED", "its transaction settled"),
    ("after_decision", "after_decision", "H_B", "blue", "ok", "its transaction settled"),
    ("before_repository_write", "call_committing", "H_S", "", "ok", "running it again"),
    ("before_final_event", "call_before_final", "H_S", "", "ok", "its write had applied"),
    ("before_final_event_of_a_class", "call_before_final", "class", "", "ok", "its write had applied"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario, failpoint_name, target, color, outcome, how", SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
async def test_a_call_whose_host_is_killed_is_ended_once_by_another_host(
        tmp_path, redis_url, key_prefix, redis, scenario, failpoint_name, target, color, outcome, how):
    env = {"WMIPUT_FAILPOINTS": failpoint_name} if failpoint_name else None
    async with pair(tmp_path, redis_url, key_prefix, env) as (hosts, workers, c1, c2):
        if target == "class":
            call = await c1.put_class_async(wmi_class("H_New", prop("Id", "string", key=True)), WbemFlag.CREATE_ONLY)
        elif target == "H_S":
            call = await c1.put_instance_async(instance("H_S", Id="k1"), WbemFlag.CREATE_ONLY)
        else:
            call = await c1.put_instance_async(instance("H_B", Id="k1", Color=color), WbemFlag.CREATE_ONLY)
        if failpoint_name:
            wait_for(lambda: hosts.died("H1"), timeout=30, message="H1 killed by its failpoint")
        else:
            await async_wait_for(lambda: _prepared(workers, "LevelB"), timeout=30, message="B holds its prepare")
            hosts.kill("H1")
        # H2 adopts the call once H1's lease lapses; the client re-attaches there.
        again = await c2.attach_call(call.handle, after_sequence=0)
        evs = [e async for e in again]
        done = evs[-1]
        assert done.final and sum(e.final for e in evs) == 1
        (workers.data_dir / "LevelB.release").touch()
        final = await assert_one_final(redis, key_prefix, call.handle)
        assert final.set_status == done.set_status, "the final event streamed is the one stored"
        if outcome == "ok":
            assert done.set_status.hresult == 0, done.set_status.error_object
            if target == "class":
                assert done.set_status.str_param.endswith(":H_New")
                assert (await c2.get_object("H_New")).class_name == "H_New"
            elif target == "H_S":
                assert (await c2.get_object('H_S.Id="k1"')).class_name == "H_S"
                # CREATE_ONLY: a second application would have failed; the receipt or the re-run made it once
            else:
                assert 'h_b.id="k1"' in workers.items("LevelA") and 'h_b.id="k1"' in workers.items("LevelB")
        else:
            assert done.set_status.error_object.hresult_name == outcome
            await async_wait_for(lambda: _no_staged(workers), timeout=30, message="aborted everywhere")
            assert 'h_b.id="k1"' not in workers.items("LevelA") and 'h_b.id="k1"' not in workers.items("LevelB")
        with pytest.raises(WbemError) as e:
            await c2.cancel_async_call(call.handle)
        assert e.value.name == "WBEM_E_INVALID_OPERATION"
        assert f"adopted call: {how}" in hosts.procs["H2"][2].read_text()


async def _prepared(workers: Workers, name: str) -> bool:
    return any(c[2] == "prepare" for c in workers.calls(name))


async def _no_staged(workers: Workers) -> bool:
    import sqlite3
    for n in ("LevelA", "LevelB"):
        c = sqlite3.connect(workers.data_dir / f"{n}.sqlite")
        try:
            if c.execute("SELECT COUNT(*) FROM staged").fetchone()[0]:
                return False
        finally:
            c.close()
    return True
