"""python -m bench --mof: how long the DMTF CIM Schema 2.49.0 takes to load through the front door.

One embedded Redis and one host process. The schema (tests/data, 1,634 files, 1,631 classes) is
compiled once by host.mof (timed), then loaded by `wmiput mofcomp` itself, run as a user runs it,
into a fresh namespace per run: at concurrency 1 (strictly one put after another, as mofcomp.exe
works) and 16 (the default). For comparison, pywbem's MOF compiler compiling the same files into
its in-memory mock repository (no server, no network: the tool a Python user would otherwise pick
to read these files) when pywbem is installed. Results go to OUT/mof.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.env import Env
from host.mof.compiler import Compiler

ROOT = Path(__file__).resolve().parents[1]
MOF_ZIP = ROOT / "tests" / "data" / "cim_schema_2.49.0Final-MOFs.zip"
MOF_TOP = "cim_schema_2.49.0Final-MOFs/cim_schema_2.49.0.mof"


def _pywbem_seconds(top: Path) -> float | None:
    try:
        from tests import cim_mof
    except ImportError:
        return None
    started = time.perf_counter()
    try:
        cim_mof.compile_mof(top)
    except ImportError:
        return None
    return time.perf_counter() - started


def run_mof(env: Env, out: Path, concurrencies: list[int]) -> dict[str, Any]:
    src = env.tmp / "cim"
    with zipfile.ZipFile(MOF_ZIP) as z:
        z.extractall(src)
    top = src / MOF_TOP
    started = time.perf_counter()
    unit = Compiler(namespace="root\\cimv2").compile_file(top)
    compile_s = time.perf_counter() - started
    doc: dict[str, Any] = {"schema": "DMTF CIM 2.49.0", "files": len(unit.files), "classes": len(unit.classes),
                           "compile_seconds": round(compile_s, 2), "loads": []}
    print(f"compiled {len(unit.files)} files, {len(unit.classes)} classes in {compile_s:.1f} s (host.mof)")
    env.start_redis()
    env.start_host()
    from host import eventloop

    async def ready() -> None:
        c = await env.connect()
        for n in concurrencies:
            await c.create_namespace(f"cim{n}")
        await env.aclose_client()
    eventloop.run(ready())
    for n in concurrencies:
        report_path = env.tmp / f"mofcomp-{n}.json"
        cmd = [sys.executable, "-m", "host.cli", "mofcomp", str(top), "--target", env.target, "-n", f"root\\cim{n}",
               "--concurrency", str(n), "--progress", "never", "--report", str(report_path), "--timeout", "120"]
        started = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - started
        if p.returncode != 0:
            raise RuntimeError(f"mofcomp failed ({p.returncode}):\n{p.stderr[-3000:]}")
        r = json.loads(report_path.read_text())
        load = {"concurrency": n, "wall_seconds": round(wall, 2), "load_seconds": r["load_seconds"],
                "classes_put": r["classes_put"], "classes_per_second": round(r["classes_put"] / r["load_seconds"], 1)}
        doc["loads"].append(load)
        print(f"mofcomp at concurrency {n}: {r['classes_put']} classes loaded in {r['load_seconds']:.1f} s "
              f"({load['classes_per_second']} classes/s); whole command {wall:.1f} s")
    pyw = _pywbem_seconds(top)
    if pyw is not None:
        doc["pywbem_compile_seconds"] = round(pyw, 2)
        doc["ratio_load16_to_pywbem_compile"] = round(doc["loads"][-1]["wall_seconds"] / pyw, 2)
        print(f"pywbem's MOF compiler, same files into its in-memory repository: {pyw:.1f} s")
    out.mkdir(parents=True, exist_ok=True)
    (out / "mof.json").write_text(json.dumps(doc, indent=2))
    print(f"wrote {out / 'mof.json'}")
    return doc
