"""host.model.paths: WMI object path parsing, formatting and round trips (no Redis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.model.paths import (
    KeyValue,
    ObjectPath,
    PathError,
    canonical_key_string,
    format_value,
    join_namespace,
    parse_path,
    split_namespace,
)

ASSOCIATION = (
    r'CIM_ProcessExecutable.Antecedent="\\\\HOST\\root\\cimv2:CIM_DataFile.Name=\"C:\\\\WINDOWS\\\\x.dll\"",'
    r'Dependent="\\\\HOST\\root\\cimv2:Win32_Process.Handle=\"4044\""'
)


def _typed(p: ObjectPath) -> list[tuple[str, type, KeyValue]]:
    # Dataclass equality treats 1 == 1.0 == True; compare value types too.
    return [(k, type(v), v) for k, v in p.keys]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\\Admin\root\cimv2:Win32_LogicalDisk", ObjectPath("Admin", "root\\cimv2", "Win32_LogicalDisk")),
        ("Win32_LogicalDisk", ObjectPath(class_name="Win32_LogicalDisk")),
        (
            r'\\Machine1\root\cimv2:Win32_LogicalDisk.DeviceID="C:"',
            ObjectPath("Machine1", "root\\cimv2", "Win32_LogicalDisk", (("DeviceID", "C:"),)),
        ),
        ('MyClass.MyProp="e:"', ObjectPath(class_name="MyClass", keys=(("MyProp", "e:"),))),
        ('MyClass="e:"', ObjectPath(class_name="MyClass", keys=(("", "e:"),))),
        (
            "MyOtherClass.FirstKey=1,SecondKey=2",
            ObjectPath(class_name="MyOtherClass", keys=(("FirstKey", 1), ("SecondKey", 2))),
        ),
        ("MySingletonClass=@", ObjectPath(class_name="MySingletonClass", singleton=True)),
        (r"\\.\root\cimv2:X.k=1", ObjectPath(".", "root\\cimv2", "X", (("k", 1),))),
        (r"\\Server\root\cimv2", ObjectPath("Server", "root\\cimv2")),
        ("//server/root/cimv2:X", ObjectPath("server", "root\\cimv2", "X")),
        ("root\\cimv2:__Namespace.Name=\"sub\"", ObjectPath("", "root\\cimv2", "__Namespace", (("Name", "sub"),))),
        ("root\\cimv2", ObjectPath(namespace="root\\cimv2")),
        ("root:", ObjectPath(namespace="root")),
        ("X.a=TRUE,b=false,c=-7,d=1.5,e=2E3", ObjectPath(class_name="X", keys=(
            ("a", True), ("b", False), ("c", -7), ("d", 1.5), ("e", 2000.0)))),
        ("X.k='it\\'s \"q\"'", ObjectPath(class_name="X", keys=(("k", "it's \"q\""),))),
        ('X.big=18446744073709551615,q="18446744073709551615"', ObjectPath(class_name="X", keys=(
            ("big", 2**64 - 1), ("q", "18446744073709551615")))),
        ("Ünïcödé_Ж.ключ=1", ObjectPath(class_name="Ünïcödé_Ж", keys=(("ключ", 1),))),
    ],
)
def test_examples_parse(text: str, expected: ObjectPath) -> None:
    p = parse_path(text)
    assert p == expected
    assert _typed(p) == _typed(expected)
    assert parse_path(p.format()) == p


def test_example_kinds_and_relpath() -> None:
    assert parse_path("Win32_LogicalDisk").is_class
    assert not parse_path("Win32_LogicalDisk").is_instance
    single = parse_path("MySingletonClass=@")
    assert single.is_instance and not single.is_class and single.relpath() == "MySingletonClass=@"
    short = parse_path("root\\cimv2:MyClass='e:'")
    assert short.relpath() == 'MyClass="e:"' and short.format() == 'root\\cimv2:MyClass="e:"'
    ns_only = parse_path(r"\\Server\root\cimv2")
    assert not ns_only.is_class and not ns_only.is_instance and ns_only.relpath() == ""
    assert ns_only.format() == r"\\Server\root\cimv2"


def test_normal_form() -> None:
    p = parse_path("//srv/root/cimv2:X.a='x\\\\y',b=true,c=007")
    assert p.format() == r'\\srv\root\cimv2:X.a="x\\y",b=TRUE,c=7'
    assert parse_path(p.format()).format() == p.format()
    assert parse_path(r"\\srv\root:").format() == r"\\srv\root"


def test_association_round_trip_and_inner_reference() -> None:
    p = parse_path(ASSOCIATION)
    assert p.class_name == "CIM_ProcessExecutable"
    assert [k for k, _ in p.keys] == ["Antecedent", "Dependent"]
    assert p.format() == ASSOCIATION
    antecedent = parse_path(str(p.keys[0][1]))
    assert antecedent == ObjectPath("HOST", "root\\cimv2", "CIM_DataFile", (("Name", "C:\\WINDOWS\\x.dll"),))
    assert antecedent.format() == p.keys[0][1]
    dependent = parse_path(str(p.keys[1][1]))
    assert dependent == ObjectPath("HOST", "root\\cimv2", "Win32_Process", (("Handle", "4044"),))
    # Building the association from its parts gives the same text.
    built = ObjectPath(class_name="CIM_ProcessExecutable",
                       keys=(("Antecedent", antecedent.format()), ("Dependent", dependent.format())))
    assert built.format() == ASSOCIATION


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("X .k=1", "whitespace"),
        ("X. k=1", "whitespace"),
        ("X.k =1", "whitespace"),
        ("X.k= 1", "whitespace"),
        ("X.k=1, j=2", "whitespace"),
        (" X", "whitespace"),
        ("X.k=1 ", "whitespace"),
        (r"\\srv\root\cimv2 :X", "whitespace"),
        ('X.k="abc', "unterminated"),
        ("X.k='abc\\'", "unterminated"),
        ('X.k="abc\\', "unterminated"),
        ("X.k=", "missing value"),
        ("X.k=,j=1", "missing value"),
        ("X.k=1,", "key name"),
        ("X=", "missing value"),
        ("1X", "class or namespace name"),
        ("X-Y", "after the class name"),
        ("X.1k=1", "key name"),
        (r"\\srv\1root:X", "namespace name"),
        (r"\\srv\root\:X", "namespace name"),
        ("X.k=1x", "',' or end of path"),
        ('X.k="a"b', "',' or end of path"),
        ("X.k=1;", "',' or end of path"),
        ("X.k=abc", "unquoted value"),
        ("X.=1,j=2", "empty key name"),
        ('X="a",j=2', "exactly one key"),
        ("X.k=1,=2", "empty key name"),
        ("X=@,k=1", "singleton"),
        ("X=@.k=1", "singleton"),
        ("X.k=@", "'@'"),
        ("X.k=1,K=2", "duplicate key"),
        ('X.k="a\\b"', "invalid escape"),
        ("X.k=%20", "value"),
        ("root:A:B", "':'"),
        ("X.k=1:Y", "':'"),
        ("X.k=0x1F", "',' or end of path"),
        ("X.k=99999999999999999999", "64-bit"),
        ("X.k=1e999", "out of range"),
        ("", "empty path"),
        (r"\\srv", "namespace"),
        (r"\\\root:X", "machine name"),
        (r"\root:X", "class or namespace name"),
    ],
)
def test_malformed(text: str, fragment: str) -> None:
    with pytest.raises(PathError, match="position") as info:
        parse_path(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert info.value.position is not None


def test_too_long() -> None:
    text = 'X.k="' + "a" * 100 + '"'
    assert parse_path(text, max_length=len(text)).keys == (("k", "a" * 100),)
    with pytest.raises(PathError, match="limit"):
        parse_path(text, max_length=len(text) - 1)
    with pytest.raises(PathError, match="limit"):
        parse_path("X.k=" + "1" * 40000)  # default limit 32768


def test_invalid_object_paths_rejected_on_construction() -> None:
    for kwargs in [
        {},  # nothing at all
        {"server": "srv", "class_name": "X"},  # machine without namespace
        {"class_name": "1X"},
        {"namespace": "root\\\\cimv2"},
        {"server": "a b", "namespace": "root"},
        {"class_name": "X", "keys": (("a", 1), ("", 2))},
        {"class_name": "X", "keys": (("a", 1), ("A", 2))},
        {"class_name": "X", "keys": (("a", 1),), "singleton": True},
        {"namespace": "root", "keys": (("a", 1),)},
        {"class_name": "X", "keys": (("a", float("nan")),)},
        {"class_name": "X", "keys": (("a", 2**64),)},
        {"class_name": "X", "keys": (("a", None),)},
    ]:
        with pytest.raises(PathError):
            ObjectPath(**kwargs)  # type: ignore[arg-type]


def test_construction_normalises() -> None:
    p = ObjectPath(namespace="root/cimv2", class_name="X", keys=[["k", 1]])  # type: ignore[arg-type]
    assert p.namespace == "root\\cimv2" and p.keys == (("k", 1),)
    assert hash(p) == hash(parse_path("root\\cimv2:X.k=1"))


def test_with_location() -> None:
    rel = parse_path('Win32_Process.Handle="4"')
    full = rel.with_location("HOST", "root\\cimv2")
    assert full.format() == r'\\HOST\root\cimv2:Win32_Process.Handle="4"'
    assert full.with_location("", "").format() == 'Win32_Process.Handle="4"'
    assert rel.with_location("", "root/cimv2").format() == r'root\cimv2:Win32_Process.Handle="4"'


def test_format_value() -> None:
    assert format_value('a"b\\c') == r'"a\"b\\c"'
    assert format_value(True) == "TRUE" and format_value(False) == "FALSE"
    assert format_value(-12) == "-12"
    assert format_value(1.0) == "1.0" and format_value(1e16) == "1e+16" and format_value(2.5e-7) == "2.5e-07"
    for v in (1.0, 1e16, 2.5e-7, -0.5, 123456.789):
        assert parse_path(f"X.k={format_value(v)}").keys[0][1] == v
    with pytest.raises(PathError):
        format_value(float("inf"))
    with pytest.raises(PathError):
        format_value(b"x")  # type: ignore[arg-type]


def test_canonical_key_string() -> None:
    a = canonical_key_string([("Name", "Ab"), ("id", 1), ("Flag", True)])
    b = canonical_key_string([("ID", 1), ("flag", True), ("NAME", "Ab")])
    assert a == b == 'flag=TRUE,id=1,name="Ab"'
    assert canonical_key_string([("Name", "ab")]) != canonical_key_string([("Name", "Ab")])
    assert canonical_key_string([("k", 1)]) != canonical_key_string([("k", "1")])
    assert canonical_key_string([("k", 1)]) != canonical_key_string([("k", True)])
    assert canonical_key_string([]) == ""
    with pytest.raises(PathError):
        canonical_key_string([("k", 1), ("K", 2)])


def test_namespace_helpers() -> None:
    assert split_namespace("root\\cimv2") == ["root", "cimv2"]
    assert split_namespace("root/cimv2") == ["root", "cimv2"]
    assert split_namespace("") == []
    assert join_namespace(["root", "cimv2"]) == "root\\cimv2"
    assert join_namespace(split_namespace("root/a/b")) == "root\\a\\b"
    for bad in ("root\\", "\\root", "root\\\\cimv2", "root\\1x", "ro ot", "root:cimv2"):
        with pytest.raises(PathError):
            split_namespace(bad)
    with pytest.raises(PathError):
        join_namespace(["root", "a/b"])


# ---- property test: parse(format(p)) == p -------------------------------------------------

_LETTERS = "abcXYZ_äßЖ漢"
_ident = st.builds(
    lambda first, rest: first + rest,
    st.one_of(st.sampled_from(_LETTERS), st.characters(min_codepoint=0x80, max_codepoint=0xFFEF)),
    st.text(alphabet=st.sampled_from(_LETTERS + "0123456789"), max_size=8),
)
_server = st.one_of(
    st.just(""),
    st.just("."),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,15}", fullmatch=True),
)
_namespace = st.lists(_ident, min_size=1, max_size=4).map("\\".join)
_tricky_text = st.text(
    alphabet=st.one_of(st.sampled_from("\"'\\,=:@.%/ \t\n"), st.characters()),
    max_size=24,
)


def _scalar_values() -> st.SearchStrategy[KeyValue]:
    return st.one_of(
        _tricky_text,
        st.integers(-(2**63), 2**64 - 1),
        st.integers(-(2**31), 2**31),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
    )


@st.composite
def object_paths(draw: st.DrawFn, depth: int = 2) -> ObjectPath:
    values = _scalar_values()
    if depth > 0:
        # Reference keys: a nested full path, formatted by the formatter, as a string value.
        values = st.one_of(values, object_paths(depth - 1).map(ObjectPath.format))
    server = draw(_server)
    namespace = draw(_namespace) if server else draw(st.one_of(st.just(""), _namespace))
    if namespace and draw(st.integers(0, 5)) == 0:
        return ObjectPath(server, namespace)  # namespace-only
    class_name = draw(_ident)
    shape = draw(st.sampled_from(["class", "singleton", "shorthand", "keys", "keys"]))
    if shape == "class":
        return ObjectPath(server, namespace, class_name)
    if shape == "singleton":
        return ObjectPath(server, namespace, class_name, singleton=True)
    if shape == "shorthand":
        return ObjectPath(server, namespace, class_name, (("", draw(values)),))
    names = draw(st.lists(_ident, min_size=1, max_size=4, unique_by=str.lower))
    return ObjectPath(server, namespace, class_name, tuple((n, draw(values)) for n in names))


@settings(max_examples=300, deadline=None)
@given(object_paths())
def test_round_trip(p: ObjectPath) -> None:
    text = p.format()
    q = parse_path(text)
    assert q == p
    assert _typed(q) == _typed(p)
    assert q.format() == text  # format(parse(text)) is a normal form
    assert canonical_key_string(q.keys) == canonical_key_string(p.keys)
    # String values that are paths (nested references) parse again and round-trip themselves.
    for _, v in p.keys:
        if isinstance(v, str):
            try:
                inner = parse_path(v)
            except PathError:
                continue  # an ordinary string, not a path
            assert parse_path(inner.format()) == inner


def _alternate_spelling(p: ObjectPath) -> str:
    # Same path in the other accepted syntax: slashes, single quotes, lower-case booleans.
    def value(v: KeyValue) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return format_value(v)

    rel = p.class_name
    if p.singleton:
        rel += "=@"
    elif len(p.keys) == 1 and p.keys[0][0] == "":
        rel += "=" + value(p.keys[0][1])
    elif p.keys:
        rel += "." + ",".join(f"{k}={value(v)}" for k, v in p.keys)
    ns = p.namespace.replace("\\", "/")
    location = f"//{p.server}/{ns}" if p.server else ns
    if not location:
        return rel
    return f"{location}:{rel}"


@settings(max_examples=300, deadline=None)
@given(object_paths(depth=1))
def test_alternate_spelling_parses_to_same_path(p: ObjectPath) -> None:
    q = parse_path(_alternate_spelling(p))
    assert q == p
    assert _typed(q) == _typed(p)
    assert q.format() == p.format()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("\\/:.=,@\"' -_aZ1eE.ä\tTRUEfalse"), max_size=40))
def test_arbitrary_text_parses_or_raises_path_error(text: str) -> None:
    # Never any other exception; whatever parses has a stable normal form.
    try:
        p = parse_path(text)
    except PathError:
        return
    assert parse_path(p.format()) == p
    assert parse_path(p.format()).format() == p.format()
