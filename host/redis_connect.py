"""Connecting to the Redis the host and workers share: one server, or a Redis Cluster.

The URL names one server (redis://, rediss://, unix://). Whether it is a node of a cluster is
asked, not configured: a server answering `cluster_enabled:1` gets a cluster client, which
routes each command to the node owning its key's slot (every multi-key step of ours stays in
one slot: host/repository/keys.py).
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

_RETRY_ON = [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]


def _retry() -> Retry:
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=6)


def connect_server(url: str, max_connections: int = 64) -> Redis:
    """Connection errors are retried briefly (a Redis restart); then the call fails with
    WBEM_E_NOT_AVAILABLE. Retrying a write is safe: every put carries a token its script
    recognises, and class changes re-plan against the schema version."""
    # A blocking pool: under a burst, calls wait their turn for a connection instead of failing.
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=10, socket_timeout=10, socket_connect_timeout=2,
        health_check_interval=30, retry=_retry(), retry_on_error=_RETRY_ON)
    return Redis(connection_pool=pool)


def connect_cluster(url: str, max_connections: int = 64) -> Any:
    """A cluster client: `max_connections` per node; MOVED/ASK and node failures handled by redis-py."""
    return RedisCluster.from_url(url, max_connections=max_connections, socket_timeout=10, socket_connect_timeout=2,
                                 retry=_retry(), retry_on_error=_RETRY_ON)


async def is_cluster(url: str) -> bool:
    """CLUSTER INFO answers on a cluster node and is refused elsewhere. (A worker's ACL user may run
    it: host/acl.py.)"""
    probe = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        await probe.execute_command("CLUSTER INFO")
        return True
    except redis.exceptions.NoPermissionError:
        raise RuntimeError("the Redis user may not run CLUSTER INFO, which tells a cluster node from a "
                           "server; grant it +cluster|info (and +cluster|slots), as `wmiput acl-worker` "
                           "does") from None
    except redis.exceptions.ResponseError as e:
        if "cluster support disabled" in str(e).lower():
            return False
        raise
    finally:
        await probe.aclose()


async def open_redis(url: str, max_connections: int = 64) -> Any:
    """The right client for what `url` names (a cluster node or a server), connected and checked."""
    client = connect_cluster(url, max_connections) if await is_cluster(url) else connect_server(url, max_connections)
    await client.ping()
    return client
