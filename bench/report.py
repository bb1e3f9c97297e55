"""results.json and results.png: the figures, the machine, and the ratios the issue's targets name."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.env import ROOT

S2_HOPS = 6  # S2 at depth 3: prepare x3 + commit x3


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    mem = 0
    try:
        import psutil
        mem = psutil.virtual_memory().total
    except Exception:
        pass
    return {"platform": platform.platform(), "cpu_model": cpu, "cpus": os.cpu_count(), "memory_bytes": mem,
            "loadavg_at_start": [round(x, 2) for x in load], "hostname": platform.node()}


def versions(redis_version: str) -> dict[str, str]:
    out = {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
           "redis_server": redis_version}
    for pkg in ("wmiput", "grpcio", "protobuf", "redis", "psutil", "matplotlib", "celery"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        from google.protobuf.internal import api_implementation
        out["protobuf_backend"] = api_implementation.Type()
    except Exception:
        pass
    try:
        out["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                           timeout=5).stdout.strip()
    except Exception:
        pass
    return out


def _by(runs: list[dict[str, Any]], scenario: str, **match: Any) -> dict[int, dict[str, Any]]:
    return {r["concurrency"]: r for r in runs
            if r.get("scenario") == scenario and not r.get("sweep") and all(r.get(k) == v for k, v in match.items())}


def ratios(runs: list[dict[str, Any]], alternative: list[dict[str, Any]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    s1, fa = _by(runs, "S1"), _by(runs, "floorA")
    out["S1_throughput_over_floorA"] = {c: round(s1[c]["throughput"] / fa[c]["throughput"], 4)
                                        for c in sorted(s1) if c in fa and fa[c]["throughput"]}
    out["S1_target"] = ">= 0.5"
    s2, fb = _by(runs, "S2"), _by(runs, "floorB")
    if 1 in s2 and 1 in fb:
        floor = fb[1]["p50_ms"] * S2_HOPS
        out["floorB_hop_p50_ms_c1"] = fb[1]["p50_ms"]
        out["floorB_S2_p50_ms_c1"] = round(floor, 3)
        out["S2_p50_c1_over_floorB"] = round(s2[1]["p50_ms"] / floor, 4)
        out["S2_p50_target"] = "<= 2"
    if alternative:
        alt = {r["concurrency"]: r for r in alternative if "throughput" in r}
        out["S2_throughput_over_alternative"] = {c: round(s2[c]["throughput"] / alt[c]["throughput"], 4)
                                                 for c in sorted(s2) if c in alt and alt[c]["throughput"]}
        out["S2_alternative_target"] = ">= 10"
    else:
        out["S2_throughput_over_alternative"] = "not available"
    depth = sorted((r for r in runs if r.get("sweep") == "depth"), key=lambda r: r["depth"])
    if depth:
        out["depth_sweep_p50_ms"] = {r["depth"]: r["p50_ms"] for r in depth}
        out.update(_linearity([(r["depth"], r["p50_ms"]) for r in depth]))
    repo = [r for r in runs if r.get("sweep") == "repo"]
    if len(repo) >= 2:
        small, large = min(repo, key=lambda r: r["repo_size"]), max(repo, key=lambda r: r["repo_size"])
        out["repo_sweep_throughput_loss"] = round(1 - large["throughput"] / small["throughput"], 4)
        out["repo_sweep_target"] = "<= 0.10"
    return out


def _linearity(points: list[tuple[int, float]]) -> dict[str, Any]:
    """How p50 grows with depth: the least-squares line, and the cost each added level adds
    (at most linear growth: those steps do not grow)."""
    if len(points) < 3:
        return {}
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    intercept = my - slope * mx
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in points)
    ss_tot = sum((y - my) ** 2 for _, y in points) or 1.0
    steps = [round(b[1] - a[1], 3) for a, b in zip(points, points[1:], strict=False)]
    return {"depth_sweep_ms_per_level": round(slope, 3), "depth_sweep_ms_at_0": round(intercept, 3),
            "depth_sweep_r2": round(1 - ss_res / ss_tot, 4), "depth_sweep_steps_ms": steps,
            "depth_sweep_target": "at most linear: r2 near 1 and no step far above ms_per_level"}


def write_json(path: Path, doc: dict[str, Any]) -> None:
    for r in doc.get("runs", []):
        r.pop("results", None)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def write_png(path: Path, doc: dict[str, Any]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    runs = [r for r in doc["runs"] if not r.get("sweep")]
    series: dict[str, list[tuple[int, float, float]]] = {}
    for r in runs:
        name = {"floorA": "floor A (grpc echo)", "floorB": f"floor B (redis hop x{S2_HOPS})"}.get(
            r["scenario"], r["label"])
        tp, p50 = r["throughput"], r["p50_ms"]
        if r["scenario"] == "floorB":  # S2's floor: six hops in a row per put
            tp, p50 = tp / S2_HOPS, p50 * S2_HOPS
        series.setdefault(name, []).append((r["concurrency"], tp, p50))
    for r in doc.get("alternative", {}).get("runs", []) or []:
        if "throughput" in r:
            series.setdefault("alternative: celery chain", []).append((r["concurrency"], r["throughput"], r["p50_ms"]))

    depth = sorted((r for r in doc["runs"] if r.get("sweep") == "depth"), key=lambda r: r["depth"])
    fig, axes = plt.subplots(1, 3 if depth else 2, figsize=(19 if depth else 13, 5))
    ax1, ax2 = axes[0], axes[1]
    for name, pts in series.items():
        pts.sort()
        xs = [p[0] for p in pts]
        style = "--" if name.startswith(("floor", "alternative")) else "-"
        ax1.plot(xs, [p[1] for p in pts], style, marker="o", label=name)
        ax2.plot(xs, [p[2] for p in pts], style, marker="o", label=name)
    for ax, title, unit in ((ax1, "throughput", "puts/s (floors: requests/s)"), (ax2, "p50 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["concurrency"] for r in runs}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_yscale("log")
        ax.set_xlabel("client concurrency")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    if depth:  # the depth sweep with its least-squares line: growth at most linear
        ax3, r = axes[2], doc.get("ratios", {})
        xs = [d["depth"] for d in depth]
        ax3.plot(xs, [d["p50_ms"] for d in depth], "-", marker="o", label="S2 p50 (concurrency 1)")
        if "depth_sweep_ms_per_level" in r:
            a, b = r["depth_sweep_ms_at_0"], r["depth_sweep_ms_per_level"]
            ax3.plot(xs, [a + b * x for x in xs], ":", label=f"fit: {a:.1f} + {b:.1f} ms x depth "
                     f"(r2 {r['depth_sweep_r2']:.3f})")
        ax3.set_xlabel("derivation depth (one provider per level)")
        ax3.set_ylabel("ms")
        ax3.set_title("depth sweep")
        ax3.grid(True, alpha=0.3)
        ax3.legend(fontsize=8)
    s = doc["settings"]
    fig.suptitle(f"wmiput bench - {doc['machine']['cpus']} CPUs, appendfsync {s['appendfsync']}, "
                 f"{doc['versions']['python']}, {doc['started_at']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
