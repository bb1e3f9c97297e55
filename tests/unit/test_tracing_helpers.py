"""host/tracing.py without I/O: modes, the W3C context in a task message, and doing nothing when
no put is traced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from host import tracing
from wmiput.v1 import provider_pb2 as wire


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.use_provider(provider)
    try:
        yield spans
    finally:
        tracing.use_provider(None)
        provider.shutdown()


def _task() -> wire.ProviderTask:
    return wire.ProviderTask(task_id="tx1/0/prepare", transaction_id="tx1", phase=wire.TASK_PHASE_PREPARE, level=0,
                             class_name="A", namespace="root\\cimv2", provider="P")


def test_modes():
    assert tracing.parse_mode(None) == "off" and tracing.parse_mode(" OTLP ") == "otlp"
    with pytest.raises(ValueError, match="not one of off, console, otlp"):
        tracing.parse_mode("zipkin")
    assert tracing.configure("off", "x") is False


def test_nothing_happens_when_no_put_is_traced(exporter):
    task = _task()
    tracing.start_task(task)
    assert dict(task.trace_context) == {}
    with tracing.span("x") as s:
        assert s is None
    with tracing.provider_span("P", task) as s:
        assert s is None
    with tracing.client_call("PutInstance", False) as metadata:
        assert metadata is None
    assert exporter.get_finished_spans() == ()


def test_a_task_carries_its_span_and_the_worker_continues_it(exporter):
    task = _task()
    with tracing.tracer().start_as_current_span("put") as put:
        tracing.start_task(task)
    assert task.trace_context["traceparent"].split("-")[1] == f"{put.get_span_context().trace_id:032x}"
    # Over the wire and back, as a worker reads it.
    task = wire.ProviderTask.FromString(task.SerializeToString())
    with tracing.provider_span("P", task):
        pass
    tracing.task_replied(wire.ProviderReply(task_id=task.task_id, hresult=0, worker_id="w1"))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"put", "task P prepare level 0", "provider P prepare level 0"}
    sent, ran = spans["task P prepare level 0"], spans["provider P prepare level 0"]
    assert sent.parent.span_id == spans["put"].context.span_id
    assert ran.parent.span_id == sent.context.span_id
    assert sent.attributes["wmiput.worker_id"] == "w1" and ran.attributes["wmiput.task_id"] == "tx1/0/prepare"


def test_an_unanswered_task_ends_as_an_error(exporter):
    task = _task()
    with tracing.tracer().start_as_current_span("put"):
        tracing.start_task(task)
    tracing.task_forgotten(task.task_id)
    tracing.task_forgotten(task.task_id)  # once is enough
    sent = next(s for s in exporter.get_finished_spans() if s.name.startswith("task "))
    assert not sent.status.is_ok and sent.status.description == "no answer in time"


def test_a_client_without_its_own_span_still_passes_the_current_context_on(exporter):
    with tracing.tracer().start_as_current_span("app") as app:
        with tracing.client_call("PutInstance", False) as metadata:
            assert dict(metadata)["traceparent"].split("-")[2] == f"{app.get_span_context().span_id:016x}"
    assert [s.name for s in exporter.get_finished_spans()] == ["app"]
