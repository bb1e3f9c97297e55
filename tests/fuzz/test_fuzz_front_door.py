r"""Fuzz the running front door (issue 6, part 5: hostile input).

Thousands of malformed and hostile requests go to a real host over real gRPC on loopback, as raw
bytes through a generic channel (identity serializers), so the host's own decoder sees exactly what
was sent:

* structurally valid requests built by Hypothesis strategies (fixed seed: ``derandomize=True``):
  absurd names (empty, 10,000 characters, control characters, braces, backslashes), huge and
  out-of-range flags, unknown classes and namespaces, wrong property types, unknown CIM types,
  nested embedded objects, arrays, many qualifiers, bad object paths, duplicate properties, system
  property names (__PATH), hostile contexts and call handles, for every method of WbemService and
  WbemCallResultService;
* raw bytes: random garbage, each structured request truncated and bit-flipped, requests sent to
  the wrong method, and hand-made edge cases (nesting past every limit, 100,001-item arrays,
  1 MiB + 1 strings, 257 qualifiers, 257 context values, 11-byte varints, lengths past the end).

Every request is one that must fail, or one that only reads. Structured ones are built so (a
missing namespace, an unknown class, CREATE_ONLY on the key that exists, UPDATE_ONLY on a key that
does not, ...) and checked against ``must_fail``, which decodes the bytes as the host does and
says whether the request could possibly write; mutated bytes that could (a truncation that drops
CREATE_ONLY, say) are left out and counted. So the repository must be byte-for-byte the same
afterwards.

For every request: the call ends with a gRPC status whose details carry an ExtendedStatus with a
WBEM_E_* HRESULT that proto/wmiput/v1/status.proto defines, matching the wbem-hresult trailing
metadata; or it succeeds (reads; asynchronous puts, whose final sink event must then carry the
WBEM_E_* failure; semisynchronous puts, whose call must then end in a WBEM_E_* failure). Never a
bare UNKNOWN/INTERNAL, never WBEM_E_FAILED (the host's "unexpected exception"), never a hang (10 s
per call). The host's own error log lines are counted too. Afterwards the host still serves a
normal PutInstance and GetObject and reports SERVING. The channel keeps gRPC's default limit on the
metadata it receives (8 KiB soft, 16 KiB hard), as every client has it: an error status that does
not fit never reaches the client, so it counts as an answer without a WBEM_E_* code.

Reproducible: Hypothesis runs with ``derandomize=True`` and no example database, the byte
mutations and garbage come from ``random.Random(SEED)``. (Hypothesis also mixes in literals of the
project's loaded modules, so the examples follow the code under test.) A failure prints the exact
bytes sent.
"""

from __future__ import annotations

import asyncio
import io
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import structlog
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from host import logs
from host.access.rights import check_descriptor
from host.client import WbemClient, error_from_rpc, instance, prop, qualifier, to_dict, wmi_class
from host.errors import HResult, WbemError
from host.flags import ALLOWED, WbemFlag, check_flags
from host.model import names, paths
from host.model.instances import MAX_PATH
from host.repository.store import Repository
from host.repository.system_classes import system_classes
from host.server.app import Host
from host.server.servicer import MAX_CONTEXT_VALUES
from tests.helpers import ld as _ld
from tests.helpers import redis_snapshot
from tests.helpers import vi as _vi
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import security_pb2 as sec
from wmiput.v1 import services_pb2 as api
from wmiput.v1 import status_pb2

STRUCTURED_EXAMPLES = 1000  # Hypothesis examples (each one request); mutations and garbage come on top
GARBAGE = 900
MIN_REQUESTS = 3000
CONCURRENCY = 16
CALL_TIMEOUT_S = 10.0
SEED = 0x5EED_F022
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # the host's default max_message_bytes (conftest does not change it)

TARGET, CHILD = "Fuzz_Target", "Fuzz_Child"
EXISTING_KEY = "ExistingKey7"
NS = "root\\cimv2"
SYSTEM_LOWER = {c.class_name.lower() for c in system_classes()}
USER_LOWER = {TARGET.lower(), CHILD.lower()}
# The classes of each namespace while the fuzz runs (checked against the host before it starts).
CLASSES = {"root": SYSTEM_LOWER, "root\\cimv2": SYSTEM_LOWER | USER_LOWER}
EXISTING_LOWER = SYSTEM_LOWER | USER_LOWER

# Every method of every service, from the contract itself.
_SERVICES = (api.DESCRIPTOR.services_by_name["WbemService"], calls.DESCRIPTOR.services_by_name["WbemCallResultService"],
             sec.DESCRIPTOR.services_by_name["NamespaceSecurityService"])
_MODULES = {"wmiput/v1/services.proto": api, "wmiput/v1/calls.proto": calls, "wmiput/v1/security.proto": sec}
METHODS: dict[str, tuple[str, type[Message], type[Message], bool]] = {
    m.name: (f"/{svc.full_name}/{m.name}", getattr(_MODULES[m.input_type.file.name], m.input_type.name),
             getattr(_MODULES[m.output_type.file.name], m.output_type.name), m.server_streaming)
    for svc in _SERVICES for m in svc.methods
}
ASYNC_PUTS = ("PutInstanceAsync", "PutClassAsync", "PutAsync")
# Methods that change nothing when they succeed; any other success is checked (semisynchronous and
# asynchronous puts must end failed) or is a violation (a delete, a cancel, a synchronous put).
READ_ONLY = {"GetObject", "CreateClassEnum", "CreateInstanceEnum", "ListProviders", "ListTransactions", "AttachCall",
             "GetCallStatus", "GetResultString", "GetResultObject", "GetNamespaceSecurity", "GetCallerAccessRights"}
F = WbemFlag


# ------------------------------------------------------------------------------------- wire helpers




def _alnum(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", s.casefold())


# ------------------------------------------------------------------------------------- the safety oracle


def _namespace(text: str) -> str | None:
    """The namespace the host would resolve `text` to, if it exists (lower-case), else None."""
    try:
        ns = Repository._normalized_ns(text).lower()
    except WbemError:
        return None
    return ns if ns in CLASSES else None


def _context_refused(r: Message) -> bool:
    for name in ("context", "async_context"):
        if name in r.DESCRIPTOR.fields_by_name and r.HasField(name):
            ctx = getattr(r, name)
            seen: set[str] = set()
            if len(ctx.values) > MAX_CONTEXT_VALUES:
                return True
            for v in ctx.values:
                if not v.name or v.name.lower() in seen:
                    return True
                seen.add(v.name.lower())
    return False


def _instance_put_fails(r: Message, flags: int) -> bool:
    if not r.HasField("object"):
        return True
    ns, o = _namespace(r.namespace), r.object
    if ns is None or o.genus != pb.GENUS_INSTANCE or o.class_name.lower() not in CLASSES[ns]:
        return True
    if o.class_name.lower() not in USER_LOWER:
        return False  # a system class (__NAMESPACE, __Win32Provider, ...): such a put could write
    ids = [p for p in o.properties if p.name.lower() == "id"]
    if len(ids) > 1:
        return True  # "property Id appears twice"
    if flags & F.CREATE_ONLY:  # only the key that exists, spelled exactly so
        return (len(ids) == 1 and ids[0].HasField("value") and ids[0].value.WhichOneof("kind") == "string"
                and ids[0].value.string == EXISTING_KEY)
    if flags & F.UPDATE_ONLY:  # any key but the one that exists (NULL: a fresh GUID, or ILLEGAL_NULL)
        if not ids or not ids[0].HasField("value") or ids[0].value.WhichOneof("kind") is None:
            return True
        v = ids[0].value
        if v.WhichOneof("kind") == "string":
            return _alnum(EXISTING_KEY) not in _alnum(v.string)
        return True  # any other kind for a string key: WBEM_E_TYPE_MISMATCH
    return False


def _class_put_fails(r: Message, flags: int) -> bool:
    if not r.HasField("object"):
        return True
    ns, o = _namespace(r.namespace), r.object
    if ns is None or o.genus != pb.GENUS_CLASS:
        return True
    try:
        names.check_class_name(o.class_name, operation="PutClass")
    except WbemError:
        return True
    exists = o.class_name.lower() in CLASSES[ns]
    if (flags & F.CREATE_ONLY and exists) or (flags & F.UPDATE_ONLY and not exists):
        return True
    sup = o.superclass
    return bool(sup) and (not names.is_identifier(sup) or sup.lower() not in CLASSES[ns]
                          or sup.lower() == o.class_name.lower())


def must_fail(method: str, data: bytes) -> bool:
    """True if the host must refuse these bytes (or they only read): decoded as the host decodes
    them, the request breaks a rule that every successful write needs."""
    _, req_cls, _, _ = METHODS[method]
    if len(data) > MAX_MESSAGE_BYTES:
        return True
    try:
        r = req_cls.FromString(data)
    except (DecodeError, RecursionError):
        return True
    if method in READ_ONLY or method == "CancelAsyncCall":  # handles are unguessable 192-bit tokens
        return True
    flags = getattr(r, "flags", 0)
    try:
        check_flags(method, flags)
    except WbemError:
        return True
    if _context_refused(r):
        return True
    if method in ("PutInstance", "PutInstanceAsync"):
        return _instance_put_fails(r, flags)
    if method in ("PutClass", "PutClassAsync"):
        return _class_put_fails(r, flags)
    if method == "PutAsync":
        if r.HasField("object") and r.object.genus == pb.GENUS_CLASS:
            return _class_put_fails(r, flags)
        return bool(flags & (F.UPDATE_SAFE_MODE | F.UPDATE_FORCE_MODE)) or _instance_put_fails(r, flags)
    if method == "DeleteClass":
        ns = _namespace(r.namespace)
        return ns is None or r.class_name.lower() not in CLASSES[ns] or r.class_name.startswith("_")
    if method == "DeleteInstance":
        if not r.path:
            return True
        try:
            p = paths.parse_path(r.path, max_length=MAX_PATH * 4)
        except paths.PathError:
            return True
        if not p.class_name or p.is_class:
            return True
        ns = _namespace(p.namespace or r.namespace)
        if ns is None or p.class_name.lower() not in CLASSES[ns]:
            return True
        # A class with instances: only ours, and never naming the one that exists.
        return p.class_name.lower() in USER_LOWER and _alnum(EXISTING_KEY) not in _alnum(r.path)
    if method == "SetNamespaceSecurity":  # a valid descriptor for a namespace that exists would apply
        if _namespace(r.namespace) is None:
            return True
        try:
            check_descriptor(r.security, method)
        except WbemError:
            return True
        return False
    raise AssertionError(f"no safety rule for {method}")


# ------------------------------------------------------------------------------------- strategies

HOSTILE = [
    "", " ", "\t", "\x00", "\x00\x01\x1f\x7f", "a\nb", "\r\n", "\u0085", "\u2028", "{", "}", "{x}", "{s|root\\cimv2}",
    "{i|root\\cimv2|fuzz_target|0}", "*", "?", "[", "]", "[a-z]", "\\", "\\\\", "\\\\.\\root\\cimv2:", ":", ".", "=",
    "@", ",", "'", '"', '""', 'a"b', "foo:*", "__PATH", "__CLASS", "__RELPATH", "__GENUS", "__NAMESPACE",
    "__SystemClass", "__Win32Provider", "_", "a_", "_a", "1abc", "x y", "\u202e", "\ufeff", "\uffef", "\ufff0",
    "\U0001f4a5", "\u0130", "\u00df", "\u212a", "root", "root\\cimv2", "ROOT/CIMV2", "root\\nosuch", "nosuch",
    TARGET, CHILD.lower(), "Id", "ID", "%s%n%x", "${jndi:ldap://x}", "'; DROP TABLE items; --", "..", "../..",
    "Fuzz_Target.Id=\"x\"", "\\\\?\\GLOBALROOT", "NUL", "CON",
]
SPECIAL = list("\x00\x01\x08\x1b\x7f{}[]\\\"':.,=@*?/ _-\n\t") + ["\u202e", "\ufeff", "\u0130", "\U0001f4a5"]
CIM_TYPES = [v for v in pb.CimType.values()]
FLAG_BITS = [int(f) for f in (F.UPDATE_ONLY, F.CREATE_ONLY, F.RETURN_IMMEDIATELY, F.UPDATE_SAFE_MODE,
                              F.UPDATE_FORCE_MODE, F.SEND_STATUS, F.DIRECT_READ, F.OWNER_UPDATE,
                              F.USE_AMENDED_QUALIFIERS)]
TARGET_PROPS = ["Id", "S", "N", "I", "R", "B", "D", "Ref", "O", "A", "C", "X"]
QUALIFIER_NAMES = ["Key", "Abstract", "Dynamic", "Provider", "Singleton", "Not_Null", "Amendment", "Description",
                   "CIMTYPE", "Indexed", "Required", "Values", "ValueMap", "Association", "Override"]

huge_text = st.builds(lambda c, n: c * n, st.sampled_from(["a", "\\", "{", "\u00e9", "\x00", "_", "Z9"]),
                      st.sampled_from([4096, 4097, 10_000]))
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=16),
    st.text(st.sampled_from(SPECIAL), max_size=16),
    # Now and then a name or value of 4,096 to 20,000 characters (rarely: they make big requests).
    st.integers(0, 39).flatmap(lambda i: huge_text if i == 17 else st.sampled_from(HOSTILE)),
)
identifier = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True)
any_name = st.one_of(identifier, hostile_text)
unknown_class = any_name.filter(lambda n: n.lower() not in EXISTING_LOWER)
good_ns = st.sampled_from(["root\\cimv2", "", "ROOT\\CIMV2", "root/cimv2", "Root\\CimV2"])
cimv2_ns = good_ns
bad_ns = st.one_of(hostile_text, st.builds(lambda a: "root\\" + a, any_name)).filter(lambda n: _namespace(n) is None)
any_ns = st.one_of(good_ns, st.just("root"), bad_ns)
flags_any = st.one_of(
    st.lists(st.sampled_from(FLAG_BITS), max_size=3).map(lambda bits: sum(set(bits))),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF]),
)


def flags_for(method: str) -> st.SearchStrategy[int]:
    """Mostly bits the method accepts (so the request gets past the flag check to the deeper
    validators), sometimes anything."""
    bits = [b for b in FLAG_BITS if b & ALLOWED[method]] or [0]
    accepted = st.lists(st.sampled_from(bits), max_size=3).map(lambda xs: sum(set(xs)))
    return st.integers(0, 4).flatmap(lambda i: flags_any if i == 2 else accepted)
cim_type = st.one_of(st.sampled_from(CIM_TYPES), st.integers(-3, 400))

scalar = st.one_of(
    st.just(pb.Value()),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: pb.Value(sint=i)),
    st.integers(0, 2**64 - 1).map(lambda i: pb.Value(uint=i)),
    st.floats().map(lambda f: pb.Value(real=f)),
    st.booleans().map(lambda b: pb.Value(boolean=b)),
    hostile_text.map(lambda s: pb.Value(string=s)),
    st.sampled_from(["20261122101500.000000+000", "00000001000000.000000:000", "2026", f'{TARGET}.Id="x"',
                     f'\\\\.\\root\\cimv2:{TARGET}.Id="{EXISTING_KEY}x"']).map(lambda s: pb.Value(string=s)),
)


def _embedded(class_name: str, props: list[tuple[str, pb.Value]], genus: int) -> pb.Value:
    o = pb.WbemObject(genus=genus, class_name=class_name)
    for n, v in props:
        o.properties.add(name=n, value=v)
    return pb.Value(object=o)


values = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: pb.Value(array=pb.ValueArray(items=xs))),
        st.builds(_embedded, st.one_of(st.sampled_from([TARGET, CHILD, "__NAMESPACE"]), any_name),
                  st.lists(st.tuples(st.one_of(st.sampled_from(TARGET_PROPS), any_name), inner), max_size=2),
                  st.sampled_from([pb.GENUS_INSTANCE, pb.GENUS_INSTANCE, pb.GENUS_CLASS, 0, 9])),
    ),
    max_leaves=5,
)
qualifiers = st.builds(
    lambda n, v, f: pb.Qualifier(name=n, value=v, flavor=f),
    st.one_of(st.sampled_from(QUALIFIER_NAMES), any_name),
    st.one_of(scalar, st.lists(scalar, max_size=3).map(lambda xs: pb.Value(array=pb.ValueArray(items=xs)))),
    st.integers(0, 5).flatmap(lambda i: st.sampled_from([0, 1, 2, 3, 0x10, 0x13]) if i else st.one_of(
        st.sampled_from([0x80, 0xE0, 0xFFFFFFFF]), st.integers(0, 2**32 - 1))))


@st.composite
def properties(draw: Any, prop_names: Any = None) -> pb.Property:
    p = pb.Property(name=draw(prop_names if prop_names is not None else st.one_of(st.sampled_from(TARGET_PROPS),
                                                                                   any_name)))
    if not draw(st.integers(0, 2)):
        p.type = draw(cim_type)
        p.is_array = draw(st.booleans())
    if draw(st.integers(0, 3)):
        p.value.CopyFrom(draw(values))
    p.qualifiers.extend(draw(st.lists(qualifiers, max_size=2)))
    if not draw(st.integers(0, 5)):
        p.class_origin = draw(hostile_text)
    if not draw(st.integers(0, 3)):
        p.reference_class = draw(st.one_of(st.sampled_from([TARGET, CHILD, "__Provider"]), any_name))
    return p


methods_st = st.builds(
    lambda n, i, o, q: pb.Method(name=n, in_parameters=i, out_parameters=o, qualifiers=q),
    any_name, st.lists(properties(), max_size=2), st.lists(properties(), max_size=1), st.lists(qualifiers, max_size=1))
system_st = st.builds(
    lambda c, s, p, n: pb.SystemProperties(class_name=c, superclass=s, path=p, relpath=p, namespace=n,
                                           derivation=[s, c], genus=pb.GENUS_INSTANCE, property_count=-1),
    any_name, any_name, hostile_text, hostile_text)


@st.composite
def objects(draw: Any, genus: Any, class_name: Any, props: Any = None) -> pb.WbemObject:
    o = pb.WbemObject(genus=draw(genus), class_name=draw(class_name))
    if not draw(st.integers(0, 2)):
        o.superclass = draw(any_name)
    o.qualifiers.extend(draw(st.lists(qualifiers, max_size=2)))
    o.properties.extend(draw(st.lists(props if props is not None else properties(), max_size=4)))
    if not draw(st.integers(0, 4)):
        o.methods.extend(draw(st.lists(methods_st, max_size=1)))
    if not draw(st.integers(0, 4)):
        o.system.CopyFrom(draw(system_st))
    return o


CONTEXT_NAMES = ["__PUT_EXTENSIONS", "__PUT_EXT_PROPERTIES", "__PUT_EXT_STRICT_NULLS", "__PUT_EXT_ATOMIC",
                 "__PUT_EXT_CLIENT_REQUEST", "__PUT_EXT_BOGUS", "__put_extensions", "", "X"]
contexts = st.one_of(
    st.none(),
    st.none(),
    st.lists(st.builds(lambda n, v: pb.NamedValue(name=n, value=v),
                       st.one_of(st.sampled_from(CONTEXT_NAMES), any_name), values), max_size=4)
    .map(lambda vs: pb.Context(values=vs)),
    st.lists(st.sampled_from(TARGET_PROPS + ["Nope", "__PATH", ""]), max_size=4).map(lambda ps: pb.Context(values=[
        pb.NamedValue(name="__PUT_EXTENSIONS", value=pb.Value(boolean=True)),
        pb.NamedValue(name="__PUT_EXT_PROPERTIES",
                      value=pb.Value(array=pb.ValueArray(items=[pb.Value(string=p) for p in ps])))])),
)
handles = st.one_of(hostile_text, st.from_regex(r"[0-9a-f]{48}", fullmatch=True),
                    st.from_regex(r"[A-Za-z0-9_-]{32}", fullmatch=True))
path_st = st.one_of(
    hostile_text,
    st.builds(lambda pre, c, sep, k: f"{pre}{c}{sep}{k}",
              st.sampled_from(["", "\\\\.\\root\\cimv2:", "\\\\TESTHOST\\root:", "//./root/cimv2:", "\\\\.\\nosuch:",
                               "root\\cimv2:", "\\\\", "\\\\.\\:", "\\\\.\\root\\cimv2::"]),
              st.one_of(st.sampled_from([TARGET, CHILD, "fuzz_target", "__SystemClass", "__ExtendedStatus"]), any_name),
              st.sampled_from([".", "=", "", "..", ". ", "::"]),
              st.one_of(st.builds(lambda v: f'Id="{v}"', hostile_text), st.builds(lambda v: f"Id={v}", hostile_text),
                        st.sampled_from(["@", 'Id="nope"', "Id=1", "Id=", '"unterminated', 'A=1,B=2,A=3',
                                         'Id="a",Id="b"', "Id=0x7FFFFFFFFFFFFFFFFF", 'Id="\\"', "Id='x'",
                                         'Id="' + "k" * 9000 + '"', "Id=-", "Id=1e999", "Id=TRUE"]))),
)


def _instance_request(draw: Any, cls: type[Message], method: str) -> tuple[Message, str]:
    kind = draw(st.sampled_from(["bad-namespace", "unknown-class", "existing-key-create-only",
                                 "missing-key-update-only"]))
    extra = [0, F.USE_AMENDED_QUALIFIERS, F.RETURN_IMMEDIATELY if method == "PutInstance" else F.SEND_STATUS]
    flags = draw(flags_for(method))
    if kind == "bad-namespace":
        ns, obj = draw(bad_ns), draw(objects(st.sampled_from([2, 2, 1, 0]), any_name))
    elif kind == "unknown-class":
        ns, obj = draw(any_ns), draw(objects(st.sampled_from([2, 2, 2, 1, 0, 5]), unknown_class))
    else:
        ns = draw(cimv2_ns)
        obj = draw(objects(st.sampled_from([2, 2, 2, 2, 1]), st.sampled_from([TARGET, CHILD, "fuzz_target", "FUZZ_CHILD"]),
                           properties(st.one_of(st.sampled_from(TARGET_PROPS[1:]), any_name))))
        key = pb.Property(name=draw(st.sampled_from(["Id", "id", "ID"])))
        if draw(st.booleans()):
            key.type = pb.CIM_TYPE_STRING
        if kind == "existing-key-create-only":
            key.value.string = EXISTING_KEY
            flags = F.CREATE_ONLY | draw(st.sampled_from(extra))
        else:
            v = draw(st.one_of(hostile_text.filter(lambda s: _alnum(EXISTING_KEY) not in _alnum(s))
                               .map(lambda s: pb.Value(string=s)), scalar.filter(lambda v: v.WhichOneof("kind") != "string")))
            key.value.CopyFrom(v)
            flags = F.UPDATE_ONLY | draw(st.sampled_from(extra))
        props = list(obj.properties)
        props.insert(draw(st.integers(0, len(props))), key)
        del obj.properties[:]
        obj.properties.extend(props)
    r = cls(namespace=ns, object=obj, flags=flags)
    ctx = draw(contexts)
    if ctx is not None:
        r.context.CopyFrom(ctx)
    return r, kind


def _class_request(draw: Any, cls: type[Message], method: str) -> tuple[Message, str]:
    kind = draw(st.sampled_from(["bad-namespace", "update-only-unknown-class", "create-only-existing-class",
                                 "unknown-superclass"]))
    class_props = properties(st.one_of(st.sampled_from(TARGET_PROPS + ["__PATH", "__CLASS"]), any_name))
    genus = st.sampled_from([1, 1, 1, 1, 2, 0, 3])
    flags = draw(flags_for(method))
    ns = draw(cimv2_ns)
    extra = [0, F.UPDATE_SAFE_MODE, F.UPDATE_FORCE_MODE, F.USE_AMENDED_QUALIFIERS, F.OWNER_UPDATE,
             F.RETURN_IMMEDIATELY if method == "PutClass" else F.SEND_STATUS]
    if kind == "bad-namespace":
        ns, obj = draw(bad_ns), draw(objects(genus, any_name, class_props))
    elif kind == "update-only-unknown-class":
        obj = draw(objects(genus, unknown_class, class_props))
        flags = F.UPDATE_ONLY | draw(st.sampled_from(extra))
    elif kind == "create-only-existing-class":
        obj = draw(objects(genus, st.sampled_from([TARGET, CHILD, "fuzz_target", "__NAMESPACE", "__SystemClass",
                                                   "__win32provider"]), class_props))
        flags = F.CREATE_ONLY | draw(st.sampled_from(extra))
    else:
        obj = draw(objects(genus, st.one_of(st.sampled_from([TARGET, CHILD]), any_name), class_props))
        obj.superclass = draw(unknown_class.filter(bool))
    r = cls(namespace=ns, object=obj, flags=flags)
    ctx = draw(contexts)
    if ctx is not None:
        r.context.CopyFrom(ctx)
    if method == "PutAsync" and draw(st.booleans()):
        r.async_context.CopyFrom(draw(contexts) or pb.Context())
    return r, kind


def _request(draw: Any, method: str) -> tuple[Message, str]:
    """One structurally valid request with hostile content, of a kind that must fail (or only reads)."""
    _, cls, _, _ = METHODS[method]
    if method in ("PutInstance", "PutInstanceAsync"):
        return _instance_request(draw, cls, method)
    if method in ("PutClass", "PutClassAsync"):
        return _class_request(draw, cls, method)
    if method == "PutAsync":
        return (_class_request if draw(st.booleans()) else _instance_request)(draw, cls, method)
    if method == "GetObject":
        return cls(namespace=draw(any_ns), path=draw(path_st), flags=draw(flags_for(method)), context=draw(contexts)), "path"
    if method == "DeleteInstance":
        r = cls(namespace=draw(any_ns), path=draw(path_st), flags=draw(flags_for(method)), context=draw(contexts))
        return r, "path"
    if method == "DeleteClass":
        name = draw(st.one_of(any_name.filter(lambda n: n.lower() not in USER_LOWER),
                              st.sampled_from(["__NAMESPACE", "__SystemClass", "__Provider"])))
        return cls(namespace=draw(any_ns), class_name=name, flags=draw(flags_for(method)), context=draw(contexts)), "class"
    if method in ("CreateClassEnum", "CreateInstanceEnum"):
        field_name = "superclass" if method == "CreateClassEnum" else "class_name"
        return cls(**{"namespace": draw(any_ns), field_name: draw(st.one_of(any_name, st.sampled_from([TARGET, ""]))),
                      "flags": draw(flags_for(method)), "context": draw(contexts)}), "enum"
    if method == "ListProviders":
        return cls(namespace=draw(any_ns), flags=draw(flags_for(method)), context=draw(contexts)), "namespace"
    if method == "ListTransactions":  # flags: none accepted, as for ListProviders
        return cls(namespace=draw(st.one_of(any_ns, st.just(""))), flags=draw(flags_for("ListProviders")),
                   context=draw(contexts), limit=draw(st.integers(-(2**31), 2**31 - 1))), "namespace"
    if method == "AttachCall":
        return cls(call_handle=draw(handles), after_sequence=draw(st.integers(0, 2**64 - 1))), "handle"
    if method == "CancelAsyncCall":
        return cls(call_handle=draw(handles)), "handle"
    if method in ("GetNamespaceSecurity", "GetCallerAccessRights"):
        return cls(namespace=draw(any_ns)), "namespace"
    if method == "SetNamespaceSecurity":
        return cls(namespace=draw(any_ns), security=draw(descriptors)), "descriptor"
    timeout = draw(st.one_of(st.sampled_from([0, 1, 100, 0xFFFFFFFF]), st.integers(0, 2**32 - 1)))
    return cls(call_handle=draw(handles), timeout_ms=timeout), "handle"


# Descriptors that break a rule somewhere: a hostile trustee, an unknown entry type or right bit.
access_entries = st.builds(
    sec.AccessEntry, trustee=st.one_of(hostile_text, huge_text, st.sampled_from(["Everyone", "alice"])),
    ace_type=st.one_of(st.sampled_from([0, 1, 2, 3, -1]), st.integers(-(2**31), 2**31 - 1)),
    access_mask=st.one_of(st.sampled_from([0x1, 0x21, 0x100, 0x80000, 0xFFFFFFFF]), st.integers(0, 2**32 - 1)),
    inherit=st.booleans())
descriptors = st.builds(sec.NamespaceSecurity, entries=st.lists(access_entries, max_size=4), protected=st.booleans())


@dataclass
class Case:
    method: str
    data: bytes
    origin: str  # how it was made: "structured:<kind>", "truncated", "bitflip", "garbage", "edge:<what>", ...

    def describe(self) -> str:
        return f"{self.method} <- {self.origin}, {len(self.data)} bytes: {self.data[:160]!r}"


# Weights: the puts (the decoders and validators that matter most) more often.
METHOD_WEIGHTS = ["PutInstance"] * 6 + ["PutClass"] * 5 + ["PutInstanceAsync", "PutClassAsync", "PutAsync"] * 2 + [
    "GetObject", "GetObject", "DeleteInstance", "DeleteInstance", "DeleteClass", "CreateClassEnum",
    "CreateInstanceEnum", "ListProviders", "ListTransactions", "AttachCall", "CancelAsyncCall", "GetCallStatus", "GetResultString",
    "GetResultObject", "SetNamespaceSecurity", "SetNamespaceSecurity", "GetNamespaceSecurity", "GetCallerAccessRights"]


def structured_cases(n: int) -> list[Case]:
    """`n` Hypothesis examples, each one request; deterministic (derandomize)."""
    out: list[Case] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        method = data.draw(st.sampled_from(METHOD_WEIGHTS))
        req, kind = _request(data.draw, method)
        raw = req.SerializeToString()
        if "flags" in req.DESCRIPTOR.fields_by_name and data.draw(st.integers(0, 15)) == 9:
            # Flags past uint32 (a negative int64 on the wire): the decoder keeps the low 32 bits.
            raw += _vi(req.DESCRIPTOR.fields_by_name["flags"].number, data.draw(st.integers(-(2**63), -1)))
            kind += "+wide-flags"
        out.append(Case(method, raw, f"structured:{kind}"))

    collect()
    return out


def edge_cases() -> list[Case]:
    """Hand-made requests past each limit, appended as raw fields to a CREATE_ONLY put of the key that
    exists (so a request that passes every check still fails, WBEM_E_ALREADY_EXISTS)."""
    base_i = api.PutInstanceRequest(namespace=NS, flags=F.CREATE_ONLY, object=instance(TARGET, Id=EXISTING_KEY))
    base_c = api.PutClassRequest(namespace=NS, flags=F.CREATE_ONLY, object=wmi_class(TARGET, prop("Id", "string",
                                                                                                   key=True)))

    def nested(depth: int, leaf: bytes = b"Fuzz_Target") -> bytes:
        inner = _vi(1, pb.GENUS_INSTANCE) + _ld(2, leaf)
        for _ in range(depth):
            inner = _vi(1, pb.GENUS_INSTANCE) + _ld(2, TARGET.encode()) + _ld(5, _ld(1, b"O") + _ld(4, _ld(6, inner)))
        return inner

    def with_prop(base: Message, prop_bytes: bytes) -> bytes:
        return base.SerializeToString() + _ld(2, _ld(5, prop_bytes))  # merged into object.properties

    cases: list[tuple[str, str, bytes]] = []
    for depth in (1, 10, 31, 32, 33, 63, 64, 65, 100, 500, 3000):
        cases.append(("PutInstance", f"nesting-{depth}", with_prop(base_i, _ld(1, b"O") + _ld(4, _ld(6, nested(depth))))))
        cases.append(("PutInstanceAsync", f"nesting-{depth}", with_prop(
            calls.PutInstanceAsyncRequest(namespace=NS, flags=F.CREATE_ONLY, object=instance(TARGET, Id=EXISTING_KEY)),
            _ld(1, b"O") + _ld(4, _ld(6, nested(depth))))))
    item = _ld(1, _vi(2, 7))  # Value{uint: 7}
    for n in (100_000, 100_001):
        cases.append(("PutInstance", f"array-{n}", with_prop(base_i, _ld(1, b"A") + _ld(4, _ld(7, item * n)))))
        cases.append(("PutClass", f"array-default-{n}", with_prop(
            base_c, _ld(1, b"A") + _vi(2, pb.CIM_TYPE_UINT32) + _vi(3, 1) + _ld(4, _ld(7, item * n)))))
        cases.append(("PutInstance", f"nested-array-{n // 1000}k", with_prop(
            base_i, _ld(1, b"A") + _ld(4, _ld(7, _ld(1, _ld(7, item * (n // 1000))) * 3)))))
    for n in (1_048_576, 1_048_577):
        cases.append(("PutInstance", f"string-{n}", with_prop(base_i, _ld(1, b"S") + _ld(4, _ld(5, b"s" * n)))))
    for n in (256, 257, 5000):
        qs = b"".join(_ld(4, _ld(1, f"Q{i}".encode()) + _ld(2, _vi(4, 1))) for i in range(n))
        cases.append(("PutClass", f"qualifiers-{n}", base_c.SerializeToString() + _ld(2, qs)))
        cases.append(("PutInstance", f"qualifiers-{n}", base_i.SerializeToString() + _ld(2, qs)))
        props = b"".join(_ld(5, _ld(1, f"P{i}".encode())) for i in range(n))
        cases.append(("PutInstance", f"properties-{n}", base_i.SerializeToString() + _ld(2, props)))
        cases.append(("PutClass", f"properties-{n}", base_c.SerializeToString() + _ld(2, props)))
        ctx = b"".join(_ld(1, _ld(1, f"V{i}".encode())) for i in range(n))
        cases.append(("PutInstance", f"context-values-{n}", base_i.SerializeToString() + _ld(4, ctx)))
    for n in (4096, 4097, 10_000):
        cases.append(("PutClass", f"class-name-{n}", api.PutClassRequest(  # UPDATE_ONLY: such a class does not exist
            namespace=NS, flags=F.UPDATE_ONLY, object=wmi_class("C" * n, prop("Id", "string", key=True)))
            .SerializeToString()))
        cases.append(("PutInstance", f"property-name-{n}", with_prop(base_i, _ld(1, b"P" * n))))
        cases.append(("PutClass", f"qualifier-name-{n}", base_c.SerializeToString() + _ld(2, _ld(4, _ld(1, b"Q" * n)))))
        cases.append(("GetObject", f"path-{n}", api.GetObjectRequest(namespace=NS, path="P" * n).SerializeToString()))
        cases.append(("DeleteInstance", f"path-{n}", api.DeleteInstanceRequest(
            namespace=NS, path=f'{TARGET}.Id="{"k" * n}"').SerializeToString()))
    for method in METHODS:
        cases += [
            (method, "varint-11-bytes", b"\x18" + b"\xff" * 10 + b"\x01"),
            (method, "length-past-end", b"\x0a\xff\xff\xff\x0f" + b"x" * 16),
            (method, "negative-length", b"\x0a" + b"\xff" * 9 + b"\x01"),
            (method, "wrong-wire-type", b"\x08\x01\x10\x01\x1d\x00\x00\x00\x00"),
            (method, "group-start", b"\x0b\x0c"),
            (method, "unknown-field-2^29-1", _vi((1 << 29) - 1, 1)),
            (method, "field-number-0", b"\x02\x00"),
            (method, "invalid-utf8", _ld(1, b"\xff\xfe") + _ld(2, b"\xc0\x80")),
            (method, "empty", b""),
            (method, "zeros-4k", b"\x00" * 4096),
        ]
    return [Case(m, data, f"edge:{what}") for m, what, data in cases]


def mutations(base: list[Case], rng: random.Random) -> list[Case]:
    out = []
    names_ = list(METHODS)
    for c in base:
        if len(c.data) > 1:
            out.append(Case(c.method, c.data[:rng.randrange(1, len(c.data))], f"truncated({c.origin})"))
        if c.data:
            b = bytearray(c.data)
            for _ in range(rng.choice([1, 1, 2, 4, 8])):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            out.append(Case(c.method, bytes(b), f"bitflip({c.origin})"))
        if not rng.randrange(4):
            out.append(Case(rng.choice(names_), c.data, f"wrong-method({c.method}, {c.origin})"))
    return out


def garbage(n: int, rng: random.Random) -> list[Case]:
    names_ = list(METHODS)
    return [Case(rng.choice(names_), rng.randbytes(rng.choice([1, 2, 5, 17, 64, 300, 1000, 4096])), "garbage")
            for _ in range(n)]


def build_cases() -> tuple[list[Case], Counter[str]]:
    rng = random.Random(SEED)
    generated = structured_cases(STRUCTURED_EXAMPLES)
    # Hypothesis draws constants from the loaded modules too, so a rare example may be a valid write:
    # it is left out (and counted), as the repository must stay unchanged.
    structured = [c for c in generated if must_fail(c.method, c.data)]
    # Empty or all-unknown bytes are a valid SetNamespaceSecurity (an empty descriptor for the
    # default namespace): a write, not hostile input.
    edges = [c for c in edge_cases() if c.method != "SetNamespaceSecurity" or must_fail(c.method, c.data)]
    for c in edges:
        assert must_fail(c.method, c.data), f"edge case could write: {c.describe()}"
    cases, dropped = structured + edges, Counter[str]()
    dropped["structured: could write"] += len(generated) - len(structured)
    for c in mutations(structured, rng) + garbage(GARBAGE, rng):
        if must_fail(c.method, c.data):
            cases.append(c)
        else:  # e.g. a truncation that cut off CREATE_ONLY: a valid write, not hostile input
            dropped[c.origin.split("(")[0]] += 1
    return cases, dropped


# ------------------------------------------------------------------------------------- running and judging


@dataclass
class Tally:
    requests: int = 0
    follow_ups: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    by_origin: Counter[tuple[str, str]] = field(default_factory=Counter)  # (how the input was made, code)
    grpc_codes: Counter[str] = field(default_factory=Counter)
    successes: Counter[str] = field(default_factory=Counter)
    problems: dict[str, list[str]] = field(default_factory=dict)  # kind -> "detail / input" lines
    semisync: list[tuple[str, Case]] = field(default_factory=list)

    def count(self, case: Case, name: str) -> None:
        self.codes[name] += 1
        self.by_origin[(case.origin.split(":")[0].split("(")[0], name)] += 1

    def problem(self, case: Case, kind: str, detail: str) -> None:
        self.problems.setdefault(kind, []).append(f"{detail}\n      input: {case.describe()}")

    @property
    def crashes(self) -> int:
        return sum(len(v) for v in self.problems.values())

    def report(self, per_kind: int = 3) -> str:
        return "\n".join(f"  {kind}: {len(lines)}\n    " + "\n    ".join(lines[:per_kind])
                         for kind, lines in sorted(self.problems.items(), key=lambda kv: -len(kv[1])))


def _wbem_name(code: int) -> str | None:
    """The WBEM_E_* name of a failure HRESULT that the contract defines, else None."""
    try:
        name = HResult(code & 0xFFFFFFFF).name
    except ValueError:
        return None
    return name if name.startswith("WBEM_E_") else None


def judge_error(e: grpc.aio.AioRpcError, case: Case, tally: Tally) -> None:
    tally.grpc_codes[e.code().name] += 1
    md = {k: v for k, v in (e.trailing_metadata() or ()) if not k.endswith("-bin")}
    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "wbem-hresult" not in md:
        tally.problem(case, "hang", f"no answer within {CALL_TIMEOUT_S} s")
        return
    try:
        status = rpc_status.from_call(e)
    except ValueError as bad:  # the google.rpc.Status says another code than the call ended with
        tally.problem(case, f"no WBEM answer: {e.code().name} with status details of another code",
                      f"{(e.details() or '')[:300]!r}; {bad}")
        return
    ext = None
    for d in status.details if status is not None else ():
        candidate = status_pb2.ExtendedStatus()
        if d.Unpack(candidate):
            ext = candidate
    if ext is None:
        tally.problem(case, f"no WBEM answer: {e.code().name} without an ExtendedStatus",
                      f"{(e.details() or '')[:300]!r}")
        return
    name = _wbem_name(ext.status_code)
    if name is None or ext.hresult_name != name:
        tally.problem(case, "HRESULT not a WBEM_E_* of the contract", f"0x{ext.status_code:08X} {ext.hresult_name}")
        return
    if md.get("wbem-hresult") != f"0x{ext.status_code:08X}" or md.get("wbem-hresult-name") != name:
        tally.problem(case, "trailing metadata disagrees with the ExtendedStatus", f"{md} vs {name}")
    if error_from_rpc(e).name != name:
        tally.problem(case, "error_from_rpc disagrees", f"{error_from_rpc(e).name} vs {name}")
    if e.code() == grpc.StatusCode.UNKNOWN:
        tally.problem(case, "gRPC UNKNOWN", name)
    if name in ("WBEM_E_FAILED", "WBEM_E_CRITICAL_ERROR"):
        tally.problem(case, f"{name} (an unexpected exception in the host)", repr(ext.description[:300]))
    tally.count(case, name)


def judge_events(replies: list[bytes], case: Case, tally: Tally) -> None:
    """An asynchronous put that started: accepted first, then exactly one final event, a WBEM_E_* failure."""
    _, _, resp_cls, _ = METHODS[case.method]
    evs = [resp_cls.FromString(r).event for r in replies]
    if not evs or evs[0].WhichOneof("event") != "accepted" or not evs[-1].final or any(e.final for e in evs[:-1]):
        tally.problem(case, "event stream not accepted ... final", str([e.WhichOneof("event") for e in evs]))
        return
    last = evs[-1]
    code = last.set_status.hresult if last.WhichOneof("event") == "set_status" else last.completed.hresult
    name = _wbem_name(code)
    if name is None:
        tally.problem(case, "asynchronous put did not end in a WBEM_E_* failure", f"0x{code:08X}")
        return
    if name in ("WBEM_E_FAILED", "WBEM_E_CRITICAL_ERROR"):
        tally.problem(case, f"asynchronous put ended {name} (an unexpected exception in the host)",
                      repr(last.set_status.error_object.description or last.completed.error_object.description))
    tally.count(case, name)


async def send(ch: grpc.aio.Channel, case: Case, tally: Tally) -> None:
    path, _, resp_cls, streaming = METHODS[case.method]
    tally.requests += 1
    try:
        if streaming:
            call = ch.unary_stream(path, request_serializer=None, response_deserializer=None)
            replies = [r async for r in call(case.data, timeout=CALL_TIMEOUT_S)]
        else:
            reply = await ch.unary_unary(path, request_serializer=None, response_deserializer=None)(
                case.data, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as e:
        judge_error(e, case, tally)
        return
    tally.grpc_codes["OK"] += 1
    if case.method in ASYNC_PUTS:
        judge_events(replies, case, tally)
    elif case.method in READ_ONLY:
        tally.successes[case.method] += 1
    elif case.method in ("PutInstance", "PutClass") and resp_cls.FromString(reply).call_handle:
        tally.semisync.append((resp_cls.FromString(reply).call_handle, case))  # judged by its call's outcome
    else:
        tally.problem(case, f"{case.method} succeeded (a write)", repr(resp_cls.FromString(reply))[:300])


async def judge_semisync(ch: grpc.aio.Channel, handle: str, case: Case, tally: Tally) -> None:
    tally.follow_ups += 1
    path, _, resp_cls, _ = METHODS["GetCallStatus"]
    req = calls.GetCallStatusRequest(call_handle=handle, timeout_ms=int(CALL_TIMEOUT_S * 1000))
    try:
        raw = await ch.unary_unary(path, request_serializer=None, response_deserializer=None)(
            req.SerializeToString(), timeout=CALL_TIMEOUT_S + 5)
    except grpc.aio.AioRpcError as e:
        tally.problem(case, "GetCallStatus of a semisynchronous put failed", f"{e.code().name} {e.details()}")
        return
    r = resp_cls.FromString(raw)
    name = _wbem_name(r.call_status)
    if r.hresult != 0 or name is None:
        tally.problem(case, "semisynchronous put did not end in a WBEM_E_* failure",
                      f"hresult 0x{r.hresult:08X}, call_status 0x{r.call_status:08X}")
        return
    if name in ("WBEM_E_FAILED", "WBEM_E_CRITICAL_ERROR"):
        tally.problem(case, f"semisynchronous put ended {name} (an unexpected exception in the host)",
                      repr(r.error_object.description[:300]))
    tally.count(case, name)


async def run_all(target: str, cases: list[Case], tally: Tally) -> None:
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024),
               ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(target, options=options) as ch:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(coro: Any) -> None:
            async with gate:
                await coro

        await asyncio.gather(*(one(send(ch, c, tally)) for c in cases))
        await asyncio.gather(*(one(judge_semisync(ch, h, c, tally)) for h, c in tally.semisync))


# ------------------------------------------------------------------------------------- the repository

# Keys the repository consists of (host/repository/keys.py): schema, instances (records, versions,
# members, locks, receipts), the namespace list and the layout. A request that writes nothing leaves
# every one of them byte-for-byte as it was.
REPOSITORY = re.compile(rb"^[^:]+:(\{s\|[^}]*\}|\{i\|[^}]*\}|\{meta\}:namespaces$|\{meta\}:layout$)")
# Keys that change without any write, and why (everything else must not change either):
#   {h|<host>}:alive                 the host's heartbeat lease (host/coordinator)
#   {h|<host>}:replies               replies to tasks the host sent to providers (none here)
#   {c|<call>}, {c|<call>}:events    records and sink events of asynchronous / semisynchronous calls
#                                    (host/calls/store.py): every accepted async put makes one
#   {meta}:calls:active:<host>,      the calls a host runs, and the hosts that run calls (recovery)
#   {meta}:calls:hosts
#   {tx|<id>}, {tx|<id>}:replies,    provider transactions and their bookkeeping (none here: no
#   {meta}:tx:*                      request reaches a provider)
#   {meta}:audit                     the audit trail (host/audit.py): one entry per write attempt,
#                                    refused ones included
BOOKKEEPING = re.compile(rb"^[^:]+:(\{h\|[^}]*\}:(alive|replies)$|\{c\|[^}]*\}(:events)?$|\{meta\}:calls:(active:.*|hosts)$"
                         rb"|\{tx\|[^}]*\}(:replies)?$|\{meta\}:tx:.*$|\{meta\}:audit$)")


def diff(before: dict[bytes, Any], after: dict[bytes, Any]) -> list[bytes]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# ------------------------------------------------------------------------------------- the test


async def _setup(client: WbemClient) -> None:
    await client.put_class(wmi_class(
        TARGET, prop("Id", "string", key=True), prop("S", "string", "dflt"), prop("N", "uint8"), prop("I", "sint64"),
        prop("R", "real32"), prop("B", "boolean"), prop("D", "datetime"),
        prop("Ref", "reference", reference_class=TARGET), prop("O", "object", reference_class=TARGET),
        prop("A", "uint32[]"), prop("C", "char16"), qualifiers=[qualifier("Description", "fuzz target")]))
    await client.put_class(wmi_class(CHILD, prop("X", "string", qualifiers={"Not_Null": True}), superclass=TARGET))
    await client.put_instance(instance(TARGET, Id=EXISTING_KEY, S="before", N=7, A=[1, 2, 3]), F.CREATE_ONLY)


@pytest.mark.timeout(150)
async def test_thousands_of_hostile_requests_get_wbem_errors_and_change_nothing(
        host: Host, client: WbemClient, redis: Redis, key_prefix: str) -> None:
    started = time.perf_counter()
    await _setup(client)
    for ns, expected in CLASSES.items():  # the oracle's picture of the schema is the host's
        got = {o.class_name.lower() async for o in client.enum_classes(namespace=ns)}
        assert got == expected, f"{ns}: {sorted(got ^ expected)}"

    cases, dropped = await asyncio.to_thread(build_cases)
    generated = time.perf_counter()
    assert len(cases) >= MIN_REQUESTS, (len(cases), dropped)

    before = await redis_snapshot(redis, key_prefix)
    # The host logs every malformed request (a warning): capture its log meanwhile, to count its
    # errors ("unexpected failure", with a traceback) instead of printing thousands of lines.
    log_buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=log_buffer))
    tally = Tally()
    try:
        await run_all(host.target, cases, tally)
    finally:
        logs.configure("json", "warning")  # as tests/conftest.py's _quiet_logs has it
    fired = time.perf_counter()
    after = await redis_snapshot(redis, key_prefix)

    changed = diff(before, after)
    repository_changes = [k for k in changed if REPOSITORY.match(k)]
    other_changes = [k for k in changed if not REPOSITORY.match(k) and not BOOKKEEPING.match(k)]
    host_errors = [line for line in log_buffer.getvalue().splitlines() if '"level": "error"' in line
                   or '"level": "critical"' in line]

    # The host still serves: health, a normal put and get.
    async with grpc.aio.insecure_channel(host.target) as ch:
        health = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    res = await client.put_instance(instance(TARGET, Id="AfterFuzz", S="still serving"), F.CREATE_ONLY)
    assert res.relpath == f'{TARGET}.Id="AfterFuzz"'
    assert to_dict(await client.get_object(f'{TARGET}.Id="AfterFuzz"'))["S"] == "still serving"
    assert to_dict(await client.get_object(f'{TARGET}.Id="{EXISTING_KEY}"'))["S"] == "before"
    assert host.servicer is not None and host.servicer.in_flight == 0

    unexpected = sum(len(v) for k, v in tally.problems.items() if "unexpected exception" in k)
    host_exceptions, no_wbem = len(host_errors) + unexpected, tally.crashes - unexpected
    host_warnings = log_buffer.getvalue().count('"level": "warning"')
    by_origin = Counter(c.origin.split(":")[0].split("(")[0] for c in cases)
    print(f"\nfuzz front door: requests={tally.requests} (+{tally.follow_ups} GetCallStatus follow-ups; "
          f"{dict(sorted(by_origin.items()))}; mutations left out as possible writes: {dict(dropped)}), "
          f"distinct WBEM_E codes={len(tally.codes)} {sorted(tally.codes)}, gRPC codes={dict(tally.grpc_codes)}, "
          f"read-only successes={sum(tally.successes.values())}, crashes (host exceptions, WBEM_E_FAILED, error "
          f"log lines)={host_exceptions}, other answers without a WBEM_E_* code={no_wbem} "
          f"{ {k: len(v) for k, v in tally.problems.items()} }, host warnings logged={host_warnings}, "
          f"repository changes={len(repository_changes)}, other unexpected key changes={len(other_changes)}, "
          f"generate {generated - started:.1f} s, fire {fired - generated:.1f} s")

    assert not repository_changes, [(k, before.get(k), after.get(k)) for k in repository_changes[:5]]
    assert not other_changes, [(k, before.get(k), after.get(k)) for k in other_changes[:5]]
    assert not host_errors, f"{len(host_errors)} error lines in the host's log:\n" + "\n".join(host_errors[:5])
    assert not tally.problems, f"{tally.crashes} requests not answered with a WBEM_E_* error, by kind:\n" + tally.report()
    assert tally.requests == len(cases) >= MIN_REQUESTS
    assert len(tally.codes) >= 10, tally.codes
