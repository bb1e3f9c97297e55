"""Traces of a put (OpenTelemetry): the setup of a process, and the helpers that carry a trace
from the client through the host and the task streams to every provider worker.

Off by default. `configure("console" | "otlp", service_name)` (the `--tracing` setting of
`wmiput serve` and `wmiput worker`, env WMIPUT_TRACING) installs an SDK tracer provider, unless
the process has one already (an application embedding the host, or a test): then that one is
used. With tracing off nothing here costs more than a context-variable lookup: the host starts
no span, so every helper below finds no recording span and does nothing.

Where a trace goes (docs/observability.md):
- the client injects its span's W3C context into the call's metadata (traceparent, tracestate);
- the host's servicer extracts it and starts the put's server span ("PutInstance", ...);
- spans of the host's work (dispatch, plan, each task sent, the decision, the repository, the
  final sink event) are children of whatever span is current (contextvars, across awaits);
- each task carries its span's context in ProviderTask.trace_context, since Redis itself passes
  no context; the worker runs the provider call in a span whose parent that context names.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

MODES = ("off", "console", "otlp")
SCOPE = "wmiput"
# The puts a host traces (one trace each).
PUTS = frozenset({"PutInstance", "PutClass", "PutInstanceAsync", "PutClassAsync", "PutAsync"})

_log = logging.getLogger("wmiput.tracing")
_provider: Any = None  # a provider given to configure()/use_provider(): wins over the global one
_tracer: tuple[Any, Any] = (None, None)  # (provider, its tracer), cached
_open: dict[str, Any] = {}  # task id -> the host's span for that task, until its reply (or none) comes
_NULL = contextlib.nullcontext()


# ---------------------------------------------------------------------------------------- setup

def parse_mode(mode: str | None) -> str:
    m = (mode or "off").strip().lower()
    if m not in MODES:
        raise ValueError(f"tracing: {mode!r} is not one of {', '.join(MODES)}")
    return m


def configure(mode: str | None, service_name: str, provider: Any = None) -> bool:
    """Turn tracing on for this process unless `mode` is "off"; True if it is on.

    `provider`: a tracer provider to use (a test's, with an in-memory exporter). Without one, the
    process's provider is used if it has one; else an SDK provider is installed, exporting to the
    console or over OTLP (opentelemetry-exporter-otlp, else the console with a warning)."""
    mode = parse_mode(mode)
    if mode == "off":
        return False
    if provider is not None:
        use_provider(provider)
        return True
    if installed():
        return True
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        _log.warning("tracing=%s needs the OpenTelemetry SDK (pip install opentelemetry-sdk); tracing is off", mode)
        return False
    sdk = TracerProvider(resource=Resource.create({"service.name": service_name}))
    sdk.add_span_processor(BatchSpanProcessor(_exporter(mode)))
    trace.set_tracer_provider(sdk)  # flushed and shut down at exit by the SDK
    return True


def _exporter(mode: str) -> Any:
    if mode == "otlp":
        try:  # endpoint, headers, protocol: the standard OTEL_EXPORTER_OTLP_* variables
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            return OTLPSpanExporter()
        except ImportError:
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
                return HttpExporter()
            except ImportError:
                _log.warning("tracing=otlp needs opentelemetry-exporter-otlp; spans go to the console instead")
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter
    return ConsoleSpanExporter()


def use_provider(provider: Any) -> None:
    """Spans of this process go to `provider` (None: back to the process's global provider)."""
    global _provider
    _provider = provider


def installed() -> bool:
    """Whether spans of this process go anywhere: a provider given here, or a global one set."""
    if _provider is not None:
        return True
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def tracer() -> trace.Tracer:
    global _tracer
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    cached_for, cached = _tracer
    if cached_for is not provider:
        cached = provider.get_tracer(SCOPE)
        _tracer = (provider, cached)
    return cached


def active() -> bool:
    """A put is being traced here: the current span records."""
    return trace.get_current_span().is_recording()


# ---------------------------------------------------------------------------------------- propagation

def inject(carrier: MutableMapping[str, str], ctx: otel_context.Context | None = None) -> None:
    """W3C trace context (traceparent, tracestate) of `ctx` (default: the current one) into `carrier`."""
    propagate.inject(carrier, context=ctx)


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)


# ---------------------------------------------------------------------------------------- spans

def span(name: str, attributes: Mapping[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL) -> Any:
    """A child span of the current one, as the current span; nothing when no put is traced."""
    if not active():
        return _NULL
    return tracer().start_as_current_span(name, kind=kind, attributes=_clean(attributes))


def annotate(**attributes: Any) -> None:
    """Attributes on the current span (if it records), as wmiput.<name>."""
    s = trace.get_current_span()
    if s.is_recording():
        s.set_attributes(_clean({f"wmiput.{k}": v for k, v in attributes.items()}))


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not attributes:
        return None
    out = {}
    for k, v in attributes.items():
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        if v is not None:
            out[k] = v
    return out


def _error(s: Any, e: BaseException) -> None:
    name = getattr(e, "name", "")
    if name:
        s.set_attribute("wmiput.hresult", name)
    s.set_status(Status(StatusCode.ERROR, f"{name}: {getattr(e, 'description', '')}" if name else repr(e)))


# -- the client

def client_call(operation: str, enabled: bool | None) -> Any:
    """Context manager around one put from the client SDK, giving the gRPC metadata to send (or
    None). `enabled`: the client's own span "wmiput.client/<operation>" (None: when a tracer
    provider is installed); in any case a current span's context goes to the host."""
    if enabled if enabled is not None else installed():
        return _client_span(operation)
    if trace.get_current_span().get_span_context().is_valid:
        carrier: dict[str, str] = {}
        inject(carrier)
        return contextlib.nullcontext(tuple(carrier.items()))
    return contextlib.nullcontext(None)


@contextlib.contextmanager
def _client_span(operation: str) -> Any:
    with tracer().start_as_current_span(f"wmiput.client/{operation}", kind=SpanKind.CLIENT,
                                        attributes={"rpc.system": "grpc", "rpc.method": operation}) as s:
        carrier: dict[str, str] = {}
        inject(carrier)
        try:
            yield tuple(carrier.items())
        except Exception as e:
            _error(s, e)
            raise


# -- the host's front door

def _server_attributes(operation: str, request: Any) -> dict[str, Any]:
    obj = getattr(request, "object", None)
    return {"rpc.system": "grpc", "rpc.service": "wmiput.v1.WbemService", "rpc.method": operation,
            "wmiput.namespace": getattr(request, "namespace", ""), "wmiput.flags": int(getattr(request, "flags", 0)),
            "wmiput.class": obj.class_name if obj is not None else ""}


def _parent(context: Any) -> otel_context.Context:
    try:
        metadata = context.invocation_metadata() or ()
    except Exception:  # noqa: BLE001 - no metadata: a root span
        metadata = ()
    return extract({k: v for k, v in metadata if isinstance(v, str)})


def server_unary(operation: str, fn: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
    """A unary put handler run in the put's server span, a child of the client's span if the call
    carried one."""
    async def call(request: Any, context: Any) -> Any:
        with tracer().start_as_current_span(operation, context=_parent(context), kind=SpanKind.SERVER,
                                            attributes=_server_attributes(operation, request)) as s:
            try:
                return await fn(request, context)
            except Exception as e:
                _error(s, e)
                raise
    return call


def server_stream(operation: str, fn: Callable[[Any, Any], AsyncIterator[Any]]
                  ) -> Callable[[Any, Any], AsyncIterator[Any]]:
    """A streaming put handler (the asynchronous puts) in the put's server span; the span is
    current while the handler runs, not while the server sends what it yielded."""
    async def call(request: Any, context: Any) -> AsyncIterator[Any]:
        s = tracer().start_span(operation, context=_parent(context), kind=SpanKind.SERVER,
                                attributes=_server_attributes(operation, request))
        events = fn(request, context)
        try:
            while True:
                with trace.use_span(s, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                    try:
                        item = await events.__anext__()
                    except StopAsyncIteration:
                        break
                yield item
        except Exception as e:
            _error(s, e)
            raise
        finally:
            await events.aclose()
            s.end()
    return call


# -- tasks on the streams (the coordinator) and their providers (the workers)

def _phase(phase: int) -> str:
    from wmiput.v1 import provider_pb2 as wire
    try:
        return wire.TaskPhase.Name(phase).removeprefix("TASK_PHASE_").lower()
    except ValueError:
        return str(phase)


def _task_attributes(task: Any) -> dict[str, Any]:
    return {"wmiput.provider": task.provider, "wmiput.phase": _phase(task.phase), "wmiput.level": task.level,
            "wmiput.transaction_id": task.transaction_id, "wmiput.task_id": task.task_id,
            "wmiput.class": task.class_name, "wmiput.namespace": task.namespace}


def start_task(task: Any) -> None:
    """The host's span for one task it is about to send (a child of the current span), its
    context written into task.trace_context; ended by task_replied or task_forgotten."""
    if not active():
        return
    s = tracer().start_span(f"task {task.provider} {_phase(task.phase)} level {task.level}", kind=SpanKind.PRODUCER,
                            attributes=_task_attributes(task))
    task.trace_context.clear()
    inject(task.trace_context, trace.set_span_in_context(s))
    old = _open.pop(task.task_id, None)
    if old is not None:
        old.end()
    _open[task.task_id] = s


def task_replied(reply: Any) -> None:
    """The reply to a task came: its span ends, with the reply's HRESULT."""
    if not _open:
        return
    s = _open.pop(reply.task_id, None)
    if s is None:
        return
    s.set_attributes({"wmiput.hresult": f"0x{reply.hresult:08X}", "wmiput.worker_id": reply.worker_id})
    if reply.hresult:
        s.set_status(Status(StatusCode.ERROR, reply.status.description or f"0x{reply.hresult:08X}"))
    s.end()


def task_forgotten(task_id: str) -> None:
    """The coordinator stopped waiting for a task: if no reply came, its span ends unanswered."""
    if not _open:
        return
    s = _open.pop(task_id, None)
    if s is not None:
        s.set_status(Status(StatusCode.ERROR, "no answer in time"))
        s.end()


def provider_span(provider: str, task: Any) -> Any:
    """The worker's span around a provider call, a child of the host's span for the task (from
    task.trace_context); nothing for a task that carries no trace."""
    if not task.trace_context:
        return _NULL
    parent = extract(task.trace_context)
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return _NULL
    return tracer().start_as_current_span(f"provider {provider} {_phase(task.phase)} level {task.level}",
                                          context=parent, kind=SpanKind.CONSUMER,
                                          attributes=_task_attributes(task))


__all__ = ["MODES", "PUTS", "active", "annotate", "client_call", "configure", "extract", "inject", "installed",
           "parse_mode", "provider_span", "server_stream", "server_unary", "span", "start_task", "task_forgotten",
           "task_replied", "tracer", "use_provider"]
