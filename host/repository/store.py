"""The WMI repository in Redis: classes and static instances, one atomic script per change.

Validation happens in host.model against a cached schema snapshot; each write then runs as a
Lua script that re-checks, atomically, what the validation assumed (existence and flags, the
schema version the classes were read at, instance counts for class updates). A failed put
writes nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator

from redis.asyncio import Redis

from host.errors import WbemError
from host.flags import WbemFlag
from host.model import classes, instances, paths
from host.model.classes import Limits, Schema
from host.redis_scripts import Script, source
from host.repository.fences import Busy, DynastyChange, Fences, HasInstances
from host.repository.keys import BUCKETS, Keys
from host.repository.system_classes import NAMESPACE_CLASS, system_classes
from host.shared_pipeline import SharedPipeline, op
from wmiput.v1 import object_pb2 as pb

DEFAULT_NAMESPACES = ("root", "root\\cimv2")
DEFAULT_NAMESPACE = "root\\cimv2"
RETRIES = 20  # optimistic steps that lost a race re-plan against fresh state; each loss means progress elsewhere
SCAN_BATCH = 500


_NS_TEXT: dict[str, str] = {}
CLASS_RACE_BUDGET_S = 10.0  # how long a class change keeps re-planning after lost races


async def _contended(budget_s: float) -> AsyncIterator[int]:
    """Attempts of a class change, which is checked against the namespace's one schema version:
    concurrent changes (even of unrelated classes) collide. After each lost race a jittered,
    growing pause lets them take turns instead of colliding again, for up to `budget_s`."""
    give_up = time.monotonic() + budget_s
    pause, attempt = 0.001, 0
    while True:
        yield attempt
        attempt += 1
        if time.monotonic() > give_up:
            return
        await asyncio.sleep(random.uniform(0, pause))
        pause = min(pause * 2, 0.05)


def _script(name: str) -> str:
    return source("host.repository", name)


def _decode(raw: bytes) -> pb.WbemObject:
    o = pb.WbemObject()
    o.ParseFromString(raw)
    return o


class Replan(Exception):
    """The schema a put was planned against changed in a way that sends it elsewhere (a class of
    its derivation became Dynamic): the dispatcher plans it again."""


@dataclass
class PutResult:
    path: str
    relpath: str
    created: bool


class Repository:
    def __init__(self, redis: Redis, *, prefix: str = "wmiput", limits: Limits | None = None,
                 server: str = ".") -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.limits = limits or Limits()
        self.server = server
        self.shared = SharedPipeline(redis)  # round trips of concurrent calls, batched (host and coordinator)
        self._schemas: dict[str, Schema] = {}  # namespace (lower) -> classes as last read
        self._displays: dict[str, str] = {}  # namespace (lower) -> display name, once seen to exist
        self._put_instance = Script(redis, _script("put_instance"))
        self._delete_instance = Script(redis, _script("delete_instance"))
        self._change_classes = Script(redis, _script("change_classes"))
        self.fences = Fences(redis, self.keys)

    # ------------------------------------------------------------------ namespaces

    async def init(self) -> None:
        """Check the key layout and create the default namespaces."""
        await self.redis.hsetnx(self.keys.layout, "buckets", BUCKETS)
        stored = int(await self.redis.hget(self.keys.layout, "buckets"))
        if stored != BUCKETS:
            raise RuntimeError(f"the Redis data uses {stored} buckets per dynasty; this version uses {BUCKETS}")
        for ns in DEFAULT_NAMESPACES:
            await self.create_namespace(ns)

    async def create_namespace(self, name: str, *, in_parent: bool = True) -> bool:
        """Register a namespace, write its system classes and (with `in_parent`) its __NAMESPACE
        instance in the parent; False if it was registered already. Idempotent, so a creation that
        stopped half-way is completed by doing it again."""
        display = self._ns_text(name)
        if await self.redis.hlen(self.keys.classes(display)) == 0:
            # System classes first, so a namespace is never visible without them; this also
            # completes a creation that stopped half-way.
            args: list[str | bytes] = []
            for c in system_classes():
                args += [c.class_name.lower(), c.SerializeToString(deterministic=True)]
            await self._change_classes(
                keys=[self.keys.classes(display), self.keys.schema_version(display), self.keys.changed(display)],
                args=["", "0", *args])
        created = await self.redis.hsetnx(self.keys.namespaces, display.lower(), display)
        parts = paths.split_namespace(display)
        if in_parent and len(parts) > 1:
            parent = paths.join_namespace(parts[:-1])
            schema = await self.schema(parent)
            record = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name="__NAMESPACE")
            record.properties.add(name="Name", value=pb.Value(string=parts[-1]))
            plan = instances.plan_put_instance(record, 0, None, schema, self.limits)
            await self.write_record(parent, plan, plan.record.SerializeToString(deterministic=True), mode="upsert",
                                    expected="", validated=schema.version, token=uuid.uuid4().hex,
                                    chain=[c.class_name.lower() for c in schema.chain(plan.class_name)])
        return bool(created)

    async def namespaces(self) -> list[str]:
        return sorted((v.decode() for v in (await self.redis.hgetall(self.keys.namespaces)).values()), key=str.lower)

    @staticmethod
    def _ns_text(name: str) -> str:
        hit = _NS_TEXT.get(name)
        if hit is None:
            hit = Repository._normalized_ns(name)
            if len(_NS_TEXT) < 4096:  # the names clients use; a bounded memo of their normal form
                _NS_TEXT[name] = hit
        return hit

    @staticmethod
    def _normalized_ns(name: str) -> str:
        try:
            return paths.join_namespace(paths.split_namespace(name or DEFAULT_NAMESPACE))
        except paths.PathError as e:
            raise WbemError("WBEM_E_INVALID_NAMESPACE", f"namespace {name!r} is not valid: {e}",
                            parameter_info=name[:256]) from None

    async def resolve_namespace(self, name: str, operation: str) -> str:
        """The namespace's display name; WBEM_E_INVALID_NAMESPACE if it does not exist."""
        return await self._namespace(name, operation)

    async def _namespace(self, name: str, operation: str) -> str:
        text = self._ns_text(name)
        return self._displayed(text, await self.redis.hget(self.keys.namespaces, text.lower()), operation)

    def _displayed(self, text: str, display: bytes | None, operation: str) -> str:
        if display is None:
            self._displays.pop(text.lower(), None)
            raise WbemError("WBEM_E_INVALID_NAMESPACE", f"namespace {text} does not exist", parameter_info=text,
                            operation=operation)
        self._displays[text.lower()] = display.decode()
        return display.decode()

    # ------------------------------------------------------------------ schema cache

    def cached_view(self, namespace: str) -> tuple[str, Schema] | None:
        """The namespace and its classes as this host last read them, without asking Redis: a
        guess, for steps that re-check it atomically (put_instance.lua checks every class of the
        derivation against the version it was planned at)."""
        key = self._ns_text(namespace).lower()
        display, schema = self._displays.get(key), self._schemas.get(key)
        return (display, schema) if display is not None and schema is not None else None

    async def snapshot(self, namespace: str, operation: str, hashes: list[str] | None = None
                       ) -> tuple[str, Schema, list[dict[bytes, bytes]]]:
        """The namespace (WBEM_E_INVALID_NAMESPACE if it does not exist) and its current classes in
        one round trip (two when classes changed since the cached copy), with the `hashes` given
        read in the same round trip (the dispatcher's worker heartbeats)."""
        text = self._ns_text(namespace)
        cached = self._schemas.get(text.lower())
        got = await self.shared.run([op("hget", self.keys.namespaces, text.lower()),
                                     op("get", self.keys.schema_version(text)),
                                     op("zrangebyscore", self.keys.changed(text), self._since(cached), "+inf"),
                                     *(op("hgetall", h) for h in hashes or [])])
        ns = self._displayed(text, got[0], operation)
        return ns, await self._refreshed(ns, cached, got[1], got[2]), got[3:]

    @staticmethod
    def _since(cached: Schema | None) -> str:
        return f"({cached.version if cached is not None else -1}"

    async def schema(self, ns: str) -> Schema:
        """The namespace's classes, refreshed from the per-class change log since the cached version."""
        cached = self._schemas.get(ns.lower())
        async with self.redis.pipeline(transaction=True) as p:
            p.get(self.keys.schema_version(ns))
            p.zrangebyscore(self.keys.changed(ns), self._since(cached), "+inf")
            version_raw, changed = await p.execute()
        return await self._refreshed(ns, cached, version_raw, changed)

    async def _refreshed(self, ns: str, cached: Schema | None, version_raw: bytes | None, changed: list[bytes]
                         ) -> Schema:
        version = int(version_raw or 0)
        if cached is not None and version == cached.version:
            return cached
        if cached is not None and version < cached.version:  # the keys were reset under us: read everything
            self._schemas.pop(ns.lower(), None)
            return await self.schema(ns)
        names = [c.decode() for c in changed]
        raws = await self.redis.hmget(self.keys.classes(ns), names) if names else []
        updates = {n: (_decode(r) if r is not None else None) for n, r in zip(names, raws, strict=False)}
        base = cached if cached is not None else Schema({}, version)
        fresh = base.copy_with(updates)
        fresh.version = version
        self._schemas[ns.lower()] = fresh
        return fresh

    # ------------------------------------------------------------------ classes

    async def put_class(self, namespace: str, obj: pb.WbemObject, flags: int, *, receipt: str = "") -> PutResult:
        """`receipt`: a key (keys.class_receipt) set with the change, so that whether it applied can
        be read back after a crash."""
        ns = await self._namespace(namespace, "PutClass")
        async for _ in _contended(CLASS_RACE_BUDGET_S):
            schema = await self.schema(ns)
            plan = classes.plan_put_class(obj, flags, schema, self.limits)
            path = f"\\\\{self.server}\\{ns}:{plan.local.class_name}"
            if plan.noop:
                return PutResult(path, plan.local.class_name, False)
            changes: dict[str, DynastyChange] = {}
            for c in plan.writes:
                if schema.get(c) is not None:  # an existing class changes: its dynasty's plans re-plan
                    changes.setdefault(self._dynasty(schema, c), DynastyChange())
            for c in plan.require_no_instances:
                changes.setdefault(self._dynasty(schema, c), DynastyChange()).require_empty.add(c.lower())
            for c in plan.delete_instances_of:
                changes.setdefault(self._dynasty(schema, c), DynastyChange()).doomed.add(c.lower())
            writes = {k: c.SerializeToString(deterministic=True) for k, c in plan.writes.items()}
            status, _, _ = await self._change(ns, schema, writes, changes, receipt)
            if status == "OK":
                return PutResult(path, plan.local.class_name, plan.created)
            if status == "INSTANCES":
                raise WbemError("WBEM_E_CLASS_HAS_INSTANCES",
                                f"class {plan.local.class_name} (or a subclass) has instances; the change needs "
                                "none, or WBEM_FLAG_UPDATE_FORCE_MODE", parameter_info=plan.local.class_name,
                                operation="PutClass")
        raise WbemError("WBEM_E_FAILED", f"the schema kept changing under this PutClass for "
                        f"{CLASS_RACE_BUDGET_S:.0f} s; try again", operation="PutClass")

    @staticmethod
    def _dynasty(schema: Schema, name: str) -> str:
        return schema.chain(name)[0].class_name.lower()

    async def delete_class(self, namespace: str, name: str, flags: int) -> tuple[int, int]:
        ns = await self._namespace(namespace, "DeleteClass")
        if flags & WbemFlag.USE_AMENDED_QUALIFIERS:
            raise WbemError("WBEM_E_INVALID_PARAMETER", "DeleteClass does not take WBEM_FLAG_USE_AMENDED_QUALIFIERS",
                            parameter_info="lFlags", operation="DeleteClass")
        async for _ in _contended(CLASS_RACE_BUDGET_S):
            schema = await self.schema(ns)
            if not name or schema.get(name) is None:
                raise WbemError("WBEM_E_NOT_FOUND", f"class {name!r} does not exist", parameter_info=name[:256],
                                operation="DeleteClass")
            if name.startswith("_"):
                raise WbemError("WBEM_E_INVALID_OPERATION", f"{name} is a system class and cannot be deleted",
                                parameter_info=name, operation="DeleteClass")
            doomed = [name.lower()] + schema.descendants(name)
            changes = {self._dynasty(schema, name): DynastyChange(doomed=set(doomed))}
            status, _, deleted = await self._change(ns, schema, dict.fromkeys(doomed, b""), changes, "")
            if status == "OK":
                return len(doomed), deleted
        raise WbemError("WBEM_E_FAILED", f"the schema kept changing under this DeleteClass for "
                        f"{CLASS_RACE_BUDGET_S:.0f} s; try again", operation="DeleteClass")

    async def _change(self, ns: str, schema: Schema, writes: dict[str, bytes], changes: dict[str, DynastyChange],
                      receipt: str) -> tuple[str, str, int]:
        """Commit class definitions (b"" deletes one) planned against `schema`, fencing the
        dynasties whose instances the change concerns (fences.py). (status, detail, instances
        deleted); status OK, INSTANCES (detail: the member set), or a lost race to re-plan after
        (STALE, BUSY, CANCELLED)."""
        args: list[str | bytes | int] = [schema.version, "1" if changes else "0"]
        for k, v in writes.items():
            args += [k, v]
        extra = [receipt] if receipt else []
        schema_keys = [self.keys.classes(ns), self.keys.schema_version(ns), self.keys.changed(ns)]
        if not changes:  # only new classes: nothing to fence
            res = await self._change_classes(keys=[*schema_keys, *extra], args=args)
            return res[0].decode(), "", 0
        token = self.fences.new_token()
        try:
            await self.fences.fence(ns, changes, token)
        except Busy as e:
            return "BUSY", str(e), 0
        except HasInstances as e:
            return "INSTANCES", e.key, 0
        # If this step fails, the fences lapse and whoever meets one settles the change.
        res = await self._change_classes(keys=[*schema_keys, self.keys.class_change(ns, token), *extra], args=args)
        status = res[0].decode()
        if status == "OK":
            return "OK", "", await self.fences.finish(ns, changes, token, "commit", int(res[1]))
        await self.fences.finish(ns, changes, token, "cancel", 0)
        return status, "", 0

    async def get_class(self, namespace: str, name: str) -> pb.WbemObject:
        ns = await self._namespace(namespace, "GetObject")
        schema = await self.schema(ns)
        if schema.get(name) is None:
            raise WbemError("WBEM_E_NOT_FOUND", f"class {name!r} does not exist", parameter_info=name[:256],
                            operation="GetObject")
        return instances.class_view(schema, name, server=self.server, namespace=ns)

    async def enum_classes(self, namespace: str, superclass: str, flags: int) -> AsyncIterator[pb.WbemObject]:
        ns = await self._namespace(namespace, "CreateClassEnum")
        schema = await self.schema(ns)
        if superclass and schema.get(superclass) is None:
            raise WbemError("WBEM_E_INVALID_CLASS", f"class {superclass!r} does not exist",
                            parameter_info=superclass[:256], operation="CreateClassEnum")
        names = schema.children(superclass) if flags & WbemFlag.SHALLOW else schema.descendants(superclass)
        for n in names:
            yield instances.class_view(schema, n, server=self.server, namespace=ns)

    # ------------------------------------------------------------------ instances

    async def put_instance(self, namespace: str, obj: pb.WbemObject, flags: int,
                           ctx: pb.Context | None = None, *, lock_wait: float = 30.0,
                           planned: tuple[Schema, instances.InstancePlan] | None = None,
                           receipt: str = "") -> PutResult:
        """A put served by the repository alone (every level of the derivation is static).
        `planned`: the caller's validation against a schema snapshot (possibly a cached one, the
        script re-checks it), used for the first attempt; `namespace` is then the display name the
        caller resolved. Raises Replan if the class has become Dynamic since that snapshot.
        `receipt`: a key (keys.instance_receipt, in the instance's slot) set with the write."""
        ns = namespace if planned is not None else await self._namespace(namespace, "PutInstance")
        dispatched = planned is not None
        token = uuid.uuid4().hex  # identifies this call's write, so a retried script cannot apply twice
        give_up = time.monotonic() + lock_wait
        backoff, races = 0.005, 0
        while True:
            if planned is not None:
                (schema, plan), planned = planned, None
            else:  # the namespace too: a deleted one shows as a change of all its classes
                ns, schema, _ = await self.snapshot(ns, "PutInstance")
                plan = instances.plan_put_instance(obj, flags, ctx, schema, self.limits)
            if classes.is_dynamic(schema.effective(plan.class_name)):
                if dispatched:
                    raise Replan(plan.class_name)
                raise WbemError("WBEM_E_PROVIDER_NOT_FOUND", f"{plan.class_name} is Dynamic: its puts go to its "
                                "providers", operation="PutInstance")
            child_ns = self._child_namespace(ns, plan.record) if plan.class_name.lower() == NAMESPACE_CLASS else ""
            record, expected = plan.record, ""
            if plan.partial is not None:
                record, expected = await self._merge_partial(ns, plan, schema)
            mode = "create" if flags & WbemFlag.CREATE_ONLY else "update" if flags & WbemFlag.UPDATE_ONLY else "upsert"
            status, detail = await self.write_record(
                ns, plan, record.SerializeToString(deterministic=True), mode=mode, expected=expected,
                validated=schema.version, token=token, chain=[c.class_name.lower() for c in schema.chain(plan.class_name)],
                receipt=receipt)
            if status == "OK":
                if child_ns:
                    # After the write, so a refused put creates nothing; a crash in between is
                    # completed by putting the same __NAMESPACE instance again.
                    await self.create_namespace(child_ns, in_parent=False)
                return PutResult(f"\\\\{self.server}\\{ns}:{plan.relpath}", plan.relpath, bool(detail))
            if status in ("LOCKED", "FENCED"):  # a provider transaction holds the object, or a class
                if time.monotonic() > give_up:  # change of its dynasty is under way: wait for it
                    what = (f"locked by transaction {detail.decode()}" if status == "LOCKED"
                            else "fenced by a change of its classes")
                    raise WbemError("WBEM_E_TIMED_OUT", f"{plan.relpath} stayed {what} for {lock_wait:.0f} s",
                                    parameter_info=plan.relpath, operation="PutInstance")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.2)
                continue
            if status == "FENCE_EXPIRED":  # a class change stopped half-way: settle it, then re-plan
                await self.fences.settle(ns, plan.dynasty, Keys.bucket(plan.identity), detail)
                continue
            if status not in ("SCHEMA", "CONFLICT"):
                raise self._refusal(status, detail, plan, schema)
            races += 1
            if races >= RETRIES:
                raise WbemError("WBEM_E_FAILED", "the class or instance kept changing under this PutInstance; "
                                "try again", operation="PutInstance")

    def _refusal(self, status: str, detail: bytes, plan: instances.InstancePlan, schema: Schema) -> WbemError:
        if status == "EXISTS":
            return WbemError("WBEM_E_ALREADY_EXISTS", f"{plan.relpath} already exists", parameter_info=plan.relpath,
                             operation="PutInstance")
        if status == "NOTFOUND":
            return WbemError("WBEM_E_NOT_FOUND", f"{plan.relpath} does not exist", parameter_info=plan.relpath,
                             operation="PutInstance")
        owner = schema.get(detail.decode())
        owner_name = owner.class_name if owner is not None else detail.decode()
        return WbemError("WBEM_E_ALREADY_EXISTS", f"the key of {plan.relpath} is taken by an instance of "
                         f"{owner_name} in the same hierarchy; an instance cannot change class (delete it "
                         "and create it again)", parameter_info=plan.relpath, operation="PutInstance")

    async def _merge_partial(self, ns: str, plan: instances.InstancePlan, schema: Schema
                             ) -> tuple[pb.WbemObject, str]:
        """A partial update's full record: the stored one with the listed properties replaced."""
        assert plan.partial is not None
        cur = await self._read(ns, plan.dynasty, Keys.bucket(plan.identity), plan.identity)
        if cur is None:
            raise WbemError("WBEM_E_NOT_FOUND", f"{plan.relpath} does not exist", parameter_info=plan.relpath,
                            operation="PutInstance")
        stored, stamp, _ = cur
        record = instances.merge_partial(stored, plan.record, plan.partial)
        instances.check_nulls(record, schema.effective(plan.class_name))
        return record, stamp.split(":")[0]

    def instance_keys(self, ns: str, plan: instances.InstancePlan) -> list[str]:
        b = Keys.bucket(plan.identity)
        return [self.keys.records(ns, plan.dynasty, b), self.keys.versions(ns, plan.dynasty, b),
                self.keys.members(ns, plan.dynasty, b, plan.class_name), self.keys.bucket_schema(ns, plan.dynasty, b),
                self.keys.lock(ns, plan.dynasty, b, plan.identity)]

    async def write_record(self, ns: str, plan: instances.InstancePlan, record: bytes, *, mode: str, expected: str,
                           validated: int, token: str, chain: list[str], receipt: str = "") -> tuple[str, bytes]:
        """Run the atomic instance write (put_instance.lua); (status, detail)."""
        extra = [receipt] if receipt else []
        res = await self._put_instance(
            keys=[*self.instance_keys(ns, plan), *extra],
            args=[plan.identity, plan.class_name.lower(), record, mode, expected, validated, token, *chain])
        detail = res[1] if isinstance(res[1], bytes) else str(res[1]).encode()
        return res[0].decode(), detail

    async def has_receipt(self, key: str) -> bool:
        """Whether the write that carried this receipt key (keys.*_receipt) applied."""
        return bool(await self.redis.exists(key))

    # -- the repository as a participant of a provider transaction (the object is locked by it)

    async def stage(self, ns: str, plan: instances.InstancePlan, flags: int, schema: Schema) -> pb.WbemObject:
        """Prepare: check the put against the stored state and return the record commit will write."""
        cur = await self._read(ns, plan.dynasty, Keys.bucket(plan.identity), plan.identity)
        if cur is not None and cur[2] != plan.class_name.lower():
            raise self._refusal("MOVED", cur[2].encode(), plan, schema)
        if cur is not None and flags & WbemFlag.CREATE_ONLY:
            raise self._refusal("EXISTS", b"", plan, schema)
        if cur is None and flags & WbemFlag.UPDATE_ONLY:
            raise self._refusal("NOTFOUND", b"", plan, schema)
        if plan.partial is not None:
            return (await self._merge_partial(ns, plan, schema))[0]
        return plan.record

    async def apply(self, ns: str, plan: instances.InstancePlan, record: bytes, tx_id: str) -> None:
        """Commit: write the staged record. Idempotent: the transaction id is the write's token."""
        status, detail = await self.write_record(ns, plan, record, mode="upsert", expected="", validated=2**62,
                                                 token=tx_id, chain=[])
        if status != "OK":
            raise WbemError("WBEM_E_CRITICAL_ERROR", f"the repository could not apply a committed put of "
                            f"{plan.relpath}: {status} {detail!r}", parameter_info=plan.relpath)

    @staticmethod
    def _child_namespace(ns: str, record: pb.WbemObject) -> str:
        name = next(p.value.string for p in record.properties if p.name.lower() == "name")
        try:
            return paths.join_namespace(paths.split_namespace(ns) + [name])
        except paths.PathError:
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"{name!r} is not a valid namespace name",
                            parameter_info="Name", operation="PutInstance") from None

    async def _read(self, ns: str, dynasty: str, bucket: int, identity: str) -> tuple[pb.WbemObject, str, str] | None:
        """(record, version stamp "<version>:<class>:<token>", class) of an instance, or None."""
        async with self.redis.pipeline(transaction=True) as p:
            p.hget(self.keys.records(ns, dynasty, bucket), identity)
            p.hget(self.keys.versions(ns, dynasty, bucket), identity)
            raw, ver = await p.execute()
        if raw is None or ver is None:
            return None
        stamp = ver.decode()
        return _decode(raw), stamp, stamp.split(":")[1]

    async def _locate(self, ns: str, path: paths.ObjectPath, schema: Schema, operation: str
                      ) -> tuple[pb.WbemObject, str, str, int, str]:
        """Find the instance a path names: (record, identity, dynasty, bucket, version stamp)."""
        eff = instances.resolve_class(schema, path.class_name, operation)
        identity = (instances.keyed_hierarchy_prefix(schema.chain(eff.class_name))
                    + instances.identity_from_path(path, eff, operation))
        dynasty = self._dynasty(schema, eff.class_name)
        b = Keys.bucket(identity)
        found = await self._read(ns, dynasty, b, identity)
        # A path may name the instance through an ancestor class (polymorphic), never a sibling.
        if found is None or schema.get(found[2]) is None or not schema.is_a(found[2], eff.class_name):
            raise WbemError("WBEM_E_NOT_FOUND", f"{path.relpath()} does not exist", parameter_info=path.relpath(),
                            operation=operation)
        record, stamp, _ = found
        return record, identity, dynasty, b, stamp

    def _parse(self, text: str, operation: str) -> paths.ObjectPath:
        try:
            p = paths.parse_path(text, max_length=instances.MAX_PATH * 4)
        except paths.PathError as e:
            raise WbemError("WBEM_E_INVALID_OBJECT_PATH", f"{text[:200]!r}: {e}", parameter_info=text[:256],
                            operation=operation) from None
        if not p.class_name:
            raise WbemError("WBEM_E_INVALID_OBJECT_PATH", f"{text[:200]!r} names no class", parameter_info=text[:256],
                            operation=operation)
        return p

    def namespace_of(self, namespace: str, path_text: str, operation: str) -> tuple[str, paths.ObjectPath]:
        """The namespace a path names (normalized text; the request's when the path names none),
        and the parsed path."""
        path = self._parse(path_text, operation)
        return self.namespace_text(path.namespace or namespace), path

    @staticmethod
    def namespace_text(name: str) -> str:
        """A namespace name in normal form ('root/cimv2' -> 'root\\cimv2'; '' -> the default);
        WBEM_E_INVALID_NAMESPACE if it cannot be one."""
        return Repository._ns_text(name)

    async def get_object(self, namespace: str, path_text: str) -> pb.WbemObject:
        path = self._parse(path_text, "GetObject")
        ns = await self._namespace(path.namespace or namespace, "GetObject")
        if path.is_class:
            return await self.get_class(ns, path.class_name)
        schema = await self.schema(ns)
        record = (await self._locate(ns, path, schema, "GetObject"))[0]
        return instances.instance_view(record, schema, server=self.server, namespace=ns)

    async def delete_instance(self, namespace: str, path_text: str) -> str:
        path = self._parse(path_text, "DeleteInstance")
        if path.is_class:
            raise WbemError("WBEM_E_INVALID_OBJECT_PATH", f"{path_text[:200]!r} names a class; use DeleteClass",
                            parameter_info=path_text[:256], operation="DeleteInstance")
        ns = await self._namespace(path.namespace or namespace, "DeleteInstance")
        give_up = time.monotonic() + 30.0
        while time.monotonic() < give_up:
            schema = await self.schema(ns)
            record, identity, dynasty, b, stamp = await self._locate(ns, path, schema, "DeleteInstance")
            eff = schema.effective(record.class_name)
            res = await self._delete_instance(
                keys=[self.keys.records(ns, dynasty, b), self.keys.versions(ns, dynasty, b),
                      self.keys.members(ns, dynasty, b, record.class_name), self.keys.lock(ns, dynasty, b, identity)],
                args=[identity, stamp])
            if res[0] == b"OK":
                if record.class_name.lower() == NAMESPACE_CLASS:
                    await self._drop_namespace(self._child_namespace(ns, record))
                return f"\\\\{self.server}\\{ns}:{instances.relpath_of(record, eff)}"
            if res[0] == b"NOTFOUND":
                break
            if res[0] == b"LOCKED":
                await asyncio.sleep(0.05)  # a provider transaction holds it; it finishes within its deadline
        raise WbemError("WBEM_E_NOT_FOUND", f"{path.relpath()} does not exist", parameter_info=path.relpath(),
                        operation="DeleteInstance")

    async def _drop_namespace(self, ns: str) -> None:
        """Unregister a namespace and its children at once, then reclaim their keys."""
        doomed = [n for n in await self.namespaces() if n.lower() == ns.lower() or n.lower().startswith(ns.lower() + "\\")]
        if doomed:
            await self.redis.hdel(self.keys.namespaces, *[n.lower() for n in doomed])
            # A namespace created again under the same name starts with no security of its own.
            await self.redis.hdel(self.keys.security, *[n.lower() for n in doomed])
        for n in doomed:
            # Deleting the classes through the change log (not the keys) keeps the schema version
            # rising, and every bucket's epoch with it (fences.py), so every host's cache sees them
            # go even if the namespace is created again.
            async for _ in _contended(CLASS_RACE_BUDGET_S):
                schema = await self.schema(n)
                if not schema.classes:
                    break
                changes: dict[str, DynastyChange] = {}
                for c in schema.classes:
                    changes.setdefault(self._dynasty(schema, c), DynastyChange()).doomed.add(c)
                if (await self._change(n, schema, dict.fromkeys(schema.classes, b""), changes, ""))[0] == "OK":
                    break
            async for batch in self._scan(self.keys.instance_pattern(n)):
                reclaimed = [k for k in batch if not k.endswith(b"}:schema")]  # epochs stay, as tombstones
                if reclaimed:
                    await self.redis.unlink(*reclaimed)

    async def _scan(self, pattern: str) -> AsyncIterator[list[bytes]]:
        batch: list[bytes] = []
        async for k in self.redis.scan_iter(match=pattern, count=SCAN_BATCH):
            batch.append(k)
            if len(batch) >= SCAN_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    async def enum_instances(self, namespace: str, class_name: str, flags: int) -> AsyncIterator[pb.WbemObject]:
        ns = await self._namespace(namespace, "CreateInstanceEnum")
        schema = await self.schema(ns)
        instances.resolve_class(schema, class_name, "CreateInstanceEnum")
        names = [class_name.lower()] + ([] if flags & WbemFlag.SHALLOW else schema.descendants(class_name))
        dynasty = self._dynasty(schema, class_name)
        static = [c for c in names if not classes.is_dynamic(schema.effective(c))]  # providers serve the rest
        # One round trip finds the non-empty (class, bucket) sets, so a deep enumeration over a
        # large, mostly empty hierarchy does not scan every one of them.
        async with self.redis.pipeline(transaction=False) as p:
            for c in static:
                for b in range(BUCKETS):
                    p.scard(self.keys.members(ns, dynasty, b, c))
            counts = await p.execute()
        sizes = iter(counts)
        for c in static:
            for b in range(BUCKETS):
                if not next(sizes):
                    continue
                members, records = self.keys.members(ns, dynasty, b, c), self.keys.records(ns, dynasty, b)
                cursor = 0
                while True:
                    cursor, ids = await self.redis.sscan(members, cursor, count=SCAN_BATCH)
                    if ids:
                        for raw in await self.redis.hmget(records, ids):
                            if raw is not None:
                                yield instances.instance_view(_decode(raw), schema, server=self.server, namespace=ns)
                    if cursor == 0:
                        break
