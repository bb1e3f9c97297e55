"""Who is calling: a principal from a client certificate (mutual TLS) or a bearer token.

- TLS (`--tls-cert`, `--tls-key`) protects the connection; with `--tls-client-ca` every
  connection must present a client certificate signed by that CA (mutual TLS), and a
  certificate's principal is its subject's common name.
- Tokens (`--tokens-file`): one `<principal> <token>` pair per line (`#` starts a comment); a
  client sends `authorization: Bearer <token>`. Tokens are compared by their SHA-256 digests in
  constant time, and never logged.
- A call must prove who it is as soon as either is configured: no credentials, or wrong ones, is
  WBEM_E_ACCESS_DENIED (gRPC UNAUTHENTICATED). With neither, every caller is "anonymous", and the
  host refuses to listen beyond loopback.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc

from host.errors import WbemError

ANONYMOUS = "anonymous"
UNAUTHENTICATED = "(unauthenticated)"  # the audit's name for a caller whose credentials failed
_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default=ANONYMOUS)


def current_principal() -> str:
    """The principal of the call being served (set by the servicer for each call)."""
    return _CALLER.get()


def set_principal(principal: str) -> contextvars.Token[str]:
    return _CALLER.set(principal)


class Unauthenticated(WbemError):
    """No credentials, or credentials nobody issued: gRPC UNAUTHENTICATED, HRESULT ACCESS_DENIED."""

    grpc_status = grpc.StatusCode.UNAUTHENTICATED

    def __init__(self, description: str) -> None:
        super().__init__("WBEM_E_ACCESS_DENIED", description)


@dataclass(frozen=True)
class AuthSettings:
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    tokens_file: str = ""


def read_tokens(path: str) -> dict[bytes, str]:
    """SHA-256 digest of each token -> its principal."""
    out: dict[bytes, str] = {}
    for n, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{n}: expected '<principal> <token>'")
        principal, token = parts
        if principal == "Everyone":
            raise ValueError(f"{path}:{n}: 'Everyone' names a group in namespace security; choose another name")
        if len(token) < 16:
            raise ValueError(f"{path}:{n}: the token of {principal} is shorter than 16 characters")
        out[hashlib.sha256(token.encode()).digest()] = principal
    return out


def is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Authenticator:
    def __init__(self, s: AuthSettings) -> None:
        self.s = s
        if bool(s.tls_cert) != bool(s.tls_key):
            raise ValueError("give both --tls-cert and --tls-key, or neither")
        if s.tls_client_ca and not s.tls_cert:
            raise ValueError("--tls-client-ca needs TLS: give --tls-cert and --tls-key too")
        self.tokens = read_tokens(s.tokens_file) if s.tokens_file else {}
        if s.tokens_file and not self.tokens:
            raise ValueError(f"{s.tokens_file} holds no token")

    @property
    def tls(self) -> bool:
        return bool(self.s.tls_cert)

    @property
    def required(self) -> bool:
        """Whether callers must authenticate (tokens or client certificates are configured)."""
        return bool(self.tokens or self.s.tls_client_ca)

    def describe(self) -> str:
        parts = []
        if self.tls:
            parts.append("tls" + (" with client certificates" if self.s.tls_client_ca else ""))
        if self.tokens:
            parts.append(f"{len(self.tokens)} bearer token(s)")
        return ", ".join(parts) if parts else "none: every caller is anonymous, loopback only"

    def server_credentials(self) -> grpc.ServerCredentials:
        key, cert = Path(self.s.tls_key).read_bytes(), Path(self.s.tls_cert).read_bytes()
        ca = Path(self.s.tls_client_ca).read_bytes() if self.s.tls_client_ca else None
        # With a client CA every connection must present a certificate it signed (gRPC cannot ask
        # for one without requiring it); a token, if also sent, then names the principal.
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=bool(ca))

    def check_listen(self, listen: str) -> None:
        if not self.tls and not is_loopback(listen):
            raise ValueError(f"refusing to listen on {listen} without TLS: callers' credentials and data would "
                             "cross the network in the clear. Give --tls-cert and --tls-key (and --tls-client-ca "
                             "or --tokens-file to authenticate callers), or listen on loopback")

    def principal(self, context: grpc.aio.ServicerContext) -> str:
        """The caller's principal; Unauthenticated when credentials are required and missing or wrong."""
        if not self.required:  # nothing to check: every caller is anonymous (credentials sent are ignored)
            return ANONYMOUS
        token = _bearer(context)
        if token is not None:
            who = self._token_principal(token)
            if who is None:
                raise Unauthenticated("the bearer token is not one this host issued")
            return who
        if self.s.tls_client_ca:
            auth = context.auth_context() or {}
            names = auth.get("x509_common_name") or []
            if names:
                return names[0].decode()
        raise Unauthenticated("this host requires credentials: a client certificate or an "
                              "'authorization: Bearer <token>' header")

    def _token_principal(self, token: str) -> str | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, who in self.tokens.items():  # every entry compared, in constant time each
            if hmac.compare_digest(known, digest):
                found = who
        return found


def _bearer(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            v = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = v.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise Unauthenticated("the authorization header is not 'Bearer <token>'")
    return None
