"""SIGTERM, not kill -9: a host stops taking calls, lets those in flight finish within its grace
period, hands the rest to another host and exits 0; a worker finishes the task in hand and leaves
its consumer group. Host and worker processes on one Redis."""

from __future__ import annotations

import signal
import time

import pytest

from host.client import WbemError, WbemFlag, final_hresult, instance
from host.repository.keys import WORKER_GROUP, Keys
from tests.faults.test_call_handover import _no_staged, _prepared, pair
from tests.helpers import async_wait_for, wait_for


async def test_a_host_told_to_stop_hands_a_call_it_cannot_finish_to_another_host(tmp_path, redis_url, key_prefix):
    async with pair(tmp_path, redis_url, key_prefix) as (hosts, workers, c1, c2):
        call = await c1.put_instance_async(instance("H_B", Id="d1", Color="hold"), WbemFlag.CREATE_ONLY)
        await async_wait_for(lambda: _prepared(workers, "LevelB"), timeout=30, message="B holds its prepare")
        h1 = hosts.procs["H1"][0]
        h1.send_signal(signal.SIGTERM)
        told = time.monotonic()
        # While it drains, H1 refuses new calls with WBEM_E_SHUTTING_DOWN (or is gone already).
        with pytest.raises(WbemError) as e:
            await c1.put_instance(instance("H_S", Id="late"))
        assert e.value.name in ("WBEM_E_SHUTTING_DOWN", "WBEM_E_TRANSPORT_FAILURE")
        # Its grace period passes with the call still held: it exits 0, leaving the call.
        wait_for(lambda: h1.poll() is not None, timeout=40, message="H1 exits after its grace period")
        assert h1.returncode == 0, hosts.procs["H1"][2].read_text()[-2000:]
        # One grace period (10 s by default), not two: the event stream H1 served for the call
        # ended with WBEM_E_SHUTTING_DOWN instead of holding H1 up.
        assert time.monotonic() - told < 10 + 5
        log = hosts.procs["H1"][2].read_text()
        assert "calls still running are left to other hosts" in log
        # H2 adopts it at once (H1 gave up its lease on the way out) and ends it once. Its
        # transaction was undecided (a prepare held), so it is presumed aborted: not applied
        # anywhere, and the client is told so (a put not yet at an irreversible step would have
        # been run again by H2 instead).
        (workers.data_dir / "LevelB.release").touch()
        again = await c2.attach_call(call.handle, after_sequence=0)
        events = [ev async for ev in again]
        assert sum(ev.final for ev in events) == 1
        err = events[-1].set_status.error_object
        assert err.hresult_name == "WBEM_E_FAILED" and "stopped before it was decided" in err.description, err
        await async_wait_for(lambda: _no_staged(workers), timeout=30, message="aborted everywhere")
        assert 'h_b.id="d1"' not in workers.items("LevelA") and 'h_b.id="d1"' not in workers.items("LevelB")
        # And the client, told the put did not happen, can simply put it again.
        assert (await c2.put_instance(instance("H_B", Id="d1", Color="red"), WbemFlag.CREATE_ONLY)).relpath


async def test_a_worker_told_to_stop_finishes_its_task_and_leaves_its_group(tmp_path, redis_url, key_prefix, redis):
    async with pair(tmp_path, redis_url, key_prefix) as (hosts, workers, c1, c2):
        call = await c2.put_instance_async(instance("H_B", Id="w1", Color="hold"), WbemFlag.CREATE_ONLY)
        await async_wait_for(lambda: _prepared(workers, "LevelB"), timeout=30, message="B holds its prepare")
        proc = next(p for name, p in workers.procs if name == "LevelB")
        stream = Keys(key_prefix).tasks("root\\cimv2", "LevelB")

        async def members() -> list[dict]:
            return await redis.xinfo_consumers(stream, WORKER_GROUP)
        assert len(await members()) == 1
        proc.send_signal(signal.SIGTERM)
        (workers.data_dir / "LevelB.release").touch()  # the task in hand can finish now
        wait_for(lambda: proc.poll() is not None, timeout=30, message="the worker exits")
        assert proc.returncode == 0
        assert await members() == [], "the worker left its consumer group"
        assert (await redis.xpending(stream, WORKER_GROUP))["pending"] == 0
        # The put it was working on: its prepare was answered; the commit goes to a worker of
        # LevelB when there is one again. Start one, and the call ends applied.
        workers.start("LevelB")
        done = await call.wait()
        assert final_hresult(done) == 0, done
        assert 'h_b.id="w1"' in workers.items("LevelB")
