"""OpenTelemetry traces of a put (host/tracing.py): one trace from the client span through the
host's gRPC front door to every provider worker, the trace context carried inside the stream
message; nothing at all with tracing off (the default).

The workers run in this process, so that the one in-memory exporter sees every span."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from host import tracing
from host.client import WbemClient, WbemFlag, instance, prop
from host.config import Settings
from host.redis_connect import open_redis
from tests.helpers import async_wait_for, serving
from tests.provider_env import dynamic, register, wait_live
from workers.examples.inventory import InventoryProvider
from workers.provider import Task
from workers.runtime import Worker, WorkerSettings

pytestmark = pytest.mark.timeout(90)
LEVELS = ("TraceA", "TraceB", "TraceC")


class Recording(InventoryProvider):
    """The bundled example provider, noting the trace context of every task it gets."""

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        self.contexts: list[tuple[str, dict[str, str]]] = []

    async def prepare(self, task: Task) -> None:
        self.contexts.append(("prepare", dict(task.message.trace_context)))
        await super().prepare(task)

    async def commit(self, task: Task) -> None:
        self.contexts.append(("commit", dict(task.message.trace_context)))
        await super().commit(task)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of this process (client, host, workers) kept in memory; the provider is this module's
    own (tracing.use_provider), so no other test is traced."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    assert tracing.configure("console", "wmiput-test", provider=provider)
    try:
        yield spans
    finally:
        tracing.use_provider(None)
        provider.shutdown()


async def _chain(client: WbemClient, redis_url: str, prefix: str, data_dir: Path
                 ) -> AsyncIterator[list[Recording]]:
    """TraceA <- TraceB <- TraceC (Trace_A, Trace_B, Trace_C), each Dynamic with its own provider,
    served by a Worker in this process."""
    redis = await open_redis(redis_url)
    providers = [Recording(name=n, data_dir=str(data_dir)) for n in LEVELS]
    workers = [Worker(redis, [p], WorkerSettings(prefix=prefix, claim_idle_ms=60_000)) for p in providers]
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        for n in LEVELS:
            await register(client, n)
        await client.put_class(dynamic("Trace_A", "TraceA", prop("Id", "string", key=True), prop("Size", "uint32")))
        await client.put_class(dynamic("Trace_B", "TraceB", prop("Shape", "string"), superclass="Trace_A"))
        await client.put_class(dynamic("Trace_C", "TraceC", prop("Weight", "uint32"), superclass="Trace_B"))
        await wait_live(client, *LEVELS)
        yield providers
    finally:
        for w in workers:
            w.stop()
        await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 20)
        await redis.aclose()


@pytest.fixture
async def traced_host(host_settings: Settings) -> AsyncIterator[Any]:
    async with serving(dataclasses.replace(host_settings, tracing="console")) as h:
        yield h


def _by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans}


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    out = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        out.append(span.name)
    return out


def _assert_one_trace_through_every_provider(spans: list[ReadableSpan], root_name: str, server_name: str,
                                             phases: tuple[str, ...]) -> dict[int, ReadableSpan]:
    by_id = _by_id(spans)
    assert {s.context.trace_id for s in spans} == {spans[0].context.trace_id}, "one trace"
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == [root_name], "the client's span is the root"
    client = next(s for s in spans if s.name == f"wmiput.client/{server_name}")
    assert client.kind == SpanKind.CLIENT and client.parent.span_id == roots[0].context.span_id
    server = next(s for s in spans if s.name == server_name)
    assert server.kind == SpanKind.SERVER and server.parent.span_id == client.context.span_id, \
        "the host's server span is a child of the client's"
    assert all(s.parent.span_id in by_id for s in spans if s.parent is not None), "no span's parent is missing"
    for level, name in enumerate(LEVELS):
        for phase in phases:
            worker = [s for s in spans if s.name == f"provider {name} {phase} level {level}"]
            assert len(worker) == 1, f"one {phase} span of {name}: {[s.name for s in spans]}"
            w = worker[0]
            assert w.kind == SpanKind.CONSUMER
            assert w.attributes["wmiput.provider"] == name and w.attributes["wmiput.phase"] == phase
            assert w.attributes["wmiput.level"] == level and w.attributes["wmiput.class"] == f"Trace_{'ABC'[level]}"
            assert w.attributes["wmiput.task_id"].endswith(f"/{level}/{phase}")
            sent = by_id[w.parent.span_id]  # the host's span for that task
            assert sent.name == f"task {name} {phase} level {level}" and sent.kind == SpanKind.PRODUCER
            assert sent.attributes["wmiput.hresult"] == "0x00000000"
            assert w.attributes["wmiput.transaction_id"] == sent.attributes["wmiput.transaction_id"]
            assert server_name in _ancestors(w, by_id), "inside the host's span of the put"
    decision = [s for s in spans if s.name == "decision"]
    assert len(decision) == 1 and decision[0].attributes["wmiput.decision"] == "commit"
    assert server_name in _ancestors(decision[0], by_id)
    plan = [s for s in spans if s.name == "validate and plan"]
    assert plan and all(server_name in _ancestors(s, by_id) for s in plan)
    return by_id


async def test_a_depth_3_put_is_one_trace_from_the_client_through_every_provider(
        exporter, traced_host, redis_url, key_prefix, tmp_path):
    async with await WbemClient.connect(traced_host.target, timeout=30.0) as client:
        chain = _chain(client, redis_url, key_prefix, tmp_path)
        providers = await chain.__anext__()
        try:
            exporter.clear()  # the setup's own puts were traced too
            with tracing.tracer().start_as_current_span("test put") as root:
                res = await client.put_instance(instance("Trace_C", Id="t1", Size=3, Shape="round", Weight=9))
            assert res.relpath == 'Trace_C.Id="t1"'
            trace_id = root.get_span_context().trace_id

            def complete() -> list[ReadableSpan]:
                spans = list(exporter.get_finished_spans())
                return spans if sum(s.name.startswith("provider ") for s in spans) == 6 else []
            spans = await async_wait_for(complete, timeout=20, message="the spans of the put")
            _assert_one_trace_through_every_provider(spans, "test put", "PutInstance", ("prepare", "commit"))
            assert spans[0].context.trace_id == trace_id
            # The context crossed Redis inside each task: the traceparent names the put's trace.
            for p in providers:
                assert [phase for phase, _ in p.contexts] == ["prepare", "commit"]
                for _, ctx in p.contexts:
                    assert ctx["traceparent"].split("-")[1] == f"{trace_id:032x}"
            server = next(s for s in spans if s.name == "PutInstance")
            assert server.attributes["wmiput.class"] == "Trace_C" and server.attributes["rpc.method"] == "PutInstance"
        finally:
            await chain.aclose()


async def test_an_asynchronous_put_traces_its_final_sink_event(exporter, traced_host, redis_url, key_prefix,
                                                              tmp_path):
    async with await WbemClient.connect(traced_host.target, timeout=30.0) as client:
        chain = _chain(client, redis_url, key_prefix, tmp_path)
        await chain.__anext__()
        try:
            exporter.clear()
            with tracing.tracer().start_as_current_span("test async put"):
                call = await client.put_instance_async(instance("Trace_C", Id="a1", Weight=1), WbemFlag.SEND_STATUS)
                events = [e async for e in call]
            assert events[-1].final and events[-1].set_status.hresult == 0

            def complete() -> list[ReadableSpan]:
                spans = list(exporter.get_finished_spans())
                names = [s.name for s in spans]
                return spans if names.count("final sink event") == 1 and "PutInstanceAsync" in names and sum(
                    n.startswith("provider ") for n in names) == 6 else []
            spans = await async_wait_for(complete, timeout=20, message="the spans of the asynchronous put")
            by_id = _assert_one_trace_through_every_provider(spans, "test async put", "PutInstanceAsync",
                                                             ("prepare", "commit"))
            final = next(s for s in spans if s.name == "final sink event")
            assert final.attributes["wmiput.hresult"] == "WBEM_S_NO_ERROR"
            assert _ancestors(final, by_id)[-3:] == ["PutInstanceAsync", "wmiput.client/PutInstanceAsync",
                                                     "test async put"]
            assert "call PutInstanceAsync" in {s.name for s in spans}
        finally:
            await chain.aclose()


async def test_with_tracing_off_nothing_is_exported_and_tasks_carry_no_trace_context(
        exporter, host, redis_url, key_prefix, tmp_path):
    # `host` is the default host: tracing off.
    async with await WbemClient.connect(host.target, timeout=30.0, tracing=False) as client:
        chain = _chain(client, redis_url, key_prefix, tmp_path)
        providers = await chain.__anext__()
        try:
            await client.put_instance(instance("Trace_C", Id="o1", Weight=1))
            assert exporter.get_finished_spans() == ()
            assert all(ctx == {} for p in providers for _, ctx in p.contexts)
            assert sorted(phase for p in providers for phase, _ in p.contexts) == ["commit"] * 3 + ["prepare"] * 3

            # A traced client calling that host: its own spans, and nothing from the host or the workers.
            async with await WbemClient.connect(host.target, timeout=30.0) as traced:
                with tracing.tracer().start_as_current_span("test put"):
                    await traced.put_instance(instance("Trace_C", Id="o2", Weight=2))
            assert sorted(s.name for s in exporter.get_finished_spans()) == ["test put", "wmiput.client/PutInstance"]
            assert len([c for p in providers for c in p.contexts]) == 12
            assert all(ctx == {} for p in providers for _, ctx in p.contexts)
        finally:
            await chain.aclose()


def test_an_unknown_tracing_mode_is_refused_and_off_is_the_default():
    assert Settings().tracing == "off" and Settings.from_env({"WMIPUT_TRACING": "otlp"}).tracing == "otlp"
    assert tracing.configure("off", "x") is False
    with pytest.raises(ValueError):
        tracing.configure("jaeger", "x")
