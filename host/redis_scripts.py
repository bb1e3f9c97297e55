"""Lua scripts run by their digest (EVALSHA), loaded again when Redis has lost them (a restart).

One `execute_command` per call: redis-py's own Script objects add an argument-checking wrapper
and extra calls to every run, which shows on the put path (bench/)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


def source(package: str, name: str) -> str:
    """The text of `<package>/lua/<name>.lua`."""
    return resources.files(package).joinpath(f"lua/{name}.lua").read_text()


class Script:
    def __init__(self, redis: Redis, script: str) -> None:
        self.redis = redis
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        try:
            return await self.redis.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.redis.script_load(self.script)
            return await self.redis.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
