"""Every Redis key name the repository uses, in one place.

Layout, with P the configured prefix (default "wmiput") and every name lower-case:

    P:{meta}:namespaces              hash   namespace -> display name
    P:{meta}:layout                  hash   layout facts (bucket count), checked at start-up
    P:{s|<ns>}:classes               hash   class -> local class definition (WbemObject bytes)
    P:{s|<ns>}:version               string schema version, bumped by every class change
    P:{s|<ns>}:changed               zset   class -> schema version of its last change (cache refresh,
                                            per-class guard of instance writes)
    P:{i|<ns>|<dynasty>|<b>}:obj     hash   identity -> instance record (WbemObject bytes)
    P:{i|<ns>|<dynasty>|<b>}:ver     hash   identity -> record version (optimistic partial updates)
    P:{i|<ns>|<dynasty>|<b>}:cls:<c> set    identities of the instances of class c in this bucket

Hash tags ({...}) decide the Redis Cluster slot. An instance's record, version and class
membership share one tag, so a single-instance write is one atomic step in one slot, and the
instances of one dynasty spread over BUCKETS slots (by identity) instead of piling onto one
shard. A namespace's schema has its own tag. Steps that join the two (a PutInstance guarding
against a concurrent class change; a class change checking or deleting instances) touch two
tags: on a single Redis they are one script; on Cluster they become a fence per bucket, with
these same key names.
"""

from __future__ import annotations

import zlib

BUCKETS = 16  # part of the layout: changing it needs a migration, so it is recorded in P:{meta}:layout


class Keys:
    def __init__(self, prefix: str = "wmiput") -> None:
        if not prefix or any(c in prefix for c in "{}*?[] \\"):
            raise ValueError(f"key prefix {prefix!r} must be non-empty, without braces, wildcards or spaces")
        self.prefix = prefix

    # -- global
    @property
    def namespaces(self) -> str:
        return f"{self.prefix}:{{meta}}:namespaces"

    @property
    def layout(self) -> str:
        return f"{self.prefix}:{{meta}}:layout"

    # -- schema of a namespace
    def _s(self, ns: str) -> str:
        return f"{self.prefix}:{{s|{ns.lower()}}}"

    def classes(self, ns: str) -> str:
        return f"{self._s(ns)}:classes"

    def schema_version(self, ns: str) -> str:
        return f"{self._s(ns)}:version"

    def changed(self, ns: str) -> str:
        return f"{self._s(ns)}:changed"

    # -- instances
    @staticmethod
    def bucket(identity: str) -> int:
        return zlib.crc32(identity.encode("utf-8")) % BUCKETS

    def _i(self, ns: str, dynasty: str, bucket: int) -> str:
        return f"{self.prefix}:{{i|{ns.lower()}|{dynasty.lower()}|{bucket}}}"

    def records(self, ns: str, dynasty: str, bucket: int) -> str:
        return f"{self._i(ns, dynasty, bucket)}:obj"

    def versions(self, ns: str, dynasty: str, bucket: int) -> str:
        return f"{self._i(ns, dynasty, bucket)}:ver"

    def members(self, ns: str, dynasty: str, bucket: int, class_name: str) -> str:
        return f"{self._i(ns, dynasty, bucket)}:cls:{class_name.lower()}"

    def instance_pattern(self, ns: str) -> str:
        """SCAN pattern of every instance key of a namespace (namespace deletion only)."""
        return f"{self.prefix}:{{i|{_glob_escape(ns.lower())}|*"


def _glob_escape(s: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in s)
