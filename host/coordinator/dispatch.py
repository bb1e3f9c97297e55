"""PutInstance: who serves it. Static all the way down: one atomic repository write. Any Dynamic
level: a transaction over its providers, topmost first, with the repository for static levels."""

from __future__ import annotations

from host.calls.control import CallControl
from host.coordinator.registry import ProviderRegistry
from host.coordinator.transactions import Coordinator
from host.failpoints import failpoint
from host.model import instances
from host.repository.keys import Keys
from host.repository.store import PutResult, Repository
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire


class Dispatcher:
    def __init__(self, repo: Repository, registry: ProviderRegistry, coordinator: Coordinator) -> None:
        self.repo = repo
        self.registry = registry
        self.coordinator = coordinator

    async def put_instance(self, namespace: str, obj: pb.WbemObject, flags: int, ctx: pb.Context | None,
                           caller: wire.Caller, control: CallControl | None = None) -> PutResult:
        """`control`: the asynchronous call this put runs for (gates, progress, cancel), if any."""
        ns = await self.repo.resolve_namespace(namespace, "PutInstance")
        schema = await self.repo.schema(ns)
        plan = instances.plan_put_instance(obj, flags, ctx, schema, self.repo.limits)
        levels = await self.registry.levels(ns, schema, plan.class_name)
        if not any(lv.provider for lv in levels):
            receipt = ""
            if control is not None:
                receipt = self.repo.keys.instance_receipt(ns, plan.dynasty, Keys.bucket(plan.identity), control.call_id)
                await control.gate("committing", receipt=receipt,
                                   path=f"\\\\{self.repo.server}\\{ns}:{plan.relpath}")
                failpoint("call_committing")
            res = await self.repo.put_instance(ns, obj, flags, ctx, lock_wait=self.coordinator.t.lock_wait_s,
                                               planned=(schema, plan), receipt=receipt)
            if control is not None:
                await control.progress(len(levels), len(levels), f"{plan.class_name} accepted by the repository")
            if schema.is_a(plan.class_name, "__Provider") or schema.is_a(plan.class_name, "__ProviderRegistration"):
                self.registry.forget(ns)
            return res
        view = instances.instance_view(plan.record, schema, server=self.repo.server, namespace=ns)
        return await self.coordinator.put(ns, plan, levels, flags, ctx, caller, view, control)
