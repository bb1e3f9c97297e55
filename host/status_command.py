"""`wmiput status`: providers, their workers, backlogs and the in-doubt transactions at a glance.

    wmiput status                 # one table, printed once
    wmiput status --watch         # redrawn every 2 s until Ctrl-C (--watch 5: every 5 s)
    wmiput status --json          # the same data as JSON (with --watch: one JSON object per line)

Everything comes over gRPC (ListProviders, ListTransactions), so it works against any host. The
transactions need an administrator once callers authenticate; for anyone else that section says
why it is missing and the rest is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from host.client import WbemError
from wmiput.v1 import services_pb2 as api

DEFAULT_WATCH_S = 2.0
CLEAR = "\x1b[H\x1b[2J"
STATE_NAMES = {
    api.TRANSACTION_STATE_PREPARING: "preparing",
    api.TRANSACTION_STATE_PUTTING: "putting",
    api.TRANSACTION_STATE_COMMITTING: "committing",
    api.TRANSACTION_STATE_ABORTING: "aborting",
}


def add_parser(sub: Any, target: Callable[[argparse.ArgumentParser], None]) -> None:
    s = sub.add_parser("status", help="providers, workers, backlogs and in-doubt transactions at a glance",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--watch", nargs="?", type=float, const=DEFAULT_WATCH_S, default=None, metavar="SECONDS",
                   help=f"redraw every SECONDS (default {DEFAULT_WATCH_S:g}) until Ctrl-C; the screen is cleared "
                   "only when stdout is a terminal")
    s.add_argument("--json", dest="as_json", action="store_true", help="print the data as JSON")
    s.add_argument("--all-namespaces", action="store_true",
                   help="list the in-doubt transactions of every namespace, not only --namespace's")
    target(s)


# -- the data


def worker_dict(w: api.WorkerInfo, now_ms: int) -> dict[str, Any]:
    return {"worker_id": w.worker_id, "hostname": w.hostname, "pid": w.pid,
            "last_seen_unix_ms": w.last_seen_unix_ms, "heartbeat_age_ms": max(0, now_ms - w.last_seen_unix_ms),
            "tasks_in_flight": w.tasks_in_flight}


def provider_dict(p: api.ProviderInfo, now_ms: int) -> dict[str, Any]:
    return {"name": p.name, "namespace": p.namespace, "hosting_model": p.hosting_model,
            "supports_put": p.supports_put, "classes": list(p.classes),
            "workers": [worker_dict(w, now_ms) for w in p.workers], "backlog": p.backlog, "pending": p.pending,
            "oldest_pending_ms": p.oldest_pending_ms}


def transaction_dict(t: api.TransactionInfo) -> dict[str, Any]:
    return {"transaction_id": t.transaction_id, "namespace": t.namespace, "class_name": t.class_name,
            "relpath": t.relpath, "state": STATE_NAMES.get(t.state, "unknown"), "owner_host": t.owner_host,
            "owner_alive": t.owner_alive, "creator_host": t.creator_host, "created_unix_ms": t.created_unix_ms,
            "age_ms": t.age_ms, "deadline_unix_ms": t.deadline_unix_ms, "providers": list(t.providers),
            "cancel_requested": t.cancel_requested}


async def snapshot(c: Any, namespace: str, all_namespaces: bool = False) -> dict[str, Any]:
    """What `status` shows, as plain data (the --json form). The transactions section holds an
    error text instead when the host refuses it (not an administrator, an older host)."""
    now_ms = int(time.time() * 1000)
    providers = await c.list_providers()
    out: dict[str, Any] = {"namespace": namespace, "generated_unix_ms": now_ms,
                           "providers": [provider_dict(p, now_ms) for p in providers],
                           "transactions": [], "transactions_unfinished": 0, "transactions_error": ""}
    try:
        r = await c.list_transactions(namespace="" if all_namespaces else namespace)
    except WbemError as e:
        out["transactions_error"] = f"{e.name}: {e.description}"
        return out
    out["transactions"] = [transaction_dict(t) for t in r.transactions]
    out["transactions_unfinished"] = r.total_unfinished
    return out


# -- the table


def age_text(ms: int) -> str:
    """850ms, 12.3s, 4m05s, 2h07m."""
    if ms < 1000:
        return f"{ms}ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def table(rows: list[tuple[str, ...]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [(indent + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))).rstrip() for r in rows]


def providers_table(providers: list[dict[str, Any]]) -> list[str]:
    """The table `wmiput providers` prints."""
    rows = [("PROVIDER", "PUT", "WORKERS", "BACKLOG", "PENDING", "OLDEST(ms)", "CLASSES")]
    for p in providers:
        rows.append((p["name"], "yes" if p["supports_put"] else "no", str(len(p["workers"])), str(p["backlog"]),
                     str(p["pending"]), str(p["oldest_pending_ms"]), ", ".join(p["classes"])))
    return table(rows)


def _owner(t: dict[str, Any]) -> str:
    if not t["owner_host"]:
        return "(recovery)"
    return t["owner_host"] + ("" if t["owner_alive"] else " (lapsed)")


def render(snap: dict[str, Any]) -> str:
    """The snapshot as text: providers, their live workers, the in-doubt transactions."""
    lines = [f"PROVIDERS in {snap['namespace']}"]
    if snap["providers"]:
        lines += providers_table(snap["providers"])
    else:
        lines.append("(none registered)")
    workers = [(p["name"], w) for p in snap["providers"] for w in p["workers"]]
    lines += ["", "LIVE WORKERS"]
    if workers:
        lines += table([("PROVIDER", "WORKER", "HOST", "PID", "HEARTBEAT", "IN FLIGHT")]
                       + [(name, w["worker_id"], w["hostname"], str(w["pid"]), age_text(w["heartbeat_age_ms"]) + " ago",
                           str(w["tasks_in_flight"])) for name, w in workers])
    else:
        lines.append("(none)")
    txs = snap["transactions"]
    lines += ["", f"IN-DOUBT TRANSACTIONS ({snap['transactions_unfinished']} unfinished in all namespaces)"
              if not snap["transactions_error"] else "IN-DOUBT TRANSACTIONS"]
    if snap["transactions_error"]:
        lines.append(f"(not shown: {snap['transactions_error']})")
    elif txs:
        lines += table([("TRANSACTION", "NAMESPACE", "CLASS", "STATE", "AGE", "OWNER", "PROVIDERS", "OBJECT")]
                       + [(t["transaction_id"], t["namespace"], t["class_name"],
                           t["state"] + (" (cancel asked)" if t["cancel_requested"] else ""), age_text(t["age_ms"]),
                           _owner(t), ",".join(t["providers"]), t["relpath"]) for t in txs])
    else:
        lines.append("(none)")
    return "\n".join(lines)


# -- the command


async def run(a: argparse.Namespace, connect: Callable[[], Awaitable[Any]], out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if a.watch is not None and a.watch <= 0:
        raise SystemExit("status: --watch takes a positive number of seconds")
    async with await connect() as c:
        if a.watch is None:
            _show(await snapshot(c, a.namespace, a.all_namespaces), a.as_json, out)
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        tty = out.isatty()
        try:
            while not stop.is_set():
                await _frame(c, a, out, tty)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), a.watch)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    return 0


async def _frame(c: Any, a: argparse.Namespace, out: TextIO, tty: bool) -> None:
    """One redraw of --watch; a failed refresh is shown, and the next one tried."""
    try:
        snap: dict[str, Any] | None = await snapshot(c, a.namespace, a.all_namespaces)
        error = ""
    except WbemError as e:
        snap, error = None, f"error: {e.name} (0x{int(e.hresult):08X}): {e.description}"
    if a.as_json:  # one object per line, for a pipe
        print(json.dumps(snap if snap is not None else {"error": error}), file=out, flush=True)
        return
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    head = f"wmiput status - {stamp} - every {a.watch:g}s, Ctrl-C to stop"
    body = render(snap) if snap is not None else error
    print((CLEAR if tty else "") + head + "\n\n" + body + ("" if tty else "\n"), file=out, flush=True)


def _show(snap: dict[str, Any], as_json: bool, out: TextIO) -> None:
    print(json.dumps(snap, indent=2) if as_json else render(snap), file=out)
