"""The floors: what the parts cost at best, measured in the same run as the scenarios.

Floor A: a bare grpc.aio unary echo server (bytes in, bytes out: no protobuf parsing on either side),
in its own process, driven with the serialized PutInstanceRequest of S1 at the same concurrency.

Floor B: a bare Redis-stream request/reply hop between two processes: the client XADDs a request to a
stream, a responder process reads it with XREADGROUP, XADDs the reply to the client's reply stream and
XACKs; the client waits on its reply stream with XREAD BLOCK. A provider-backed put of depth d makes
2*d such hops (prepare and commit per level), so S2's floor is 6 hops at depth 3.

The servers run as `python -m bench.floors echo --listen ADDR` and
`python -m bench.floors responder --redis-url URL --stream KEY`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from typing import Any

import grpc
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bench.env import Env, free_port
from bench.runner import drive
from host import eventloop

ECHO_METHOD = "/bench.Echo/Echo"
FLOOR_B_PREFIX = "benchfloor"
GROUP = "responders"


# ------------------------------------------------------------------ the server processes


async def serve_echo(listen: str) -> None:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


async def serve_responder(redis_url: str, stream: str) -> None:
    r = Redis.from_url(redis_url)
    with contextlib.suppress(ResponseError):  # BUSYGROUP: already there
        await r.xgroup_create(stream, GROUP, id="0", mkstream=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        got = await r.xreadgroup(GROUP, "responder", {stream: ">"}, count=256, block=500)
        for _, entries in got or ():
            pipe = r.pipeline(transaction=False)
            for eid, fields in entries:
                pipe.xadd(fields[b"reply"], {b"body": fields[b"body"]}, maxlen=1000, approximate=True)
                pipe.xack(stream, GROUP, eid)
            await pipe.execute()
    await r.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.floors", description="The floor servers of the benchmark.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo", help="floor A: a bare grpc.aio unary echo server")
    e.add_argument("--listen", required=True)
    rp = sub.add_parser("responder", help="floor B: a Redis-stream responder")
    rp.add_argument("--redis-url", required=True)
    rp.add_argument("--stream", required=True)
    a = ap.parse_args()
    if a.cmd == "echo":
        eventloop.run(serve_echo(a.listen))
    else:
        eventloop.run(serve_responder(a.redis_url, a.stream))


# ------------------------------------------------------------------ the drivers (in the benchmark process)


async def _until(fn: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await asyncio.wait_for(fn(), 2)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def floor_a(env: Env, payload: bytes, concurrencies: list[int], count: int) -> list[dict[str, Any]]:
    """The echo server in its own process; one run per concurrency."""
    target = f"127.0.0.1:{free_port()}"
    server = env.start_floor("echo-server", ["echo", "--listen", target])
    channel = grpc.aio.insecure_channel(target)
    try:
        echo = channel.unary_unary(ECHO_METHOD)  # no serializers: bytes in, bytes out

        async def op(i: int) -> None:
            got = await echo(payload, timeout=60)
            if len(got) != len(payload):
                raise RuntimeError("echo returned another payload")

        await _until(lambda: op(0))
        return await _each_concurrency(env, "floor A grpc echo", "floorA", op, server, concurrencies, count, payload)
    finally:
        await channel.close()
        env.stop_proc(server)


async def floor_b(env: Env, payload: bytes, concurrencies: list[int], count: int) -> list[dict[str, Any]]:
    """The responder in its own process; one hop per request; one run per concurrency."""
    stream = f"{FLOOR_B_PREFIX}:requests"
    responder = env.start_floor("responder", ["responder", "--redis-url", env.redis_url, "--stream", stream])
    r = Redis.from_url(env.redis_url)
    slots: asyncio.Queue[int] = asyncio.Queue()
    last: dict[int, bytes] = {}
    try:
        for k in range(max(concurrencies)):
            slots.put_nowait(k)
            last[k] = b"0-0"

        async def hop(i: int) -> None:
            k = await slots.get()
            reply = f"{FLOOR_B_PREFIX}:reply:{k}"
            try:
                await r.xadd(stream, {b"reply": reply, b"body": payload}, maxlen=10_000, approximate=True)
                while True:
                    got = await r.xread({reply: last[k]}, count=1, block=30_000)
                    if got:
                        last[k] = got[0][1][0][0]
                        return
                    raise TimeoutError("no reply from the responder in 30 s")
            finally:
                slots.put_nowait(k)

        await _until(lambda: hop(0))
        return await _each_concurrency(env, "floor B redis hop", "floorB", hop, responder, concurrencies, count,
                                       payload)
    finally:
        await r.aclose()
        env.stop_proc(responder)


async def _each_concurrency(env: Env, label: str, scenario: str, op: Any, server: Any, concurrencies: list[int],
                            count: int, payload: bytes) -> list[dict[str, Any]]:
    """One run per concurrency, CPU counted for the client, Redis and the floor's server."""
    runs = []
    for c in concurrencies:
        run = await drive(label, op, count=count, concurrency=c, meter=env.meter(server, host=False), warmup=op,
                          warmup_count=min(200, count))
        run.update(scenario=scenario, payload_bytes=len(payload))
        runs.append(run)
        yield_line(run)
    return runs


def yield_line(run: dict[str, Any]) -> None:
    from bench.runner import line
    print(line(run), flush=True)


if __name__ == "__main__":
    main()
