"""python -m bench --metrics-cost: what Prometheus metrics cost, measured on against off.

Two complete systems side by side, each with its own Redis, host and provider workers: one with
metrics off (no --metrics-listen: nothing is recorded), one with them on (host and every worker
serve /metrics, the host's provider census every 5 s). S1 (static put) and S2 (provider-backed,
depth 3) at each concurrency asked run on both, alternating which goes first, for several rounds,
so that a slow spell of the machine falls on both alike. Per point the median of the rounds'
ratios on/off (throughput, and CPU per put of client, host, workers and Redis together) goes to
OUT/metrics_cost.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.env import Env
from bench.runner import line

ROUNDS = 3


async def run_metrics_cost(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    envs: dict[str, Env] = {}
    runs: list[dict[str, Any]] = []
    try:
        for mode in ("off", "on"):
            folder = tmp / f"metrics-{mode}"
            folder.mkdir(parents=True, exist_ok=True)
            env = envs[mode] = Env(folder, appendfsync=args.appendfsync, worker_concurrency=args.worker_concurrency,
                                   provider=args.provider, metrics=mode == "on")
            env.start_redis()
            env.start_host()
            await env.connect()
        for rnd in range(ROUNDS):
            for name, fn in (("S1", scenarios.s1_static), ("S2", scenarios.s2_provider)):
                for conc in args.concurrencies:
                    for mode in (("off", "on") if rnd % 2 == 0 else ("on", "off")):
                        run = await fn(envs[mode], concurrency=conc, count=args.counts[name])
                        run.update(metrics=mode, round=rnd)
                        runs.append(run)
                        print(f"round {rnd} metrics {mode:<3} {line(run)}", flush=True)
    finally:
        for env in envs.values():
            await env.aclose_client()
            env.close()
    ratios: dict[str, Any] = {}
    for on in (r for r in runs if r["metrics"] == "on"):
        off = next(r for r in runs if r["metrics"] == "off" and r["round"] == on["round"]
                   and r["scenario"] == on["scenario"] and r["concurrency"] == on["concurrency"])
        point = ratios.setdefault(f"{on['scenario']} c={on['concurrency']}", {"throughput": [], "cpu_per_put": []})
        point["throughput"].append(on["throughput"] / off["throughput"])
        point["cpu_per_put"].append(on["cpu_s_per_put"] / off["cpu_s_per_put"])
    summary = {k: {"throughput_on_over_off": round(statistics.median(v["throughput"]), 3),
                   "cpu_per_put_on_over_off": round(statistics.median(v["cpu_per_put"]), 3),
                   "rounds": len(v["throughput"])} for k, v in ratios.items()}
    return {"runs": runs, "ratios": summary}


def write(out: Path, doc: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics_cost.json"
    path.write_text(json.dumps(doc, indent=2))
    return path
