"""The scenarios of issue 5, one function each. Every function sets up what it needs (once per Env),
drives the load through the asyncio SDK and returns the run's figures (see `bench.runner.drive`).

    S1  PutInstance of a static class, derivation depth 3, CREATE_OR_UPDATE
    S2  PutInstance of a provider-backed class, depth 3, one InventoryProvider per level, each in its
        own worker process: a two-phase transaction (prepare x3, commit x3)
    S3  S2 through PutInstanceAsync with WBEM_FLAG_SEND_STATUS, every sink event read and counted
    S4  PutClass of a 200-class hierarchy (fresh class names each run)
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bench.env import Env, Proc, dynamic
from bench.runner import Progress, Stop, drive
from host.client import WbemError, WbemFlag, instance, prop, wmi_class
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import services_pb2 as api

_runs = itertools.count(1)
HIERARCHY = 200  # classes per S4 hierarchy
FANOUT = 3  # S4: a class has up to 3 subclasses (a complete ternary tree, depth 5 for 200 classes)


def _spread(depth: int, props: int) -> list[list[pb.Property]]:
    """`props` properties (Id, the key, included) spread over `depth` levels, topmost first."""
    levels: list[list[pb.Property]] = [[] for _ in range(depth)]
    levels[0].append(prop("Id", "string", key=True))
    for j in range(1, props):
        levels[min((j - 1) * depth // max(props - 1, 1), depth - 1)].append(
            prop(f"P{j}", "string" if j % 2 else "uint32"))
    return levels


def _template(leaf: str, props: int) -> pb.WbemObject:
    vals: dict[str, Any] = {"Id": "x"}
    for j in range(1, props):
        vals[f"P{j}"] = f"value-{j}" if j % 2 else j
    return instance(leaf, vals)


def _with_id(template: pb.WbemObject, key: str) -> pb.WbemObject:
    obj = pb.WbemObject()
    obj.CopyFrom(template)
    obj.properties[0].value.string = key
    return obj


def _puts(client: Any, template: pb.WbemObject) -> tuple[Any, Any]:
    """The load's put of index i (a fresh key each, unique to this run) and its warm-up puts."""
    tag = f"r{next(_runs)}"

    async def op(i: int) -> None:
        await client.put_instance(_with_id(template, f"{tag}-{i}"), WbemFlag.CREATE_OR_UPDATE)

    async def warm(i: int) -> None:
        await client.put_instance(_with_id(template, f"{tag}-w{i}"), WbemFlag.CREATE_OR_UPDATE)
    return op, warm


# ------------------------------------------------------------------ S1: static, depth 3


async def static_classes(env: Env, depth: int = 3, props: int = 5, family: str = "S1") -> str:
    """Bench_<family>_d<depth>p<props>_L0 <- ... _L<depth-1>; the leaf's name."""
    key = f"static:{family}:{depth}:{props}"
    if key not in env.state:
        assert env.client is not None
        names = [f"Bench_{family}_d{depth}p{props}_L{k}" for k in range(depth)]
        for k, (name, ps) in enumerate(zip(names, _spread(depth, props), strict=True)):
            await env.client.put_class(wmi_class(name, *ps, superclass=names[k - 1] if k else ""))
        env.state[key] = names[-1]
    return str(env.state[key])


def s1_request(leaf: str, props: int = 5) -> bytes:
    """The serialized PutInstanceRequest of S1: floor A echoes payloads of this size."""
    return api.PutInstanceRequest(namespace="root\\cimv2", object=_with_id(_template(leaf, props), "s1-000000"),
                                  flags=0).SerializeToString()


async def s1_static(env: Env, *, concurrency: int, count: int, depth: int = 3, props: int = 5,
                    label: str = "S1 static put", family: str = "S1") -> dict[str, Any]:
    assert env.client is not None
    leaf = await static_classes(env, depth, props, family)
    op, warm = _puts(env.client, _template(leaf, props))
    run = await drive(label, op, count=count, concurrency=concurrency, meter=env.meter(),
                      warmup=warm, warmup_count=min(50, count))
    run.update(scenario="S1", depth=depth, props=props)
    return run


async def preload(env: Env, instances: int, *, family: str = "R", depth: int = 3, props: int = 5,
                  concurrency: int = 64, through_api: int = 1_000, batch: int = 1_000) -> None:
    """Put instances of the `family` classes (S1's shape) until there are `instances` of them
    (the repository-size sweep). The first `through_api` go through PutInstance; the rest are
    written by the repository's own write step (put_instance.lua, what a PutInstance runs after
    validating) from this process, `batch` per pipeline: the same keys and records, ~20x faster,
    so a 1,000,000-instance repository fills in minutes."""
    assert env.client is not None
    leaf = await static_classes(env, depth, props, family)
    template = _template(leaf, props)
    key = f"preloaded:{family}:{depth}:{props}"
    have = int(env.state.get(key, 0))
    if instances <= have:
        return
    client = env.client
    progress = Progress(f"preload to {instances:,}", instances - have)
    todo = iter(range(have, min(instances, through_api)))

    async def one() -> None:
        for i in todo:
            Stop.check()
            await client.put_instance(_with_id(template, f"pre-{i}"), WbemFlag.CREATE_OR_UPDATE)
            progress.tick()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    if instances > through_api:
        await _bulk_fill(env, template, max(have, through_api), instances, batch, progress)
    progress.clear()
    env.state[key] = instances


async def _bulk_fill(env: Env, template: pb.WbemObject, start: int, end: int, batch: int, progress: Progress) -> None:
    from redis.asyncio import Redis

    from bench.env import NAMESPACE, PREFIX
    from host.model import instances as model
    from host.repository.store import Repository

    redis = Redis.from_url(env.redis_url)
    try:
        repo = Repository(redis, prefix=PREFIX, server="BENCH")
        ns, schema, _ = await repo.snapshot(NAMESPACE, "PutInstance")
        chain = [c.class_name.lower() for c in schema.chain(template.class_name)]
        script = repo._put_instance  # noqa: SLF001 - the write step of a PutInstance, on purpose
        await redis.script_load(script.script)
        for first in range(start, end, batch):
            Stop.check()
            async with redis.pipeline(transaction=False) as p:
                for i in range(first, min(first + batch, end)):
                    plan = model.plan_put_instance(_with_id(template, f"pre-{i}"), 0, None, schema, repo.limits)
                    keys = repo.instance_keys(ns, plan)
                    p.evalsha(script.sha, len(keys), *keys, plan.identity, plan.class_name.lower(),
                              plan.record.SerializeToString(deterministic=True), "upsert", "", schema.version,
                              f"pre-{i}", *chain)
                results = await p.execute()
            bad = [r for r in results if r[0] != b"OK"]
            if bad:
                raise RuntimeError(f"bulk fill refused: {bad[:3]}")
            for _ in results:
                progress.tick()
    finally:
        await redis.aclose()


# ------------------------------------------------------------------ S2 / S3: provider-backed, depth 3


async def provider_chain(env: Env, depth: int = 3, props: int = 5) -> tuple[str, list[Proc]]:
    """Bench_S2_d<depth>p<props>_L0 <- ..., level k served by provider BenchP_d<depth>[p<props>]_L<k>, each in a
    worker process of its own."""
    key = f"chain:{depth}:{props}"
    if key not in env.state:
        assert env.client is not None
        providers = [f"BenchP_d{depth}{'' if props == 5 else f'p{props}'}_L{k}" for k in range(depth)]
        names = [f"Bench_S2_d{depth}p{props}_L{k}" for k in range(depth)]
        workers = []
        for p in providers:
            await env.register(p)
            workers.append(env.start_worker(p))
        for k, (name, ps) in enumerate(zip(names, _spread(depth, props), strict=True)):
            await env.client.put_class(dynamic(name, providers[k], *ps, superclass=names[k - 1] if k else ""))
        await env.wait_live(*providers)
        env.state[key] = (names[-1], workers)
    leaf, workers = env.state[key]
    return str(leaf), list(workers)


def drop_chain(env: Env, depth: int, props: int = 5) -> None:
    """Stop the workers of a chain (the depth sweep does not keep six chains' workers running)."""
    key = f"chain:{depth}:{props}"
    if key in env.state:
        for p in env.state.pop(key)[1]:
            env.stop_proc(p)


async def s2_provider(env: Env, *, concurrency: int, count: int, depth: int = 3, props: int = 5,
                      label: str = "S2 provider put") -> dict[str, Any]:
    assert env.client is not None
    leaf, workers = await provider_chain(env, depth, props)
    op, warm = _puts(env.client, _template(leaf, props))
    run = await drive(label, op, count=count, concurrency=concurrency, meter=env.meter(*workers),
                      warmup=warm, warmup_count=min(20, count))
    run.update(scenario="S2", depth=depth, props=props, workers=len(workers), task_hops=2 * depth)
    return run


async def s3_async(env: Env, *, concurrency: int, count: int, depth: int = 3, props: int = 5,
                   label: str = "S3 async+SEND_STATUS") -> dict[str, Any]:
    assert env.client is not None
    leaf, workers = await provider_chain(env, depth, props)
    template = _template(leaf, props)
    tag = f"r{next(_runs)}"
    client = env.client

    async def op(i: int) -> int:
        call = await client.put_instance_async(_with_id(template, f"{tag}-{i}"),
                                               WbemFlag.CREATE_OR_UPDATE | WbemFlag.SEND_STATUS)
        n = 0
        async for _ in call:
            n += 1
        final = call.final
        if final is None or final.set_status.hresult != 0:
            raise WbemError(final.set_status.hresult if final else "WBEM_E_FAILED", "async put failed")
        return n

    async def warm(i: int) -> None:
        await op(count + i)

    run = await drive(label, op, count=count, concurrency=concurrency, meter=env.meter(*workers),
                      warmup=warm, warmup_count=min(20, count))
    events = run.pop("results")
    run.update(scenario="S3", depth=depth, props=props, workers=len(workers), events=sum(events),
               events_per_put=sum(events) / len(events) if events else float("nan"),
               events_expected_per_put=depth + 2)  # accepted, one progress per level, the final status
    run["results"] = []
    return run


# ------------------------------------------------------------------ S4: PutClass of a 200-class hierarchy


def hierarchy_class(run: str, i: int) -> pb.WbemObject:
    """Class i of S4's sequence: hierarchy i // 200, node j = i % 200 of a ternary tree (breadth-first)."""
    h, j = divmod(i, HIERARCHY)
    name = f"Bench_S4_{run}_h{h}_c{j}"
    if j == 0:
        return wmi_class(name, prop("Id", "string", key=True), prop("P0", "uint32"))
    parent = f"Bench_S4_{run}_h{h}_c{(j - 1) // FANOUT}"
    return wmi_class(name, prop(f"P{j}", "string" if j % 2 else "uint32"), superclass=parent)


async def s4_put_class(env: Env, *, concurrency: int, count: int, label: str = "S4 PutClass x200") -> dict[str, Any]:
    """`count` PutClass calls, whole 200-class hierarchies; a class is sent once its superclass is in."""
    assert env.client is not None
    run_tag = f"r{next(_runs)}"
    client = env.client
    done: dict[int, asyncio.Event] = {}

    def event(i: int) -> asyncio.Event:
        return done.setdefault(i, asyncio.Event())

    async def before(i: int) -> None:
        h, j = divmod(i, HIERARCHY)
        if j:
            await event(h * HIERARCHY + (j - 1) // FANOUT).wait()

    async def op(i: int) -> None:
        try:
            await client.put_class(hierarchy_class(run_tag, i), WbemFlag.CREATE_OR_UPDATE)
        finally:
            event(i).set()

    async def warm(i: int) -> None:
        await client.put_class(wmi_class(f"Bench_S4_{run_tag}_warm{i}", prop("Id", "string", key=True)))

    run = await drive(label, op, count=count, concurrency=concurrency, meter=env.meter(), before=before,
                      warmup=warm, warmup_count=min(10, count))
    run.update(scenario="S4", hierarchy=HIERARCHY, fanout=FANOUT)
    return run


SCENARIOS = {"S1": s1_static, "S2": s2_provider, "S3": s3_async, "S4": s4_put_class}
