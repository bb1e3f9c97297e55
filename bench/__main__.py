"""python -m bench: start Redis, the host and the workers, run the scenarios and the floors, write
results.json and results.png. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import floors, report, scenarios
from bench.env import Env
from bench.runner import Stop, line
from host import eventloop

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
# Puts per run (per scenario and concurrency): the full run, then --quick.
COUNTS = {"S1": 3000, "S2": 600, "S3": 600, "S4": 1000, "floorA": 5000, "floorB": 3000}
QUICK_COUNTS = {"S1": 200, "S2": 60, "S3": 60, "S4": 200, "floorA": 500, "floorB": 300}
ALT_WORKERS = 3  # the Celery chain gets as many worker processes as S2 has


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Benchmark of the wmiput host, run from the repository root. It starts everything itself under a
temporary directory (an embedded redis-server, the host as a process, one worker process per
provider), then measures, for each scenario and client concurrency: throughput (puts/s),
p50/p95/p99 latency, and CPU seconds per put summed over every process involved.

  S1  PutInstance of a static class, derivation depth 3, CREATE_OR_UPDATE
  S2  PutInstance of a provider-backed class, depth 3, one provider per level, each in its own
      worker process: a two-phase transaction (6 task hops: prepare x3, commit x3)
  S3  S2 through PutInstanceAsync with WBEM_FLAG_SEND_STATUS, every sink event counted
  S4  PutClass of 200-class hierarchies (fresh class names every run)

and the floors, in the same run: A, a bare grpc.aio echo of S1's request bytes; B, a bare
Redis-stream request/reply hop between two processes (S2's floor is 6 of them). The Celery
alternative (bench/alternative_celery.py) runs too when it is present.""",
        epilog="Results: OUT/results.json and OUT/results.png. Example: python -m bench --quick")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                    help="where results.json and results.png go (default: bench/results/)")
    ap.add_argument("--quick", action="store_true",
                    help="small counts and concurrency 1,16 unless given: a smoke run of well under a minute")
    ap.add_argument("--scenarios", default="S1,S2,S3,S4", metavar="S1,S2,...",
                    help="scenarios to run (default S1,S2,S3,S4)")
    ap.add_argument("--concurrency", default=None, metavar="1,16,64",
                    help="client concurrencies (default 1,16,64; --quick: 1,16)")
    ap.add_argument("--count", type=int, default=None, metavar="N",
                    help="puts per run for every scenario and floor (default: per scenario, "
                         f"{COUNTS}; --quick: {QUICK_COUNTS})")
    ap.add_argument("--appendfsync", choices=("always", "everysec", "no"), default="everysec",
                    help="the embedded redis-server's appendfsync (default everysec; the host's own default is "
                         "always)")
    ap.add_argument("--worker-concurrency", type=int, default=16, metavar="N",
                    help="tasks each worker process runs at once (the worker's default, 16)")
    ap.add_argument("--provider", default=None, metavar="inventory|null",
                    help="what serves S2/S3's levels: the bundled SQLite InventoryProvider (default) or a provider "
                         "that does nothing (bench/providers.py), to see the host's own cost; the Celery chain's "
                         "steps do the same (the same SQL, or nothing). With --sweep-scale, a comma-separated "
                         "list (default null,inventory; --quick: null)")
    ap.add_argument("--no-floors", action="store_true", help="skip floors A and B")
    ap.add_argument("--no-alternative", action="store_true", help="skip the Celery alternative even if present")
    ap.add_argument("--sweep-depth", action="store_true", help="S2 at depths 1 to 6 (concurrency 1)")
    ap.add_argument("--sweep-size", action="store_true",
                    help="S1 and S2 with instances of 5 and of 200 properties (concurrency 16)")
    ap.add_argument("--sweep-repo", action="store_true",
                    help="S1 in a repository of 1,000 and of --repo-size instances (concurrency 16)")
    ap.add_argument("--repo-size", type=int, default=None, metavar="N",
                    help="the large repository of --sweep-repo (default 100,000; --full: 1,000,000)")
    ap.add_argument("--full", action="store_true",
                    help="every sweep, with the issue's 1,000,000-instance repository (takes a long time)")
    ap.add_argument("--sweep-scale", action="store_true",
                    help="instead of the scenarios: the scaling sweep (bench/scale.py): S1 and S2 with 1 and 2 hosts, "
                         "1 and 2 worker processes per provider, on one Redis server and on a 3-shard Redis Cluster, "
                         "for a fixed time per point at one concurrency; then the census of Redis commands per put "
                         "by hash tag and the capacity model of docs/scaling.md. Writes OUT/scaling.json and "
                         "OUT/scaling.png (about 4 minutes on a quiet machine; --quick: under a minute)")
    ap.add_argument("--scale-seconds", type=float, default=None, metavar="S",
                    help="--sweep-scale: seconds per point (default 8; --quick: 1)")
    ap.add_argument("--scale-model", type=Path, default=None, metavar="FILE",
                    help="compute the model of docs/scaling.md again from a scaling.json written before "
                         "(nothing is measured) and write OUT/scaling.json and OUT/scaling.png")
    ap.add_argument("--metrics-cost", action="store_true",
                    help="S1 and S2 with Prometheus metrics off, then on: the ratios (bench/metrics_cost.py)")
    ap.add_argument("--mof", action="store_true",
                    help="time loading the DMTF CIM Schema 2.49.0 with wmiput mofcomp (bench/mof.py)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory (logs, Redis data)")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="sample the host and one worker with py-spy during every run and write what took the "
                         "CPU to DIR (bench/profile.py); sampling slows the run, so its figures are not the ones "
                         "to report")
    a = ap.parse_args(argv)
    if a.full:
        a.sweep_depth = a.sweep_size = a.sweep_repo = True
    if a.repo_size is None:
        a.repo_size = 1_000_000 if a.full else 100_000
    a.concurrencies = [int(x) for x in (a.concurrency or ("1,16" if a.quick else "1,16,64")).split(",") if x]
    kinds = [k.strip() for k in (a.provider or "").split(",") if k.strip()]
    if any(k not in ("inventory", "null") for k in kinds):
        ap.error(f"--provider: inventory or null, not {a.provider!r}")
    if a.sweep_scale:
        if a.concurrency is not None and len(a.concurrencies) != 1:
            ap.error("--sweep-scale measures at one concurrency: give one value to --concurrency")
        a.scale_concurrency = a.concurrencies[0] if a.concurrency is not None else 64
        a.scale_seconds = a.scale_seconds or (1.0 if a.quick else 8.0)
        a.scale_providers = kinds or (["null"] if a.quick else ["null", "inventory"])
    elif len(kinds) > 1:
        ap.error("--provider takes one value (a list only with --sweep-scale)")
    a.provider = kinds[0] if kinds else "inventory"
    a.scenario_list = [s.strip().upper() for s in a.scenarios.split(",") if s.strip()]
    unknown = set(a.scenario_list) - set(scenarios.SCENARIOS)
    if unknown:
        ap.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(scenarios.SCENARIOS)}")
    base = QUICK_COUNTS if a.quick else COUNTS
    a.counts = {k: (a.count or v) for k, v in base.items()}
    return a


def emit(run: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    runs.append(run)
    print(line(run), flush=True)


async def alternative(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    """The Celery chain of another helper's bench/alternative_celery.py, when it imports."""
    if args.no_alternative:
        return {"status": "skipped (--no-alternative)", "runs": []}
    try:
        mod = importlib.import_module("bench.alternative_celery")
        fn = mod.run_celery_chain
    except Exception as e:  # noqa: BLE001 - any failure to import means "not available"
        return {"status": f"not available ({type(e).__name__}: {e})", "runs": []}
    out = []
    for c in args.concurrencies:
        t0 = time.monotonic()
        try:
            r = await asyncio.to_thread(fn, env.redis_url, workers=ALT_WORKERS, concurrency=c,
                                        count=args.counts["S2"], tmp=env.tmp / f"celery-c{c}", steps=args.provider)
            r = {"label": "alt celery chain", "concurrency": c, "count": args.counts["S2"], **r,
                 "elapsed_s": round(time.monotonic() - t0, 3)}
            print(f"{'alt celery chain':<28} c={c:<3} {r['throughput']:>9.1f}/s  p50 {r['p50_ms']:>8.2f}  "
                  f"p95 {r['p95_ms']:>8.2f}  p99 {r['p99_ms']:>8.2f} ms  cpu/put {r['cpu_s_per_put'] * 1e3:>7.3f} ms",
                  flush=True)
        except Exception as e:  # noqa: BLE001
            r = {"label": "alt celery chain", "concurrency": c, "error": f"{type(e).__name__}: {e}"}
            print(f"alt celery chain c={c}: failed: {r['error']}", flush=True)
        out.append(r)
    return {"status": "ran", "module": "bench.alternative_celery", "workers": ALT_WORKERS, "runs": out}


def _cancel_on_signals() -> None:
    """SIGINT or SIGTERM: stop the drivers and cancel the running bench (its clean-up still runs)."""
    loop, main_task = asyncio.get_running_loop(), asyncio.current_task()
    assert main_task is not None

    def interrupt() -> None:
        Stop.requested = True
        main_task.cancel()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)


async def run_all(env: Env, args: argparse.Namespace, started_at: str) -> dict[str, Any]:
    t0 = time.monotonic()
    machine = report.machine()  # the load average before this run adds its own
    _cancel_on_signals()
    env.start_redis()
    env.start_host()
    client = await env.connect()
    from redis import Redis
    with Redis.from_url(env.redis_url) as r:
        redis_version = str(r.info("server")["redis_version"])
    print(f"redis-server {redis_version} (appendfsync {args.appendfsync}), host {env.target} (pid {env.host.pid}), "
          f"temporary directory {env.tmp}", flush=True)
    print(f"scenarios {','.join(args.scenario_list)}; concurrency {args.concurrencies}; counts {args.counts}",
          flush=True)
    runs: list[dict[str, Any]] = []
    c = args.concurrencies

    leaf = await scenarios.static_classes(env)
    payload = scenarios.s1_request(leaf)
    if not args.no_floors:
        runs += await floors.floor_a(env, payload, c, args.counts["floorA"])
        runs += await floors.floor_b(env, payload, c, args.counts["floorB"])

    for name in args.scenario_list:
        fn = scenarios.SCENARIOS[name]
        for conc in c:
            emit(await fn(env, concurrency=conc, count=args.counts[name]), runs)

    mid = 16 if 16 in c else max(c)
    if args.sweep_depth:
        for depth in range(1, 7):
            run = await scenarios.s2_provider(env, concurrency=1, count=max(20, args.counts["S2"] // 2),
                                              depth=depth, label=f"sweep depth {depth} (S2)")
            run["sweep"] = "depth"
            emit(run, runs)
            if depth != 3:
                scenarios.drop_chain(env, depth)
    if args.sweep_size:
        for props in (5, 200):
            run = await scenarios.s1_static(env, concurrency=mid, count=args.counts["S1"], props=props,
                                             label=f"sweep size {props} props (S1)", family="Z")
            run["sweep"] = "size"
            emit(run, runs)
            run = await scenarios.s2_provider(env, concurrency=mid, count=args.counts["S2"], props=props,
                                              label=f"sweep size {props} props (S2)")
            run["sweep"] = "size"
            emit(run, runs)
            if props != 5:
                scenarios.drop_chain(env, 3, props)
    if args.sweep_repo:
        for size in (1_000, args.repo_size):
            t = time.monotonic()
            await scenarios.preload(env, size, family="R")
            print(f"  repository holds {size:,} instances of the sweep's class ({time.monotonic() - t:.0f}s to fill)",
                  flush=True)
            run = await scenarios.s1_static(env, concurrency=mid, count=args.counts["S1"],
                                            label=f"sweep repo {size:,} (S1)", family="R")
            run.update(sweep="repo", repo_size=size)
            emit(run, runs)

    alt = await alternative(env, args)
    with contextlib.suppress(Exception):
        await client.close()
    return {
        "started_at": started_at,
        "duration_s": round(time.monotonic() - t0, 1),
        "machine": machine,
        "versions": report.versions(redis_version),
        "settings": {"appendfsync": args.appendfsync, "quick": args.quick, "concurrency": c,
                     "scenarios": args.scenario_list, "counts": args.counts,
                     "worker_concurrency": args.worker_concurrency, "provider": args.provider,
                     "sweeps": {"depth": args.sweep_depth, "size": args.sweep_size, "repo": args.sweep_repo,
                                "repo_size": args.repo_size},
                     "payload_bytes": len(payload), "s2_task_hops": report.S2_HOPS,
                     "command": " ".join(["python", "-m", "bench", *sys.argv[1:]])},
        "runs": runs,
        "alternative": alt,
        "ratios": report.ratios(runs, alt["runs"] if alt.get("runs") else None),
    }


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.scale_model is not None:
        from bench import scale
        doc = scale.remodel(args.scale_model)
        jpath, ppath = scale.write(args.out, doc)
        print(scale.summary(doc))
        print(f"\nwrote {jpath} and {ppath} (model computed again from {args.scale_model})")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="wmiput-bench-"))
    env = Env(tmp, appendfsync=args.appendfsync, worker_concurrency=args.worker_concurrency, provider=args.provider,
              profile_dir=args.profile)
    signal.signal(signal.SIGTERM, _sigterm)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if args.sweep_scale:
        env.close()
        return scale_main(args, tmp, started_at)
    if args.metrics_cost:
        env.close()
        from bench import metrics_cost

        async def cost() -> dict[str, Any]:
            _cancel_on_signals()
            return await metrics_cost.run_metrics_cost(args, tmp)

        def measure() -> None:
            doc = eventloop.run(cost())
            print(f"\nratios (on/off): {json.dumps(doc['ratios'])}")
            print(f"wrote {metrics_cost.write(args.out, doc)}")
        return _guarded(args, tmp, measure)
    if args.mof:
        from bench.mof import run_mof
        return _guarded(args, tmp, lambda: run_mof(env, args.out, [1, 16]), env.close)

    def run() -> None:
        doc = eventloop.run(run_all(env, args, started_at))
        jpath, ppath = args.out / "results.json", args.out / "results.png"
        report.write_json(jpath, doc)
        try:
            report.write_png(ppath, doc)
        except Exception as e:  # noqa: BLE001 - the JSON is the result; the plot is a view of it
            print(f"no plot: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"\nratios: {doc['ratios']}")
        print(f"alternative: {doc['alternative']['status']}")
        print(f"wrote {jpath} and {ppath} in {doc['duration_s']}s")
    return _guarded(args, tmp, run, env.close)


def _guarded(args: argparse.Namespace, tmp: Path, run: Any, close: Any = None) -> int:
    """Run a bench; 130 if interrupted. On a failure the temporary directory (logs) is kept."""
    try:
        run()
        return 0
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    except Exception:
        print(f"\nfailed; logs of the hosts and workers are kept in {tmp}", file=sys.stderr)
        args.keep_tmp = True
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if close is not None:
            close()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def scale_main(args: argparse.Namespace, tmp: Path, started_at: str) -> int:
    """python -m bench --sweep-scale: its own Redis, hosts and workers per configuration (bench/scale.py)."""
    from bench import scale

    async def go() -> dict[str, Any]:
        _cancel_on_signals()
        return await scale.run_scale(args, tmp, started_at)

    def run() -> None:
        doc = eventloop.run(go())
        jpath, ppath = scale.write(args.out, doc)
        print("\n" + scale.summary(doc))
        print(f"\nwrote {jpath} and {ppath} in {doc['duration_s']}s")
    return _guarded(args, tmp, run)


if __name__ == "__main__":
    sys.exit(main())
