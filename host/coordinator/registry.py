"""Provider registrations, the WMI way: a Dynamic class names its provider with the Provider
qualifier; the provider is a __Win32Provider instance; an __InstanceProviderRegistration pointing
at it says what it supports (SupportsPut). Live workers come from their heartbeats."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis

from host.errors import WbemError
from host.model import classes, paths, values
from host.model.classes import Schema
from host.repository.keys import WORKER_GROUP, Keys
from host.repository.store import Repository
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import services_pb2 as api

CACHE_SECONDS = 1.0  # registrations are read at most this often per namespace


@dataclass(frozen=True)
class Level:
    """One class of a derivation and who serves it: the repository (provider "") or a provider."""

    level: int
    class_name: str
    provider: str = ""


@dataclass
class Registration:
    name: str
    hosting_model: str = ""
    registered: bool = False  # an __InstanceProviderRegistration exists
    supports: dict[str, bool] = field(default_factory=dict)


class ProviderRegistry:
    def __init__(self, repo: Repository, redis: Redis, keys: Keys, *, worker_ttl_ms: int = 10_000) -> None:
        self.repo = repo
        self.redis = redis
        self.keys = keys
        self.worker_ttl_ms = worker_ttl_ms
        self._cache: dict[str, tuple[float, dict[str, Registration]]] = {}
        self._reading: dict[str, asyncio.Future[dict[str, Registration]]] = {}

    async def registrations(self, ns: str) -> dict[str, Registration]:
        """Provider name (lower-case) -> registration, from the namespace's static instances."""
        hit = self._cache.get(ns.lower())
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        # One read per namespace at a time: the puts that find the cache stale together share it.
        key = ns.lower()
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._read_registrations(ns))

            def settle(f: asyncio.Future[dict[str, Registration]]) -> None:
                if self._reading.get(key) is f:  # not forgotten meanwhile: its result is current
                    del self._reading[key]
                    if not f.cancelled() and f.exception() is None:
                        self._cache[key] = (time.monotonic(), f.result())
            reading.add_done_callback(settle)
        return await asyncio.shield(reading)

    async def _read_registrations(self, ns: str) -> dict[str, Registration]:
        regs: dict[str, Registration] = {}
        async for o in self.repo.enum_instances(ns, "__Win32Provider", 0):
            v = _values(o)
            regs[str(v["name"]).lower()] = Registration(str(v["name"]), str(v.get("hostingmodel") or ""))
        async for o in self.repo.enum_instances(ns, "__InstanceProviderRegistration", 0):
            v = _values(o)
            try:
                target = paths.parse_path(str(v.get("provider") or ""))
            except paths.PathError:
                continue
            name = next((str(val) for _k, val in target.keys), "")
            reg = regs.get(name.lower())
            if reg is not None:
                reg.registered = True
                reg.supports = {k: bool(v.get(k.lower())) for k in
                                ("SupportsPut", "SupportsGet", "SupportsDelete", "SupportsEnumeration")}
        return regs

    @staticmethod
    def chain_levels(schema: Schema, class_name: str) -> list[Level]:
        """Who serves each class of the derivation, topmost first, as the schema says."""
        out: list[Level] = []
        for i, c in enumerate(schema.chain(class_name)):
            eff = schema.effective(c.class_name)
            if not classes.is_dynamic(eff):
                out.append(Level(i, c.class_name))
                continue
            name = classes.qualifier_string(eff.qualifiers, "provider")
            if not name:
                raise WbemError("WBEM_E_INVALID_PROVIDER_REGISTRATION", f"{c.class_name} is Dynamic but has no "
                                "Provider qualifier", parameter_info=c.class_name, operation="PutInstance")
            out.append(Level(i, c.class_name, name))
        return out

    async def levels(self, ns: str, schema: Schema, class_name: str,
                     heartbeats: dict[str, dict[bytes, bytes]] | None = None) -> list[Level]:
        """chain_levels, checked for a put: registered, SupportsPut, a live worker. `heartbeats`:
        worker hashes already read, by provider name (lower-case)."""
        out = self.chain_levels(schema, class_name)
        if any(lv.provider for lv in out):
            await self.check_put(ns, {lv.provider for lv in out if lv.provider}, heartbeats=heartbeats)
        return out

    def forget(self, ns: str) -> None:
        """Drop the cached registrations (a registration object was just written)."""
        self._cache.pop(ns.lower(), None)
        self._reading.pop(ns.lower(), None)  # a read under way may predate the write

    async def check_put(self, ns: str, providers: set[str], *, fresh: bool = False,
                        heartbeats: dict[str, dict[bytes, bytes]] | None = None) -> None:
        if fresh:
            self.forget(ns)
        regs = await self.registrations(ns)
        for name in sorted(providers):
            reg = regs.get(name.lower())
            if not fresh and (reg is None or not reg.registered or not reg.supports.get("SupportsPut")):
                return await self.check_put(ns, providers, fresh=True, heartbeats=heartbeats)  # maybe registered a moment ago
            reg = regs.get(name.lower())
            if reg is None:
                raise WbemError("WBEM_E_PROVIDER_NOT_FOUND", f"no __Win32Provider named {name!r} is registered in "
                                f"{ns}", parameter_info=name, operation="PutInstance")
            if not reg.registered or not reg.supports.get("SupportsPut"):
                raise WbemError("WBEM_E_PROVIDER_NOT_CAPABLE", f"provider {name} is not registered with "
                                "SupportsPut = TRUE (__InstanceProviderRegistration)", parameter_info=name,
                                provider_name=name, operation="PutInstance")
        names = sorted(providers)
        known = heartbeats or {}
        if any(n.lower() not in known for n in names):
            async with self.redis.pipeline(transaction=False) as p:  # every level's workers in one round trip
                for name in names:
                    p.hgetall(self.keys.workers(ns, name))
                beats = await p.execute()
        else:
            beats = [known[n.lower()] for n in names]
        for name, raw in zip(names, beats, strict=True):
            if not self._live(raw):
                raise WbemError("WBEM_E_PROVIDER_LOAD_FAILURE", f"provider {name} has no live worker serving "
                                f"{ns}", parameter_info=name, provider_name=name, operation="PutInstance")

    async def live_workers(self, ns: str, provider: str) -> list[api.WorkerInfo]:
        return self._live(await self.redis.hgetall(self.keys.workers(ns, provider)))

    def _live(self, heartbeats: dict[bytes, bytes]) -> list[api.WorkerInfo]:
        """The workers of a heartbeat hash whose last beat is recent."""
        now = time.time() * 1000
        out = []
        for wid, raw in heartbeats.items():
            beat = json.loads(raw)
            if now - beat["last_seen_unix_ms"] <= self.worker_ttl_ms:
                out.append(api.WorkerInfo(worker_id=wid.decode(), hostname=beat.get("hostname", ""),
                                          pid=beat.get("pid", 0), last_seen_unix_ms=beat["last_seen_unix_ms"]))
        return sorted(out, key=lambda w: w.worker_id)

    async def describe(self, ns: str, schema: Schema, *, fresh: bool = True) -> list[api.ProviderInfo]:
        """Registered providers with their classes, live workers and stream backlog. `fresh`: read
        the registrations again (ListProviders); the metrics census keeps the cache the puts use."""
        if fresh:
            self._cache.pop(ns.lower(), None)
        regs = await self.registrations(ns)
        served: dict[str, list[str]] = {}
        for name in schema.classes:
            eff = schema.effective(name)
            if classes.is_dynamic(eff):
                p = classes.qualifier_string(eff.qualifiers, "provider") or ""
                served.setdefault(p.lower(), []).append(eff.class_name)
        out = []
        for key, reg in sorted(regs.items()):
            stream = self.keys.tasks(ns, reg.name)
            info = api.ProviderInfo(
                name=reg.name, namespace=ns, hosting_model=reg.hosting_model,
                supports_put=reg.supports.get("SupportsPut", False), supports_get=reg.supports.get("SupportsGet", False),
                supports_delete=reg.supports.get("SupportsDelete", False),
                supports_enumeration=reg.supports.get("SupportsEnumeration", False),
                classes=sorted(served.get(key, [])), workers=await self.live_workers(ns, reg.name),
                backlog=await self.redis.xlen(stream))
            try:
                pending = await self.redis.xpending(stream, WORKER_GROUP)
            except Exception:  # noqa: BLE001 - no group yet: nothing pending
                pending = {"pending": 0, "min": None}
            info.pending = int(pending.get("pending") or 0)
            if info.pending and info.workers:
                await self._in_flight(stream, info.workers)
            if pending.get("min"):
                oldest = int(pending["min"].decode().split("-")[0])
                info.oldest_pending_ms = max(0, int(time.time() * 1000) - oldest)
            out.append(info)
        return out

    async def _in_flight(self, stream: str, workers: list[api.WorkerInfo]) -> None:
        """Each worker's tasks delivered and not yet acknowledged: its consumer's pending count
        (a worker's consumer name is its id)."""
        try:
            consumers = await self.redis.xinfo_consumers(stream, WORKER_GROUP)
        except Exception:  # noqa: BLE001 - no group: nothing in flight
            return
        pending = {_text(c.get("name")): int(c.get("pending") or 0) for c in consumers}
        for w in workers:
            w.tasks_in_flight = pending.get(w.worker_id, 0)


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _values(o: pb.WbemObject) -> dict[str, object]:
    return {p.name.lower(): values.to_python(p.value) if p.HasField("value") else None for p in o.properties}
