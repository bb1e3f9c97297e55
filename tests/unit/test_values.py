"""Tests for host.model.values: CIM type checks, normalization, qualifier types, conversions."""

from __future__ import annotations

import math

import pytest

from host.model import values as cv
from host.model.values import CimValueError
from wmiput.v1 import object_pb2

V = object_pb2.Value
T = object_pb2  # CimType constants: T.CIM_TYPE_UINT32, ...


def arr(*items: object_pb2.Value) -> object_pb2.Value:
    v = V()
    v.array.SetInParent()
    v.array.items.extend(items)
    return v


def obj(name: str = "Foo") -> object_pb2.Value:
    return V(object=object_pb2.WbemObject(genus=object_pb2.GENUS_INSTANCE, class_name=name))


def code_of(cim_type: int, is_array: bool, v: object_pb2.Value | None, **kw: int) -> str | None:
    """The HRESULT name check_value raises, or None when the value is accepted."""
    try:
        cv.check_value(cim_type, is_array, v, what="property P", **kw)
    except CimValueError as e:
        return e.code
    return None


OK = None
MISMATCH = "WBEM_E_TYPE_MISMATCH"
RANGE = "WBEM_E_VALUE_OUT_OF_RANGE"
QUOTA = "WBEM_E_QUOTA_VIOLATION"
BAD_TYPE = "WBEM_E_INVALID_PROPERTY_TYPE"
BAD_QUAL = "WBEM_E_INVALID_QUALIFIER_TYPE"

# (type, lowest, highest) of every integer type.
INTEGER_TYPES = [
    (T.CIM_TYPE_SINT8, -128, 127),
    (T.CIM_TYPE_SINT16, -32768, 32767),
    (T.CIM_TYPE_SINT32, -(2**31), 2**31 - 1),
    (T.CIM_TYPE_SINT64, -(2**63), 2**63 - 1),
    (T.CIM_TYPE_UINT8, 0, 255),
    (T.CIM_TYPE_UINT16, 0, 65535),
    (T.CIM_TYPE_UINT32, 0, 2**32 - 1),
    (T.CIM_TYPE_UINT64, 0, 2**64 - 1),
    (T.CIM_TYPE_CHAR16, 0, 65535),
]
SIGNED = {T.CIM_TYPE_SINT8, T.CIM_TYPE_SINT16, T.CIM_TYPE_SINT32, T.CIM_TYPE_SINT64}

# A value of the right kind for every CIM type, and one of the wrong kind.
GOOD_AND_WRONG = [
    (T.CIM_TYPE_SINT8, V(sint=-5), V(real=1.0)),
    (T.CIM_TYPE_SINT16, V(sint=-5), V(string="5")),
    (T.CIM_TYPE_SINT32, V(sint=-5), V(boolean=True)),
    (T.CIM_TYPE_SINT64, V(sint=-5), obj()),
    (T.CIM_TYPE_UINT8, V(uint=5), V(real=5.0)),
    (T.CIM_TYPE_UINT16, V(uint=5), V(string="5")),
    (T.CIM_TYPE_UINT32, V(uint=5), V(string="5")),
    (T.CIM_TYPE_UINT64, V(uint=5), V(boolean=False)),
    (T.CIM_TYPE_CHAR16, V(uint=65), V(string="A")),
    (T.CIM_TYPE_REAL32, V(real=1.5), V(string="1.5")),
    (T.CIM_TYPE_REAL64, V(real=1.5), V(boolean=True)),
    (T.CIM_TYPE_BOOLEAN, V(boolean=True), V(sint=1)),
    (T.CIM_TYPE_STRING, V(string="x"), V(sint=1)),
    (T.CIM_TYPE_DATETIME, V(string="20240101120000.000000+060"), V(uint=0)),
    (T.CIM_TYPE_REFERENCE, V(string='Foo.Name="a"'), obj()),
    (T.CIM_TYPE_OBJECT, obj(), V(string="Foo")),
]
ALL_TYPES = [t for t, _, _ in GOOD_AND_WRONG]


def test_every_cim_type_is_covered() -> None:
    assert sorted(ALL_TYPES) == sorted(n for _, n in T.CimType.items() if n != 0)


@pytest.mark.parametrize("cim_type,good,wrong", GOOD_AND_WRONG)
def test_kind_per_type(cim_type: int, good: object_pb2.Value, wrong: object_pb2.Value) -> None:
    assert code_of(cim_type, False, good) is OK
    assert code_of(cim_type, False, wrong) == MISMATCH
    # NULL fits every type, scalar or array.
    assert code_of(cim_type, False, None) is OK
    assert code_of(cim_type, True, V()) is OK


@pytest.mark.parametrize("cim_type,good,wrong", GOOD_AND_WRONG)
def test_arrays_per_type(cim_type: int, good: object_pb2.Value, wrong: object_pb2.Value) -> None:
    assert code_of(cim_type, True, arr(good, good)) is OK
    assert code_of(cim_type, True, arr()) is OK
    # Array-ness must match the property.
    assert code_of(cim_type, True, good) == MISMATCH
    assert code_of(cim_type, False, arr(good)) == MISMATCH
    assert code_of(cim_type, False, arr()) == MISMATCH
    # Items: each checked as a scalar, never NULL, never arrays.
    assert code_of(cim_type, True, arr(good, wrong)) == MISMATCH
    assert code_of(cim_type, True, arr(good, V())) == MISMATCH
    assert code_of(cim_type, True, arr(arr(good))) == MISMATCH


@pytest.mark.parametrize("cim_type,lo,hi", INTEGER_TYPES)
def test_integer_ranges(cim_type: int, lo: int, hi: int) -> None:
    def as_value(n: int) -> object_pb2.Value:
        return V(sint=n) if n < 0 else V(uint=n) if n > 2**63 - 1 else V(sint=n)

    for n in (lo, hi, 0):
        assert code_of(cim_type, False, as_value(n)) is OK, n
    if lo - 1 >= -(2**63):
        assert code_of(cim_type, False, V(sint=lo - 1)) == RANGE
    if hi + 1 <= 2**64 - 1:
        assert code_of(cim_type, False, V(uint=hi + 1)) == RANGE
    assert code_of(cim_type, True, arr(as_value(lo), as_value(hi))) is OK
    if hi + 1 <= 2**64 - 1:
        assert code_of(cim_type, True, arr(as_value(hi), V(uint=hi + 1))) == RANGE


@pytest.mark.parametrize("cim_type,lo,hi", INTEGER_TYPES)
def test_integer_coercions(cim_type: int, lo: int, hi: int) -> None:
    # Both integer members are accepted for every integer type when the number fits.
    assert code_of(cim_type, False, V(sint=hi if hi <= 2**63 - 1 else 7)) is OK
    assert code_of(cim_type, False, V(uint=hi)) is OK
    if cim_type in SIGNED:
        assert code_of(cim_type, False, V(sint=lo)) is OK
    else:
        assert code_of(cim_type, False, V(sint=-1)) == RANGE


def test_uint_above_sint64_max_is_out_of_range_for_sint64() -> None:
    assert code_of(T.CIM_TYPE_SINT64, False, V(uint=2**63 - 1)) is OK
    assert code_of(T.CIM_TYPE_SINT64, False, V(uint=2**63)) == RANGE


@pytest.mark.parametrize("cim_type", [T.CIM_TYPE_REAL32, T.CIM_TYPE_REAL64])
def test_reals(cim_type: int) -> None:
    for v in (V(real=0.0), V(real=-1e30), V(sint=-(2**63)), V(uint=2**64 - 1)):
        assert code_of(cim_type, False, v) is OK
    for special in (math.nan, math.inf, -math.inf):
        assert code_of(cim_type, False, V(real=special)) is OK
    assert code_of(cim_type, False, V(real=3.4028234663852886e38)) is OK
    expected = RANGE if cim_type == T.CIM_TYPE_REAL32 else OK
    assert code_of(cim_type, False, V(real=3.5e38)) == expected
    assert code_of(cim_type, False, V(real=-3.5e38)) == expected
    assert code_of(cim_type, False, V(real=1e300)) == expected


@pytest.mark.parametrize("bad_type", [0, 1, 6, 7, 9, 14, 100, 104, 0x2000 | 19, -1])
def test_invalid_property_type(bad_type: int) -> None:
    assert code_of(bad_type, False, V(sint=1)) == BAD_TYPE
    assert code_of(bad_type, False, None) == BAD_TYPE


def test_empty_array_is_not_null() -> None:
    empty = arr()
    assert not cv.is_null(empty)
    assert cv.is_null(V()) and cv.is_null(None)
    assert not cv.is_null(V(string="")) and not cv.is_null(V(sint=0)) and not cv.is_null(V(boolean=False))
    assert not cv.values_equal(empty, V())
    assert cv.to_python(empty) == []


def test_error_message_names_what_and_types() -> None:
    with pytest.raises(CimValueError) as e:
        cv.check_value(T.CIM_TYPE_UINT32, False, V(string="x"), what="property Size")
    assert e.value.code == MISMATCH
    assert e.value.message == "property Size: expected uint32, got string"
    assert str(e.value) == "WBEM_E_TYPE_MISMATCH: property Size: expected uint32, got string"
    with pytest.raises(CimValueError) as e:
        cv.check_value(T.CIM_TYPE_UINT8, True, arr(V(uint=1), V(uint=256)), what="property A")
    assert e.value.message.startswith("property A[1]: 256 is out of range for uint8")


# ---- strings, references, quotas ------------------------------------------------


def test_strings() -> None:
    assert code_of(T.CIM_TYPE_STRING, False, V(string="")) is OK
    assert code_of(T.CIM_TYPE_STRING, False, V(string="héllo \U0001f600")) is OK
    assert code_of(T.CIM_TYPE_STRING, False, V(string="a\0b")) == MISMATCH
    assert code_of(T.CIM_TYPE_STRING, True, arr(V(string="ok"), V(string="\0"))) == MISMATCH


def test_reference_must_not_be_empty() -> None:
    assert code_of(T.CIM_TYPE_REFERENCE, False, V(string="")) == MISMATCH
    assert code_of(T.CIM_TYPE_REFERENCE, True, arr(V(string="A=1"), V(string=""))) == MISMATCH
    assert code_of(T.CIM_TYPE_REFERENCE, False, V(string="anything non-empty")) is OK


def test_string_quota() -> None:
    assert code_of(T.CIM_TYPE_STRING, False, V(string="x" * 10), max_string=10) is OK
    assert code_of(T.CIM_TYPE_STRING, False, V(string="x" * 11), max_string=10) == QUOTA
    assert code_of(T.CIM_TYPE_STRING, True, arr(V(string="x" * 11)), max_string=10) == QUOTA
    assert code_of(T.CIM_TYPE_STRING, False, V(string="x" * 1_048_576)) is OK
    assert code_of(T.CIM_TYPE_STRING, False, V(string="x" * 1_048_577)) == QUOTA


def test_array_quota() -> None:
    items = [V(uint=1)] * 5
    assert code_of(T.CIM_TYPE_UINT8, True, arr(*items), max_array=5) is OK
    assert code_of(T.CIM_TYPE_UINT8, True, arr(*items, V(uint=1)), max_array=5) == QUOTA
    assert code_of(T.CIM_TYPE_BOOLEAN, True, arr(*[V(boolean=True)] * 100_000)) is OK
    assert code_of(T.CIM_TYPE_BOOLEAN, True, arr(*[V(boolean=True)] * 100_001)) == QUOTA


# ---- datetimes ------------------------------------------------------------------

VALID_DATETIMES = [
    "19980416123015.123456+060",
    "20240229000000.000000-300",
    "00000101000000.000000+000",
    "99991231235959.999999-999",
    "19980416******.000000+***",
    "**************.******+***",
    "1998**16******.******-***",
    "00000001120032.000000:000",
    "99999999235959.999999:000",
]

INVALID_DATETIMES = [
    ("199*0416123015.000000+000", "partially starred"),
    ("19981316123015.000000+000", "month 13"),
    ("19980016123015.000000+000", "month 00"),
    ("19980432123015.000000+000", "day 32"),
    ("19980400123015.000000+000", "day 00"),
    ("19980416243015.000000+000", "hour 24"),
    ("19980416126015.000000+000", "minute 60"),
    ("19980416123060.000000+000", "second 60"),
    ("19980416123015.12345*+000", "partially starred"),
    ("19980416123015.000000+0*0", "partially starred"),
    ("19980416123015.000000*000", "position 22"),
    ("19980416123015,000000+000", "position 15"),
    ("1998041612301.5000000+000", "position 15"),
    ("19980416123015.000000+00", "25 characters"),
    ("19980416123015.000000+0000", "25 characters"),
    ("", "25 characters"),
    ("1998O416123015.000000+000", "not numeric"),
    ("1998\u0664416123015.000000+000", "not numeric"),  # an Arabic-Indic digit is still not ASCII
    ("19980416 23015.000000+000", "not numeric"),
    ("*******1120032.000000:000", "may not contain '*'"),
    ("0000000112****.000000:000", "may not contain '*'"),
    ("00000001120032.000000:001", "must end in ':000'"),
    ("00000001240032.000000:000", "hours 24"),
    ("00000001126032.000000:000", "minutes 60"),
    ("00000001120060.000000:000", "seconds 60"),
]


@pytest.mark.parametrize("s", VALID_DATETIMES)
def test_valid_datetimes(s: str) -> None:
    assert code_of(T.CIM_TYPE_DATETIME, False, V(string=s)) is OK


@pytest.mark.parametrize("s,why", INVALID_DATETIMES)
def test_invalid_datetimes(s: str, why: str) -> None:
    with pytest.raises(CimValueError) as e:
        cv.check_value(T.CIM_TYPE_DATETIME, False, V(string=s), what="property When")
    assert e.value.code == MISMATCH
    assert e.value.message.startswith("property When: invalid datetime")
    assert why in e.value.message


def test_datetime_arrays_check_each_item() -> None:
    good, bad = V(string=VALID_DATETIMES[0]), V(string=INVALID_DATETIMES[0][0])
    assert code_of(T.CIM_TYPE_DATETIME, True, arr(good, good)) is OK
    assert code_of(T.CIM_TYPE_DATETIME, True, arr(good, bad)) == MISMATCH


def test_datetime_syntax_only_applies_to_datetime() -> None:
    assert code_of(T.CIM_TYPE_STRING, False, V(string="19981316123015.000000+000")) is OK


# ---- normalization ----------------------------------------------------------------

NORMALIZE = [
    (T.CIM_TYPE_UINT32, False, V(sint=7), V(uint=7)),
    (T.CIM_TYPE_UINT32, False, V(uint=7), V(uint=7)),
    (T.CIM_TYPE_CHAR16, False, V(sint=65), V(uint=65)),
    (T.CIM_TYPE_SINT64, False, V(uint=2**63 - 1), V(sint=2**63 - 1)),
    (T.CIM_TYPE_SINT8, False, V(sint=-3), V(sint=-3)),
    (T.CIM_TYPE_REAL64, False, V(sint=-2), V(real=-2.0)),
    (T.CIM_TYPE_REAL32, False, V(uint=3), V(real=3.0)),
    (T.CIM_TYPE_REAL64, False, V(real=0.5), V(real=0.5)),
    (T.CIM_TYPE_STRING, False, V(string="s"), V(string="s")),
    (T.CIM_TYPE_BOOLEAN, False, V(boolean=False), V(boolean=False)),
    (T.CIM_TYPE_OBJECT, False, obj("A"), obj("A")),
    (T.CIM_TYPE_UINT16, True, arr(V(sint=1), V(uint=2)), arr(V(uint=1), V(uint=2))),
    (T.CIM_TYPE_REAL64, True, arr(V(sint=1), V(real=2.5)), arr(V(real=1.0), V(real=2.5))),
    (T.CIM_TYPE_SINT32, True, arr(), arr()),
    (T.CIM_TYPE_UINT8, False, V(), V()),
    (T.CIM_TYPE_UINT8, True, V(), V()),
]


@pytest.mark.parametrize("cim_type,is_array,given,expected", NORMALIZE)
def test_normalize_value(
    cim_type: int, is_array: bool, given: object_pb2.Value, expected: object_pb2.Value
) -> None:
    cv.check_value(cim_type, is_array, given, what="p")
    before = given.SerializeToString()
    out = cv.normalize_value(cim_type, is_array, given)
    assert out == expected
    assert out.WhichOneof("kind") == expected.WhichOneof("kind")
    assert given.SerializeToString() == before  # pure
    assert out is not given


def test_normalize_returns_independent_copy() -> None:
    given = obj("A")
    out = cv.normalize_value(T.CIM_TYPE_OBJECT, False, given)
    out.object.class_name = "B"
    assert given.object.class_name == "A"


# ---- qualifier types ----------------------------------------------------------------

QUALIFIER_OK = [
    (V(sint=1), (T.CIM_TYPE_SINT32, False)),
    (V(sint=-(2**31)), (T.CIM_TYPE_SINT32, False)),
    (V(sint=2**31 - 1), (T.CIM_TYPE_SINT32, False)),
    (V(uint=2**31 - 1), (T.CIM_TYPE_SINT32, False)),
    (V(real=1.5), (T.CIM_TYPE_REAL64, False)),
    (V(string=""), (T.CIM_TYPE_STRING, False)),
    (V(boolean=True), (T.CIM_TYPE_BOOLEAN, False)),
    (arr(), (T.CIM_TYPE_STRING, True)),
    (arr(V(string="a"), V(string="b")), (T.CIM_TYPE_STRING, True)),
    (arr(V(sint=1), V(uint=2)), (T.CIM_TYPE_SINT32, True)),
    (arr(V(real=1.0)), (T.CIM_TYPE_REAL64, True)),
    (arr(V(boolean=False)), (T.CIM_TYPE_BOOLEAN, True)),
]

QUALIFIER_BAD = [
    V(sint=2**31),
    V(sint=-(2**31) - 1),
    V(uint=2**31),
    obj(),
    V(),
    arr(V(sint=1), V(string="1")),
    arr(V(real=1.0), V(boolean=True)),
    arr(arr(V(sint=1))),
    arr(V(string="a"), V()),
    arr(obj()),
    arr(V(uint=2**32)),
]


@pytest.mark.parametrize("v,expected", QUALIFIER_OK)
def test_qualifier_type(v: object_pb2.Value, expected: tuple[int, bool]) -> None:
    assert cv.qualifier_type(v) == expected


@pytest.mark.parametrize("v", QUALIFIER_BAD)
def test_invalid_qualifier_type(v: object_pb2.Value) -> None:
    with pytest.raises(CimValueError) as e:
        cv.qualifier_type(v)
    assert e.value.code == BAD_QUAL


# ---- type names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "cim_type,is_array,name",
    [
        (T.CIM_TYPE_UINT32, False, "uint32"),
        (T.CIM_TYPE_STRING, True, "string[]"),
        (T.CIM_TYPE_DATETIME, False, "datetime"),
        (T.CIM_TYPE_REFERENCE, False, "ref"),
        (T.CIM_TYPE_REFERENCE, True, "ref[]"),
        (T.CIM_TYPE_OBJECT, False, "object"),
        (T.CIM_TYPE_CHAR16, False, "char16"),
        (T.CIM_TYPE_REAL32, True, "real32[]"),
        (T.CIM_TYPE_BOOLEAN, False, "boolean"),
        (T.CIM_TYPE_SINT8, False, "sint8"),
        (T.CIM_TYPE_UNSPECIFIED, False, "unspecified"),
        (77, False, "cimtype(77)"),
    ],
)
def test_type_name(cim_type: int, is_array: bool, name: str) -> None:
    assert cv.type_name(cim_type, is_array) == name


def test_type_names_are_distinct() -> None:
    names = {cv.type_name(t) for t in ALL_TYPES}
    assert len(names) == len(ALL_TYPES)


# ---- Python conversions -----------------------------------------------------------------

FROM_PYTHON = [
    (None, None, None),
    (True, None, V(boolean=True)),
    (False, T.CIM_TYPE_UINT8, V(boolean=False)),
    (5, None, V(sint=5)),
    (-5, None, V(sint=-5)),
    (5, T.CIM_TYPE_UINT32, V(uint=5)),
    (5, T.CIM_TYPE_CHAR16, V(uint=5)),
    (5, T.CIM_TYPE_SINT32, V(sint=5)),
    (5, T.CIM_TYPE_REAL64, V(sint=5)),
    (-1, T.CIM_TYPE_UINT32, V(sint=-1)),  # left for check_value to reject as out of range
    (2**63, None, V(uint=2**63)),
    (2**64 - 1, None, V(uint=2**64 - 1)),
    (-(2**63), None, V(sint=-(2**63))),
    (1.5, None, V(real=1.5)),
    ("s", None, V(string="s")),
    ("", None, V(string="")),
    ([], None, arr()),
    ([1, 2], T.CIM_TYPE_UINT8, arr(V(uint=1), V(uint=2))),
    ((1, -2), None, arr(V(sint=1), V(sint=-2))),
    (["a", None], None, arr(V(string="a"), V())),
    (object_pb2.WbemObject(class_name="Foo", genus=object_pb2.GENUS_INSTANCE), None, obj()),
]


@pytest.mark.parametrize("x,cim_type,expected", FROM_PYTHON)
def test_from_python(x: object, cim_type: int | None, expected: object_pb2.Value | None) -> None:
    got = cv.from_python(x, cim_type)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert cv.values_equal(got, expected)


@pytest.mark.parametrize("x", [2**64, -(2**63) - 1])
def test_from_python_too_big(x: int) -> None:
    with pytest.raises(CimValueError) as e:
        cv.from_python(x)
    assert e.value.code == RANGE


@pytest.mark.parametrize("x", [b"bytes", {"a": 1}, object(), 1j])
def test_from_python_unsupported(x: object) -> None:
    with pytest.raises(CimValueError) as e:
        cv.from_python(x)
    assert e.value.code == MISMATCH


@pytest.mark.parametrize(
    "x",
    [None, 0, -1, 2**64 - 1, 0.25, True, False, "", "text", [], [1, 2, 3], ["a", "b"], [True], [0.5, 1.5]],
)
def test_python_round_trip(x: object) -> None:
    back = cv.to_python(cv.from_python(x))
    assert back == x and type(back) is type(x)


def test_object_round_trip_copies() -> None:
    o = object_pb2.WbemObject(class_name="Foo")
    v = cv.from_python(o)
    assert v is not None
    o.class_name = "Changed"  # from_python copied
    back = cv.to_python(v)
    assert isinstance(back, object_pb2.WbemObject) and back.class_name == "Foo"
    back.class_name = "Other"  # to_python copied
    assert v.object.class_name == "Foo"


def test_round_trip_through_value_per_type() -> None:
    for cim_type, good, _ in GOOD_AND_WRONG:
        again = cv.from_python(cv.to_python(good), cim_type)
        assert again is not None and cv.values_equal(again, good), cim_type


def test_to_python_kinds() -> None:
    assert cv.to_python(None) is None
    assert cv.to_python(V()) is None
    assert cv.to_python(V(uint=2**64 - 1)) == 2**64 - 1
    assert cv.to_python(arr(V(sint=1), arr(V(string="x")))) == [1, ["x"]]


# ---- equality -------------------------------------------------------------------------------

EQUAL = [
    (None, None),
    (None, V()),
    (V(sint=1), V(sint=1)),
    (V(real=math.nan), V(real=math.nan)),
    (V(real=0.0), V(real=-0.0)),
    (V(string=""), V(string="")),
    (arr(), arr()),
    (arr(V(real=math.nan), V(string="a")), arr(V(real=math.nan), V(string="a"))),
    (obj("A"), obj("A")),
]
UNEQUAL = [
    (None, V(sint=0)),
    (V(), arr()),
    (V(string=""), V()),
    (V(sint=1), V(uint=1)),  # different kinds
    (V(sint=1), V(sint=2)),
    (V(real=1.0), V(sint=1)),
    (V(boolean=False), V(sint=0)),
    (V(string="a"), V(string="A")),
    (arr(V(sint=1)), arr(V(sint=1), V(sint=1))),
    (arr(V(sint=1)), arr(V(uint=1))),
    (obj("A"), obj("B")),
]


@pytest.mark.parametrize("a,b", EQUAL)
def test_values_equal(a: object_pb2.Value | None, b: object_pb2.Value | None) -> None:
    assert cv.values_equal(a, b) and cv.values_equal(b, a)


@pytest.mark.parametrize("a,b", UNEQUAL)
def test_values_unequal(a: object_pb2.Value | None, b: object_pb2.Value | None) -> None:
    assert not cv.values_equal(a, b) and not cv.values_equal(b, a)
