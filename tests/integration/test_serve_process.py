"""`wmiput serve` as a real process: the embedded Redis, persistence across restarts, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from host.client import WbemClient, instance, prop, to_dict, wmi_class
from host.redis_server import pid_alive
from tests.helpers import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log = data_dir / "host.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, WMIPUT_DATA_DIR=str(self.data_dir / "data"), WMIPUT_LOG_FORMAT="json")
        env.pop("WMIPUT_REDIS_URL", None)
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host.cli", "serve", "--listen", self.target, "--server-name", "SRV"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"), start_new_session=True)
        wait_for(lambda: b"host serving" in self.log.read_bytes()[offset:] or self.proc.poll() is not None, timeout=30)
        assert self.proc.poll() is None, self.log.read_text()

    def redis_pid(self) -> int:
        return int((self.data_dir / "data" / "redis" / "redis.pid").read_text())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


@pytest.fixture
def served(tmp_path: Path):
    s = Served(tmp_path)
    yield s
    if s.proc is not None and s.proc.poll() is None:
        os.killpg(s.proc.pid, signal.SIGKILL)
        s.proc.wait(10)
    pidfile = tmp_path / "data" / "redis" / "redis.pid"
    if pidfile.exists() and pid_alive(int(pidfile.read_text())):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


async def test_serve_starts_an_embedded_redis_and_keeps_data_across_a_restart(served: Served):
    served.start()
    redis_pid = served.redis_pid()
    async with await WbemClient.connect(served.target) as c:
        await c.put_class(wmi_class("Vendor_Disk", prop("Id", "string", key=True), prop("SizeMB", "uint32", 0)))
        res = await c.put_instance(instance("Vendor_Disk", Id="d1", SizeMB=512))
    assert res.path == '\\\\SRV\\root\\cimv2:Vendor_Disk.Id="d1"'
    assert served.stop() == 0
    wait_for(lambda: not pid_alive(redis_pid), timeout=15, message="embedded redis stopped with the host")

    served.start()
    async with await WbemClient.connect(served.target) as c:
        got = to_dict(await c.get_object('Vendor_Disk.Id="d1"'))
    assert got["SizeMB"] == 512
    assert served.stop() == 0


async def test_serve_answers_health_and_reflection_and_logs_one_json_line_per_call(served: Served):
    served.start()
    async with grpc.aio.insecure_channel(served.target) as ch:
        for svc in ("", "wmiput.v1.WbemService"):
            r = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=svc), timeout=10)
            assert r.status == health_pb2.HealthCheckResponse.SERVING
    async with await WbemClient.connect(served.target) as c:
        await c.put_class(wmi_class("Vendor_Logged", prop("Id", "string", key=True)))
    served.stop()

    events = [json.loads(line) for line in served.log.read_text().splitlines() if line.startswith("{")]
    calls = [e for e in events if e["event"] == "call"]
    assert [(e["op"], e["hresult"]) for e in calls] == [("PutClass", "WBEM_S_NO_ERROR")]
    assert any("loopback" in e.get("security", "") for e in events)


async def test_sigterm_lets_an_in_flight_enumeration_finish(served: Served):
    served.start()
    async with await WbemClient.connect(served.target) as c:
        await c.put_class(wmi_class("Vendor_Many", prop("Id", "uint32", key=True)))
        await asyncio.gather(*(c.put_instance(instance("Vendor_Many", Id=i)) for i in range(300)))
        stream = c.enum_instances("Vendor_Many")
        first = await stream.__anext__()  # the call is in flight on the server
        served.proc.send_signal(signal.SIGTERM)
        rest = [o async for o in stream]
    assert 1 + len(rest) == 300 and first.class_name == "Vendor_Many"
    assert served.stop() == 0
