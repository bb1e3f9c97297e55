"""One settings object per host process, filled from flags and WMIPUT_* environment variables.

Precedence: command-line flag > environment variable > default. docs/configuration.md lists
every setting.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields
from typing import Any

from host.access.policy import AccessSettings
from host.access.rights import parse_rights
from host.model.classes import Limits
from host.server.auth import AuthSettings

ENV_PREFIX = "WMIPUT_"


def _opt(default: object, help: str, metavar: str = "") -> Any:
    return field(default=default, metadata={"help": help, "metavar": metavar})


@dataclass
class Settings:
    listen: str = _opt("127.0.0.1:50051", "gRPC address; beyond loopback only with TLS (--tls-cert, --tls-key)")
    health_listen: str = _opt("", "a second, plain-text address serving only gRPC health checking (grpc.health.v1), "
                              "for probes that cannot speak TLS (Kubernetes gRPC probes); empty: none", "HOST:PORT")
    metrics_listen: str = _opt("", "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks a free one, "
                               "logged); empty: metrics off, nothing recorded", "HOST:PORT")
    metrics_census_seconds: float = _opt(5.0, "with metrics on: how often the per-provider gauges (backlog, pending, "
                                         "oldest pending, live workers) are read from Redis", "SECONDS")
    tls_cert: str = _opt("", "PEM certificate chain of this host: serve TLS", "FILE")
    tls_key: str = _opt("", "PEM private key of --tls-cert", "FILE")
    tls_client_ca: str = _opt("", "PEM CA bundle: every connection must present a client certificate it signed "
                              "(mutual TLS); the principal is the certificate's common name, or the bearer "
                              "token's when one is sent too", "FILE")
    tokens_file: str = _opt("", "bearer tokens: lines '<principal> <token>'; with tokens or client certificates "
                            "configured, every call must authenticate (WBEM_E_ACCESS_DENIED otherwise)", "FILE")
    admins: str = _opt("", "principals (comma-separated) that hold every right in every namespace, as the local "
                       "Administrators do on Windows; they set the others' rights (SetNamespaceSecurity)", "NAMES")
    default_rights: str = _opt("Enable,MethodExecute,FullWrite,ProviderWrite,RemoteAccess",
                               "what 'Authenticated Users' may do in root and (by inheritance) every namespace "
                               "until root's security is set: rights by name or a number", "RIGHTS")
    security_cache_ms: int = _opt(1000, "how long a host trusts its copy of the namespace security descriptors; "
                                  "other hosts' changes apply within this time", "MS")
    task_key_file: str = _opt("", "a secret (32+ bytes) shared with the workers: tasks are signed with it and "
                              "replies checked, so nobody else with access to Redis can pose as the host or a "
                              "worker", "FILE")
    audit_max_entries: int = _opt(100_000, "entries the audit trail keeps (Redis stream P:{meta}:audit, one per "
                                  "write: principal, operation, target, flags, result); older ones are trimmed",
                                  "ENTRIES")
    redis_url: str = _opt("", "Redis URL (redis://, rediss://, unix://); empty starts the embedded redis-server")
    redis_max_connections: int = _opt(64, "Redis connections per host; calls beyond wait for one")
    data_dir: str = _opt("data", "where the embedded Redis keeps its append-only file")
    prefix: str = _opt("wmiput", "prefix of every Redis key, so deployments can share one Redis")
    server_name: str = field(default_factory=lambda: socket.gethostname().split(".")[0] or ".",
                             metadata={"help": "__SERVER in object paths (default: this machine's name)"})
    log_format: str = _opt("auto", "json, console, or auto (console on a terminal)")
    log_level: str = _opt("info", "debug, info, warning or error")
    tracing: str = _opt("off", "OpenTelemetry traces of every put: off, console (spans printed) or otlp (to "
                        "OTEL_EXPORTER_OTLP_ENDPOINT; needs opentelemetry-exporter-otlp); workers take "
                        "--tracing too (docs/observability.md)", "MODE")
    grace_seconds: float = _opt(10.0, "seconds in-flight calls get to finish after SIGTERM")
    max_message_bytes: int = _opt(16 * 1024 * 1024, "larger requests get WBEM_E_QUOTA_VIOLATION")
    max_properties: int = _opt(1024, "properties per class (WBEM_E_TOO_MANY_PROPERTIES)")
    max_qualifiers: int = _opt(256, "qualifiers per class, property or instance")
    max_array_items: int = _opt(100_000, "items in one array value")
    max_string_chars: int = _opt(1_048_576, "characters in one string value")
    max_identifier_chars: int = _opt(4096, "characters in a class, property or qualifier name")
    max_hierarchy_depth: int = _opt(64, "classes in one derivation")
    put_timeout_seconds: float = _opt(30.0, "deadline of a provider-backed put's prepare phase "
                                      "(WBEM_E_PROVIDER_TIMED_OUT when a provider does not answer)")
    commit_timeout_seconds: float = _opt(10.0, "how long a put waits for commit acknowledgements before "
                                         "leaving them to recovery (the put has succeeded by then)")
    max_calls_per_client: int = _opt(1000, "asynchronous and semisynchronous calls one client may have running "
                                     "on a host (and event streams it may follow); past it, WBEM_E_SERVER_TOO_BUSY",
                                     "CALLS")
    max_calls_per_host: int = _opt(20000, "asynchronous and semisynchronous calls running on one host; past it, "
                                   "WBEM_E_SERVER_TOO_BUSY", "CALLS")
    call_retention_seconds: int = _opt(900, "how long a finished call's result and events stay readable "
                                       "(GetCallStatus, AttachCall)")
    host_lease_ms: int = _opt(5000, "a host silent this long has its transactions adopted by another")
    worker_ttl_ms: int = _opt(10_000, "a worker silent this long no longer counts as live")
    example_providers: bool = _opt(False, "also register the bundled example providers (Inventory, DiskQuota) "
                                   "and run their workers")
    appendfsync: str = _opt("always", "embedded Redis fsync policy: always (no acknowledged write lost), "
                            "everysec, no")

    def auth(self) -> AuthSettings:
        return AuthSettings(tls_cert=self.tls_cert, tls_key=self.tls_key, tls_client_ca=self.tls_client_ca,
                            tokens_file=self.tokens_file)

    def access(self, authenticated: bool) -> AccessSettings:
        try:
            default = parse_rights(self.default_rights)
        except ValueError as e:
            raise ValueError(f"--default-rights: {e}") from None
        admins = frozenset(a.strip() for a in self.admins.split(",") if a.strip())
        return AccessSettings(enabled=authenticated, admins=admins, default_rights=default,
                              cache_ms=self.security_cache_ms)

    def limits(self) -> Limits:
        return Limits(max_identifier=self.max_identifier_chars, max_properties=self.max_properties,
                      max_qualifiers=self.max_qualifiers, max_depth=self.max_hierarchy_depth,
                      max_array=self.max_array_items, max_string=self.max_string_chars)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Settings":
        env = os.environ if environ is None else environ
        s = cls()
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                setattr(s, f.name, _coerce(f.name, type(getattr(s, f.name)), raw))
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        return s


def _coerce(name: str, kind: type, raw: str) -> object:
    if kind is bool:
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise SystemExit(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected true or false")
        return raw.lower() in ("1", "true", "yes")
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected {kind.__name__}") from None


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()
