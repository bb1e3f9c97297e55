"""A provider that does nothing: `--provider null` runs S2/S3 with it, so the figures are the host's,
the workers' runtime's and Redis's, without the example provider's SQLite (its connections and fsyncs)."""

from __future__ import annotations

from workers.provider import Provider, Task


class NullProvider(Provider):
    """Accepts every put; stores nothing."""

    def __init__(self, name: str = "Null", **_: str) -> None:
        self.name = name

    async def prepare(self, task: Task) -> None:
        return None

    async def commit(self, task: Task) -> None:
        return None

    async def abort(self, task: Task) -> None:
        return None
