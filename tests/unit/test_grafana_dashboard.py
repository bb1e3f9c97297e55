"""deploy/grafana/wmiput-dashboard.json: valid JSON, unique panel ids, and every query names only
the metrics the processes export (host/metrics.py, plus prometheus_client's process_*)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "wmiput-dashboard.json"

COUNTERS = {"wmiput_puts_total", "wmiput_provider_tasks_total", "wmiput_worker_tasks_total",
            "wmiput_worker_redeliveries_total"}
GAUGES = {"wmiput_calls_in_flight", "wmiput_provider_stream_backlog", "wmiput_provider_pending",
          "wmiput_provider_oldest_pending_seconds", "wmiput_provider_live_workers", "wmiput_worker_tasks_in_flight"}
HISTOGRAMS = {"wmiput_put_phase_seconds", "wmiput_redis_round_trips_per_put", "wmiput_worker_task_seconds"}
SERIES = COUNTERS | GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
# PromQL words that look like metric names: aggregation modifiers, set operators, keywords.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, which may hold anything
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)  # label lists
    names = set()
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        if m.group(2) or m.group(1) in KEYWORDS:  # a function call, or a keyword
            continue
        names.add(m.group(1))
    return names


def all_panels(panels: list[dict]) -> list[dict]:
    out = []
    for p in panels:
        out.append(p)
        out.extend(all_panels(p.get("panels", [])))  # a collapsed row keeps its panels inside
    return out


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_the_expression_reader_finds_metric_names():
    assert metric_names('histogram_quantile(0.99, sum by (le, phase) (rate(wmiput_put_phase_seconds_bucket'
                        '{phase="prepare", x=~"a|b"}[$__rate_interval])))') == {"wmiput_put_phase_seconds_bucket"}
    assert metric_names("sum(rate(a_total[5m])) / on(instance) group_left b") == {"a_total", "b"}


def test_panel_ids_are_unique_and_every_panel_has_a_place(dashboard):
    panels = all_panels(dashboard["panels"])
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for p in panels:
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]


def test_every_query_uses_only_exported_metrics_and_every_metric_is_shown(dashboard):
    used: set[str] = set()
    exprs = [(p["title"], t["expr"]) for p in all_panels(dashboard["panels"]) for t in p.get("targets", [])]
    for v in dashboard["templating"]["list"]:  # Grafana's label_values(METRIC, LABEL): the metric is PromQL
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*\w+\)", v["definition"])
            assert m, v["definition"]
            exprs.append((v["name"], m.group(1)))
    assert len(exprs) > 15
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where}: {expr}"
        unknown = {n for n in names if n not in SERIES and not n.startswith("process_")}
        assert not unknown, f"{where}: {expr} names {unknown}"
        used |= names
    shown = (used & (COUNTERS | GAUGES)) | {re.sub(r"_(bucket|sum|count)$", "", n) for n in used} & HISTOGRAMS
    assert COUNTERS | GAUGES | HISTOGRAMS <= shown, sorted(COUNTERS | GAUGES | HISTOGRAMS - shown)


def test_queries_go_through_the_datasource_variable_and_providers_are_selectable(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["provider"]["type"] == "query" and variables["provider"]["includeAll"]
    for p in all_panels(dashboard["panels"]):
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in p["targets"]), p["title"]
        if "provider" in p["title"].lower() or any("wmiput_worker_" in t["expr"] for t in p["targets"]):
            assert all('provider=~"$provider"' in t["expr"] for t in p["targets"]), p["title"]
