"""Prometheus metrics: a known workload, then the host's and the workers' endpoints are scraped.

The host runs in this process with --metrics-listen on a free port; the two provider workers are
real processes, each with its own endpoint (port 0: each logs the port it took). Counters are
process-wide, so the test compares each figure with what it was before the workload.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from host.client import WbemError, WbemFlag, instance, prop, wmi_class
from host.config import Settings
from tests.helpers import async_wait_for
from tests.provider_env import Workers, dynamic, register, wait_live

pytestmark = pytest.mark.timeout(120)
Sample = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture
def host_settings(redis_url: str, key_prefix: str, tmp_path: Path) -> Settings:
    return Settings(listen="127.0.0.1:0", redis_url=redis_url, prefix=key_prefix, server_name="TESTHOST",
                    log_format="json", log_level="warning", grace_seconds=5.0, metrics_listen="127.0.0.1:0",
                    metrics_census_seconds=0.2, data_dir=str(tmp_path / "data"))


def scrape(port: int) -> dict[Sample, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m: dict[Sample, float], name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in m.items() if n == name and set(labels.items()) <= set(ls))


def delta(after: dict[Sample, float], before: dict[Sample, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def worker_port(log: Path) -> int | None:
    if not log.exists():
        return None
    for line in log.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "metrics endpoint":
            return int(rec["listen"].rsplit(":", 1)[1])
    return None


@pytest.fixture
def workers(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[Workers]:
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        yield w
    finally:
        w.stop_all()


async def test_metrics_count_a_known_workload_and_every_phase(host: Any, client: Any, workers: Workers,
                                                              tmp_path: Path) -> None:
    assert host.metrics_port
    for n in ("MetA", "MetB"):
        await register(client, n)
        workers.start(n, env={"WMIPUT_METRICS_LISTEN": "127.0.0.1:0"})
    await client.put_class(dynamic("Met_Base", "MetA", prop("Id", "string", key=True), prop("Size", "uint32")))
    await client.put_class(dynamic("Met_Child", "MetB", prop("Note", "string"), superclass="Met_Base"))
    await client.put_class(wmi_class("Met_Static", prop("Id", "uint32", key=True)))
    await wait_live(client, "MetA", "MetB")
    ports: dict[str, int] = {}

    async def endpoints() -> bool:
        for i, n in enumerate(("MetA", "MetB")):
            p = worker_port(tmp_path / f"worker-{n}-{i}.log")
            if p:
                ports[n] = p
        return len(ports) == 2
    await async_wait_for(endpoints, timeout=30, message="each worker logged its metrics port")

    before = scrape(host.metrics_port)
    before_w = {n: scrape(p) for n, p in ports.items()}
    for i in range(5):
        await client.put_instance(instance("Met_Child", Id=f"c{i}", Size=i, Note="n"), WbemFlag.CREATE_ONLY)
    for i in range(3):
        await client.put_instance(instance("Met_Static", Id=i), WbemFlag.CREATE_ONLY)
    with pytest.raises(WbemError):
        await client.put_instance(instance("Met_Static", Id=0), WbemFlag.CREATE_ONLY)
    call = await client.put_instance_async(instance("Met_Static", Id=10), WbemFlag.SEND_STATUS)
    await call.wait()
    scraped: list[dict[Sample, float]] = []

    async def async_put_counted() -> bool:  # a call is counted just after its final event is written
        scraped[:] = [scrape(host.metrics_port)]
        return delta(scraped[0], before, "wmiput_puts_total", operation="PutInstanceAsync") == 1
    await async_wait_for(async_put_counted, timeout=10, message="the asynchronous put counted")
    after = scraped[0]

    ok = dict(operation="PutInstance", flags="create_only", hresult="WBEM_S_NO_ERROR")
    assert delta(after, before, "wmiput_puts_total", **ok) == 8
    assert delta(after, before, "wmiput_puts_total", operation="PutInstance", hresult="WBEM_E_ALREADY_EXISTS") == 1
    assert delta(after, before, "wmiput_puts_total", operation="PutInstanceAsync", flags="create_or_update",
                 hresult="WBEM_S_NO_ERROR") == 1
    # Every phase was seen: validate for each instance put, a prepare at both levels and a
    # decision and commit for each provider-backed put, the commit of each static one, the total.
    count = "wmiput_put_phase_seconds_count"
    assert delta(after, before, count, phase="validate") >= 10
    assert delta(after, before, count, phase="prepare", level="0") == 5
    assert delta(after, before, count, phase="prepare", level="1") == 5
    assert delta(after, before, count, phase="decide") == 5
    assert delta(after, before, count, phase="commit") == 5 + 3 + 1 + 1  # 5 two-phase, 5 static tries
    assert delta(after, before, count, phase="total") == 10
    assert delta(after, before, "wmiput_redis_round_trips_per_put_count", operation="PutInstance") == 9
    assert delta(after, before, "wmiput_redis_round_trips_per_put_sum", operation="PutInstance") >= 9
    for n in ("MetA", "MetB"):
        for phase in ("prepare", "commit"):
            assert delta(after, before, "wmiput_provider_tasks_total", provider=n, phase=phase, outcome="ok") == 5

    async def census() -> bool:  # refreshed every 0.2 s: one live worker each, nothing left behind
        # (and the asynchronous put's stream has closed: no call in flight)
        m = scrape(host.metrics_port)
        return value(m, "wmiput_calls_in_flight") == 0 and all(
                   value(m, "wmiput_provider_live_workers", provider=n) == 1
                   and value(m, "wmiput_provider_pending", provider=n) == 0
                   and value(m, "wmiput_provider_stream_backlog", provider=n) == 0
                   for n in ("MetA", "MetB"))
    await async_wait_for(census, timeout=10, message="the provider census: one live worker each, nothing pending")

    for n, p in ports.items():
        w_after = scrape(p)
        for phase in ("prepare", "commit"):
            assert delta(w_after, before_w[n], "wmiput_worker_tasks_total", provider=n, phase=phase,
                         outcome="ok") == 5, (n, phase)
            assert delta(w_after, before_w[n], "wmiput_worker_task_seconds_count", provider=n, phase=phase) == 5
        assert value(w_after, "wmiput_worker_tasks_in_flight", provider=n) == 0
        assert value(w_after, "process_cpu_seconds_total") > 0  # the standard process metrics are there


async def test_the_example_workers_of_a_host_with_metrics_take_ports_of_their_own(
        host: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`WMIPUT_METRICS_LISTEN=127.0.0.1:9464 wmiput serve --example-providers`: the workers the host
    starts inherit the environment, and must not try the host's own port (they would exit)."""
    from host.server.app import _start_examples
    from workers import examples

    monkeypatch.setenv("WMIPUT_METRICS_LISTEN", f"127.0.0.1:{host.metrics_port}")
    procs = await _start_examples(host)
    try:
        await wait_live(client, *examples.PROVIDERS)
        assert all(p.poll() is None for p in procs), "an example worker exited"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(15)
