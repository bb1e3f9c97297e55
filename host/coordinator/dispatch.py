"""PutInstance: who serves it. Static all the way down: one atomic repository write. Any Dynamic
level: a transaction over its providers, topmost first, with the repository for static levels."""

from __future__ import annotations

from host import metrics, tracing
from host.access import rights
from host.access.policy import NamespaceAccess
from host.calls.control import CallControl
from host.coordinator.registry import ProviderRegistry
from host.coordinator.transactions import Coordinator
from host.errors import WbemError
from host.failpoints import failpoint
from host.model import instances
from host.model.classes import Schema
from host.repository.keys import Keys
from host.repository.store import PutResult, Replan, Repository
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire


class Dispatcher:
    def __init__(self, repo: Repository, registry: ProviderRegistry, coordinator: Coordinator,
                 access: NamespaceAccess | None = None) -> None:
        self.repo = repo
        self.registry = registry
        self.coordinator = coordinator
        self.access = access

    async def authorize_instance(self, principal: str, ns: str, schema: Schema, class_name: str,
                                 provider_backed: bool, operation: str) -> None:
        """WBEM_E_ACCESS_DENIED unless the caller may write this kind of instance here."""
        if self.access is None or self.access.is_admin(principal):
            return
        need, what = rights.instance_write([c.class_name for c in schema.chain(class_name)], provider_backed)
        await self.access.require(principal, ns, need, operation, f"{class_name}: {what}")

    async def authorize_class(self, principal: str, ns: str, operation: str) -> None:
        """WBEM_E_ACCESS_DENIED unless the caller may write classes here (an asynchronous class put
        checks again when it runs)."""
        if self.access is None or self.access.is_admin(principal):
            return
        await self.access.require(principal, ns, rights.USE | rights.Right.FULL_WRITE_REP, operation, "a class")

    async def instance_write_right(self, principal: str, namespace: str, class_name: str, operation: str) -> None:
        """The same check before an asynchronous put starts, from the schema as this host knows it
        (the put checks again when it runs)."""
        if self.access is None or self.access.is_admin(principal):
            return
        ns = await self.repo.resolve_namespace(namespace, operation)
        schema = await self.repo.schema(ns)
        if schema.get(class_name) is None:
            return  # the put itself reports the missing class
        provider_backed = any(lv.provider for lv in self.registry.chain_levels(schema, class_name))
        await self.authorize_instance(principal, ns, schema, class_name, provider_backed, operation)

    async def put_instance(self, namespace: str, obj: pb.WbemObject, flags: int, ctx: pb.Context | None,
                           caller: wire.Caller, control: CallControl | None = None) -> PutResult:
        """`control`: the asynchronous call this put runs for (gates, progress, cancel), if any."""
        with tracing.span("dispatch PutInstance", {"wmiput.namespace": namespace, "wmiput.class": obj.class_name,
                                                   "wmiput.flags": int(flags)}):
            return await self._put_instance(namespace, obj, flags, ctx, caller, control)

    async def _put_instance(self, namespace: str, obj: pb.WbemObject, flags: int, ctx: pb.Context | None,
                            caller: wire.Caller, control: CallControl | None) -> PutResult:
        guess: tuple[Schema, instances.InstancePlan] | None = None
        providers: list[str] = []
        cached = self.repo.cached_view(namespace)
        if cached is not None:
            # The schema as this host last read it, without a round trip. A static put's write
            # script checks every class of the derivation against it; anything else (a refusal,
            # a provider, a changed class) is settled on a fresh read below.
            ns, schema = cached
            try:
                with metrics.phase("validate"), tracing.span("validate and plan"):
                    plan = instances.plan_put_instance(obj, flags, ctx, schema, self.repo.limits)
                providers = sorted({lv.provider.lower() for lv in self.registry.chain_levels(schema, plan.class_name)
                                    if lv.provider})
                guess = (schema, plan)
            except WbemError:
                pass
            if guess is not None and not providers and control is None:
                await self.authorize_instance(caller.principal, ns, schema, plan.class_name, False, "PutInstance")
                try:
                    return await self._put_static(ns, schema, plan, len(schema.chain(plan.class_name)),
                                                  obj, flags, ctx, None)
                except Replan:
                    providers = []
        # Fresh: the namespace, its classes, and the heartbeats of the workers the cached schema
        # says serve this class, in one round trip.
        ns, schema, beats = await self.repo.snapshot(
            namespace, "PutInstance", [self.registry.keys.workers(cached[0], p) for p in providers] if cached else [])
        if guess is not None and guess[0] is schema:  # unchanged since the guess: its plan stands
            plan = guess[1]
        else:
            with metrics.phase("validate"), tracing.span("validate and plan"):
                plan = instances.plan_put_instance(obj, flags, ctx, schema, self.repo.limits)
        levels = await self.registry.levels(ns, schema, plan.class_name, heartbeats=dict(zip(providers, beats, strict=True)))
        tracing.annotate(depth=len(levels), providers=[lv.provider for lv in levels if lv.provider])
        await self.authorize_instance(caller.principal, ns, schema, plan.class_name,
                                      any(lv.provider for lv in levels), "PutInstance")
        if not any(lv.provider for lv in levels):
            return await self._put_static(ns, schema, plan, len(levels), obj, flags, ctx, control)
        view = instances.instance_view(plan.record, schema, server=self.repo.server, namespace=ns)
        return await self.coordinator.put(ns, plan, levels, flags, ctx, caller, view, control)

    async def _put_static(self, ns: str, schema: Schema, plan: instances.InstancePlan, depth: int,
                          obj: pb.WbemObject, flags: int, ctx: pb.Context | None,
                          control: CallControl | None) -> PutResult:
        """Every level static: one atomic repository write (Replan if the schema turned out to
        have changed so that a provider serves it now)."""
        receipt = ""
        if control is not None:
            receipt = self.repo.keys.instance_receipt(ns, plan.dynasty, Keys.bucket(plan.identity), control.call_id)
            await control.gate("committing", receipt=receipt, path=f"\\\\{self.repo.server}\\{ns}:{plan.relpath}")
            failpoint("call_committing")
        with metrics.phase("commit"), tracing.span("repository commit", {"wmiput.levels": depth}):
            res = await self.repo.put_instance(ns, obj, flags, ctx, lock_wait=self.coordinator.t.lock_wait_s,
                                               planned=(schema, plan), receipt=receipt)
        if control is not None:
            await control.progress(depth, depth, f"{plan.class_name} accepted by the repository")
        if schema.is_a(plan.class_name, "__Provider") or schema.is_a(plan.class_name, "__ProviderRegistration"):
            self.registry.forget(ns)
        return res
