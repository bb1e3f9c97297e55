"""Structured logs: one event per put, naming its path, its transaction and its call; no secrets.

The host runs in this process with JSON logs at level info on this test's stderr; the provider
worker is a real process. The client authenticates with a bearer token, which must never appear.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from host import logs
from host.client import Credentials, WbemClient, WbemFlag, instance, prop
from host.config import Settings
from tests.helpers import serving
from tests.provider_env import Workers, dynamic, register, wait_live

pytestmark = pytest.mark.timeout(120)
TOKEN = "s3cret-token-0123456789abcdef-never-logged"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The host's log lines, at level info, into a buffer."""
    saved = structlog.get_config()
    buffer = io.StringIO()
    logs.configure("json", "info", file=buffer)
    try:
        yield buffer
    finally:
        structlog.configure(**saved)  # as tests/conftest.py left them


def events(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


async def test_one_event_per_put_with_path_transaction_and_call_and_never_the_token(
        json_logs: io.StringIO, tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"ops {TOKEN}\n")
    settings = Settings(listen="127.0.0.1:0", redis_url=redis_url, prefix=key_prefix, server_name="LOGHOST",
                        log_format="json", log_level="info", tokens_file=str(tokens), admins="ops")
    w = Workers(tmp_path, redis_url, key_prefix)
    try:
        async with serving(settings) as h:
            c = await WbemClient.connect(h.target, timeout=30.0, credentials=Credentials(token=TOKEN))
            try:
                await register(c, "LogProv")
                w.start("LogProv")
                await c.put_class(dynamic("Log_Item", "LogProv", prop("Id", "string", key=True)))
                await wait_live(c, "LogProv")
                json_logs.seek(0)
                json_logs.truncate()  # from here: the puts
                await c.put_instance(instance("Log_Item", Id="a"), WbemFlag.CREATE_ONLY)
                call = await c.put_instance_async(instance("Log_Item", Id="b"), WbemFlag.CREATE_ONLY)
                await call.wait()
            finally:
                await c.close()
    finally:
        w.stop_all()
    err = json_logs.getvalue()
    assert TOKEN not in err, "a bearer token reached the logs"
    evs = events(err)
    sync = [e for e in evs if e.get("event") == "call" and e.get("op") == "PutInstance"]
    assert len(sync) == 1, sync
    assert sync[0]["target"].endswith('Log_Item.Id="a"') and sync[0]["hresult"] == "WBEM_S_NO_ERROR"
    assert len(sync[0]["tx"]) == 32, "the provider-backed put names its transaction"
    ran = [e for e in evs if e.get("event") == "call" and e.get("op") == "PutInstanceAsync"]
    assert len(ran) == 1 and ran[0]["hresult"] == "WBEM_S_NO_ERROR" and len(ran[0]["tx"]) == 32, ran
    assert ran[0]["call"] and ran[0]["target"].endswith('Log_Item.Id="b"')
    assert ran[0]["tx"] != sync[0]["tx"]
