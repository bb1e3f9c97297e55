"""Credentials of the SDK: TLS for the channel (with a client certificate for mutual TLS) and a
bearer token sent with every call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


@dataclass(frozen=True)
class Credentials:
    token: str = ""  # sent as "authorization: Bearer <token>"
    ca: str = ""  # PEM file of the CA that signed the host's certificate: TLS when set
    cert: str = ""  # PEM files of this client's certificate and key: mutual TLS
    key: str = ""

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if not self.ca:
            if self.cert or self.key:
                raise ValueError("a client certificate needs TLS: give the CA of the host's certificate too")
            return None
        if bool(self.cert) != bool(self.key):
            raise ValueError("give both the client certificate and its key, or neither")
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca).read_bytes(),
            private_key=Path(self.key).read_bytes() if self.key else None,
            certificate_chain=Path(self.cert).read_bytes() if self.cert else None)

    def interceptors(self) -> list[Any]:
        # One object per kind: grpc.aio files an interceptor under the first kind it is an instance of.
        return [_BearerUnary(self.token), _BearerStream(self.token)] if self.token else []


def _with_token(d: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(tuple(d.metadata) if d.metadata else ()), ("authorization", f"Bearer {token}"))
    return grpc.aio.ClientCallDetails(d.method, d.timeout, metadata, d.credentials, d.wait_for_ready)


class _BearerUnary(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds the token to every call's metadata (over TLS, or to a host on loopback)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self.token), request)


class _BearerStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self.token), request)
