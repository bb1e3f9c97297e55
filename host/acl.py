"""Redis ACL rules for a provider worker: only its own provider's keys, the hosts' reply streams,
and (read-only where Redis can say so) the transactions' decisions.

`wmiput acl-worker --provider NAME` prints the `ACL SETUSER` line; deploy/README.md shows its use.
Redis 7 has read-only and write-only key patterns (`%R~`, `%W~`); Redis 6.2 grants read and write
alike, so there a worker can also write the transaction records it needs to read.
"""

from __future__ import annotations

from host.repository.keys import Keys

# What a worker sends (workers/runtime.py; MULTI/EXEC for workers that record in a transaction, as
# docs/provider-protocol.md allows), and nothing else. (redis-py's CLIENT SETINFO on connect may be
# refused: it ignores that; naming it would break ACL SETUSER on Redis 7.0, which lacks it.)
WORKER_COMMANDS = ("ping", "hello", "client|setname", "select", "multi", "exec", "discard",
                   "xreadgroup", "xack", "xdel", "xadd", "xautoclaim", "xclaim", "xpending", "xgroup|create",
                   "xgroup|delconsumer", "get", "set", "del", "exists", "hget", "hset", "hdel", "expire",
                   # whether the server is a cluster node, and (if so) its slot map and the commands'
                   # key positions, which a cluster client reads at start (host/redis_connect.py)
                   "cluster|info", "cluster|slots", "command")


def glob_escape(text: str) -> str:
    """A literal for Redis' glob-style key patterns."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def worker_rules(prefix: str, namespace: str, provider: str, *, redis_major: int = 7) -> list[str]:
    """The rules (after `ACL SETUSER <user> on >password`) for a worker serving `provider`."""
    keys = Keys(prefix)
    own = glob_escape(keys.tasks(namespace, provider).removesuffix(":tasks")) + ":*"  # P:{p|ns|provider}:*
    replies = glob_escape(keys.host_replies("\0")).replace("\0", "*")  # P:{h|*}:replies
    tx = glob_escape(keys.tx("\0")).replace("\0", "*")  # P:{tx|*}
    if redis_major >= 7:
        key_rules = [f"~{own}", f"%W~{replies}", f"%R~{tx}"]
    else:
        key_rules = [f"~{own}", f"~{replies}", f"~{tx}"]
    return ["resetkeys", *key_rules, "resetchannels", "-@all", *(f"+{c}" for c in WORKER_COMMANDS)]


def setuser_line(user: str, rules: list[str]) -> str:
    """The ACL SETUSER command, quoted for redis-cli (the password is added by the operator)."""
    return "ACL SETUSER " + user + " on >PASSWORD " + " ".join(f"'{r}'" if "\\" in r or "|" in r else r for r in rules)
