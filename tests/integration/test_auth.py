"""Who may call: TLS, mutual TLS (a client certificate's common name is the principal) and bearer
tokens, against a real host over loopback; and the loopback-only rule when nothing is configured."""

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import trustme

from host.client import Credentials, WbemClient, WbemError, WbemFlag, instance
from host.config import Settings
from host.server.app import Host
from tests.helpers import serving

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef"


@dataclasses.dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    carol_cert: Path  # signed by the host's client CA, common name "carol"
    carol_key: Path
    dave_cert: Path  # the same CA, common name "dave"
    dave_key: Path
    mallory_cert: Path  # signed by another CA
    mallory_key: Path
    tokens: Path


def _write(tmp: Path, name: str, blob: trustme.Blob) -> Path:
    p = tmp / name
    blob.write_to_path(str(p))
    return p


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    carol = ca.issue_cert("carol@example.test", common_name="carol")
    dave = ca.issue_cert("dave@example.test", common_name="dave")
    mallory = other.issue_cert("mallory@example.test", common_name="mallory")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# principal token\nalice {ALICE}\nbob   {BOB}  # a second caller\n")
    return Pki(ca=_write(tmp_path, "ca.pem", ca.cert_pem),
               server_cert=_write(tmp_path, "server.pem", server.cert_chain_pems[0]),
               server_key=_write(tmp_path, "server.key", server.private_key_pem),
               carol_cert=_write(tmp_path, "carol.pem", carol.cert_chain_pems[0]),
               carol_key=_write(tmp_path, "carol.key", carol.private_key_pem),
               dave_cert=_write(tmp_path, "dave.pem", dave.cert_chain_pems[0]),
               dave_key=_write(tmp_path, "dave.key", dave.private_key_pem),
               mallory_cert=_write(tmp_path, "mallory.pem", mallory.cert_chain_pems[0]),
               mallory_key=_write(tmp_path, "mallory.key", mallory.private_key_pem),
               tokens=tokens)


@pytest.fixture
async def secured(host_settings: Settings, pki: Pki) -> AsyncIterator[Host]:
    """TLS and bearer tokens."""
    async with serving(dataclasses.replace(host_settings, tls_cert=str(pki.server_cert),
                                           tls_key=str(pki.server_key), tokens_file=str(pki.tokens))) as h:
        yield h


@pytest.fixture
async def mutual(host_settings: Settings, pki: Pki) -> AsyncIterator[Host]:
    """Mutual TLS: client certificates from the CA."""
    async with serving(dataclasses.replace(host_settings, tls_cert=str(pki.server_cert),
                                           tls_key=str(pki.server_key), tls_client_ca=str(pki.ca))) as h:
        yield h


async def _client(host: Host, **creds: str) -> WbemClient:
    return await WbemClient.connect(host.target, timeout=10.0, credentials=Credentials(**creds))


async def _put(c: WbemClient, key: str = "x") -> str:
    return (await c.put_instance(instance("__Win32Provider", Name=f"Auth_{key}"), WbemFlag.CREATE_OR_UPDATE)).relpath


async def test_a_valid_token_over_tls_is_let_in(secured: Host, pki: Pki) -> None:
    async with await _client(secured, ca=str(pki.ca), token=ALICE) as c:
        assert await _put(c) == '__Win32Provider.Name="Auth_x"'


@pytest.mark.parametrize("token", ["not-a-token-we-issued-0000", ALICE[:-1] + "X"])
async def test_a_wrong_token_is_refused_with_access_denied(secured: Host, pki: Pki, token: str) -> None:
    async with await _client(secured, ca=str(pki.ca), token=token) as c:
        with pytest.raises(WbemError) as e:
            await _put(c)
    assert e.value.name == "WBEM_E_ACCESS_DENIED"
    assert "not one this host issued" in e.value.description
    assert token not in str(e.value)  # a token never comes back in an answer


async def test_no_credentials_at_all_is_refused(secured: Host, pki: Pki) -> None:
    async with await _client(secured, ca=str(pki.ca)) as c:
        with pytest.raises(WbemError) as e:
            await _put(c)
    assert e.value.name == "WBEM_E_ACCESS_DENIED"
    assert "requires credentials" in e.value.description


async def test_the_refusal_is_grpc_unauthenticated_for_generic_clients(secured: Host, pki: Pki) -> None:
    channel = grpc.aio.secure_channel(secured.target, grpc.ssl_channel_credentials(pki.ca.read_bytes()))
    try:
        call = channel.unary_unary("/wmiput.v1.WbemService/ListProviders", request_serializer=None,
                                   response_deserializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call(b"", timeout=10, metadata=(("authorization", "Basic dXNlcjpwYXNz"),))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert dict(e.value.trailing_metadata())["wbem-hresult-name"] == "WBEM_E_ACCESS_DENIED"
    finally:
        await channel.close()


async def test_a_client_certificate_from_the_ca_is_let_in_as_its_common_name(mutual: Host, pki: Pki) -> None:
    async with await _client(mutual, ca=str(pki.ca), cert=str(pki.carol_cert), key=str(pki.carol_key)) as c:
        assert await _put(c, "carol")
        # The principal owns the calls it starts: carol's handle is hers, not dave's.
        handle = (await c.put_instance_semisync(instance("__Win32Provider", Name="Auth_carol2"))).handle
    async with await _client(mutual, ca=str(pki.ca), cert=str(pki.dave_cert), key=str(pki.dave_key)) as dave:
        with pytest.raises(WbemError) as e:
            await dave.call_result(handle).get_call_status(0)
        assert e.value.name == "WBEM_E_NOT_FOUND"
    async with await _client(mutual, ca=str(pki.ca), cert=str(pki.carol_cert), key=str(pki.carol_key)) as c:
        assert (await c.call_result(handle).wait()) == (0, None)


@pytest.mark.parametrize("who", ["mallory", "nobody"])
async def test_without_a_certificate_from_the_ca_there_is_no_connection(mutual: Host, pki: Pki, who: str) -> None:
    creds = dict(cert=str(pki.mallory_cert), key=str(pki.mallory_key)) if who == "mallory" else {}
    async with await _client(mutual, ca=str(pki.ca), **creds) as c:
        with pytest.raises(WbemError) as e:
            await _put(c)
    assert e.value.name == "WBEM_E_TRANSPORT_FAILURE", e.value


async def test_a_plain_text_client_cannot_talk_to_a_tls_host(secured: Host) -> None:
    async with await _client(secured, token=ALICE) as c:
        with pytest.raises(WbemError) as e:
            await _put(c)
    assert e.value.name == "WBEM_E_TRANSPORT_FAILURE", e.value


async def test_another_principal_cannot_poll_attach_or_cancel_a_call(secured: Host, pki: Pki) -> None:
    async with await _client(secured, ca=str(pki.ca), token=ALICE) as alice:
        handle = (await alice.put_instance_semisync(instance("__Win32Provider", Name="Auth_alice"))).handle
    async with await _client(secured, ca=str(pki.ca), token=BOB) as bob:
        result = bob.call_result(handle)
        for attempt in (result.get_call_status(0), result.get_result_string(0)):
            with pytest.raises(WbemError) as e:
                await attempt
            assert e.value.name == "WBEM_E_NOT_FOUND"
        with pytest.raises(WbemError) as e:
            await bob.cancel_async_call(handle)
        assert e.value.name == "WBEM_E_NOT_FOUND"
        with pytest.raises(WbemError) as e:
            async for _ in await bob.attach_call(handle, resume_for_s=0):
                pass
        assert e.value.name == "WBEM_E_NOT_FOUND"
    async with await _client(secured, ca=str(pki.ca), token=ALICE) as alice:
        assert await alice.call_result(handle).wait() == (0, None)


async def test_with_no_security_the_host_serves_loopback_only(host_settings: Settings) -> None:
    h = Host(dataclasses.replace(host_settings, listen="0.0.0.0:0"))
    with pytest.raises(RuntimeError, match="refusing to listen on 0.0.0.0:0 without TLS"):
        await h.start()
    await h.stop()


async def test_tokens_alone_still_need_tls_beyond_loopback(host_settings: Settings, pki: Pki) -> None:
    h = Host(dataclasses.replace(host_settings, listen="0.0.0.0:0", tokens_file=str(pki.tokens)))
    with pytest.raises(RuntimeError, match="without TLS"):
        await h.start()
    await h.stop()


@pytest.mark.parametrize(("content", "message"), [
    ("alice short\n", "shorter than 16"),
    ("alice\n", "expected '<principal> <token>'"),
    ("# nothing\n", "holds no token"),
])
async def test_a_bad_tokens_file_stops_the_host_at_start(host_settings: Settings, tmp_path: Path, content: str,
                                                         message: str) -> None:
    f = tmp_path / "tokens"
    f.write_text(content)
    h = Host(dataclasses.replace(host_settings, tokens_file=str(f)))
    with pytest.raises(RuntimeError, match=message):
        await h.start()
    await h.stop()


async def test_tokens_on_loopback_without_tls_authenticate_callers(host_settings: Settings, pki: Pki) -> None:
    h = Host(dataclasses.replace(host_settings, tokens_file=str(pki.tokens)))
    await h.start()
    try:
        async with await _client(h, token=BOB) as c:
            assert await _put(c, "bob")
        async with await _client(h) as c:
            with pytest.raises(WbemError) as e:
                await _put(c)
            assert e.value.name == "WBEM_E_ACCESS_DENIED"
    finally:
        await h.stop()


async def test_the_cli_sends_a_token_and_a_ca_from_flags_or_the_environment(secured: Host, pki: Pki) -> None:
    async def wmiput(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "host.cli", "put-instance", "__Win32Provider", "Name=Auth_cli",
                "--target", secured.target, *args]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("WMIPUT_")} | (env or {})
        return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60,
                                       check=False, env=environ)

    r = await wmiput("--tls-ca", str(pki.ca), "--token", ALICE)
    assert r.returncode == 0 and r.stdout.strip().endswith('__Win32Provider.Name="Auth_cli"'), r.stderr
    r = await wmiput(env={"WMIPUT_CLIENT_CA": str(pki.ca), "WMIPUT_TOKEN": BOB})
    assert r.returncode == 0, r.stderr
    r = await wmiput("--tls-ca", str(pki.ca))
    assert r.returncode == 1 and "WBEM_E_ACCESS_DENIED (0x80041003)" in r.stderr
    r = await wmiput("--tls-ca", str(pki.ca), "--token", "wrong-token-0000000000")
    assert r.returncode == 1 and "WBEM_E_ACCESS_DENIED" in r.stderr and "wrong-token" not in r.stderr + r.stdout


async def test_a_plain_text_health_port_serves_probes_and_nothing_else(host_settings: Settings, pki: Pki) -> None:
    """Kubernetes gRPC probes cannot speak TLS: --health-listen answers them, and only them."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from wmiput.v1 import services_pb2 as api
    from wmiput.v1 import services_pb2_grpc as api_grpc

    s = dataclasses.replace(host_settings, tls_cert=str(pki.server_cert), tls_key=str(pki.server_key),
                            tokens_file=str(pki.tokens), health_listen="127.0.0.1:0")
    async with serving(s) as h:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{h.health_port}") as ch:
            r = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert r.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await api_grpc.WbemServiceStub(ch).ListProviders(api.ListProvidersRequest(), timeout=10)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
            await h.health.enter_graceful_shutdown()
            r = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert r.status == health_pb2.HealthCheckResponse.NOT_SERVING
