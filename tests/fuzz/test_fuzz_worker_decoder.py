r"""Fuzz the worker's stream decoder (issue 6, part 5: hostile input).

A real worker process (``wmiput worker``, the bundled SQLite Inventory provider) serves a provider
registered with a real host. Thousands of malformed entries are XADDed straight onto its task
stream, past the host:

* entries without a "task" field (other names, "TASK", an empty name, several fields);
* random bytes that are no ProviderTask;
* ProviderTasks with hostile content made by Hypothesis (fixed seed): empty and 4,096- to
  100,000-character ids and names, any level, any flags, objects of any genus, reply_to pointing at
  the worker's own task stream or at a key that is no stream; TASK_PHASE_UNSPECIFIED; PREPARE and
  PUT past their deadline; and each of them truncated and bit-flipped.

What is sent is never a task a provider could apply: a decodable PREPARE or PUT always carries a
deadline in the past, so the runtime must refuse it (WBEM_E_PROVIDER_TIMED_OUT) before calling the
provider. COMMIT and ABORT tasks of transactions that do not exist are included too: they are
well-formed, so a worker that accepts them carries them out, and the Inventory provider records
them in its call log; they must still leave the provider's data (its items and staged rows) alone.
Mutations that would decode into an executable PREPARE/PUT, name a reply stream outside this
test's keys, or carry a phase number TaskPhase does not define are left out and counted; unknown
phase numbers have their own test below.

Both tests run twice (issue 6, part 3, signed tasks): without a task key, where a worker runs
whatever decodes (so forged-but-well-formed tasks are carried out: the documented behaviour without
a key), and with a task key shared by host and worker, where half the entries carry a valid HMAC
(what a key holder could send: the decoder behind the signature check is fuzzed the same way) and
the rest none or a wrong one (they must be dropped unrun and unanswered).

The worker must stay up and keep serving (a normal put through the host succeeds afterwards), the
stream must drain (XLEN 0, XPENDING 0: no malformed entry stays pending), every decodable task with
a reply stream must be answered exactly once, and the provider's data must be unchanged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from host.client import WbemClient, WbemFlag, instance
from host.config import Settings
from host.errors import HResult
from host.repository.keys import WORKER_GROUP, Keys
from host.server.app import Host
from host.signing import Signer
from tests.helpers import async_wait_for
from tests.provider_env import Workers, dynamic, prop, register, wait_live
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import provider_pb2 as wire

PROVIDER = "FuzzInv"
CLASS = "Fuzz_Dyn"
NS = "root\\cimv2"
HYPOTHESIS_EXAMPLES = 550
GARBAGE = 500
MISSING_FIELD = 120
MIN_ENTRIES = 2000
SEED = 0x0DEC0DE
PAST_MS = 1_600_000_000_000  # 2020-09-13: every deadline drawn lies before it
DRAIN_TIMEOUT_S = 45.0
TASK_KEY = b"fuzz-task-key-" + b"0123456789abcdef" * 3
P = wire.TaskPhase
KNOWN_PHASES = set(P.values())

HOSTILE = ["", " ", "\x00", "\x00\x01\x1f\x7f", "a\nb", "{", "}", "{x}", "*", "?", "[", "\\", "\\\\", ":", "/", "..",
           "|", "a/0/prepare", "/0/abort", "__PATH", "\u202e", "\ufeff", "\U0001f4a5", "root\\cimv2", CLASS, PROVIDER,
           "workers", "0-0", "$", ">", "%s%n", "'; DROP TABLE items; --"]
huge = st.builds(lambda c, n: c * n, st.sampled_from(["a", "{", "\\", "\u00e9", "/"]), st.sampled_from([4096, 100_000]))
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=16),
                 st.integers(0, 29).flatmap(lambda i: huge if i == 7 else st.sampled_from(HOSTILE)))
KINDS = ["phase-unspecified", "past-deadline-prepare", "past-deadline-put", "forged-commit", "forged-abort"]


@dataclass
class Entry:
    fields: dict[bytes, bytes]
    origin: str

    def describe(self) -> str:
        return f"{self.origin}: {({k: v[:120] for k, v in self.fields.items()})!r}"


@dataclass
class Expect:
    """What the runtime must do with an entry, worked out from its bytes as the worker decodes them."""

    verdict: str  # "drop" (no task), "refuse-phase", "refuse-deadline", "forged" (COMMIT/ABORT), or why it is left out
    task: wire.ProviderTask | None = None


def judge(fields: dict[bytes, bytes], replies: set[str], signer: Signer, stream: str) -> Expect:
    """`replies`: the reply streams an entry of this test may name (its sink, its own task stream, the
    decoy hash); any other one is left out (the worker would XADD to a key outside this test)."""
    payload = signer.verified("task", stream, fields)
    if payload is None:  # no "task" field, or (with a key) no valid signature
        return Expect("drop")
    try:
        t = wire.ProviderTask.FromString(payload)
    except (DecodeError, RecursionError):
        return Expect("drop")
    prefix = stream.split(":{p|", 1)[0]
    if t.reply_to and not (t.reply_to.startswith(f"{prefix}:{{h|") and t.reply_to.endswith("}:replies")
                           and len(t.reply_to) < 1024):
        return Expect("drop")  # replies go only to a host's reply stream: anything else is not answered
    if t.phase not in KNOWN_PHASES:
        return Expect("left out: unknown phase number", t)
    if t.reply_to and t.reply_to not in replies:
        return Expect("left out: reply_to outside this test's keys", t)
    if t.phase in (P.TASK_PHASE_PREPARE, P.TASK_PHASE_PUT):
        if t.deadline_unix_ms == 0 or t.deadline_unix_ms >= PAST_MS:
            return Expect("left out: an executable (forged) prepare or put", t)
        return Expect("refuse-deadline", t)
    if t.phase == P.TASK_PHASE_UNSPECIFIED:
        return Expect("refuse-phase", t)
    return Expect("forged", t)


def hostile_tasks(n: int, sink: str, own: str, decoy: str) -> list[tuple[str, wire.ProviderTask]]:
    out: list[tuple[str, wire.ProviderTask]] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        d = data.draw
        kind = d(st.sampled_from(KINDS))
        t = wire.ProviderTask(task_id=d(text), transaction_id=d(text), level=d(st.integers(-(2**31), 2**31 - 1)),
                              class_name=d(text), namespace=d(text), provider=d(text),
                              flags=d(st.integers(0, 2**32 - 1)),
                              reply_to=d(st.sampled_from([sink, sink, sink, sink, own, "", decoy])))
        t.object.genus = d(st.sampled_from([0, 1, 2, 2, 2, 7]))
        t.object.class_name = d(st.one_of(st.just(CLASS), text))
        for name, value in d(st.lists(st.tuples(st.one_of(st.sampled_from(["Id", "Note"]), text), text), max_size=3)):
            t.object.properties.add(name=name, value=pb.Value(string=value))
        t.object.system.relpath = d(text)
        if d(st.booleans()):
            t.context.values.add(name=d(st.sampled_from(["__PUT_EXTENSIONS", "__PUT_EXT_PROPERTIES", "", "x"])),
                                 value=pb.Value(boolean=True))
        t.caller.principal, t.caller.host = d(text), d(text)
        if kind == "phase-unspecified":
            t.deadline_unix_ms = d(st.integers(-(2**63), 2**63 - 1))
        elif kind.startswith("past-deadline"):
            t.phase = P.TASK_PHASE_PREPARE if kind.endswith("prepare") else P.TASK_PHASE_PUT
            t.deadline_unix_ms = d(st.one_of(st.integers(-(2**63), -1), st.integers(1, PAST_MS - 1)))
        else:
            t.phase = P.TASK_PHASE_COMMIT if kind == "forged-commit" else P.TASK_PHASE_ABORT
            t.deadline_unix_ms = d(st.integers(-(2**63), 2**63 - 1))
        out.append((kind, t))

    collect()
    # Unique ids, so each task is judged by its own reply; empty ones stay empty (they share one
    # "done" record, as a worker must cope with).
    for i, (_, t) in enumerate(out):
        if t.task_id:
            t.task_id += f"|fz{i}"
            t.transaction_id += f"|fz{i}"
    return out


def build_entries(sink: str, own: str, decoy: str, signer: Signer) -> tuple[list[Entry], Counter[str]]:
    rng = random.Random(SEED)
    replies = {sink, own, decoy}
    made: list[Entry] = []
    for kind, t in hostile_tasks(HYPOTHESIS_EXAMPLES, sink, own, decoy):
        raw = t.SerializeToString()
        made.append(Entry({b"task": raw}, kind + (" (reply_to: own task stream)" if t.reply_to == own else
                                                  " (reply_to: a hash)" if t.reply_to == decoy else "")))
        made.append(Entry({b"task": raw[:rng.randrange(0, len(raw))]}, f"truncated({kind})"))
        b = bytearray(raw)
        for _ in range(rng.choice([1, 2, 4, 8])):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        made.append(Entry({b"task": bytes(b)}, f"bitflip({kind})"))
    for _ in range(GARBAGE):
        made.append(Entry({b"task": rng.randbytes(rng.choice([1, 3, 16, 100, 1000, 5000]))}, "garbage"))
    valid = wire.ProviderTask(task_id="x", phase=P.TASK_PHASE_PREPARE, deadline_unix_ms=1, reply_to=sink)
    for i in range(MISSING_FIELD):
        name = [b"tusk", b"TASK", b"", b"reply", b"task ", b"\x00task"][i % 6]
        fields = {name: valid.SerializeToString() if i % 2 else rng.randbytes(8)}
        if i % 5 == 0:
            fields[b"other"] = b"x"
        made.append(Entry(fields, "missing-field"))
    if signer.key is not None:  # half signed as a host would sign them, the rest unsigned or wrongly signed
        for e in made:
            task = e.fields.get(b"task", b"")
            if b"task" in e.fields and rng.random() < 0.5:
                e.origin = "signed " + e.origin
                e.fields[b"sig"] = signer.entry("task", own, task)["sig"]
            elif rng.random() < 0.5:  # a valid MAC of these bytes, but for another stream; or junk
                e.origin = "badly signed " + e.origin
                e.fields[b"sig"] = rng.choice([signer.entry("task", sink, task)["sig"], b"0" * 64, b""])
            else:
                e.origin = "unsigned " + e.origin
    kept, left_out = [], Counter[str]()
    for e in made:
        verdict = judge(e.fields, replies, signer, own).verdict
        if verdict.startswith("left out"):
            left_out[verdict.removeprefix("left out: ")] += 1
        else:
            kept.append(e)
    return kept, left_out


def provider_data(db: Path) -> tuple[dict[str, str], list[tuple[Any, ...]], Counter[str]]:
    """(items: relpath -> props, staged rows, calls by phase) of the Inventory provider's database."""
    c = sqlite3.connect(db)
    try:
        items = dict(c.execute("SELECT relpath, props FROM items"))
        staged = sorted(c.execute("SELECT tx, level, relpath FROM staged"))
        phases = Counter(p for (p,) in c.execute("SELECT phase FROM calls"))
        return items, staged, phases
    finally:
        c.close()


@dataclass
class Env:
    client: WbemClient
    workers: Workers
    proc: Any
    signer: Signer  # the host's and the worker's: Signer() (no key) or Signer(TASK_KEY)


@pytest.fixture(params=["no task key", "task key"])
async def env(request: pytest.FixtureRequest, host_settings: Settings, tmp_path: Path, redis_url: str,
              key_prefix: str) -> AsyncIterator[Env]:
    """A host and one worker process serving the Inventory provider for a dynamic class, sharing a
    task key or not; all stopped afterwards."""
    signer = Signer(TASK_KEY) if request.param == "task key" else Signer()
    settings, env_vars = host_settings, {}
    if signer.key is not None:
        key_file = tmp_path / "task.key"
        key_file.write_bytes(TASK_KEY + b"\n")
        settings = dataclasses.replace(host_settings, task_key_file=str(key_file))
        env_vars = {"WMIPUT_TASK_KEY_FILE": str(key_file)}
    h = Host(settings)
    await h.start()
    w = Workers(tmp_path, redis_url, key_prefix)
    c = await WbemClient.connect(h.target, timeout=30.0)
    try:
        await register(c, PROVIDER)
        proc = w.start(PROVIDER, env=env_vars)
        await c.put_class(dynamic(CLASS, PROVIDER, prop("Id", "string", key=True), prop("Note", "string")))
        await wait_live(c, PROVIDER)
        yield Env(c, w, proc, signer)
    finally:
        await c.close()
        w.stop_all()
        await h.stop()


async def _drained(redis: Redis, stream: str) -> bool:
    return await redis.xlen(stream) == 0 and (await redis.xpending(stream, WORKER_GROUP))["pending"] == 0


async def _xadd_all(redis: Redis, stream: str, entries: list[Entry]) -> None:
    for i in range(0, len(entries), 200):
        async with redis.pipeline(transaction=False) as p:
            for e in entries[i:i + 200]:
                p.xadd(stream, e.fields)
            await p.execute()


def _worker_log(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob(f"worker-{PROVIDER}-*.log")))


@pytest.mark.timeout(150)
async def test_thousands_of_malformed_task_entries_drain_and_the_worker_keeps_serving(
        env: Env, redis: Redis, key_prefix: str, tmp_path: Path) -> None:
    keys = Keys(key_prefix)
    stream = keys.tasks(NS, PROVIDER)
    sink, decoy = f"{key_prefix}:{{h|fuzz}}:replies", f"{key_prefix}:fuzz:decoy-hash"
    await redis.hset(decoy, "field", "value")
    await env.client.put_instance(instance(CLASS, Id="before", Note="n"), WbemFlag.CREATE_ONLY)
    db = env.workers.data_dir / f"{PROVIDER}.sqlite"
    items_before, staged_before, calls_before = provider_data(db)
    assert 'fuzz_dyn.id="before"' in items_before and staged_before == []

    started = time.perf_counter()
    entries, left_out = await asyncio.to_thread(build_entries, sink, stream, decoy, env.signer)
    assert len(entries) >= MIN_ENTRIES, (len(entries), left_out)
    expected = [judge(e.fields, {sink, stream, decoy}, env.signer, stream) for e in entries]
    built = time.perf_counter()
    await _xadd_all(redis, stream, entries)
    await async_wait_for(lambda: _drained(redis, stream), timeout=DRAIN_TIMEOUT_S, interval=0.1,
                         message="the task stream drained (XLEN 0, XPENDING 0)")
    drained = time.perf_counter()
    pending = await redis.xpending(stream, WORKER_GROUP)

    # The worker is up and serves: its process, its heartbeat, a normal put through the host.
    assert env.proc.poll() is None, f"the worker exited with {env.proc.returncode}:\n{_worker_log(tmp_path)[-3000:]}"
    await wait_live(env.client, PROVIDER)
    res = await env.client.put_instance(instance(CLASS, Id="after", Note="still serving"), WbemFlag.CREATE_ONLY)
    assert res.relpath == f'{CLASS}.Id="after"'

    # Every decodable task with a reply stream was answered, once per entry, with its own verdict
    # (and, with a key, a signed reply); nothing else was answered.
    raw_replies = await redis.xrange(sink)
    assert all(env.signer.verified("reply", sink, f) is not None for _, f in raw_replies)
    answers = [wire.ProviderReply.FromString(f[b"reply"]) for _, f in raw_replies]
    wanted = [x for x in expected if x.task is not None and x.task.reply_to == sink]
    codes = Counter(HResult(a.hresult).name for a in answers)
    # A task id sent more than once (a task and its truncation, say) is answered once per entry; a
    # recorded vote may answer a later entry of the same id, so such a group gets one of its verdicts.
    verdict_code = {"refuse-phase": "WBEM_E_INVALID_PARAMETER", "refuse-deadline": "WBEM_E_PROVIDER_TIMED_OUT",
                    "forged": "WBEM_S_NO_ERROR"}
    groups: dict[str, list[str]] = {}
    for x in wanted:
        groups.setdefault(x.task.task_id, []).append(verdict_code[x.verdict])
    got_codes: dict[str, list[str]] = {}
    for a in answers:
        got_codes.setdefault(a.task_id, []).append(HResult(a.hresult).name)
    wrong = [f"task {tid[:60]!r}: sent {len(want)} ({sorted(want)}), replies {sorted(got_codes.get(tid, []))}"
             for tid, want in groups.items()
             if len(got_codes.get(tid, [])) != len(want)
             or (tid and not set(got_codes[tid]) <= set(want))]  # empty ids share one "done" record
    assert len(answers) == len(wanted), (len(answers), len(wanted))
    assert not wrong, "\n".join(wrong[:10])

    # The provider's data: untouched by all of it (only the normal put after it is new).
    items_after, staged_after, calls_after = provider_data(db)
    assert staged_after == staged_before == []
    assert {k: v for k, v in items_after.items() if k != 'fuzz_dyn.id="after"'} == items_before
    forged_run = (calls_after["commit"] - calls_before["commit"] - 1) + (calls_after["abort"] - calls_before["abort"])
    # Only well-formed COMMIT/ABORT tasks reach the provider (at most once per entry: an id already
    # answered gets its recorded reply instead).
    assert 0 < forged_run <= sum(x.verdict == "forged" for x in expected), forged_run
    assert calls_after["prepare"] - calls_before["prepare"] == 1, "only the normal put after the fuzz prepared"

    stream_ttl, decoy_ttl = await redis.ttl(stream), await redis.ttl(decoy)
    env.workers.stop_all()  # its log is complete once it has stopped
    assert env.proc.returncode == 0, env.proc.returncode
    log = _worker_log(tmp_path)
    by_origin = Counter(e.origin.split(" (")[0].split("(")[0] for e in entries)
    print(f"\nfuzz worker decoder [{'task key' if env.signer.key else 'no task key'}]: entries={len(entries)} "
          f"{dict(sorted(by_origin.items()))} (left out: {dict(left_out)}), "
          f"dropped unrun={sum(x.verdict == 'drop' for x in expected)} (logged: "
          f"{log.count('dropping a malformed task entry')} malformed, {log.count('no host signed')} unsigned), "
          f"answered={len(answers)} of {len(wanted)} with a reply stream, distinct reply codes={len(codes)} "
          f"{dict(codes)}, task ids sent more than once={sum(len(v) > 1 for v in groups.values())}, "
          f"forged COMMIT/ABORT carried out by the provider={forged_run}, crashes: worker exits=0 (exit code "
          f"{env.proc.returncode} on SIGTERM), 'task handling failed' log lines={log.count('task handling failed')}, "
          f"pending after drain={pending['pending']}, provider data changes=0, TTL set on the worker's own task "
          f"stream={stream_ttl} s, on the decoy hash={decoy_ttl} s, build {built - started:.1f} s, "
          f"drain {drained - built:.1f} s")


@pytest.mark.timeout(90)
async def test_a_task_with_an_unknown_phase_number_is_answered_and_acknowledged(
        env: Env, redis: Redis, key_prefix: str, tmp_path: Path) -> None:
    """proto3 enums are open: a ProviderTask whose phase is a number TaskPhase does not define decodes
    fine (with a task key: signed by a host, e.g. a newer one that knows a phase this worker does
    not). workers/runtime.py means to answer it WBEM_E_INVALID_PARAMETER ("unknown task phase") and
    acknowledge it, like any task it cannot carry out."""
    stream = Keys(key_prefix).tasks(NS, PROVIDER)
    sink = f"{key_prefix}:{{h|fuzz}}:replies"
    phases = [5, 99, -1, 2**31 - 1]
    tasks = [wire.ProviderTask(task_id=f"unknown-phase-{p}", transaction_id=f"tx-{p}", phase=p, reply_to=sink,
                               deadline_unix_ms=1) for p in phases]
    await _xadd_all(redis, stream, [Entry({k.encode(): v for k, v in env.signer.entry(
        "task", stream, t.SerializeToString()).items()}, f"phase {p}") for p, t in zip(phases, tasks, strict=True)])

    async def settled() -> bool:
        return await _drained(redis, stream) and await redis.xlen(sink) >= len(tasks)

    try:
        await async_wait_for(settled, timeout=10, interval=0.1, message="unknown-phase tasks answered and acknowledged")
        ok = True
    except AssertionError:
        ok = False
    assert env.proc.poll() is None, "the worker exited"
    if not ok:
        left = await redis.xrange(stream)
        pending = await redis.xpending(stream, WORKER_GROUP)
        log = [ln for ln in _worker_log(tmp_path).splitlines() if "task handling failed" in ln]
        pytest.fail(f"{len(left)} unknown-phase task entries stay on the stream, {pending['pending']} pending "
                    f"(redelivered every claim cycle, never acknowledged), {await redis.xlen(sink)} replies; phases "
                    f"{sorted(wire.ProviderTask.FromString(f[b'task']).phase for _, f in left)}; the worker logs "
                    f"{len(log)} times e.g. {log[:1]}")
    answers = [wire.ProviderReply.FromString(f[b"reply"]) for _, f in await redis.xrange(sink)]
    assert sorted(a.task_id for a in answers) == sorted(t.task_id for t in tasks)
    assert {HResult(a.hresult).name for a in answers} == {"WBEM_E_INVALID_PARAMETER"}
