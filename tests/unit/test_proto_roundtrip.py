"""The wire contract round-trips (no Redis, no server): random WbemObject messages survive
SerializeToString -> FromString unchanged, NULL stays distinct from an empty string or array,
and object paths carried in reference values parse back to the same path.

Generated objects hold every CIM type with a value that fits it (checked with
host.model.values.check_value), arrays (empty ones included), NULLs of both spellings (no Value,
and a Value with no kind), empty strings, qualifiers with flavors, methods, and embedded objects
a few levels deep.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.model import values
from host.model.paths import ObjectPath, parse_path
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import services_pb2 as api

T = pb.CimType
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

SIGNED = {T.CIM_TYPE_SINT8: 8, T.CIM_TYPE_SINT16: 16, T.CIM_TYPE_SINT32: 32, T.CIM_TYPE_SINT64: 64}
UNSIGNED = {
    T.CIM_TYPE_UINT8: 8,
    T.CIM_TYPE_UINT16: 16,
    T.CIM_TYPE_UINT32: 32,
    T.CIM_TYPE_UINT64: 64,
    T.CIM_TYPE_CHAR16: 16,
}
SCALAR_TYPES = sorted(
    set(SIGNED)
    | set(UNSIGNED)
    | {
        T.CIM_TYPE_REAL32,
        T.CIM_TYPE_REAL64,
        T.CIM_TYPE_BOOLEAN,
        T.CIM_TYPE_STRING,
        T.CIM_TYPE_DATETIME,
        T.CIM_TYPE_REFERENCE,
        T.CIM_TYPE_OBJECT,
    }
)

# ------------------------------------------------------------------------------------- strategies

IDENT = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True).filter(lambda s: not s.endswith("_"))
# CIM strings: any Unicode text without surrogates (not UTF-8 encodable) or NUL (WMI strings are BSTRs).
CIM_TEXT = st.one_of(
    st.just(""), st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
)


def _digits(n: int, lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda v: f"{v:0{n}d}")


def _field(n: int, lo: int, hi: int) -> st.SearchStrategy[str]:
    """A datetime field, or the whole field starred (unused)."""
    return st.one_of(_digits(n, lo, hi), st.just("*" * n))


POINT_IN_TIME = st.builds(
    lambda y, mo, d, h, mi, s, us, sign, off: f"{y}{mo}{d}{h}{mi}{s}.{us}{sign}{off}",
    _field(4, 0, 9999),
    _field(2, 1, 12),
    _field(2, 1, 31),
    _field(2, 0, 23),
    _field(2, 0, 59),
    _field(2, 0, 59),
    _field(6, 0, 999999),
    st.sampled_from("+-"),
    _field(3, 0, 999),
)
INTERVAL = st.builds(
    lambda d, h, mi, s, us: f"{d}{h}{mi}{s}.{us}:000",
    _digits(8, 0, 99999999),
    _digits(2, 0, 23),
    _digits(2, 0, 59),
    _digits(2, 0, 59),
    _digits(6, 0, 999999),
)
DATETIME = st.one_of(POINT_IN_TIME, INTERVAL)

KEY_VALUE = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=20),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@st.composite
def object_paths(draw: st.DrawFn) -> ObjectPath:
    namespace = draw(st.one_of(st.just(""), st.lists(IDENT, min_size=1, max_size=3).map("\\".join)))
    server = draw(st.sampled_from(["", ".", "HOST", "srv-01.example.test"])) if namespace else ""
    class_name = draw(IDENT)
    shape = draw(st.sampled_from(["class", "keys", "shorthand", "singleton"]))
    keys: tuple[tuple[str, Any], ...] = ()
    if shape == "keys":
        names = draw(st.lists(IDENT, min_size=1, max_size=4, unique_by=str.lower))
        keys = tuple((n, draw(KEY_VALUE)) for n in names)
    elif shape == "shorthand":
        keys = (("", draw(KEY_VALUE)),)
    return ObjectPath(server, namespace, class_name, keys, shape == "singleton")


def _scalar(cim_type: int, objects: st.SearchStrategy[pb.WbemObject]) -> st.SearchStrategy[pb.Value]:
    if cim_type in SIGNED:
        bits = SIGNED[cim_type]
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1).map(lambda n: pb.Value(sint=n))
    if cim_type in UNSIGNED:
        return st.integers(0, 2 ** UNSIGNED[cim_type] - 1).map(lambda n: pb.Value(uint=n))
    if cim_type == T.CIM_TYPE_REAL32:
        return st.floats(width=32, allow_nan=False).map(lambda f: pb.Value(real=f))
    if cim_type == T.CIM_TYPE_REAL64:
        return st.floats(allow_nan=False).map(lambda f: pb.Value(real=f))
    if cim_type == T.CIM_TYPE_BOOLEAN:
        return st.booleans().map(lambda b: pb.Value(boolean=b))
    if cim_type == T.CIM_TYPE_STRING:
        return CIM_TEXT.map(lambda s: pb.Value(string=s))
    if cim_type == T.CIM_TYPE_DATETIME:
        return DATETIME.map(lambda s: pb.Value(string=s))
    if cim_type == T.CIM_TYPE_REFERENCE:
        return object_paths().map(lambda p: pb.Value(string=p.format()))
    assert cim_type == T.CIM_TYPE_OBJECT
    return objects.map(lambda o: pb.Value(object=o))


def _null() -> st.SearchStrategy[pb.Value | None]:
    """NULL, in both spellings: no Value at all, or a Value with no member set."""
    return st.sampled_from([None, "empty-value"]).map(lambda x: None if x is None else pb.Value())


def _value(
    cim_type: int, is_array: bool, objects: st.SearchStrategy[pb.WbemObject]
) -> st.SearchStrategy[pb.Value | None]:
    if not is_array:
        return st.one_of(_null(), _scalar(cim_type, objects))

    def array(items: list[pb.Value]) -> pb.Value:
        v = pb.Value()
        v.array.SetInParent()  # an empty array is not NULL
        v.array.items.extend(items)
        return v

    return st.one_of(_null(), st.lists(_scalar(cim_type, objects), max_size=4).map(array))


QUALIFIER_VALUE = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda n: pb.Value(sint=n)),
    st.floats(allow_nan=False).map(lambda f: pb.Value(real=f)),
    CIM_TEXT.map(lambda s: pb.Value(string=s)),
    st.booleans().map(lambda b: pb.Value(boolean=b)),
    st.lists(CIM_TEXT, max_size=3).map(lambda xs: _array([pb.Value(string=x) for x in xs])),
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=3).map(
        lambda xs: _array([pb.Value(sint=x) for x in xs])
    ),
)
# Input flavors (ToInstance, ToSubClass, DisableOverride, Amended) and the output origin bits.
FLAVOR = st.lists(st.sampled_from([0x1, 0x2, 0x10, 0x20, 0x40, 0x80]), unique=True).map(sum)


def _array(items: list[pb.Value]) -> pb.Value:
    v = pb.Value()
    v.array.SetInParent()
    v.array.items.extend(items)
    return v


@st.composite
def qualifiers(draw: st.DrawFn) -> list[pb.Qualifier]:
    out = []
    for name in draw(st.lists(IDENT, max_size=3, unique_by=str.lower)):
        q = pb.Qualifier(name=name, flavor=draw(FLAVOR))
        v = draw(st.one_of(st.none(), QUALIFIER_VALUE))
        if v is not None:
            q.value.CopyFrom(v)
        out.append(q)
    return out


@st.composite
def properties(
    draw: st.DrawFn, objects: st.SearchStrategy[pb.WbemObject], *, with_values: bool = True, max_size: int = 6
) -> list[pb.Property]:
    out = []
    for name in draw(st.lists(IDENT, max_size=max_size, unique_by=str.lower)):
        cim_type = draw(st.sampled_from(SCALAR_TYPES))
        is_array = draw(st.booleans())
        p = pb.Property(name=name, type=cim_type, is_array=is_array)
        if cim_type in (T.CIM_TYPE_REFERENCE, T.CIM_TYPE_OBJECT):
            p.reference_class = draw(st.one_of(st.just(""), IDENT))
        if draw(st.booleans()):
            p.class_origin = draw(IDENT)
        p.qualifiers.extend(draw(qualifiers()))
        if with_values:
            v = draw(_value(cim_type, is_array, objects))
            if v is not None:
                p.value.CopyFrom(v)
        out.append(p)
    return out


@st.composite
def methods(draw: st.DrawFn) -> list[pb.Method]:
    out = []
    for name in draw(st.lists(IDENT, max_size=2, unique_by=str.lower)):
        m = pb.Method(name=name)
        m.in_parameters.extend(draw(properties(st.nothing(), with_values=False, max_size=3)))
        m.out_parameters.extend(draw(properties(st.nothing(), with_values=False, max_size=2)))
        m.qualifiers.extend(draw(qualifiers()))
        if draw(st.booleans()):
            m.class_origin = draw(IDENT)
        out.append(m)
    return out


@st.composite
def system_properties(draw: st.DrawFn, genus: int, class_name: str) -> pb.SystemProperties:
    path = draw(object_paths())
    return pb.SystemProperties(
        class_name=class_name,
        superclass=draw(st.one_of(st.just(""), IDENT)),
        dynasty=draw(IDENT),
        derivation=draw(st.lists(IDENT, max_size=3)),
        genus=genus,
        path=path.format(),
        relpath=path.relpath(),
        namespace=path.namespace,
        server=path.server,
        property_count=draw(st.integers(0, 1024)),
    )


# The innermost embedded object: an instance with a few plain values.
LEAF_OBJECT = st.builds(
    lambda name, s, n: pb.WbemObject(
        genus=pb.GENUS_INSTANCE,
        class_name=name,
        properties=[
            pb.Property(name="S", type=T.CIM_TYPE_STRING, value=pb.Value(string=s)),
            pb.Property(name="N", type=T.CIM_TYPE_UINT32, value=pb.Value(uint=n)),
            pb.Property(name="Null", type=T.CIM_TYPE_STRING),
        ],
    ),
    IDENT,
    CIM_TEXT,
    st.integers(0, 2**32 - 1),
)


def wbem_objects(depth: int = 3) -> st.SearchStrategy[pb.WbemObject]:
    """Classes and instances; embedded objects nest `depth` levels deep at most."""
    inner: st.SearchStrategy[pb.WbemObject] = (
        LEAF_OBJECT if depth <= 1 else st.deferred(lambda: wbem_objects(depth - 1))
    )

    @st.composite
    def build(draw: st.DrawFn) -> pb.WbemObject:
        genus = draw(st.sampled_from([pb.GENUS_CLASS, pb.GENUS_INSTANCE]))
        name = draw(IDENT)
        o = pb.WbemObject(genus=genus, class_name=name)
        o.qualifiers.extend(draw(qualifiers()))
        o.properties.extend(draw(properties(inner, max_size=6 if depth == 3 else 2)))
        if draw(st.booleans()):
            # Make nesting common, not a 1-in-16 accident of the type draw.
            nested = o.properties.add(name=f"Nested{len(o.properties)}", type=T.CIM_TYPE_OBJECT)
            if draw(st.booleans()):
                nested.value.object.CopyFrom(draw(inner))
            else:
                nested.is_array = True
                nested.value.CopyFrom(_array([pb.Value(object=x) for x in draw(st.lists(inner, max_size=2))]))
        if genus == pb.GENUS_CLASS:
            o.superclass = draw(st.one_of(st.just(""), IDENT))
            o.methods.extend(draw(methods()))
        if draw(st.booleans()):
            o.system.CopyFrom(draw(system_properties(genus, name)))
        return o

    return build()


# ------------------------------------------------------------------------------------- checks


def _kind(p: pb.Property) -> str:
    """'null' (no Value, or a Value with no member), 'empty-string', 'empty-array', or the member."""
    if not p.HasField("value") or p.value.WhichOneof("kind") is None:
        return "null"
    kind = p.value.WhichOneof("kind")
    if kind == "string" and p.value.string == "":
        return "empty-string"
    if kind == "array" and len(p.value.array.items) == 0:
        return "empty-array"
    return kind


def _walk(o: pb.WbemObject) -> list[pb.Property]:
    """Every property of `o` and of the objects embedded in it, depth first."""
    out = []
    for p in o.properties:
        out.append(p)
        if p.HasField("value"):
            embedded = (
                [p.value.object]
                if p.value.WhichOneof("kind") == "object"
                else [i.object for i in p.value.array.items if i.WhichOneof("kind") == "object"]
            )
            for e in embedded:
                out.extend(_walk(e))
    return out


def _assert_fits(o: pb.WbemObject) -> None:
    """The generator's values are ones the host accepts for their CIM type, in canonical form."""
    for p in _walk(o):
        if p.HasField("value"):
            values.check_value(p.type, p.is_array, p.value, what=p.name)
            if not values.is_null(p.value):
                assert values.normalize_value(p.type, p.is_array, p.value) == p.value


@SETTINGS
@given(wbem_objects())
def test_a_random_wbem_object_survives_serialization_unchanged(obj: pb.WbemObject) -> None:
    _assert_fits(obj)

    data = obj.SerializeToString()
    back = pb.WbemObject.FromString(data)

    assert back == obj
    assert back.SerializeToString(deterministic=True) == obj.SerializeToString(deterministic=True)
    assert [_kind(p) for p in _walk(back)] == [_kind(p) for p in _walk(obj)]


@SETTINGS
@given(wbem_objects(), st.sampled_from(["root\\cimv2", "root"]), st.integers(0, 0x3FFFF))
def test_a_random_put_request_survives_serialization_unchanged(
    obj: pb.WbemObject, namespace: str, flags: int
) -> None:
    ctx = pb.Context(
        values=[
            pb.NamedValue(name="__PUT_EXTENSIONS", value=pb.Value(boolean=True)),
            pb.NamedValue(name="Empty"),
        ]
    )
    for cls in (api.PutClassRequest, api.PutInstanceRequest):
        req = cls(namespace=namespace, object=obj, flags=flags, context=ctx)
        back = cls.FromString(req.SerializeToString())
        assert back == req
        assert back.context.values[1].HasField("value") is False


@SETTINGS
@given(st.sampled_from(SCALAR_TYPES), st.booleans())
def test_null_stays_distinct_from_an_empty_string_and_an_empty_array(cim_type: int, is_array: bool) -> None:
    obj = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name="C")
    obj.properties.add(name="Absent", type=cim_type, is_array=is_array)  # no Value: NULL
    obj.properties.add(
        name="NoKind", type=cim_type, is_array=is_array
    ).value.SetInParent()  # empty Value: NULL
    obj.properties.add(name="EmptyString", type=T.CIM_TYPE_STRING).value.string = ""
    obj.properties.add(name="EmptyArray", type=cim_type, is_array=True).value.array.SetInParent()

    back = pb.WbemObject.FromString(obj.SerializeToString())

    by_name = {p.name: p for p in back.properties}
    assert not by_name["Absent"].HasField("value")
    assert by_name["NoKind"].HasField("value") and by_name["NoKind"].value.WhichOneof("kind") is None
    assert [_kind(by_name[n]) for n in ("Absent", "NoKind", "EmptyString", "EmptyArray")] == [
        "null",
        "null",
        "empty-string",
        "empty-array",
    ]
    assert values.is_null(by_name["NoKind"].value) and values.is_null(None)
    assert not values.is_null(by_name["EmptyString"].value) and not values.is_null(
        by_name["EmptyArray"].value
    )
    assert values.to_python(by_name["NoKind"].value) is None
    assert values.to_python(by_name["EmptyString"].value) == ""
    assert values.to_python(by_name["EmptyArray"].value) == []
    # Zero is not NULL either: a set oneof member survives even at its default value.
    zero = pb.Value(uint=0) if cim_type in UNSIGNED else pb.Value(sint=0)
    assert pb.Value.FromString(zero.SerializeToString()).WhichOneof("kind") in ("uint", "sint")
    assert pb.Value.FromString(pb.Value(boolean=False).SerializeToString()).WhichOneof("kind") == "boolean"
    assert pb.Value.FromString(pb.Value(real=0.0).SerializeToString()).WhichOneof("kind") == "real"


@SETTINGS
@given(object_paths(), st.lists(object_paths(), max_size=3), wbem_objects(depth=1))
def test_an_object_path_in_a_reference_value_parses_back_equal_after_a_protobuf_round_trip(
    path: ObjectPath, more: list[ObjectPath], holder: pb.WbemObject
) -> None:
    obj = pb.WbemObject()
    obj.CopyFrom(holder)
    ref = obj.properties.add(name="TheRef", type=T.CIM_TYPE_REFERENCE, reference_class=path.class_name)
    ref.value.string = path.format()
    refs = obj.properties.add(name="TheRefs", type=T.CIM_TYPE_REFERENCE, is_array=True)
    refs.value.CopyFrom(_array([pb.Value(string=p.format()) for p in more]))
    # Also one level down, inside an embedded object.
    inner = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name="Inner")
    inner.properties.add(name="Ref", type=T.CIM_TYPE_REFERENCE).value.string = path.format()
    obj.properties.add(name="Embedded", type=T.CIM_TYPE_OBJECT).value.object.CopyFrom(inner)

    back = pb.WbemObject.FromString(obj.SerializeToString())

    props = {p.name: p for p in back.properties}
    for text, expected in [
        (props["TheRef"].value.string, path),
        (props["Embedded"].value.object.properties[0].value.string, path),
        *zip((i.string for i in props["TheRefs"].value.array.items), more, strict=True),
    ]:
        parsed = parse_path(text)
        assert parsed == expected
        # Dataclass equality treats 1 == 1.0 == True: compare the key types as well.
        assert [(k, type(v)) for k, v in parsed.keys] == [(k, type(v)) for k, v in expected.keys]
        for (_, a), (_, b) in zip(parsed.keys, expected.keys, strict=False):
            if isinstance(a, float):
                assert math.copysign(1, a) == math.copysign(1, b)
        assert parsed.format() == text
