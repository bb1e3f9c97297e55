"""Real provider worker processes for tests: start, register, inspect, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from host.client import WbemClient, instance, prop, qualifier, wmi_class
from host.redis_server import pid_alive
from tests.helpers import async_wait_for
from workers.examples.inventory import read_calls, read_items

INVENTORY = "workers.examples.inventory:InventoryProvider"


class Workers:
    """Worker processes (one per provider and replica), logging into `tmp`."""

    def __init__(self, tmp: Path, redis_url: str, prefix: str, namespace: str = "root\\cimv2") -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.prefix = prefix
        self.namespace = namespace
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.data_dir = tmp / "providers"

    def start(self, name: str, *, provider: str = INVENTORY, env: dict[str, str] | None = None,
              claim_idle_ms: int = 1500, **options: str) -> subprocess.Popen[bytes]:
        opts = {"name": name, "data_dir": str(self.data_dir), **options}
        args = [sys.executable, "-m", "host.cli", "worker", "--provider", provider, "--redis-url", self.redis_url,
                "--prefix", self.prefix, "--namespace", self.namespace, "--log-format", "json",
                "--claim-idle-ms", str(claim_idle_ms)]
        for k, v in opts.items():
            args += ["--option", f"{k}={v}"]
        log = open(self.tmp / f"worker-{name}-{len(self.procs)}.log", "ab")  # noqa: SIM115 - kept by the process
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **(env or {})},
                             start_new_session=True)
        log.close()
        self.procs.append((name, p))
        return p

    def kill(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def stop_all(self) -> None:
        for _, p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        assert all(not pid_alive(p.pid) for _, p in self.procs)

    def items(self, name: str) -> dict[str, dict[str, Any]]:
        return read_items(self.data_dir / f"{name}.sqlite")

    def calls(self, name: str) -> list[tuple[str, int, str, str, int]]:
        return read_calls(self.data_dir / f"{name}.sqlite")


async def register(client: WbemClient, name: str, *, supports_put: bool = True, namespace: str | None = None) -> None:
    """__Win32Provider and __InstanceProviderRegistration, as a provider MOF declares them."""
    await client.put_instance(instance("__Win32Provider", Name=name, HostingModel="Decoupled:Com"),
                              namespace=namespace)
    await client.put_instance(instance("__InstanceProviderRegistration", provider=f'__Win32Provider.Name="{name}"',
                                       SupportsPut=supports_put, SupportsGet=True), namespace=namespace)


def dynamic(name: str, provider: str, *props: Any, superclass: str = "") -> Any:
    return wmi_class(name, *props, superclass=superclass,
                     qualifiers=[qualifier("Dynamic", True, 0x1 | 0x2), qualifier("Provider", provider, 0)])


async def wait_live(client: WbemClient, *names: str, namespace: str | None = None) -> None:
    async def live() -> bool:
        from wmiput.v1 import services_pb2 as api
        r = await client.stub.ListProviders(api.ListProvidersRequest(namespace=namespace or client.namespace))
        up = {p.name for p in r.providers if p.workers}
        return set(names) <= up
    await async_wait_for(live, timeout=30, message=f"workers of {names} alive")


__all__ = ["INVENTORY", "Workers", "dynamic", "prop", "register", "wait_live"]
