"""The bundled example providers, and what `wmiput serve --example-providers` sets up with them:

    Example_Asset [Dynamic, Provider("Inventory")]      AssetTag (key), Owner, Location
      Example_Share [Dynamic, Provider("DiskQuota")]    Path, LimitMB

A put of an Example_Share goes to Inventory (SQLite) first, then to DiskQuota (which checks the
directory and the free space), and lands in both or in neither.
"""

from __future__ import annotations

import sys

from host.client import WbemClient, instance, prop, qualifier, wmi_class

PROVIDERS = {
    "Inventory": "workers.examples.inventory:InventoryProvider",
    "DiskQuota": "workers.examples.quota:DiskQuotaProvider",
}


def _dynamic(provider: str) -> list:
    return [qualifier("Dynamic", True, 0x1 | 0x2), qualifier("Provider", provider, 0)]


CLASSES = [
    wmi_class("Example_Asset", prop("AssetTag", "string", key=True), prop("Owner", "string"),
              prop("Location", "string"), qualifiers=_dynamic("Inventory")),
    wmi_class("Example_Share", prop("Path", "string"), prop("LimitMB", "uint32"), superclass="Example_Asset",
              qualifiers=_dynamic("DiskQuota")),
]


async def install(client: WbemClient, namespace: str = "root\\cimv2") -> None:
    """Register the example providers and put their classes (idempotent)."""
    for name in PROVIDERS:
        await client.put_instance(instance("__Win32Provider", Name=name, HostingModel="Decoupled:Com"),
                                  namespace=namespace)
        await client.put_instance(instance("__InstanceProviderRegistration", provider=f'__Win32Provider.Name="{name}"',
                                           SupportsPut=True), namespace=namespace)
    for c in CLASSES:
        await client.put_class(c, namespace=namespace)


def worker_argv(redis_url: str, prefix: str, namespace: str, data_dir: str) -> list[list[str]]:
    """One worker process per example provider."""
    return [[sys.executable, "-m", "host.cli", "worker", "--provider", spec, "--redis-url", redis_url,
             "--prefix", prefix, "--namespace", namespace, "--option", f"data_dir={data_dir}",
             "--option", f"name={name}"] for name, spec in PROVIDERS.items()]
