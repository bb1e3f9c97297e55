"""Class changes that touch instances go through fences (host/repository/fences.py), since the
schema and the instances live in different hash tags. Here a change stops half-way, as if its
host died, before or after its schema commit; whoever meets its fence once the lease is over
settles it, and the outcome is whole either way. Runs on one Redis and on a cluster
(pytest --redis-cluster)."""

from __future__ import annotations

import asyncio
import time

import pytest

from host.client import WbemError, instance, prop, wmi_class
from host.repository.fences import DynastyChange
from host.repository.keys import BUCKETS
from host.repository.store import Repository

NS = "root\\cimv2"
LEASE_MS = 400


@pytest.fixture
async def repo(redis, key_prefix) -> Repository:
    r = Repository(redis, prefix=key_prefix, server="TESTHOST")
    await r.init()
    await r.put_class(NS, wmi_class("Fence_Base", prop("Id", "string", key=True)), 0)
    await r.put_class(NS, wmi_class("Fence_Leaf", prop("Color", "string"), superclass="Fence_Base"), 0)
    for i in range(40):  # instances in most buckets
        await r.put_instance(NS, instance("Fence_Leaf", Id=f"l{i}", Color="red"), 0)
    await r.put_instance(NS, instance("Fence_Base", Id="b0"), 0)
    return r


async def _half_done_delete(repo: Repository, *, commit: bool) -> str:
    """DeleteClass Fence_Leaf, stopped after fencing (and, with `commit`, after the schema commit):
    what a host killed at that point leaves behind. Its token."""
    schema = await repo.schema(NS)
    token = repo.fences.new_token()
    changes = {"fence_base": DynastyChange(doomed={"fence_leaf"})}
    await repo.fences.fence(NS, changes, token, lease_ms=LEASE_MS)
    if commit:
        res = await repo._change_classes(  # noqa: SLF001 - the commit step alone, on purpose
            keys=[repo.keys.classes(NS), repo.keys.schema_version(NS), repo.keys.changed(NS),
                  repo.keys.class_change(NS, token)], args=[schema.version, "1", "fence_leaf", b""])
        assert res[0] == b"OK"
    return token


async def _leaf_ids(repo: Repository) -> set[str]:
    try:
        return {o.system.relpath async for o in repo.enum_instances(NS, "Fence_Leaf", 0)}
    except WbemError as e:
        assert e.name == "WBEM_E_INVALID_CLASS"
        return set()


async def _members(repo: Repository, cls: str) -> int:
    return sum([await repo.redis.scard(repo.keys.members(NS, "fence_base", b, cls)) for b in range(BUCKETS)])


async def test_a_put_waits_for_a_fence_then_settles_a_committed_change(repo):
    token = await _half_done_delete(repo, commit=True)
    started = time.monotonic()
    # A put of a surviving class in the fenced dynasty waits for the lease, then settles the
    # change in its bucket and goes ahead.
    await repo.put_instance(NS, instance("Fence_Base", Id="b1"), 0)
    assert time.monotonic() - started >= LEASE_MS / 1000 * 0.8
    assert (await repo.redis.get(repo.keys.class_change(NS, token))).startswith(b"commit")
    # The class is gone, and so are its instances once every bucket is settled: a put of the
    # leaf class is refused (the schema says so), and the next class change of the dynasty,
    # which fences every bucket, settles the others and deletes them.
    with pytest.raises(WbemError) as e:
        await repo.put_instance(NS, instance("Fence_Leaf", Id="l0"), 0)
    assert e.value.name == "WBEM_E_INVALID_CLASS"
    assert await _members(repo, "fence_leaf") > 0
    await repo.put_class(NS, wmi_class("Fence_Tmp", superclass="Fence_Base"), 0)
    assert await repo.delete_class(NS, "Fence_Tmp", 0) == (1, 0)
    assert await _members(repo, "fence_leaf") == 0
    assert await _members(repo, "fence_base") == 2


async def test_a_change_that_never_committed_is_cancelled_for_good(repo):
    token = await _half_done_delete(repo, commit=False)
    await asyncio.sleep(LEASE_MS / 1000)
    # Its fence has lapsed: the next put cancels the change and goes ahead; nothing was deleted.
    await repo.put_instance(NS, instance("Fence_Leaf", Id="l0", Color="blue"), 0)
    assert await repo.redis.get(repo.keys.class_change(NS, token)) == b"cancel"
    # The host that stopped comes back and tries to commit: refused, the schema is unchanged.
    schema = await repo.schema(NS)
    res = await repo._change_classes(  # noqa: SLF001
        keys=[repo.keys.classes(NS), repo.keys.schema_version(NS), repo.keys.changed(NS),
              repo.keys.class_change(NS, token)], args=[schema.version, "1", "fence_leaf", b""])
    assert res[0] == b"CANCELLED"
    assert (await repo.schema(NS)).get("Fence_Leaf") is not None
    # Another class change of the dynasty settles the remaining buckets and proceeds.
    assert await repo.delete_class(NS, "Fence_Leaf", 0) == (1, 40)
    assert await _members(repo, "fence_leaf") == 0


async def test_concurrent_class_changes_of_one_dynasty_take_turns(repo):
    """Fences serialise changes of a dynasty (bucket 0 is the gate): none fails, none deadlocks,
    and puts in between see each change whole."""
    async def change(i: int) -> None:
        await repo.put_class(NS, wmi_class(f"Fence_Sub{i}", prop(f"P{i}", "uint32"), superclass="Fence_Leaf"), 0)
        await repo.put_instance(NS, instance(f"Fence_Sub{i}", Id=f"s{i}", Color="x"), 0)
        await repo.delete_class(NS, f"Fence_Sub{i}", 0)

    async def puts() -> None:
        for i in range(30):
            await repo.put_instance(NS, instance("Fence_Leaf", Id=f"p{i}", Color="y"), 0)

    await asyncio.gather(*(change(i) for i in range(6)), puts())
    schema = await repo.schema(NS)
    assert not [c for c in schema.classes if c.startswith("fence_sub")]
    assert await _members(repo, "fence_leaf") == 70
    for i in range(6):
        assert await _members(repo, f"fence_sub{i}") == 0


async def test_a_namespace_spreads_over_the_cluster(repo, redis):
    """The instances of one namespace, even of one class, are not forced onto one shard."""
    if not hasattr(redis, "get_nodes"):
        pytest.skip("one Redis server: nothing to spread over (run with --redis-cluster)")
    nodes = {redis.get_node_from_key(repo.keys.records(NS, "fence_base", b)).name for b in range(BUCKETS)}
    assert len(nodes) >= 2, nodes
