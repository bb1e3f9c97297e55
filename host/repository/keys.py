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
    P:{i|<ns>|<dynasty>|<b>}:lock:<id> string the transaction holding the object (lease: PX)
    P:{i|<ns>|<dynasty>|<b>}:schema  hash   the bucket's view of its dynasty's schema: "epoch" (schema
                                            version of the dynasty's last class change; older plans
                                            re-plan) and "fence" (a class change under way: puts wait)
    P:{s|<ns>}:change:<token>        string a fenced class change's decision: "commit:<version>" or
                                            "cancel" (taken by whoever finds its fence expired)
    P:{p|<ns>|<provider>}:tasks      stream  tasks of a provider (consumer group "workers")
    P:{p|<ns>|<provider>}:workers    hash    worker id -> heartbeat (JSON: pid, hostname, last seen)
    P:{p|<ns>|<provider>}:run:<t>    string  the worker running task t (lease: PX)
    P:{p|<ns>|<provider>}:done:<t>   string  the reply a worker gave to task t (redelivery answers it again)
    P:{h|<host id>}:replies          stream  replies to the tasks a host sent
    P:{h|<host id>}:alive            string  a host's heartbeat (lease: PX); its transactions are adopted when it lapses
    P:{tx|<id>}                      hash    a transaction: state, owner, lease, participants, payload
    P:{tx|<id>}:replies              stream  the providers' replies, readable by whichever host adopts it
    P:{meta}:tx:active               zset    transaction id -> lease deadline (ms): what recovery scans
    P:{meta}:audit                   stream  one entry per write: principal, op, target, flags, result
    P:{meta}:security                hash    namespace -> its own security descriptor (NamespaceSecurity bytes)
    P:{meta}:security:version        hash    namespace -> version of that descriptor (optimistic updates)

Hash tags ({...}) decide the Redis Cluster slot. An instance's record, version and class
membership share one tag, so a single-instance write is one atomic step in one slot, and the
instances of one dynasty spread over BUCKETS slots (by identity) instead of piling onto one
shard. A namespace's schema has its own tag. No atomic step joins two tags, so everything works
on Redis Cluster. Where a step needs both, a fence per bucket joins them: a class change that
alters or deletes existing classes first fences every bucket of the dynasty (puts there wait)
while checking instances, then commits the schema, then in each bucket deletes what the change
doomed, raises the bucket's epoch and lifts the fence. A put checks its bucket's fence and
epoch in its own script. A fence outlives a crashed change only until its lease ends: whoever
meets it then decides the change (committed, or cancelled for good) in the schema's slot and
finishes the bucket (host/repository/fences.py).
"""

from __future__ import annotations

import zlib

BUCKETS = 16
WORKER_GROUP = "workers"  # part of the layout: changing it needs a migration, so it is recorded in P:{meta}:layout


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

    @property
    def security(self) -> str:
        return f"{self.prefix}:{{meta}}:security"

    @property
    def security_versions(self) -> str:
        return f"{self.prefix}:{{meta}}:security:version"

    # -- schema of a namespace
    def _s(self, ns: str) -> str:
        return f"{self.prefix}:{{s|{ns.lower()}}}"

    def classes(self, ns: str) -> str:
        return f"{self._s(ns)}:classes"

    def schema_version(self, ns: str) -> str:
        return f"{self._s(ns)}:version"

    def changed(self, ns: str) -> str:
        return f"{self._s(ns)}:changed"

    def class_change(self, ns: str, token: str) -> str:
        """The decision of a fenced class change (in the schema's slot)."""
        return f"{self._s(ns)}:change:{token}"

    def class_receipt(self, ns: str, call_id: str) -> str:
        """Set by the class change of an asynchronous call (in the schema's slot)."""
        return f"{self._s(ns)}:receipt:{call_id}"

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

    def lock(self, ns: str, dynasty: str, bucket: int, identity: str) -> str:
        return f"{self._i(ns, dynasty, bucket)}:lock:{identity}"

    def bucket_schema(self, ns: str, dynasty: str, bucket: int) -> str:
        """A bucket's epoch and fence (see the module doc)."""
        return f"{self._i(ns, dynasty, bucket)}:schema"

    def instance_receipt(self, ns: str, dynasty: str, bucket: int, call_id: str) -> str:
        """Set by the write of an asynchronous call's instance (in the instance's slot)."""
        return f"{self._i(ns, dynasty, bucket)}:receipt:{call_id}"

    # -- providers
    def _p(self, ns: str, provider: str) -> str:
        return f"{self.prefix}:{{p|{ns.lower()}|{provider.lower()}}}"

    def tasks(self, ns: str, provider: str) -> str:
        return f"{self._p(ns, provider)}:tasks"

    def workers(self, ns: str, provider: str) -> str:
        return f"{self._p(ns, provider)}:workers"

    def running(self, ns: str, provider: str, task_id: str) -> str:
        return f"{self._p(ns, provider)}:run:{task_id}"

    def done(self, ns: str, provider: str, task_id: str) -> str:
        return f"{self._p(ns, provider)}:done:{task_id}"

    # -- hosts
    def host_replies(self, host_id: str) -> str:
        return f"{self.prefix}:{{h|{host_id}}}:replies"

    def host_alive(self, host_id: str) -> str:
        return f"{self.prefix}:{{h|{host_id}}}:alive"

    # -- transactions
    def tx(self, tx_id: str) -> str:
        return f"{self.prefix}:{{tx|{tx_id}}}"

    def replies(self, tx_id: str) -> str:
        return f"{self.tx(tx_id)}:replies"

    @property
    def active_transactions(self) -> str:
        """Every transaction not yet finished (zset by start time)."""
        return f"{self.prefix}:{{meta}}:tx:active"

    def host_transactions(self, host_id: str) -> str:
        """The unfinished transactions a host started: when it dies, another adopts them."""
        return f"{self.prefix}:{{meta}}:tx:active:{host_id}"

    @property
    def transaction_hosts(self) -> str:
        """Hosts with such a list: where recovery looks for transactions of dead hosts."""
        return f"{self.prefix}:{{meta}}:tx:hosts"

    @property
    def orphan_transactions(self) -> str:
        """Transactions their coordinator handed to recovery (owner ""): any host takes them."""
        return f"{self.prefix}:{{meta}}:tx:orphans"

    # -- asynchronous and semisynchronous calls (id = a digest of the call handle)
    def call(self, call_id: str) -> str:
        return f"{self.prefix}:{{c|{call_id}}}"

    def call_events(self, call_id: str) -> str:
        return f"{self.call(call_id)}:events"

    def active_calls(self, host_id: str) -> str:
        """The calls a host runs (zset by start time): when the host dies, another adopts them."""
        return f"{self.prefix}:{{meta}}:calls:active:{host_id}"

    @property
    def call_hosts(self) -> str:
        """Hosts that have (or had) calls running: where recovery looks for orphaned calls."""
        return f"{self.prefix}:{{meta}}:calls:hosts"

    @property
    def audit(self) -> str:
        """The audit trail (stream, capped): one entry per write, host/audit.py."""
        return f"{self.prefix}:{{meta}}:audit"

    @property
    def call_channel(self) -> str:
        """Pub/sub channel: "<call id>" when a call has a new event, "cancel:<call id>" on a cancel."""
        return f"{self.prefix}:calls:notify"

    def instance_pattern(self, ns: str) -> str:
        """SCAN pattern of every instance key of a namespace (namespace deletion only)."""
        return f"{self.prefix}:{{i|{_glob_escape(ns.lower())}|*"


def _glob_escape(s: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in s)
