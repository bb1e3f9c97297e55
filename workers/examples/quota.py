"""An example provider that checks each put against the state of the machine: disk quotas.

Its class has a Path (a directory that must exist) and a LimitMB (which must fit in the free
space of that directory's file system). Prepare checks both and writes the quota to a staging
file; commit renames it into place (atomic, and harmless when repeated); abort deletes it.

    wmiput worker --provider workers.examples.quota:DiskQuotaProvider --option data_dir=./data/providers
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from pathlib import Path

from host.errors import WbemError
from workers.provider import Provider, Task


class DiskQuotaProvider(Provider):
    def __init__(self, name: str = "DiskQuota", data_dir: str = "data/providers", **_: str) -> None:
        self.name = name
        self.dir = Path(data_dir) / name

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def _file(self, task: Task) -> Path:
        return self.dir / (hashlib.sha256(task.relpath.lower().encode()).hexdigest()[:24] + ".json")

    def _staged(self, task: Task) -> Path:
        return self.dir / f".{task.transaction_id}-{task.level}.json"

    async def prepare(self, task: Task) -> None:
        props = task.properties
        path, limit = props.get("Path"), props.get("LimitMB")
        if not path or not os.path.isdir(str(path)):
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"Path {path!r} is not a directory on this machine",
                            parameter_info="Path")
        free_mb = (await asyncio.to_thread(shutil.disk_usage, str(path))).free // (1024 * 1024)
        if limit is not None and int(limit) > free_mb:
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"LimitMB {limit} exceeds the {free_mb} MB free under {path}",
                            parameter_info="LimitMB")
        exists = self._file(task).exists()
        if exists and task.create_only:
            raise WbemError("WBEM_E_ALREADY_EXISTS", f"{task.relpath} already exists in {self.name}")
        if not exists and task.update_only:
            raise WbemError("WBEM_E_NOT_FOUND", f"{task.relpath} does not exist in {self.name}")
        record = {k: v for k, v in props.items() if not k.startswith("__")} | {"__RELPATH": task.relpath}
        self._staged(task).write_text(json.dumps(record, default=str))

    async def commit(self, task: Task) -> None:
        staged = self._staged(task)
        if staged.exists():
            os.replace(staged, self._file(task))

    async def abort(self, task: Task) -> None:
        self._staged(task).unlink(missing_ok=True)

    def quotas(self) -> list[dict[str, object]]:
        return [json.loads(p.read_text()) for p in sorted(self.dir.glob("[!.]*.json"))]
