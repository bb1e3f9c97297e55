"""Nodes on one machine: network namespaces on a private bridge, and the processes inside them.

    root namespace: bridge wmb<id> 10.213.X.1/24 (the test process, the clients)
        |-- veth wm<id><node> <-> wn<id><node> in netns wmn-<id>-<node>   10.213.X.<n>/24
        ...

Every name carries a per-run id, so two runs never touch each other's interfaces; everything
made is recorded and removed by `Net.destroy()` (processes first, then veths, namespaces, the
bridge), which the test calls in a `finally`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

IP_TIMEOUT_S = 10  # one `ip` command


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def unavailable_reason() -> str | None:
    """Why this machine cannot run the multi-node test, or None: root, `ip`, and a namespace with a
    veth pair in it that a process can be run in."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (ip netns, veth pairs, a bridge)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    tag = secrets.token_hex(3)
    probe, veth = f"wmprobe-{tag}", f"wmp{tag}"
    try:
        for args in (["netns", "add", probe], ["link", "add", veth, "type", "veth", "peer", "name", f"{veth}x"],
                     ["link", "set", f"{veth}x", "netns", probe], ["netns", "exec", probe, "ip", "link"]):
            r = ip(*args, check=False)
            if r.returncode != 0:
                return f"`ip {' '.join(args)}` is not available here: {r.stderr.strip()}"
        return None
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`ip` failed: {e!r}"
    finally:
        with contextlib.suppress(Exception):
            ip("link", "del", veth, check=False)
            ip("netns", "del", probe, check=False)


def used_networks() -> list[ipaddress.IPv4Network]:
    nets = []
    for line in ip("-4", "-o", "addr", "show").stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    for line in ip("-4", "route", "show", "table", "all").stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unicast", "throw", "unreachable", "prohibit", "blackhole"):
            word = line.split()[1]
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.ip_network(word if word != "default" else "0.0.0.0/32", strict=False))
    return nets


def free_subnet() -> ipaddress.IPv4Network:
    """A 10.213.X.0/24 that no address or route of this machine overlaps."""
    used = [n for n in used_networks() if n.prefixlen > 0]
    candidates = list(range(256))
    secrets.SystemRandom().shuffle(candidates)
    for x in candidates:
        net = ipaddress.ip_network(f"10.213.{x}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 10.213.X.0/24 subnet")


@dataclass
class Node:
    name: str  # short: r, h1, w1 ... (part of interface names)
    netns: str
    ip: str
    veth_root: str  # the end on the bridge: `cut` sets it down
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)


class Net:
    def __init__(self) -> None:
        self.id = secrets.token_hex(3)  # per run: every name below carries it
        self.subnet = free_subnet()
        self.bridge = f"wmb{self.id}"
        self.gateway = str(self.subnet.network_address + 1)
        self.nodes: dict[str, Node] = {}
        self._bridge_made = False

    def create(self, nodes: dict[str, int]) -> None:
        """The bridge, and per node a namespace and a veth pair with address <subnet>.<n>."""
        ip("link", "add", self.bridge, "type", "bridge")
        self._bridge_made = True
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for name, n in nodes.items():
            assert len(f"wm{self.id}{name}") <= 15
            node = Node(name, f"wmn-{self.id}-{name}", str(self.subnet.network_address + n),
                        f"wm{self.id}{name}")
            peer = f"wn{self.id}{name}"
            ip("netns", "add", node.netns)
            self.nodes[name] = node
            ip("link", "add", node.veth_root, "type", "veth", "peer", "name", peer)
            ip("link", "set", peer, "netns", node.netns)
            ip("link", "set", node.veth_root, "master", self.bridge, "up")
            ip("-n", node.netns, "addr", "add", f"{node.ip}/24", "dev", peer)
            ip("-n", node.netns, "link", "set", peer, "up")
            ip("-n", node.netns, "link", "set", "lo", "up")

    def cut(self, name: str) -> None:
        ip("link", "set", self.nodes[name].veth_root, "down")

    def heal(self, name: str) -> None:
        ip("link", "set", self.nodes[name].veth_root, "up")

    # -- processes

    def spawn(self, name: str, label: str, args: list[str], env: dict[str, str], log: Path
              ) -> subprocess.Popen[bytes]:
        """`args` inside node `name`'s namespace, in a process group of its own, logging to `log`."""
        node = self.nodes[name]
        with open(log, "ab") as f:
            p = subprocess.Popen(["ip", "netns", "exec", node.netns, *args], stdin=subprocess.DEVNULL,
                                 stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        node.procs.append((label, p, log))
        return p

    @staticmethod
    def kill(p: subprocess.Popen[bytes]) -> None:
        """kill -9 of the process group."""
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def stop_all(self, grace_s: float = 8) -> None:
        """SIGTERM to every process group still running, then SIGKILL whoever is left."""
        procs = [p for node in self.nodes.values() for _, p, _ in node.procs if p.poll() is None]
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for node in self.nodes.values():
            for _, p, _ in node.procs:
                if p.poll() is None:
                    self.kill(p)
                # a process group outlives its leader if a child is left: make sure
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)

    def destroy(self) -> list[str]:
        """Stop every process and remove every veth, namespace and the bridge. Returns what could not
        be removed (empty when all is gone)."""
        problems = []
        try:
            self.stop_all()
        except Exception as e:  # noqa: BLE001 - go on removing the network
            problems.append(f"stopping processes: {e!r}")
        for node in self.nodes.values():
            ip("link", "del", node.veth_root, check=False)  # removes its peer in the namespace too
            ip("netns", "del", node.netns, check=False)
        if self._bridge_made:
            ip("link", "del", self.bridge, check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = self.leftovers()
            if not left:
                break
            time.sleep(0.1)
        problems += self.leftovers()
        return problems

    def leftovers(self) -> list[str]:
        links = ip("-o", "link", "show").stdout
        netns = ip("netns", "list").stdout
        return ([f"link {w}" for w in links.split() if self.id in w and w.rstrip(":@").startswith(("wm", "wn"))]
                + [f"netns {line.split()[0]}" for line in netns.splitlines() if self.id in line])
