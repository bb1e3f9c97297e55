"""Check that deploy/ configures every process with settings it really has (scripts/check_deploy.sh).

    python scripts/check_deploy_env.py --compose deploy/compose.yaml --kubernetes RENDERED.yaml \
        [--scan FILE_OR_DIR]...

For each process (a compose service, a Kubernetes container) it finds the `wmiput` command it runs
and the WMIPUT_* variables it gets (environment, envFrom ConfigMaps, `export` in a shell command),
then checks that:

- every variable is a setting of that command: a host setting is a field of host.config.Settings
  (WMIPUT_ + the field's name in upper case), a worker or client setting one of the fixed lists
  below; a process that is not wmiput gets none;
- the values parse as the host parses them (numbers, rights, booleans), a host listening beyond
  loopback has TLS, a worker names importable Provider classes and KEY=VALUE options;
- every file a variable names is mounted in that process (a secret, a volume);
- hosts and workers agree on the Redis, the key prefix and the task key;
- the time a process gets to stop is longer than the host's WMIPUT_GRACE_SECONDS.

It also scans the text of the deploy files (comments and shell strings included) for WMIPUT_*
names that are no setting at all. Exits 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from host.config import Settings, env_name  # noqa: E402
from host.server.auth import is_loopback  # noqa: E402

HOST_VARS = frozenset(env_name(f.name) for f in dataclasses.fields(Settings))
WORKER_VARS = frozenset({
    "WMIPUT_PROVIDERS", "WMIPUT_PROVIDER_OPTIONS", "WMIPUT_WORKER_CONCURRENCY", "WMIPUT_CLAIM_IDLE_MS",
    "WMIPUT_NAMESPACE", "WMIPUT_PREFIX", "WMIPUT_REDIS_URL", "WMIPUT_TASK_KEY_FILE", "WMIPUT_LOG_FORMAT",
    "WMIPUT_TRACING", "WMIPUT_METRICS_LISTEN",
})
CLIENT_VARS = frozenset({"WMIPUT_TARGET", "WMIPUT_TOKEN", "WMIPUT_CLIENT_CA", "WMIPUT_CLIENT_CERT",
                         "WMIPUT_CLIENT_KEY"})
KNOWN = HOST_VARS | WORKER_VARS | CLIENT_VARS
# Variables that name a file the process reads.
FILE_VARS = frozenset({"WMIPUT_TLS_CERT", "WMIPUT_TLS_KEY", "WMIPUT_TLS_CLIENT_CA", "WMIPUT_TOKENS_FILE",
                       "WMIPUT_TASK_KEY_FILE", "WMIPUT_CLIENT_CA", "WMIPUT_CLIENT_CERT", "WMIPUT_CLIENT_KEY"})
SUBCOMMANDS = ("serve", "worker", "install-examples", "put-class", "put-instance", "get", "delete",
               "enum-classes", "enum-instances", "providers", "security", "create-namespace", "acl-worker")
NAME = re.compile(r"\bWMIPUT_[A-Z0-9][A-Z0-9_]*")
EXPORTED = re.compile(r"(?:^|[\s;&|(])(?:export\s+)?(WMIPUT_[A-Z0-9_]+)=")
UNKNOWN = None  # the value of a variable set from a Secret or in a shell command


def kind_of(var: str) -> str:
    kinds = [k for k, vs in (("host", HOST_VARS), ("worker", WORKER_VARS), ("client", CLIENT_VARS)) if var in vs]
    return " and ".join(kinds) or "no"


@dataclasses.dataclass
class Process:
    where: str  # "compose service host1", "Deployment/wmiput-host container host"
    role: str | None  # "serve", "worker", "client" or None (not wmiput)
    env: dict[str, str | None]
    files: set[str]  # files mounted one by one (compose secrets, Kubernetes secret items)
    dirs: set[str]  # directories mounted whole (volumes)
    stop_seconds: float | None = None  # how long it gets between SIGTERM and SIGKILL
    group: str = ""  # processes of one deployment must agree on Redis, prefix, task key


class Problems(list[str]):
    def add(self, where: str, msg: str) -> None:
        self.append(f"{where}: {msg}")


# ---------------------------------------------------------------- which command a process runs


def role_of(words: Iterable[str], wmiput_image: bool) -> str | None:
    """serve, worker or client, from the command's words (shell strings split too)."""
    tokens: list[str] = []
    for w in words:
        try:
            tokens += shlex.split(w) if (" " in w or ";" in w) else [w]
        except ValueError:
            tokens += w.split()
    tokens = [t.strip("'\";&|()") for t in tokens]
    for i, t in enumerate(tokens):
        if t.rsplit("/", 1)[-1] == "wmiput" and i + 1 < len(tokens) and tokens[i + 1] in SUBCOMMANDS:
            return _role(tokens[i + 1])
    if wmiput_image:
        first = next((t for t in tokens if not t.startswith("-")), "serve")  # the image's CMD is serve
        if first in SUBCOMMANDS:
            return _role(first)
    return None


def _role(sub: str) -> str:
    return sub if sub in ("serve", "worker") else "client"


def shell_exports(words: Iterable[str]) -> dict[str, str | None]:
    return {m: UNKNOWN for w in words for m in EXPORTED.findall(w)}


# ---------------------------------------------------------------- checks of one process


def check_process(p: Process, problems: Problems) -> None:
    allowed = {"serve": HOST_VARS, "worker": WORKER_VARS, "client": CLIENT_VARS}.get(p.role or "", frozenset())
    for var in sorted(p.env):
        if var not in KNOWN:
            problems.add(p.where, f"{var} is not a wmiput setting (docs/configuration.md, wmiput worker --help)")
        elif p.role is None:
            problems.add(p.where, f"{var} is set, but this process does not run wmiput")
        elif var not in allowed:
            problems.add(p.where, f"{var} is a {kind_of(var)} setting: `wmiput {p.role}` ignores it")
    env = {k: v for k, v in p.env.items() if k in allowed}
    for var in sorted(FILE_VARS & env.keys()):
        path = env[var]
        if path and not ("${" in path or path in p.files or any(path.startswith(d.rstrip("/") + "/")
                                                                 for d in p.dirs)):
            problems.add(p.where, f"{var}={path}: no secret or volume mounted there")
    if p.role == "serve":
        _check_host(p, env, problems)
    elif p.role == "worker":
        _check_worker(p, env, problems)
    elif p.role == "client" and not env.get("WMIPUT_TARGET") and "WMIPUT_TARGET" not in env:
        problems.add(p.where, "no WMIPUT_TARGET: the client would call 127.0.0.1:50051, inside its own container")


def _check_host(p: Process, env: dict[str, str | None], problems: Problems) -> None:
    known = {k: v for k, v in env.items() if v is not None and "${" not in v}
    try:
        s = Settings.from_env(known)
        s.access(True)
    except SystemExit as e:
        problems.add(p.where, str(e))
        return
    except ValueError as e:
        problems.add(p.where, str(e))
        return
    if not is_loopback(s.listen) and not (env.get("WMIPUT_TLS_CERT") and env.get("WMIPUT_TLS_KEY")):
        problems.add(p.where, f"WMIPUT_LISTEN={s.listen} is beyond loopback without WMIPUT_TLS_CERT and "
                     "WMIPUT_TLS_KEY: the host refuses to start")
    if not env.get("WMIPUT_REDIS_URL"):
        problems.add(p.where, "no WMIPUT_REDIS_URL: the host would start its own embedded Redis, which "
                     "no other host or worker shares")
    if p.stop_seconds is not None and p.stop_seconds <= s.grace_seconds:
        problems.add(p.where, f"it gets {p.stop_seconds:g} s to stop, not more than WMIPUT_GRACE_SECONDS="
                     f"{s.grace_seconds:g}: in-flight calls would be killed")


def _check_worker(p: Process, env: dict[str, str | None], problems: Problems) -> None:
    specs = [s.strip() for s in (env.get("WMIPUT_PROVIDERS") or "").split(",") if s.strip()]
    if "WMIPUT_PROVIDERS" in env and env["WMIPUT_PROVIDERS"] is None:
        specs = []
    elif not specs:
        problems.add(p.where, "no WMIPUT_PROVIDERS: the worker refuses to start")
    for spec in specs:
        module, _, cls = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module), cls) if cls else None
        except (ImportError, AttributeError) as e:
            problems.add(p.where, f"WMIPUT_PROVIDERS: {spec}: {e}")
            continue
        from workers.provider import Provider
        if not (isinstance(obj, type) and issubclass(obj, Provider)):
            problems.add(p.where, f"WMIPUT_PROVIDERS: {spec} is not MODULE:CLASS of a Provider subclass")
    for o in (env.get("WMIPUT_PROVIDER_OPTIONS") or "").split(","):
        if o.strip() and "=" not in o:
            problems.add(p.where, f"WMIPUT_PROVIDER_OPTIONS: {o.strip()!r} is not KEY=VALUE")
    for var in ("WMIPUT_WORKER_CONCURRENCY", "WMIPUT_CLAIM_IDLE_MS"):
        v = env.get(var)
        if v is not None and "${" not in v and not v.strip().isdigit():
            problems.add(p.where, f"{var}={v!r} is not a number")


def check_group(procs: list[Process], problems: Problems) -> None:
    """Hosts and workers of one deployment share one Redis, one prefix and one task key."""
    members = [p for p in procs if p.role in ("serve", "worker")]
    for var, default in (("WMIPUT_REDIS_URL", ""), ("WMIPUT_PREFIX", "wmiput"), ("WMIPUT_TASK_KEY_FILE", "")):
        values = {p.where: p.env.get(var, default) for p in members if p.env.get(var, default) is not UNKNOWN}
        if var == "WMIPUT_TASK_KEY_FILE":  # paths may differ between processes; set or not may not
            values = {w: bool(v) for w, v in values.items()}
        if len(set(values.values())) > 1:
            detail = "; ".join(f"{w}: {v!r}" for w, v in values.items())
            problems.add(members[0].group, f"hosts and workers disagree on {var} ({detail})")


# ---------------------------------------------------------------- compose


def seconds(duration: Any) -> float | None:
    if duration is None:
        return None
    if isinstance(duration, (int, float)):
        return float(duration)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)", str(duration))
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    return sum(float(n) * scale[u] for n, u in parts) if parts else None


def _words(v: Any) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else [str(x) for x in v]


def compose_processes(path: Path, problems: Problems) -> list[Process]:
    doc = yaml.safe_load(path.read_text())
    procs = []
    for name, svc in (doc.get("services") or {}).items():
        where = f"{path} service {name}"
        raw = svc.get("environment") or {}
        env: dict[str, str | None] = {}
        if isinstance(raw, dict):
            env = {k: (None if v is None else str(v)) for k, v in raw.items()}
        else:
            for item in raw:
                k, sep, v = str(item).partition("=")
                env[k] = v if sep else None
        words = _words(svc.get("entrypoint")) + _words(svc.get("command"))
        env.update({k: v for k, v in shell_exports(words).items() if k not in env})
        image = str(svc.get("image", ""))
        wmiput_image = "build" in svc or image.rsplit("/", 1)[-1].split(":")[0] == "wmiput"
        entrypoint = _words(svc.get("entrypoint"))
        role = role_of(words if entrypoint else ["wmiput", *(_words(svc.get("command")) or ["serve"])],
                       wmiput_image and not entrypoint)
        files, dirs = set(), set()
        for s in svc.get("secrets") or []:
            if isinstance(s, str):
                files.add(f"/run/secrets/{s}")
            else:
                t = s.get("target") or s["source"]
                files.add(t if t.startswith("/") else f"/run/secrets/{t}")
        for v in svc.get("volumes") or []:
            target = v.get("target") if isinstance(v, dict) else str(v).split(":")[1 if ":" in str(v) else 0]
            dirs.add(target)
        dirs.update(t.split(":")[0] for t in _words(svc.get("tmpfs")))
        procs.append(Process(where, role, env, files, dirs, seconds(svc.get("stop_grace_period", "10s")),
                             group=str(path)))
    return procs


# ---------------------------------------------------------------- Kubernetes


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec")
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"].get("spec")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return obj["spec"]["template"].get("spec")
    return None


def kubernetes_processes(path: Path, problems: Problems) -> list[Process]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"}
    procs = []
    for obj in docs:
        spec = pod_spec(obj)
        if spec is None:
            continue
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for t in (obj["spec"].get("volumeClaimTemplates") or []) if obj.get("kind") == "StatefulSet" else []:
            volumes[t["metadata"]["name"]] = {"name": t["metadata"]["name"], "persistentVolumeClaim": {}}
        grace = float(spec.get("terminationGracePeriodSeconds", 30))
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            where = f"{path} {obj['kind']}/{obj['metadata']['name']} container {c['name']}"
            env: dict[str, str | None] = {}
            for src in c.get("envFrom") or []:
                prefix = src.get("prefix", "")
                if "configMapRef" in src:
                    ref = src["configMapRef"]
                    if ref["name"] not in config_maps:
                        if not ref.get("optional"):
                            problems.add(where, f"envFrom ConfigMap {ref['name']} is not in the manifests")
                        continue
                    env.update({prefix + k: str(v) for k, v in config_maps[ref["name"]].items()})
            for e in c.get("env") or []:
                env[e["name"]] = str(e["value"]) if "value" in e else UNKNOWN
            words = _words(c.get("command")) + _words(c.get("args"))
            env.update({k: v for k, v in shell_exports(words).items() if k not in env})
            image = str(c.get("image", "")).rsplit("/", 1)[-1].split(":")[0].split("@")[0]
            role = role_of(words if c.get("command") else ["wmiput", *(_words(c.get("args")) or ["serve"])],
                           image == "wmiput") if image == "wmiput" or c.get("command") else None
            files, dirs = set(), set()
            for m in c.get("volumeMounts") or []:
                vol = volumes.get(m["name"])
                if vol is None:
                    problems.add(where, f"volumeMount {m['name']} names no volume of the pod")
                    continue
                source = vol.get("secret") or vol.get("configMap")
                items = (source or {}).get("items")
                base = m["mountPath"].rstrip("/")
                if m.get("subPath"):
                    files.add(base)
                elif items:
                    files.update(f"{base}/{i['path']}" for i in items)
                else:
                    dirs.add(base)
            stop = grace - _pre_stop_seconds(c)
            procs.append(Process(where, role, env, files, dirs, stop, group=str(path)))
    return procs


def _pre_stop_seconds(c: dict[str, Any]) -> float:
    """The pause of a preStop hook (sleep action or `sleep N`), which eats into the grace period."""
    pre = (c.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        return float(pre["sleep"].get("seconds", 0))
    cmd = (pre.get("exec") or {}).get("command") or []
    m = re.search(r"\bsleep\s+(\d+(?:\.\d+)?)", " ".join(cmd))
    return float(m.group(1)) if m else 0.0


# ---------------------------------------------------------------- text scan


def scan_names(paths: Iterable[Path], problems: Problems) -> None:
    for root in paths:
        files = sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else [root]
        for f in files:
            try:
                text = f.read_text()
            except UnicodeDecodeError:
                continue
            for n, line in enumerate(text.splitlines(), 1):
                for name in NAME.findall(line):
                    if name not in KNOWN:
                        problems.add(f"{f}:{n}", f"{name} is not a wmiput setting")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compose", type=Path, action="append", default=[], help="a compose file")
    ap.add_argument("--kubernetes", type=Path, action="append", default=[],
                    help="rendered Kubernetes manifests (kubectl kustomize output)")
    ap.add_argument("--scan", type=Path, action="append", default=[],
                    help="files or directories whose text may name only real WMIPUT_* settings")
    a = ap.parse_args(argv)
    problems = Problems()
    checked = 0
    for path, reader in [*((p, compose_processes) for p in a.compose), *((p, kubernetes_processes)
                                                                          for p in a.kubernetes)]:
        try:
            procs = reader(path, problems)
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
            problems.add(str(path), f"cannot read it: {type(e).__name__}: {e}")
            continue
        if not any(p.role for p in procs):
            problems.add(str(path), "runs no wmiput process at all")
        for p in procs:
            check_process(p, problems)
        check_group(procs, problems)
        checked += len(procs)
    scan_names(a.scan, problems)
    for line in problems:
        print(f"check_deploy_env: {line}", file=sys.stderr)
    if problems:
        print(f"check_deploy_env: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_deploy_env: ok -- {checked} processes, every WMIPUT_* variable is a setting of its process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
