"""Who may do what in a namespace: the stored descriptors, a short cache of them, and the checks.

Descriptors live in Redis (keys P:{meta}:security and its version hash), so every host applies
the same ones. Each host keeps a copy for `cache_ms` (default 1 s): a check costs no round trip,
a host sees its own changes at once and other hosts' within that time.

With no authentication configured every caller is "anonymous" on loopback and holds every right,
so the checks cost nothing; descriptors can still be read and set, and apply once callers
authenticate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from host import logs
from host.access import rights
from host.access.rights import Level, Right
from host.errors import WbemError
from host.model import paths
from host.redis_scripts import Script, source
from host.repository.keys import Keys
from wmiput.v1 import security_pb2 as sec

log = logs.get("wmiput.access")

# Per C11 (reference §13) we take MS-WMI's reading: authenticated users get Enable, Execute
# Methods and Full Write, and Provider Write, which every source grants them. Remote Enable too,
# because every call reaches the host over the network: without it nobody but an administrator
# could call at all. Operators narrow it with --default-rights or by setting root's descriptor.
DEFAULT_RIGHTS = (Right.ENABLE | Right.METHOD_EXECUTE | Right.FULL_WRITE_REP | Right.WRITE_PROVIDER
                  | Right.REMOTE_ACCESS)


def default_root(mask: int) -> sec.NamespaceSecurity:
    return sec.NamespaceSecurity(entries=[sec.AccessEntry(
        trustee=rights.AUTHENTICATED_USERS, ace_type=sec.ACE_TYPE_ACCESS_ALLOWED, access_mask=mask, inherit=True)])


@dataclass(frozen=True)
class AccessSettings:
    enabled: bool = False  # callers authenticate: descriptors apply
    admins: frozenset[str] = frozenset()
    default_rights: int = int(DEFAULT_RIGHTS)
    cache_ms: int = 1000


class NamespaceAccess:
    def __init__(self, redis: Redis, keys: Keys, settings: AccessSettings) -> None:
        self.redis = redis
        self.keys = keys
        self.s = settings
        self._set = Script(redis, source("host.access", "set_security"))
        self._table: dict[str, tuple[sec.NamespaceSecurity | None, int]] = {}  # ns (lower) -> (own descriptor, version)
        self._loaded_at = -1e9
        self._reading: asyncio.Future[None] | None = None
        self._memo: dict[tuple[str, str], int] = {}  # (principal, ns lower) -> rights, for this table

    @property
    def enabled(self) -> bool:
        return self.s.enabled

    def is_admin(self, principal: str) -> bool:
        return not self.s.enabled or principal in self.s.admins

    # -- checks

    async def rights(self, principal: str, namespace: str) -> int:
        """The rights `principal` holds in `namespace` (normalized text, e.g. 'root\\cimv2')."""
        if self.is_admin(principal):
            return int(rights.ALL)
        await self._fresh()
        key = (principal, namespace.lower())
        held = self._memo.get(key)
        if held is None:
            held = rights.rights_of(principal, True, self._chain(namespace))
            if len(self._memo) < 65536:
                self._memo[key] = held
        return held

    async def require(self, principal: str, namespace: str, need: int, operation: str, what: str = "") -> None:
        """WBEM_E_ACCESS_DENIED unless `principal` holds `need` in `namespace`."""
        if self.is_admin(principal):
            return
        held = await self.rights(principal, namespace)
        if not rights.holds(held, need):
            lacking = rights.missing(held, need)
            raise WbemError("WBEM_E_ACCESS_DENIED",
                            f"{principal} lacks {rights.describe(lacking)} on namespace {namespace}"
                            + (f" ({what})" if what else ""), operation=operation, parameter_info=namespace)

    # -- the descriptors

    async def get(self, namespace: str) -> tuple[sec.NamespaceSecurity, int, list[sec.InheritedEntry]]:
        """A namespace's own descriptor, its version and the entries it inherits (read fresh)."""
        await self._load()
        chain = self._chain(namespace)
        own = chain[0].security or sec.NamespaceSecurity()
        inherited = [sec.InheritedEntry(entry=e, from_namespace=ns)
                     for e, ns in rights.effective_entries([Level(chain[0].namespace, None), *chain[1:]])
                     ] if not own.protected else []
        return own, self._table.get(namespace.lower(), (None, 0))[1], inherited

    async def set(self, namespace: str, sd: sec.NamespaceSecurity, expected_version: int | None,
                  operation: str) -> int:
        rights.check_descriptor(sd, operation)
        ok, version = await self._set(keys=[self.keys.security, self.keys.security_versions],
                                      args=[namespace.lower(), sd.SerializeToString(deterministic=True) or b"\0",
                                            "" if expected_version is None else expected_version])
        if not ok:
            raise WbemError("WBEM_E_INVALID_OPERATION", f"the security of {namespace} changed meanwhile (version "
                            f"{version}, not {expected_version}); read it again and retry",
                            parameter_info="expected_version", operation=operation)
        self._loaded_at = -1e9  # this host sees its own change at once
        return int(version)

    # -- the cache

    def _chain(self, namespace: str) -> list[Level]:
        parts = paths.split_namespace(namespace)
        out = []
        for n in range(len(parts), 0, -1):
            ns = paths.join_namespace(parts[:n])
            hit = self._table.get(ns.lower())
            sd = hit[0] if hit is not None else None
            if sd is None and n == 1 and ns.lower() == "root":
                sd = default_root(self.s.default_rights)
            out.append(Level(ns, sd))
        return out

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at >= self.s.cache_ms / 1000:
            await self._load()

    async def _load(self) -> None:
        """Read every descriptor; concurrent callers share one read."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read())

            def done(_: asyncio.Future[None]) -> None:
                self._reading = None
            self._reading.add_done_callback(done)
        await asyncio.shield(self._reading)

    async def _read(self) -> None:
        started = time.monotonic()
        async with self.redis.pipeline(transaction=True) as p:
            p.hgetall(self.keys.security)
            p.hgetall(self.keys.security_versions)
            raw, versions = await p.execute()
        table: dict[str, tuple[sec.NamespaceSecurity | None, int]] = {}
        for k, v in raw.items():
            sd = sec.NamespaceSecurity.FromString(v) if v != b"\0" else sec.NamespaceSecurity()
            table[k.decode()] = (sd, int(versions.get(k, 0)))
        for k, v in versions.items():  # removed descriptors keep their version
            table.setdefault(k.decode(), (None, int(v)))
        self._table = table
        self._memo = {}
        self._loaded_at = started
