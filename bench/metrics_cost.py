"""python -m bench --metrics-cost: what Prometheus metrics cost, measured on against off.

Twice the same thing, each time with its own Redis, host and provider workers: S1 (static put)
and S2 (provider-backed, depth 3) at each concurrency asked, first with metrics off (no
--metrics-listen: nothing is recorded), then on (host and every worker serve /metrics, the
host's provider census every 5 s). The ratios on/off of throughput and of CPU per put (client,
host, workers and Redis together) go to OUT/metrics_cost.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.env import Env
from bench.runner import line


async def run_metrics_cost(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for mode in ("off", "on"):
        folder = tmp / f"metrics-{mode}"
        folder.mkdir(parents=True, exist_ok=True)
        env = Env(folder, appendfsync=args.appendfsync, worker_concurrency=args.worker_concurrency,
                  provider=args.provider, metrics=mode == "on")
        try:
            env.start_redis()
            env.start_host()
            await env.connect()
            for name, fn in (("S1", scenarios.s1_static), ("S2", scenarios.s2_provider)):
                for conc in args.concurrencies:
                    run = await fn(env, concurrency=conc, count=args.counts[name])
                    run["metrics"] = mode
                    runs.append(run)
                    print(f"metrics {mode:<3} {line(run)}", flush=True)
        finally:
            await env.aclose_client()
            env.close()
    ratios = {}
    for on in (r for r in runs if r["metrics"] == "on"):
        off = next(r for r in runs if r["metrics"] == "off" and r["scenario"] == on["scenario"]
                   and r["concurrency"] == on["concurrency"])
        ratios[f"{on['scenario']} c={on['concurrency']}"] = {
            "throughput_on_over_off": round(on["throughput"] / off["throughput"], 3),
            "cpu_per_put_on_over_off": round(on["cpu_s_per_put"] / off["cpu_s_per_put"], 3),
        }
    return {"runs": runs, "ratios": ratios}


def write(out: Path, doc: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics_cost.json"
    path.write_text(json.dumps(doc, indent=2))
    return path
