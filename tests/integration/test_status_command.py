"""`wmiput status` (and ListTransactions) against a real host, Redis and a real provider worker:
the provider with its live worker, a transaction in doubt while the worker holds its prepare and
gone once it is released, --json, --watch, and the admin-only rule once callers authenticate."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from host.client import Credentials, WbemClient, WbemError, instance
from tests.helpers import async_wait_for, serving
from tests.provider_env import Workers, dynamic, prop, register, wait_live
from wmiput.v1 import services_pb2 as api

PROVIDER = "StatusProv"


async def wmiput(target: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "host.cli", *args, "--target", target]
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60, check=False,
                                   env=env)


async def status_json(target: str) -> dict:
    r = await wmiput(target, "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


async def transactions(client: WbemClient) -> list[api.TransactionInfo]:
    r = await client.stub.ListTransactions(api.ListTransactionsRequest(namespace="root\\cimv2"))
    return list(r.transactions)


@contextlib.asynccontextmanager
async def provider(tmp_path: Path, redis_url: str, key_prefix: str, client: WbemClient):
    workers = Workers(tmp_path, redis_url, key_prefix)
    try:
        await register(client, PROVIDER)
        workers.start(PROVIDER, hold_when="Color:hold")
        await client.put_class(dynamic("Status_Item", PROVIDER, prop("Id", "string", key=True), prop("Color", "string")))
        await wait_live(client, PROVIDER)
        yield workers
    finally:
        (workers.data_dir / f"{PROVIDER}.release").touch()  # never leave a prepare held
        workers.stop_all()


@pytest.mark.timeout(120)
async def test_status_shows_the_provider_its_worker_and_a_transaction_in_doubt_until_it_ends(
        tmp_path, redis_url, key_prefix, host, client):
    async with provider(tmp_path, redis_url, key_prefix, client) as workers:
        # At rest: the provider, one live worker on this machine, nothing queued, nothing in doubt.
        snap = await status_json(host.target)
        (p,) = snap["providers"]
        assert (p["name"], p["supports_put"], p["backlog"], p["pending"]) == (PROVIDER, True, 0, 0)
        assert p["classes"] == ["Status_Item"]
        (w,) = p["workers"]
        assert w["hostname"] == socket.gethostname() and w["tasks_in_flight"] == 0
        assert 0 <= w["heartbeat_age_ms"] < 10_000
        assert snap["transactions"] == [] and snap["transactions_error"] == ""
        r = await wmiput(host.target, "status")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        row = next(line.split() for line in lines if line.startswith(PROVIDER + " "))
        assert row[:6] == [PROVIDER, "yes", "1", "0", "0", "0"] and row[6] == "Status_Item"
        assert any(w["worker_id"] in line and socket.gethostname() in line for line in lines)
        assert lines[lines.index(next(x for x in lines if x.startswith("IN-DOUBT"))) + 1] == "(none)"
        # `providers` still prints its table.
        r = await wmiput(host.target, "providers")
        assert r.returncode == 0 and r.stdout.splitlines()[0].split() == [
            "PROVIDER", "PUT", "WORKERS", "BACKLOG", "PENDING", "OLDEST(ms)", "CLASSES"], r.stderr

        # A put whose prepare the worker holds: in doubt until released.
        put = asyncio.create_task(client.put_instance(instance("Status_Item", Id="h1", Color="hold")))
        try:
            (tx,) = await async_wait_for(lambda: transactions(client), timeout=30, message="a transaction listed")
            assert (tx.class_name, tx.relpath, tx.providers) == ("Status_Item", 'Status_Item.Id="h1"', [PROVIDER])
            assert tx.state in (api.TRANSACTION_STATE_PREPARING, api.TRANSACTION_STATE_PUTTING)
            assert tx.owner_host == host.host_id and tx.owner_alive and tx.namespace.lower() == "root\\cimv2"

            async def held() -> dict | None:  # the worker took the task and holds it
                s = await status_json(host.target)
                return s if s["providers"][0]["workers"][0]["tasks_in_flight"] == 1 else None
            snap = await async_wait_for(held, timeout=30, message="the held task in flight")
            (t,) = snap["transactions"]
            assert t["transaction_id"] == tx.transaction_id and t["state"] in ("preparing", "putting")
            assert t["owner_host"] == host.host_id and t["age_ms"] >= 0 and snap["transactions_unfinished"] == 1
            assert snap["providers"][0]["pending"] == 1
            r = await wmiput(host.target, "status")
            assert r.returncode == 0, r.stderr
            row = next(line for line in r.stdout.splitlines() if line.startswith(tx.transaction_id))
            assert "Status_Item" in row and t["state"] in row and host.host_id in row and PROVIDER in row
            assert not put.done()
        finally:
            (workers.data_dir / f"{PROVIDER}.release").touch()
            res = await asyncio.wait_for(put, 30)
        assert res.relpath == 'Status_Item.Id="h1"'
        await async_wait_for(lambda: _none(client), timeout=30, message="the transaction finished")
        snap = await status_json(host.target)
        assert snap["transactions"] == [] and snap["providers"][0]["pending"] == 0


async def _none(client: WbemClient) -> bool:
    return await transactions(client) == []


@pytest.mark.timeout(60)
async def test_watch_redraws_until_interrupted_without_clearing_a_pipe(host, client):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "host.cli", "status", "--watch", "0.2", "--target", host.target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        seen = b""
        async def frames() -> bool:
            nonlocal seen
            seen += await asyncio.wait_for(proc.stdout.readline(), 5)
            return seen.count(b"wmiput status - ") >= 3
        await async_wait_for(frames, timeout=30, message="three frames")
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert b"\x1b[" not in seen, "no screen clearing when stdout is not a terminal"
    assert b"PROVIDERS in root\\cimv2" in seen and b"IN-DOUBT TRANSACTIONS" in seen

    # --watch --json: one object per line.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "host.cli", "status", "--watch", "0.2", "--json", "--target", host.target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        docs = [json.loads(await asyncio.wait_for(proc.stdout.readline(), 15)) for _ in range(2)]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert all(d["providers"] == [] and d["transactions"] == [] for d in docs)


ADMIN, ALICE = "admin-token-0123456789abcdef", "alice-token-0123456789abcdef"


@pytest.mark.timeout(60)
async def test_transactions_are_for_administrators_once_callers_authenticate(tmp_path, host_settings):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"admin {ADMIN}\nalice {ALICE}\n")
    settings = dataclasses.replace(host_settings, tokens_file=str(tokens), admins="admin")
    async with serving(settings) as h:
        alice = await WbemClient.connect(h.target, timeout=30.0, credentials=Credentials(token=ALICE))
        admin = await WbemClient.connect(h.target, timeout=30.0, credentials=Credentials(token=ADMIN))
        try:
            with pytest.raises(WbemError) as e:
                await alice._unary(alice.stub.ListTransactions, api.ListTransactionsRequest())
            assert e.value.name == "WBEM_E_ACCESS_DENIED"
            r = await admin._unary(admin.stub.ListTransactions, api.ListTransactionsRequest())
            assert list(r.transactions) == []
        finally:
            await alice.close()
            await admin.close()
        r = await wmiput(h.target, "status", "--json", "--token", ALICE)
        assert r.returncode == 0, r.stderr
        snap = json.loads(r.stdout)
        assert snap["transactions_error"].startswith("WBEM_E_ACCESS_DENIED") and snap["providers"] == []
        r = await wmiput(h.target, "status", "--token", ALICE)
        assert "(not shown: WBEM_E_ACCESS_DENIED" in r.stdout, r.stdout + r.stderr
        r = await wmiput(h.target, "status", "--json", "--token", ADMIN)
        assert json.loads(r.stdout)["transactions_error"] == ""
