"""One settings object per host process, filled from flags and WMIPUT_* environment variables.

Precedence: command-line flag > environment variable > default. docs/configuration.md lists
every setting.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields

from host.model.classes import Limits

ENV_PREFIX = "WMIPUT_"


@dataclass
class Settings:
    # Where gRPC listens. Loopback by default: no authentication exists yet.
    listen: str = "127.0.0.1:50051"
    # A Redis URL; empty starts the embedded redis-server under data_dir.
    redis_url: str = ""
    data_dir: str = "data"
    # Prefix of every Redis key, so several deployments can share one Redis.
    prefix: str = "wmiput"
    # __SERVER in object paths.
    server_name: str = field(default_factory=lambda: socket.gethostname().split(".")[0] or ".")
    log_format: str = "auto"  # json | console | auto (console on a terminal)
    log_level: str = "info"
    # Seconds in-flight calls get to finish after SIGTERM.
    grace_seconds: float = 10.0
    # Requests larger than this are refused with WBEM_E_QUOTA_VIOLATION.
    max_message_bytes: int = 16 * 1024 * 1024
    max_properties: int = 1024
    max_qualifiers: int = 256
    max_array_items: int = 100_000
    max_string_chars: int = 1_048_576
    max_identifier_chars: int = 4096
    max_hierarchy_depth: int = 64
    # Embedded Redis durability: "always" survives a crash with no acknowledged write lost.
    appendfsync: str = "always"

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
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected {kind.__name__}") from None


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()
