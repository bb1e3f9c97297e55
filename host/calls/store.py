"""Call records in Redis: what any host needs to answer for an asynchronous or semisynchronous
call that some host started.

    P:{c|<id>}          hash: owner, op, flavour, host running it, stage, request, final result
    P:{c|<id>}:events   stream of SinkEvent, entry id "<sequence>-0"
    P:{meta}:calls:active:<host>   zset of the calls a host runs and has not finished
    P:{meta}:calls:hosts           hosts with such a zset (recovery looks at the dead ones)

<id> is a digest of the call handle, so the handle (a bearer secret) never appears in key
names, logs or metrics. A finished call is kept `retention_s` seconds for late readers.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from host.redis_scripts import Script, source
from host.repository.keys import Keys
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import status_pb2 as st


def _script(name: str) -> str:
    return source("host.calls", name)


def new_handle() -> str:
    """192 random bits: unguessable, so holding a handle is itself a proof of having started the call.
    The leading letter keeps a handle from looking like an option on a command line ("-x...")."""
    return "h" + secrets.token_urlsafe(24)


def keyed_handle(principal: str, key: str) -> str:
    """The handle of the call a put with this idempotency key makes: the same for every repeat by
    the same caller, another for anyone else. Only its owner can use it, as any handle."""
    digest = hashlib.sha256(f"{principal}\0{key}".encode("utf-8", "replace")).digest()[:24]
    return "k" + base64.urlsafe_b64encode(digest).decode()


def call_id(handle: str) -> str:
    return hashlib.sha256(handle.encode("utf-8", "replace")).hexdigest()[:32]


@dataclass
class CallRecord:
    id: str
    owner: str
    op: str
    flavour: str  # "com" (IWbemObjectSink), "script" (SWbemSink), "semisync" (IWbemCallResult)
    host: str
    state: str  # "running" or "done"
    stage: str  # "" (nothing irreversible yet), "committing", "tx", "done"
    send_status: bool
    request: bytes
    async_context: bytes
    tx: str = ""
    receipt: str = ""
    path: str = ""
    hresult: int = 0
    result: str = ""
    error: bytes = b""
    seq: int = 0
    cancel: bool = False

    @property
    def done(self) -> bool:
        return self.state == "done"

    def error_object(self) -> st.ExtendedStatus:
        return st.ExtendedStatus.FromString(self.error) if self.error else st.ExtendedStatus()

    @classmethod
    def from_hash(cls, cid: str, h: dict[bytes, bytes]) -> "CallRecord":
        def s(k: str) -> str:
            return h.get(k.encode(), b"").decode()
        return cls(id=cid, owner=s("owner"), op=s("op"), flavour=s("flavour"), host=s("host"), state=s("state"),
                   stage=s("stage"), send_status=s("send_status") == "1", request=h.get(b"request", b""),
                   async_context=h.get(b"async_context", b""), tx=s("tx"), receipt=s("receipt"), path=s("path"),
                   hresult=int(s("hresult") or 0), result=s("result"), error=h.get(b"error", b""),
                   seq=int(s("seq") or 0), cancel=s("cancel") == "1")


class CallStore:
    def __init__(self, redis: Redis, keys: Keys, *, retention_s: int, max_running_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_s = retention_s
        # A running call's keys outlive any put deadline plus recovery; they expire even if
        # every host that could finish the call is gone for good.
        self.max_running_s = max_running_s
        self._emit = Script(redis, _script("call_emit"))
        self._gate = Script(redis, _script("call_gate"))
        self._cancel = Script(redis, _script("call_cancel"))
        self._adopt = Script(redis, _script("call_adopt"))
        self._create = Script(redis, _script("call_create"))

    async def create(self, cid: str, *, owner: str, op: str, flavour: str, host: str, send_status: bool,
                     request: bytes, async_context: bytes) -> bool:
        """Record a new call; False (and nothing written) if a call with this id exists already."""
        key = self.keys.call(cid)
        fields = {"owner": owner, "op": op, "flavour": flavour, "host": host, "state": "running", "stage": "",
                  "send_status": "1" if send_status else "0", "request": request, "async_context": async_context,
                  "seq": 0, "created_ms": int(time.time() * 1000)}
        if not await self._create(keys=[key], args=[self.max_running_s + self.retention_s,
                                                    *(x for kv in fields.items() for x in kv)]):
            return False
        async with self.redis.pipeline(transaction=False) as p:
            p.sadd(self.keys.call_hosts, host)
            p.zadd(self.keys.active_calls(host), {cid: time.time() * 1000})
            await p.execute()
        return True

    async def get(self, cid: str) -> CallRecord | None:
        h = await self.redis.hgetall(self.keys.call(cid))
        return CallRecord.from_hash(cid, h) if h else None

    async def progress_of(self, cid: str) -> tuple[str, int] | None:
        """(state, last sequence) of a call, or None if it is gone: what a waiter needs, cheaply."""
        state, seq = await self.redis.hmget(self.keys.call(cid), "state", "seq")
        return None if state is None else (state.decode(), int(seq or 0))

    async def gate(self, cid: str, host: str, stage: str, *, tx: str = "", receipt: str = "", path: str = "") -> str:
        res = await self._gate(keys=[self.keys.call(cid)], args=[host, stage, tx, receipt, path])
        return res.decode()

    async def emit(self, cid: str, host: str, events: list[calls.SinkEvent], *, final: bool = False,
                   hresult: int = 0, result: str = "", error: bytes = b"") -> int:
        """Append events; returns the last sequence, or -1 / -2 / -3 (see call_emit.lua)."""
        args: list[str | bytes | int] = [host, "1" if final else "0", self.retention_s, self.keys.call_channel, cid,
                                         hresult & 0xFFFFFFFF, result, error]
        args += [e.SerializeToString() for e in events]
        res = int(await self._emit(keys=[self.keys.call(cid), self.keys.call_events(cid)], args=args))
        if final and res != -3:
            await self.redis.zrem(self.keys.active_calls(host), cid)
        return res

    async def events_after(self, cid: str, after: int, count: int = 64) -> list[calls.SinkEvent]:
        entries = await self.redis.xrange(self.keys.call_events(cid), min=f"({after}-0", count=count)
        out = []
        for entry_id, fields in entries:
            e = calls.SinkEvent.FromString(fields[b"e"])
            e.sequence = int(entry_id.decode().split("-")[0])
            out.append(e)
        return out

    async def cancel(self, cid: str, principal: str) -> list[str]:
        return [x.decode() for x in await self._cancel(keys=[self.keys.call(cid)], args=[principal])]

    async def adopt(self, cid: str, seen_host: str, host: str) -> str | None:
        """Take the call over from `seen_host` (dead, or this host itself); its stage, or None."""
        alive = bool(seen_host and seen_host != host and await self.redis.exists(self.keys.host_alive(seen_host)))
        res = await self._adopt(keys=[self.keys.call(cid)], args=[seen_host, host, "1" if alive else "0"])
        if res is not None and seen_host != host:
            await self.move(cid, seen_host, host)
        return None if res is None else res.decode()

    async def move(self, cid: str, from_host: str, to_host: str) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            p.sadd(self.keys.call_hosts, to_host)
            p.zadd(self.keys.active_calls(to_host), {cid: time.time() * 1000})
            p.zrem(self.keys.active_calls(from_host), cid)
            await p.execute()

    async def hosts(self) -> list[str]:
        return [x.decode() for x in await self.redis.smembers(self.keys.call_hosts)]

    async def active(self, host: str, limit: int = 200) -> list[str]:
        return [x.decode() for x in await self.redis.zrange(self.keys.active_calls(host), 0, limit - 1)]

    async def forget_active(self, cid: str, host: str) -> None:
        await self.redis.zrem(self.keys.active_calls(host), cid)

    async def forget_host(self, host: str) -> None:
        """Drop a dead host from the hosts to look at, once it has no calls left."""
        if not await self.redis.exists(self.keys.active_calls(host)):
            await self.redis.srem(self.keys.call_hosts, host)

    async def alive(self, host: str) -> bool:
        return bool(await self.redis.exists(self.keys.host_alive(host)))

    async def notify_cancel(self, cid: str) -> None:
        await self.redis.publish(self.keys.call_channel, f"cancel:{cid}")
