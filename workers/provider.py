"""The provider SDK: subclass Provider, implement prepare / commit / abort.

    class Inventory(Provider):
        name = "Inventory"
        async def prepare(self, task): ...   # check and stage; raise WbemError to refuse
        async def commit(self, task): ...    # make visible; idempotent by task.transaction_id
        async def abort(self, task): ...     # forget what prepare staged, if anything

A put of an instance of C (derivation A <- B <- C) reaches the provider of A first, then B, then
C; each is one Task with its level. Commit and abort may arrive more than once (after a crash
anywhere) and for a transaction whose prepare never arrived: make them idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from host.client._objects import to_dict
from host.errors import WbemError
from host.flags import WbemFlag
from host.model import values
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire

Phase = wire.TaskPhase


@dataclass
class Task:
    """One task as a provider sees it. `message` is the wire ProviderTask."""

    message: wire.ProviderTask

    @property
    def transaction_id(self) -> str:
        return self.message.transaction_id

    @property
    def task_id(self) -> str:
        return self.message.task_id

    @property
    def level(self) -> int:
        return self.message.level

    @property
    def class_name(self) -> str:
        """The class of this level (the provider's own class)."""
        return self.message.class_name

    @property
    def namespace(self) -> str:
        return self.message.namespace

    @property
    def instance(self) -> pb.WbemObject:
        return self.message.object

    @cached_property
    def properties(self) -> dict[str, Any]:
        """The instance's property values (NULL is None) and system properties ("__PATH", ...)."""
        return to_dict(self.message.object)

    @property
    def path(self) -> str:
        return self.message.object.system.path

    @property
    def relpath(self) -> str:
        return self.message.object.system.relpath

    @property
    def flags(self) -> int:
        return self.message.flags

    @property
    def create_only(self) -> bool:
        return bool(self.flags & WbemFlag.CREATE_ONLY)

    @property
    def update_only(self) -> bool:
        return bool(self.flags & WbemFlag.UPDATE_ONLY)

    @cached_property
    def context(self) -> dict[str, Any]:
        return {v.name: values.to_python(v.value) for v in self.message.context.values}

    @property
    def partial_properties(self) -> list[str] | None:
        """__PUT_EXT_PROPERTIES of a partial update (only these may be written), else None."""
        ctx = {k.lower(): v for k, v in self.context.items()}
        if not ctx.get("__put_extensions"):
            return None
        return list(ctx.get("__put_ext_properties") or [])

    @property
    def strict_nulls(self) -> bool:
        return bool({k.lower(): v for k, v in self.context.items()}.get("__put_ext_strict_nulls"))

    @property
    def principal(self) -> str:
        return self.message.caller.principal

    @property
    def deadline_unix_ms(self) -> int:
        return self.message.deadline_unix_ms


class Provider:
    """Base class of a provider. `name` must match the registered __Win32Provider.Name."""

    name: str = ""

    async def start(self) -> None:
        """Called once before the first task (open stores, connections)."""

    async def stop(self) -> None:
        """Called once at shutdown."""

    async def prepare(self, task: Task) -> None:
        """Check the put and stage it; nothing may be visible. Raise WbemError to refuse."""
        raise WbemError("WBEM_E_PROVIDER_NOT_CAPABLE", f"{self.name} does not support puts")

    async def commit(self, task: Task) -> None:
        """Make what prepare staged visible. Must not fail once prepare succeeded."""

    async def abort(self, task: Task) -> None:
        """Forget what prepare staged (there may be nothing)."""

    async def put(self, task: Task) -> None:
        """One phase, when this provider is the put's only participant: prepare then commit."""
        await self.prepare(task)
        await self.commit(task)
