"""Signed stream entries: a worker can tell a task the host wrote from one anybody with access to
Redis wrote, and the host a worker's reply from a forged one.

With a task key (`--task-key-file`, the same file for the host and its workers), every task entry
carries `sig`, the hex HMAC-SHA256 of ("task", the stream's key, the task's bytes), and every
reply entry the same over ("reply", the reply stream's key, the reply's bytes). Binding the stream
into the MAC keeps a signed entry from being replayed onto another provider's stream. Without a
key nothing is signed or checked (docs/security.md says what that leaves open).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

MIN_KEY_BYTES = 32


def read_key(path: str) -> bytes:
    key = Path(path).read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{path}: a task key needs at least {MIN_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)")
    return key


class Signer:
    def __init__(self, key: bytes | None = None) -> None:
        self.key = key

    @classmethod
    def from_file(cls, path: str) -> "Signer":
        return cls(read_key(path) if path else None)

    def _mac(self, kind: str, stream: str, payload: bytes) -> bytes:
        assert self.key is not None
        return hmac.new(self.key, b"%s\0%s\0%s" % (kind.encode(), stream.encode(), payload),
                        hashlib.sha256).hexdigest().encode()

    def entry(self, kind: str, stream: str, payload: bytes) -> dict[str, bytes]:
        """The stream entry's fields: {kind: payload} and, with a key, its signature."""
        fields = {kind: payload}
        if self.key is not None:
            fields["sig"] = self._mac(kind, stream, payload)
        return fields

    def verified(self, kind: str, stream: str, fields: dict[bytes, bytes]) -> bytes | None:
        """The payload of an entry read from `stream`, or None if it is missing or, with a key, its
        signature is missing or wrong."""
        payload = fields.get(kind.encode())
        if payload is None:
            return None
        if self.key is None:
            return payload
        sig = fields.get(b"sig")
        if sig is None or not hmac.compare_digest(sig, self._mac(kind, stream, payload)):
            return None
        return payload
