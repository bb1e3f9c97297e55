"""A worker running as a Redis ACL user made from host/acl.py serves its provider, and can touch
nothing else: not the repository, not another provider's streams or records."""

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from host.acl import worker_rules
from host.client import instance, prop
from host.repository.keys import Keys
from tests.provider_env import Workers, dynamic, register, wait_live

PASSWORD = "acl-test-password-0123456789"


def _as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{parts.hostname}:{parts.port}"))


@pytest.fixture
async def worker_user(redis: Redis, key_prefix: str) -> AsyncIterator[str]:
    # On a cluster, users are per node: every node gets it.
    every = {"target_nodes": redis.ALL_NODES} if hasattr(redis, "get_nodes") else {}
    info = await redis.info("server", **every)
    if every:  # {node: info}
        info = next(iter(info.values()))
    major = int(str(info["redis_version"]).split(".")[0])
    user = f"worker-{key_prefix}"
    rules = worker_rules(key_prefix, "root\\cimv2", "Acl_P", redis_major=major)
    await redis.execute_command("ACL", "SETUSER", user, "on", f">{PASSWORD}", *rules, **every)
    try:
        yield user
    finally:
        await redis.execute_command("ACL", "DELUSER", user, **every)


async def test_a_worker_with_only_its_acl_serves_its_provider_and_nothing_else(
        client, redis: Redis, redis_url: str, key_prefix: str, worker_user: str, tmp_path: Path) -> None:
    url = _as_user(redis_url, worker_user)
    w = Workers(tmp_path, url, key_prefix)
    try:
        await register(client, "Acl_P")
        w.start("Acl_P")
        await client.put_class(dynamic("Acl_Item", "Acl_P", prop("Id", "string", key=True), prop("N", "uint32")))
        await wait_live(client, "Acl_P")
        assert (await client.put_instance(instance("Acl_Item", Id="a", N=1))).relpath == 'Acl_Item.Id="a"'
        assert w.items("Acl_P")['acl_item.id="a"']["N"] == 1
    finally:
        w.stop_all()

    keys = Keys(key_prefix)
    from host.redis_connect import open_redis

    async with await open_redis(url) as as_worker:  # a cluster client on a cluster, as the worker has
        await as_worker.get(keys.done("root\\cimv2", "Acl_P", "x"))  # its own records: allowed
        refused = [
            lambda: as_worker.hset(keys.classes("root\\cimv2"), "acl_item", b"forged"),  # the repository
            lambda: as_worker.hgetall(keys.namespaces),
            lambda: as_worker.xadd(keys.tasks("root\\cimv2", "Other_P"), {"task": b"x"}),  # another provider
            lambda: as_worker.get(keys.done("root\\cimv2", "Other_P", "x")),
            lambda: as_worker.keys("*"),  # no listing
            lambda: as_worker.flushall(),
            lambda: as_worker.eval("return 1", 0),  # no scripts
        ]
        for attempt in refused:
            with pytest.raises(NoPermissionError):
                await attempt()
