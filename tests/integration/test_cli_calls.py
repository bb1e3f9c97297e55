"""The `wmiput` command's asynchronous and semisynchronous puts, against a real host."""

from __future__ import annotations

import asyncio
import subprocess
import sys


async def wmiput(host, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "host.cli", *args, "--target", host.target]
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60, check=False)


async def test_async_put_prints_progress_then_the_path_and_semisync_prints_a_handle(host):
    r = await wmiput(host, "put-class", "Cli_Thing", "--prop", "Id:string:key", "--prop", "Size:uint32", "--async")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("\\root\\cimv2:Cli_Thing")
    assert "[1/1] Cli_Thing accepted by the repository" in r.stderr

    r = await wmiput(host, "put-instance", "Cli_Thing", "Id=a", "Size=3", "--async", "--create-only")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith('Cli_Thing.Id="a"') and "started" in r.stderr and "[1/1]" in r.stderr

    r = await wmiput(host, "put-instance", "Cli_Thing", "Id=a", "--async", "--create-only")
    assert r.returncode == 1 and "WBEM_E_ALREADY_EXISTS (0x80041019)" in r.stderr

    r = await wmiput(host, "put-instance", "Cli_Thing", "Id=b", "--return-immediately")
    assert r.returncode == 0, r.stderr
    handle = r.stdout.strip()
    assert len(handle) >= 32 and " " not in handle
    r = await wmiput(host, "call-status", handle, "--wait-ms", "-1")
    assert r.returncode == 0 and r.stdout.strip().endswith('Cli_Thing.Id="b"'), r.stderr
    r = await wmiput(host, "attach", handle)
    assert r.returncode == 0 and r.stdout.strip().endswith('Cli_Thing.Id="b"'), r.stderr
    r = await wmiput(host, "cancel", handle)
    assert r.returncode == 1 and "WBEM_E_INVALID_OPERATION" in r.stderr
    r = await wmiput(host, "call-status", "no-such-handle-" + "x" * 20)
    assert r.returncode == 1 and "WBEM_E_NOT_FOUND" in r.stderr


async def test_the_semisync_failure_is_reported_by_call_status(host):
    await wmiput(host, "put-class", "Cli_Other", "--prop", "Id:string:key")
    r = await wmiput(host, "put-instance", "Cli_Other", "Id=x", "--update-only", "--return-immediately")
    assert r.returncode == 0
    r = await wmiput(host, "call-status", r.stdout.strip(), "--wait-ms", "10000")
    assert r.returncode == 1 and "WBEM_E_NOT_FOUND (0x80041002)" in r.stderr
