"""The host process: Redis (embedded or configured), the repository, and the gRPC server with
health checking and reflection; graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from host import logs, metrics, tracing
from host.access.policy import NamespaceAccess
from host.audit import AuditLog
from host.calls.runner import CallRunner, Limits
from host.calls.store import CallStore
from host.calls.watch import CallWatcher
from host.config import Settings
from host.coordinator import Coordinator, Dispatcher, ProviderRegistry, Timeouts
from host.redis_connect import open_redis
from host.redis_server import EmbeddedRedis
from host.repository.store import Repository
from host.server.auth import Authenticator
from host.server.servicer import SERVICES, WbemServicer
from host.signing import Signer

log = logs.get("wmiput.host")


class Host:
    """Start with `await host.start()`, stop with `await host.stop()`; or `async with Host(settings)`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedRedis | None = None
        self.redis: Any = None  # redis.asyncio.Redis, or RedisCluster (host/redis_connect.py)
        self.server: grpc.aio.Server | None = None
        self.health_server: grpc.aio.Server | None = None
        self.health_port = 0
        self.metrics_server: Any = None  # --metrics-listen: prometheus_client's HTTP server
        self.metrics_port = 0
        self._census: asyncio.Task[None] | None = None
        self.servicer: WbemServicer | None = None
        self.coordinator: Coordinator | None = None
        self.calls: CallRunner | None = None
        self.audit: AuditLog | None = None
        self.host_id = ""
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._stopped = asyncio.Event()

    @property
    def target(self) -> str:
        host = self.settings.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> None:
        s = self.settings
        traced = tracing.configure(s.tracing, "wmiput-host")  # ValueError for an unknown mode, before anything starts
        try:  # before anything starts: a bad security setting stops the host, it is never ignored
            auth = Authenticator(s.auth())
            auth.check_listen(s.listen)
            signer = Signer.from_file(s.task_key_file)
            access_settings = s.access(auth.required)
        except (OSError, ValueError) as e:
            raise RuntimeError(f"security settings: {e}") from None
        url = s.redis_url
        if not url:
            self.embedded = EmbeddedRedis(Path(s.data_dir) / "redis", appendfsync=s.appendfsync)
            await asyncio.to_thread(self.embedded.start)
            url = self.embedded.url
            log.info("embedded redis started", url=url, data_dir=str(self.embedded.data_dir),
                     pid=self.embedded.pid, appendfsync=s.appendfsync)
        self.redis = await open_redis(url, s.redis_max_connections)
        repo = Repository(self.redis, prefix=s.prefix, limits=s.limits(), server=s.server_name)
        await repo.init()
        self.host_id = f"{s.server_name}-{uuid.uuid4().hex[:10]}"
        registry = ProviderRegistry(repo, self.redis, repo.keys, worker_ttl_ms=s.worker_ttl_ms)
        self.coordinator = Coordinator(repo, self.redis, repo.keys, self.host_id,
                                       timeouts=Timeouts(put_s=s.put_timeout_seconds, commit_s=s.commit_timeout_seconds,
                                                         lock_wait_s=s.put_timeout_seconds),
                                       alive_ms=s.host_lease_ms, signer=signer)
        await self.coordinator.start()
        # gRPC's own cap sits above ours so that oversized requests reach our decoder and get
        # WBEM_E_QUOTA_VIOLATION; only absurd sizes (4x) meet gRPC's RESOURCE_EXHAUSTED.
        hard = s.max_message_bytes * 4
        self.server = grpc.aio.server(options=[("grpc.max_receive_message_length", hard),
                                               ("grpc.max_send_message_length", hard),
                                               ("grpc.so_reuseport", 0)])
        access = NamespaceAccess(self.redis, repo.keys, access_settings)
        if auth.required and not access_settings.admins:
            log.warning("no --admins: nobody can change namespace security (SetNamespaceSecurity)")
        dispatcher = Dispatcher(repo, registry, self.coordinator, access)
        limits = Limits(per_client=s.max_calls_per_client, per_host=s.max_calls_per_host,
                        retention_s=s.call_retention_seconds,
                        max_running_s=int(s.put_timeout_seconds + s.commit_timeout_seconds) + 3600)
        self.audit = audit = AuditLog(self.redis, repo.keys, self.host_id, max_entries=s.audit_max_entries)
        self.calls = CallRunner(CallStore(self.redis, repo.keys, retention_s=limits.retention_s,
                                          max_running_s=limits.max_running_s),
                                CallWatcher(self.redis, repo.keys.call_channel), dispatcher, self.coordinator,
                                repo.keys, self.host_id, limits, recovery_interval_s=s.host_lease_ms / 5000,
                                audit=audit)
        self.calls.start()
        self.servicer = WbemServicer(repo, dispatcher, self.calls, max_message_bytes=s.max_message_bytes,
                                     host_id=self.host_id, auth=auth, audit=audit, access=access,
                                     traced=traced)
        self.server.add_generic_rpc_handlers(self.servicer.handlers())
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*(svc.full_name for svc in SERVICES), health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.port = (self.server.add_secure_port(s.listen, auth.server_credentials()) if auth.tls
                     else self.server.add_insecure_port(s.listen))
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {s.listen}")
        await self.server.start()
        if s.health_listen:
            await self._serve_health(s.health_listen)
        if s.metrics_listen:
            self.metrics_server = metrics.serve(s.metrics_listen)
            self.metrics_port = int(self.metrics_server.server_address[1])
            self._census = asyncio.create_task(metrics.census_loop(registry, repo, s.metrics_census_seconds))
        for svc in ("", *(svc.full_name for svc in SERVICES)):
            await self.health.set(svc, health_pb2.HealthCheckResponse.SERVING)
        log.info("host serving", listen=self.target, namespaces=await repo.namespaces(), prefix=s.prefix,
                 security=auth.describe(), admins=sorted(access_settings.admins) if auth.required else "everyone")

    async def _serve_health(self, listen: str) -> None:
        """Health checking alone, in plain text: it tells a probe SERVING or NOT_SERVING, nothing else."""
        self.health_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
        self.health_port = self.health_server.add_insecure_port(listen)
        if self.health_port == 0:
            raise RuntimeError(f"cannot listen on {listen} (--health-listen)")
        await self.health_server.start()

    async def stop(self) -> None:
        """Answer new calls WBEM_E_SHUTTING_DOWN, let in-flight ones finish within the grace period,
        then close the server and release everything."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        await self.health.enter_graceful_shutdown()
        if self._census is not None:
            self._census.cancel()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.servicer is not None:
            self.servicer.draining = True  # new calls: WBEM_E_SHUTTING_DOWN from here on
        if self.calls is not None and not await self.calls.drain(self.settings.grace_seconds):
            log.warning("grace period over; calls still running are left to other hosts", running=self.calls.running)
        if self.calls is not None:  # their event streams end too: clients attach again elsewhere
            self.calls.release_followers()
        if self.servicer is not None and not await self.servicer.drain(self.settings.grace_seconds):
            log.warning("grace period over; cancelling calls still in flight", in_flight=self.servicer.in_flight)
        if self.server is not None:
            await self.server.stop(0.5)
        if self.health_server is not None:
            await self.health_server.stop(0.5)
        if self.calls is not None:
            await self.calls.stop()
        if self.coordinator is not None:
            await self.coordinator.stop()
        if self.audit is not None:
            await self.audit.drain()
        if self.redis is not None:
            await self.redis.aclose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
        log.info("host stopped")

    async def __aenter__(self) -> "Host":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    host = Host(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        await host.start()
        if settings.example_providers:
            workers = await _start_examples(host)
        await stop.wait()
        log.info("shutting down", grace_seconds=settings.grace_seconds)
    finally:
        for w in workers:  # workers first: they finish their task in hand and leave their groups
            w.terminate()
        for w in workers:
            try:
                await asyncio.to_thread(w.wait, 15)
            except subprocess.TimeoutExpired:
                w.kill()
        await host.stop()


async def _start_examples(host: Host) -> list[subprocess.Popen[bytes]]:
    """Register the bundled example providers, put their classes, and run a worker for each."""
    from host.client import WbemClient
    from workers import examples

    s = host.settings
    url = host.embedded.url if host.embedded is not None else s.redis_url
    data_dir = str(Path(s.data_dir) / "providers")
    env = {**os.environ, "WMIPUT_TASK_KEY_FILE": s.task_key_file} if s.task_key_file else None
    if tracing.parse_mode(s.tracing) != "off":  # the workers trace as the host does
        env = {**(env or os.environ), "WMIPUT_TRACING": s.tracing}
    # The workers serve metrics if the host does, each on a port of its own (logged): never the
    # host's address, which an inherited WMIPUT_METRICS_LISTEN would give them.
    host_side = (env or os.environ).get("WMIPUT_METRICS_LISTEN", "")
    if s.metrics_listen or host_side:
        addr = (s.metrics_listen or host_side).rpartition(":")[0]
        env = {**(env or os.environ), "WMIPUT_METRICS_LISTEN": f"{addr}:0"}
    procs = [subprocess.Popen(argv, env=env) for argv in examples.worker_argv(url, s.prefix, "root\\cimv2", data_dir)]
    async with await WbemClient.connect(host.target) as c:
        await examples.install(c)
    log.info("example providers running", providers=list(examples.PROVIDERS), data_dir=data_dir,
             pids=[p.pid for p in procs])
    return procs
