"""Where the time goes: `python -m bench --profile DIR` samples the host and one worker with py-spy
during every run (only while the GIL is held, so waiting does not count) and writes, per run and
process, the raw stacks and a summary of the functions that took the CPU.

Sampling slows the processes a little: a run with --profile shows where time goes, its figures
are not the ones to report.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

RATE_HZ = 200
PROFILED = ("host", "worker-")  # the host and the first worker of a run


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


class Sampler:
    def __init__(self, out: Path, label: str, concurrency: int, pids: dict[str, int]) -> None:
        self.out = out
        self.tag = f"{_slug(label)}-c{concurrency}"
        roles = [r for r in pids if r == "host"][:1] + [r for r in pids if r.startswith("worker-")][:1]
        self.targets = {r: pids[r] for r in roles}
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self) -> None:
        beside = Path(sys.executable).parent / "py-spy"  # the virtualenv's, even when it is not on PATH
        exe = str(beside) if beside.exists() else shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("--profile needs py-spy (pip install -e '.[bench]')")
        self.out.mkdir(parents=True, exist_ok=True)
        for role, pid in self.targets.items():
            raw = self.out / f"{self.tag}-{_slug(role)}.raw.txt"
            p = subprocess.Popen([exe, "record", "-p", str(pid), "--gil", "-r", str(RATE_HZ), "-f", "raw",
                                  "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs[role] = (p, raw)

    def stop(self) -> None:
        """Stop the samplers (SIGINT makes py-spy write its file) and summarise what they saw."""
        for p, _ in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for role, (p, raw) in self.procs.items():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            if raw.exists():
                raw.with_suffix("").with_suffix(".top.txt").write_text(summarize(raw, f"{self.tag} {role}"))


def summarize(raw: Path, title: str, top: int = 40) -> str:
    """The functions that held the CPU, inclusive (with what they call) and self, in % of samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        for f in set(frames):
            inclusive[f] += count
        if frames:
            own[frames[-1]] += count
    out = [f"# {title}: {total} samples at {RATE_HZ} Hz, GIL held (C code of grpc/uvloop shows as its Python caller)",
           "", "## inclusive"]
    out += [f"{100 * v / total:5.1f}%  {k}" for k, v in inclusive.most_common(top)] if total else []
    out += ["", "## self"]
    out += [f"{100 * v / total:5.1f}%  {k}" for k, v in own.most_common(top // 2)] if total else []
    return "\n".join(out) + "\n"
