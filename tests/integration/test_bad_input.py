r"""Bad input: every malformed, oversized, hostile or Redis-key-like request gets a clear WBEM_E_*
answer and leaves the repository exactly as it was (all Redis keys under the host's prefix, with
their contents, identical before and after); afterwards the host still serves, reports SERVING
to gRPC health checks and lists its service through server reflection.

Raw requests go through a generic channel call (no client-side serializer), so the host's own
decoder sees the bytes: garbage, invalid UTF-8, oversized and deeply nested messages. The
HRESULT is read from the "wbem-hresult" trailing metadata, and cross-checked against the
google.rpc.Status details (ExtendedStatus).

Reference: wmi-put-semantics.md §3.2 (codes), §5 (limits), §6.1 (system properties), §7 (paths),
§9.1 (class names: not an identifier ⇒ INVALID_PARAMETER, leading "_" ⇒ INVALID_OPERATION,
trailing "_" ⇒ INVALID_OBJECT).
"""

from __future__ import annotations

import random
import re
from typing import Any

import grpc
import pytest
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from redis.asyncio import Redis

from host.client import WbemClient, WbemError, error_from_rpc, instance, prop, qualifier, to_dict, wmi_class
from host.config import Settings
from host.server.app import Host
from tests.helpers import ld as _ld
from tests.helpers import redis_snapshot as snapshot
from tests.helpers import vi as _vi
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import services_pb2 as api

SERVICE = "wmiput.v1.WbemService"
NS = "root\\cimv2"
HEX = {"WBEM_E_INVALID_PARAMETER": "0x80041008", "WBEM_E_QUOTA_VIOLATION": "0x8004106C"}
UNARY = ("PutClass", "PutInstance", "GetObject", "DeleteClass", "DeleteInstance")
STREAMING = ("CreateClassEnum", "CreateInstanceEnum")
# Characters that mean something in object paths, MOF, Redis key names, hash tags or glob patterns.
HOSTILE_NAMES = [
    ":",
    "*",
    '"',
    "\\",
    "{",
    "}",
    "?",
    "[",
    "foo:*",
    "{x}",
    "a\\b",
    "x y",
    "a.b",
    "a=b",
    "a,b",
    "a/b",
    "a'b",
    "a@b",
    "1abc",
    "a\nb",
    "a\0b",
]
HOSTILE_NAMESPACES = [
    "root\\*",
    "root:x",
    "{root}",
    "*",
    "root\\{x}",
    "root\\cimv2:",
    "root\\",
    "\\root",
    "root\\\\cimv2",
    "root\\a b",
    "root\\foo:*",
    "root\\[x]",
    "root\\?",
]


# ------------------------------------------------------------------------------------- helpers






def nested_object(depth: int, class_name: bytes = b"Nest", leaf: bytes = b"Nest") -> bytes:
    """A WbemObject (instance) whose property Child holds an embedded object, `depth` levels deep.

    Built as raw wire bytes, because protobuf's own encoder refuses messages this deep. Each level
    is WbemObject.properties(5) -> Property.value(4) -> Value.object(6) -> WbemObject.
    """
    inner = _vi(1, pb.GENUS_INSTANCE) + _ld(2, leaf)
    for _ in range(depth):
        child = _ld(1, b"Child") + _ld(4, _ld(6, inner))
        inner = _vi(1, pb.GENUS_INSTANCE) + _ld(2, class_name) + _ld(5, child)
    return inner


class Answer:
    """The outcome of a raw call: OK with the reply bytes, or the error's code, HRESULT and details."""

    def __init__(
        self,
        ok: bool,
        code: grpc.StatusCode = grpc.StatusCode.OK,
        hresult: str | None = None,
        name: str | None = None,
        details: str = "",
        error: WbemError | None = None,
        reply: bytes | list[bytes] = b"",
    ) -> None:
        self.ok, self.code, self.hresult, self.name = ok, code, hresult, name
        self.details, self.error, self.reply = details, error, reply

    def __repr__(self) -> str:
        return (
            f"Answer(ok={self.ok}, code={self.code.name}, {self.name} {self.hresult}: {self.details[:200]})"
        )


def _answer_from(e: grpc.aio.AioRpcError) -> Answer:
    md = {k: v for k, v in (e.trailing_metadata() or ()) if not k.endswith("-bin")}
    return Answer(
        False,
        e.code(),
        md.get("wbem-hresult"),
        md.get("wbem-hresult-name"),
        e.details() or "",
        error_from_rpc(e),
    )


async def raw_call(target: str, method: str, data: bytes, timeout: float = 20.0) -> Answer:
    """Send `data` as is to /wmiput.v1.WbemService/<method> (unary or server-streaming)."""
    async with grpc.aio.insecure_channel(target) as ch:
        path = f"/{SERVICE}/{method}"
        try:
            if method in STREAMING:
                call = ch.unary_stream(path, request_serializer=None, response_deserializer=None)
                replies = [r async for r in call(data, timeout=timeout)]
                return Answer(True, reply=replies)
            reply = await ch.unary_unary(path, request_serializer=None, response_deserializer=None)(
                data, timeout=timeout
            )
            return Answer(True, reply=reply)
        except grpc.aio.AioRpcError as e:
            return _answer_from(e)


def assert_wbem(answer: Answer, *names: str, operation: str | None = None) -> None:
    """The call failed with one of `names`, in the metadata and in the ExtendedStatus alike."""
    assert not answer.ok, f"expected {names}, the call succeeded"
    assert answer.name in names, answer
    assert answer.hresult is not None and re.fullmatch(r"0x8004[0-9A-F]{4}", answer.hresult), answer
    assert answer.error is not None and answer.error.name == answer.name, answer
    assert f"0x{int(answer.error.hresult):08X}" == answer.hresult
    if answer.name in HEX:
        assert answer.hresult == HEX[answer.name]
    if operation is not None:
        assert answer.error.operation == operation
    # A WBEM answer, never gRPC's bare INTERNAL/UNKNOWN of a crashed handler.
    assert answer.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), answer


async def expect_error(coro: Any, *names: str) -> WbemError:
    with pytest.raises(WbemError) as e:
        await coro
    assert e.value.name in names, f"expected one of {names}, got {e.value}"
    return e.value


def garbage(seed: int) -> bytes:
    """Seeded random bytes that protobuf cannot parse as a PutInstanceRequest."""
    rng = random.Random(seed)
    while True:
        data = rng.randbytes(rng.choice([1, 7, 64, 1000, 4096]))
        try:
            api.PutInstanceRequest.FromString(data)
        except DecodeError:
            return data


def with_invalid_utf8(msg: Any, placeholder: bytes = b"QQ") -> bytes:
    """Serialize `msg`, then swap the one `placeholder` for the invalid UTF-8 b'\\xff\\xfe'."""
    data = msg.SerializeToString()
    assert len(placeholder) == 2 and data.count(placeholder) == 1
    return data.replace(placeholder, b"\xff\xfe")


async def _holder(client: WbemClient) -> None:
    await client.put_class(
        wmi_class("Holder", prop("Id", "string", key=True), prop("O", "object"), prop("S", "string"))
    )


# ------------------------------------------------------------------------------------- garbage


@pytest.mark.parametrize("seed", range(8))
async def test_random_garbage_bytes_get_invalid_parameter_from_every_method_and_change_nothing(
    host: Host, redis: Redis, key_prefix: str, seed: int
) -> None:
    data = garbage(seed)
    before = await snapshot(redis, key_prefix)

    for method in UNARY + STREAMING:
        answer = await raw_call(host.target, method, data)
        assert_wbem(answer, "WBEM_E_INVALID_PARAMETER", operation=method)
        assert answer.code == grpc.StatusCode.INVALID_ARGUMENT

    assert await snapshot(redis, key_prefix) == before


async def test_an_empty_request_is_a_null_object_and_gets_invalid_parameter(
    host: Host, redis: Redis, key_prefix: str
) -> None:
    before = await snapshot(redis, key_prefix)

    for method in ("PutClass", "PutInstance", "GetObject", "DeleteInstance"):
        assert_wbem(await raw_call(host.target, method, b""), "WBEM_E_INVALID_PARAMETER", operation=method)

    assert await snapshot(redis, key_prefix) == before


async def test_a_call_to_a_method_the_service_does_not_have_is_unimplemented_and_changes_nothing(
    host: Host, redis: Redis, key_prefix: str
) -> None:
    before = await snapshot(redis, key_prefix)
    async with grpc.aio.insecure_channel(host.target) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await ch.unary_unary(
                f"/{SERVICE}/ExecMethod", request_serializer=None, response_deserializer=None
            )(b"\x0a\x00", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert await snapshot(redis, key_prefix) == before


# ------------------------------------------------------------------------------------- invalid UTF-8


def _utf8_cases() -> dict[str, tuple[str, bytes]]:
    return {
        "PutClass class name": (
            "PutClass",
            with_invalid_utf8(
                api.PutClassRequest(namespace=NS, object=wmi_class("QQ", prop("Id", "string", key=True)))
            ),
        ),
        "PutClass namespace": (
            "PutClass",
            with_invalid_utf8(
                api.PutClassRequest(
                    namespace="rootQQ", object=wmi_class("Good", prop("Id", "string", key=True))
                )
            ),
        ),
        "PutClass property name": (
            "PutClass",
            with_invalid_utf8(
                api.PutClassRequest(namespace=NS, object=wmi_class("Good", prop("QQ", "string")))
            ),
        ),
        "PutClass qualifier name": (
            "PutClass",
            with_invalid_utf8(
                api.PutClassRequest(namespace=NS, object=wmi_class("Good", qualifiers=[qualifier("QQ")]))
            ),
        ),
        "PutClass string default": (
            "PutClass",
            with_invalid_utf8(
                api.PutClassRequest(namespace=NS, object=wmi_class("Good", prop("S", "string", "aQQb")))
            ),
        ),
        "PutInstance string value": (
            "PutInstance",
            with_invalid_utf8(
                api.PutInstanceRequest(namespace=NS, object=instance("Holder", Id="i1", S="QQ"))
            ),
        ),
        "PutInstance embedded object string": (
            "PutInstance",
            with_invalid_utf8(
                api.PutInstanceRequest(
                    namespace=NS, object=instance("Holder", Id="i1", O=instance("Holder", Id="QQ"))
                )
            ),
        ),
        "PutInstance context name": (
            "PutInstance",
            with_invalid_utf8(
                api.PutInstanceRequest(
                    namespace=NS,
                    object=instance("Holder", Id="i1"),
                    context=pb.Context(values=[pb.NamedValue(name="QQ")]),
                )
            ),
        ),
        "GetObject path": (
            "GetObject",
            with_invalid_utf8(api.GetObjectRequest(namespace=NS, path="HolderQQ")),
        ),
        "DeleteClass name": (
            "DeleteClass",
            with_invalid_utf8(api.DeleteClassRequest(namespace=NS, class_name="HolQQ")),
        ),
        "DeleteInstance path": (
            "DeleteInstance",
            with_invalid_utf8(api.DeleteInstanceRequest(namespace=NS, path='Holder.Id="QQ"')),
        ),
        "CreateInstanceEnum class": (
            "CreateInstanceEnum",
            with_invalid_utf8(api.CreateInstanceEnumRequest(namespace=NS, class_name="HolderQQ")),
        ),
    }


@pytest.mark.parametrize("case", list(_utf8_cases()))
async def test_a_string_field_with_invalid_utf8_gets_invalid_parameter_and_changes_nothing(
    host: Host, client: WbemClient, redis: Redis, key_prefix: str, case: str
) -> None:
    await _holder(client)
    await client.put_instance(instance("Holder", Id="QQ"))  # what the UTF-8-less paths would name
    method, data = _utf8_cases()[case]
    before = await snapshot(redis, key_prefix)

    answer = await raw_call(host.target, method, data)

    assert_wbem(answer, "WBEM_E_INVALID_PARAMETER", operation=method)
    assert await snapshot(redis, key_prefix) == before
    assert to_dict(await client.get_object('Holder.Id="QQ"'))["Id"] == "QQ"


# ------------------------------------------------------------------------------------- oversized


async def test_a_request_over_max_message_bytes_gets_quota_violation_and_the_host_keeps_serving(
    redis_url: str, key_prefix: str, redis: Redis
) -> None:
    limit = 64 * 1024
    small = Host(
        Settings(
            listen="127.0.0.1:0",
            redis_url=redis_url,
            prefix=key_prefix,
            max_message_bytes=limit,
            server_name="TESTHOST",
            log_format="json",
            log_level="warning",
        )
    )
    await small.start()
    try:
        async with await WbemClient.connect(small.target) as client:
            await _holder(client)
            before = await snapshot(redis, key_prefix)
            big = "x" * (100 * 1024)

            # A well-formed 100 KB PutInstance, through the Python client.
            err = await expect_error(
                client.put_instance(instance("Holder", Id="big", S=big)), "WBEM_E_QUOTA_VIOLATION"
            )
            assert err.hresult == 0x8004106C and err.operation == "PutInstance"
            # A 100 KB PutClass (a long Description), and 100 KB of bytes that are not even a request:
            # the size is checked before anything is decoded.
            await expect_error(
                client.put_class(
                    wmi_class("Big", prop("Id", "string", key=True), qualifiers={"Description": big})
                ),
                "WBEM_E_QUOTA_VIOLATION",
            )
            for method in UNARY + STREAMING:
                assert_wbem(
                    await raw_call(small.target, method, b"\xff" * (100 * 1024)),
                    "WBEM_E_QUOTA_VIOLATION",
                    operation=method,
                )
            # Just under the limit is fine for the decoder (here: an unknown class).
            await expect_error(
                client.put_instance(instance("NoSuchClass", Id="x" * (limit - 1024))), "WBEM_E_INVALID_CLASS"
            )

            assert await snapshot(redis, key_prefix) == before

            # Far beyond the limit (past gRPC's own cap): refused by gRPC, not a crash.
            huge = await raw_call(small.target, "PutInstance", b"\x0a" * (2 * 1024 * 1024))
            assert not huge.ok and huge.code == grpc.StatusCode.RESOURCE_EXHAUSTED, huge
            assert huge.name in (None, "WBEM_E_QUOTA_VIOLATION")
            assert await snapshot(redis, key_prefix) == before

            # The host still serves: a normal put works and reads back.
            res = await client.put_instance(instance("Holder", Id="small", S="y" * 1000))
            assert res.relpath == 'Holder.Id="small"'
            assert to_dict(await client.get_object(res.relpath))["S"] == "y" * 1000
    finally:
        await small.stop()


# ------------------------------------------------------------------------------------- nesting


async def test_embedded_objects_nested_200_levels_deep_get_a_wbem_error_and_the_host_still_answers(
    host: Host, client: WbemClient, redis: Redis, key_prefix: str
) -> None:
    await _holder(client)
    await client.put_class(wmi_class("Nest", prop("Child", "object")))
    before = await snapshot(redis, key_prefix)

    deep = nested_object(200)
    # As an instance of its own class, as the value of an object property, and as a class default.
    put_nest = _ld(1, NS.encode()) + _ld(2, deep)
    holder = (
        _vi(1, pb.GENUS_INSTANCE)
        + _ld(2, b"Holder")
        + _ld(5, _ld(1, b"Id") + _ld(4, _ld(5, b"deep")))
        + _ld(5, _ld(1, b"O") + _ld(4, _ld(6, deep)))
    )
    put_holder = _ld(1, NS.encode()) + _ld(2, holder)
    deep_class = (
        _vi(1, pb.GENUS_CLASS)
        + _ld(2, b"DeepDefault")
        + _ld(5, _ld(1, b"O") + _vi(2, pb.CIM_TYPE_OBJECT) + _ld(4, _ld(6, deep)))
    )
    put_class = _ld(1, NS.encode()) + _ld(2, deep_class)
    for method, data in (("PutInstance", put_nest), ("PutInstance", put_holder), ("PutClass", put_class)):
        answer = await raw_call(host.target, method, data)
        assert_wbem(
            answer,
            "WBEM_E_INVALID_PARAMETER",
            "WBEM_E_QUOTA_VIOLATION",
            "WBEM_E_INVALID_OBJECT",
            operation=method,
        )

    assert await snapshot(redis, key_prefix) == before
    # Still answering, on new calls.
    assert (await client.get_object("Holder")).class_name == "Holder"
    res = await client.put_instance(instance("Holder", Id="after", O=instance("Nest")))
    got = to_dict(await client.get_object(res.relpath))
    assert got["O"].class_name == "Nest"


async def test_embedded_objects_nested_a_few_levels_deep_are_stored_and_read_back_whole(
    client: WbemClient, redis: Redis, key_prefix: str
) -> None:
    await _holder(client)
    await client.put_class(wmi_class("Nest", prop("Child", "object")))
    inner = pb.WbemObject.FromString(nested_object(5))

    res = await client.put_instance(instance("Holder", Id="five", O=inner))

    got = to_dict(await client.get_object(res.relpath))["O"]
    depth = 0
    while got.properties:
        assert got.class_name == "Nest"
        got = got.properties[0].value.object
        depth += 1
    assert depth == 5


async def test_an_embedded_object_with_a_hostile_class_or_property_name_is_refused_and_stores_nothing(
    client: WbemClient, redis: Redis, key_prefix: str
) -> None:
    """An embedded object is an IWbemClassObject: its class name must be a class name (§9.1)."""
    await _holder(client)
    before = await snapshot(redis, key_prefix)
    bad_class = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name="*{x}")
    bad_prop = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name="Holder")
    bad_prop.properties.add(name="foo:*").value.string = "x"

    for i, embedded in enumerate((bad_class, bad_prop)):
        await expect_error(
            client.put_instance(instance("Holder", Id=f"e{i}", O=embedded)),
            "WBEM_E_INVALID_PARAMETER",
            "WBEM_E_INVALID_OBJECT",
            "WBEM_E_INVALID_CLASS",
            "WBEM_E_INVALID_PROPERTY",
            "WBEM_E_TYPE_MISMATCH",
        )

    assert await snapshot(redis, key_prefix) == before


# ------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_a_class_name_with_path_or_redis_key_characters_gets_invalid_parameter_and_writes_no_keys(
    client: WbemClient, redis: Redis, key_prefix: str, name: str
) -> None:
    before = await snapshot(redis, key_prefix)

    err = await expect_error(
        client.put_class(wmi_class(name, prop("Id", "string", key=True))), "WBEM_E_INVALID_PARAMETER"
    )
    assert err.operation == "PutClass"
    # Also with the hostile part after or between valid characters.
    for variant in (name + "Suffix", "Good" + name + "Suffix"):
        if not re.fullmatch(r"[A-Za-z]\w*", variant):
            await expect_error(
                client.put_class(wmi_class(variant, prop("Id", "string", key=True))),
                "WBEM_E_INVALID_PARAMETER",
            )

    assert await snapshot(redis, key_prefix) == before
    await expect_error(client.get_object("Good"), "WBEM_E_NOT_FOUND")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("_Reserved", "WBEM_E_INVALID_OPERATION"),
        ("__Reserved", "WBEM_E_INVALID_OPERATION"),
        ("Reserved_", "WBEM_E_INVALID_OBJECT"),
        ("__NAMESPACE", "WBEM_E_INVALID_OPERATION"),
        ("", "WBEM_E_INCOMPLETE_CLASS"),
    ],
)
async def test_reserved_and_empty_class_names_get_their_own_codes_and_write_no_keys(
    client: WbemClient, redis: Redis, key_prefix: str, name: str, code: str
) -> None:
    before = await snapshot(redis, key_prefix)
    await expect_error(client.put_class(wmi_class(name, prop("Id", "string", key=True))), code)
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_property_qualifier_method_and_parameter_names_with_hostile_characters_get_invalid_parameter(
    client: WbemClient, redis: Redis, key_prefix: str, name: str
) -> None:
    before = await snapshot(redis, key_prefix)
    key = prop("Id", "string", key=True)
    method = pb.Method(name=name)
    param = pb.Method(name="Run", in_parameters=[pb.Property(name=name, type=pb.CIM_TYPE_STRING)])
    method_qual = pb.Method(name="Run", qualifiers=[qualifier(name)])
    candidates = [
        wmi_class("Good", key, prop(name, "string")),
        wmi_class("Good", key, prop("P", "string", qualifiers={name: True})),
        wmi_class("Good", key, qualifiers={name: True}),
        wmi_class("Good", key, prop("R", "ref", reference_class=name)),
        wmi_class("Good", key, prop("O", "object", reference_class=name)),
    ]
    for m in (method, param, method_qual):
        c = wmi_class("Good", key)
        c.methods.append(m)
        candidates.append(c)

    for c in candidates:
        await expect_error(client.put_class(c), "WBEM_E_INVALID_PARAMETER")

    assert await snapshot(redis, key_prefix) == before


async def test_a_class_property_named_like_a_system_property_is_read_only(
    client: WbemClient, redis: Redis, key_prefix: str
) -> None:
    before = await snapshot(redis, key_prefix)
    for name in ("__PATH", "__CLASS", "__Anything"):
        await expect_error(
            client.put_class(wmi_class("Good", prop("Id", "string", key=True), prop(name, "string"))),
            "WBEM_E_READ_ONLY",
        )
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_a_superclass_name_with_hostile_characters_is_refused_and_writes_no_keys(
    client: WbemClient, redis: Redis, key_prefix: str, name: str
) -> None:
    before = await snapshot(redis, key_prefix)
    # MS-WMI: a missing superclass is WBEM_E_NOT_FOUND; the SDK calls it WBEM_E_INVALID_SUPERCLASS (C3).
    await expect_error(
        client.put_class(wmi_class("Good", superclass=name)),
        "WBEM_E_NOT_FOUND",
        "WBEM_E_INVALID_SUPERCLASS",
        "WBEM_E_INVALID_PARAMETER",
    )
    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_instance_puts_naming_hostile_classes_properties_or_qualifiers_are_refused_and_write_no_keys(
    client: WbemClient, redis: Redis, key_prefix: str, name: str
) -> None:
    await _holder(client)
    before = await snapshot(redis, key_prefix)

    # The class does not exist (and could not): INVALID_CLASS (PutInstance, §3.3).
    await expect_error(client.put_instance(instance(name, Id="1")), "WBEM_E_INVALID_CLASS")
    # The class has no such property: INVALID_PROPERTY.
    await expect_error(
        client.put_instance(instance("Holder", {"Id": "1", name: "x"})), "WBEM_E_INVALID_PROPERTY"
    )
    # An instance qualifier name follows the qualifier name rule.
    inst = instance("Holder", Id="1")
    inst.qualifiers.append(qualifier(name, True, 0))
    await expect_error(client.put_instance(inst), "WBEM_E_INVALID_PARAMETER")

    assert await snapshot(redis, key_prefix) == before


async def test_an_instance_property_named_like_a_system_property_is_refused_not_silently_dropped(
    client: WbemClient, redis: Redis, key_prefix: str
) -> None:
    """Only __CLASS is writable, and only on class creation; other "__" names are read-only (§6.1, §6.3)."""
    await _holder(client)
    before = await snapshot(redis, key_prefix)

    for name in ("__Bogus", "__PATH", "__RELPATH"):
        await expect_error(
            client.put_instance(instance("Holder", {"Id": "sys", name: "x"})),
            "WBEM_E_READ_ONLY",
            "WBEM_E_INVALID_PROPERTY",
        )

    assert await snapshot(redis, key_prefix) == before


# ------------------------------------------------------------------------------------- namespaces


@pytest.mark.parametrize("namespace", HOSTILE_NAMESPACES)
async def test_a_hostile_namespace_name_gets_invalid_namespace_from_every_method_and_writes_no_keys(
    client: WbemClient, redis: Redis, key_prefix: str, namespace: str
) -> None:
    await _holder(client)
    await client.put_instance(instance("Holder", Id="1"))
    before = await snapshot(redis, key_prefix)
    calls = [
        lambda: client.put_class(wmi_class("Good", prop("Id", "string", key=True)), namespace=namespace),
        lambda: client.put_instance(instance("Holder", Id="2"), namespace=namespace),
        lambda: client.get_object("Holder", namespace=namespace),
        lambda: client.get_object('Holder.Id="1"', namespace=namespace),
        lambda: client.delete_class("Holder", namespace=namespace),
        lambda: client.delete_instance('Holder.Id="1"', namespace=namespace),
    ]
    for call in calls:
        await expect_error(call(), "WBEM_E_INVALID_NAMESPACE")
    with pytest.raises(WbemError) as e:
        [o async for o in client.enum_classes(namespace=namespace)]
    assert e.value.name == "WBEM_E_INVALID_NAMESPACE"
    with pytest.raises(WbemError) as e:
        [o async for o in client.enum_instances("Holder", namespace=namespace)]
    assert e.value.name == "WBEM_E_INVALID_NAMESPACE"

    assert await snapshot(redis, key_prefix) == before
    assert to_dict(await client.get_object('Holder.Id="1"'))["Id"] == "1"


@pytest.mark.parametrize("name", ["*", "foo:*", "{x}", "a\\b", "a b", "a:b", ""])
async def test_a_namespace_instance_with_a_hostile_name_creates_no_namespace(
    client: WbemClient, host: Host, redis: Redis, key_prefix: str, name: str
) -> None:
    before = await snapshot(redis, key_prefix)
    await expect_error(
        client.create_namespace(name),
        "WBEM_E_INVALID_PARAMETER",
        "WBEM_E_INVALID_NAMESPACE",
        "WBEM_E_ILLEGAL_NULL",
        "WBEM_E_INVALID_OBJECT",
    )
    assert await snapshot(redis, key_prefix) == before
    registered = await redis.hgetall(f"{key_prefix}:{{meta}}:namespaces")
    assert sorted(v.decode() for v in registered.values()) == ["root", "root\\cimv2"]


# ------------------------------------------------------------------------------------- paths


BAD_PATHS = [
    "*",
    "foo:*",
    "{x}",
    "a\\b",
    ":",
    "::",
    "\\\\",
    "\\\\?\\root:Holder",
    "root\\*:Holder",
    "{root}:Holder",
    "Holder.Id=*",
    'Holder.Id="x',
    'Holder.Id="1"}',
    "Holder[0]",
    "Holder?",
    "Holder.*=1",
    'Holder.Id="\\q"',
    "Holder.Id=",
    "Holder.=1",
    'Holder.Id="1",',
    'Holder.Id="1",Id="1"',
    "Holder .Id=1",
    'Holder.Id="1" ',
    "Holder.Nope=1",
    "Holder=@",
    'Holder.Id="1":x',
    "\\\\.\\root",
    'NoSuch.Id="1"',
    'NoSuch="1"',
    "NoSuch=@",
    "Holder.Id=1e999",
    "Holder.Id=99999999999999999999999",
]


@pytest.mark.parametrize("path", BAD_PATHS)
async def test_get_object_and_delete_instance_with_a_hostile_path_get_invalid_object_path_or_invalid_class(
    client: WbemClient, redis: Redis, key_prefix: str, path: str
) -> None:
    await _holder(client)
    await client.put_instance(instance("Holder", Id="1"))
    before = await snapshot(redis, key_prefix)

    await expect_error(client.get_object(path), "WBEM_E_INVALID_OBJECT_PATH", "WBEM_E_INVALID_CLASS")
    await expect_error(client.delete_instance(path), "WBEM_E_INVALID_OBJECT_PATH", "WBEM_E_INVALID_CLASS")

    assert await snapshot(redis, key_prefix) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_delete_class_and_enumerations_naming_a_hostile_class_are_refused_and_delete_nothing(
    client: WbemClient, redis: Redis, key_prefix: str, name: str
) -> None:
    await _holder(client)
    await client.put_instance(instance("Holder", Id="1"))
    before = await snapshot(redis, key_prefix)

    await expect_error(
        client.delete_class(name), "WBEM_E_NOT_FOUND", "WBEM_E_INVALID_CLASS", "WBEM_E_INVALID_PARAMETER"
    )
    with pytest.raises(WbemError) as e:
        [o async for o in client.enum_instances(name)]
    assert e.value.name == "WBEM_E_INVALID_CLASS"
    with pytest.raises(WbemError) as e:
        [o async for o in client.enum_classes(name)]
    assert e.value.name == "WBEM_E_INVALID_CLASS"

    assert await snapshot(redis, key_prefix) == before


async def test_key_values_that_look_like_redis_keys_or_patterns_are_plain_data(
    client: WbemClient, redis: Redis, key_prefix: str
) -> None:
    await _holder(client)
    before = set(await snapshot(redis, key_prefix))
    values = [
        "*",
        "foo:*",
        "{x}",
        "a\\b",
        '"',
        "?[",
        "}",
        "wmiput:{meta}:namespaces",
        f"{key_prefix}:*",
        "%20",
        'root\\cimv2:Holder.Id="1"',
    ]

    for v in values:
        res = await client.put_instance(instance("Holder", Id=v, S=v))
        assert to_dict(await client.get_object(res.relpath)) == to_dict(await client.get_object(res.path))
        assert to_dict(await client.get_object(res.relpath))["S"] == v

    after = await snapshot(redis, key_prefix)
    layout = re.compile(re.escape(key_prefix) + r":\{i\|root\\cimv2\|holder\|\d+\}:(obj|ver|cls:holder)")
    new = [k.decode() for k in set(after) - before]
    assert new and all(layout.fullmatch(k) for k in new), new
    assert sorted([to_dict(o)["Id"] async for o in client.enum_instances("Holder")]) == sorted(values)


# ------------------------------------------------------------------------------------- afterwards


async def _health(target: str, service: str) -> int:
    async with grpc.aio.insecure_channel(target) as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=10
        )
        return reply.status


async def _reflected_services(target: str) -> list[str]:
    async with grpc.aio.insecure_channel(target) as ch:
        call = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(timeout=10)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        reply = await call.read()
        await call.done_writing()
        return [s.name for s in reply.list_services_response.service]


async def test_after_a_barrage_of_bad_input_the_host_still_serves_is_healthy_and_reflects_its_service(
    host: Host, client: WbemClient, redis: Redis, key_prefix: str
) -> None:
    await _holder(client)
    await client.put_class(wmi_class("Nest", prop("Child", "object")))
    before = await snapshot(redis, key_prefix)

    for seed in range(4):
        assert_wbem(await raw_call(host.target, "PutInstance", garbage(seed)), "WBEM_E_INVALID_PARAMETER")
    for method, data in _utf8_cases().values():
        assert_wbem(await raw_call(host.target, method, data), "WBEM_E_INVALID_PARAMETER")
    assert_wbem(
        await raw_call(host.target, "PutInstance", _ld(1, NS.encode()) + _ld(2, nested_object(200))),
        "WBEM_E_INVALID_PARAMETER",
        "WBEM_E_QUOTA_VIOLATION",
        "WBEM_E_INVALID_OBJECT",
    )
    for name in HOSTILE_NAMES:
        await expect_error(client.put_class(wmi_class(name)), "WBEM_E_INVALID_PARAMETER")
        await expect_error(client.put_instance(instance(name, Id="1")), "WBEM_E_INVALID_CLASS")
    for ns in HOSTILE_NAMESPACES:
        await expect_error(client.put_class(wmi_class("Good"), namespace=ns), "WBEM_E_INVALID_NAMESPACE")
    for path in BAD_PATHS:
        await expect_error(client.get_object(path), "WBEM_E_INVALID_OBJECT_PATH", "WBEM_E_INVALID_CLASS")
    assert await snapshot(redis, key_prefix) == before

    # A normal put works and reads back.
    res = await client.put_instance(instance("Holder", Id="fine", S="still serving"))
    assert res.path == '\\\\TESTHOST\\root\\cimv2:Holder.Id="fine"'
    assert to_dict(await client.get_object(res.relpath))["S"] == "still serving"
    # Health: the server as a whole and the WBEM service.
    for service in ("", SERVICE):
        assert await _health(host.target, service) == health_pb2.HealthCheckResponse.SERVING
    # Reflection lists the service.
    assert SERVICE in await _reflected_services(host.target)


async def test_an_error_quoting_a_long_name_still_reaches_the_client_as_its_hresult(client):
    """gRPC clients refuse trailing metadata past 8-16 KiB: the error's texts are cut short, so a
    4,096-character class name (the limit) still gets WBEM_E_NOT_FOUND, not a transport error."""
    from host.client import WbemFlag, prop, wmi_class
    name = "C" + "x" * 4095
    with pytest.raises(WbemError) as e:
        await client.put_class(wmi_class(name, prop("Id", "string", key=True)), WbemFlag.UPDATE_ONLY)
    assert e.value.name == "WBEM_E_NOT_FOUND"
    assert len(e.value.description) <= 1024 and e.value.description.endswith("...")
    with pytest.raises(WbemError) as e:
        await client.get_object("Cls.Id='" + "y" * 10_000 + "'")
    assert e.value.name in ("WBEM_E_INVALID_CLASS", "WBEM_E_NOT_FOUND", "WBEM_E_INVALID_OBJECT_PATH"), e.value
