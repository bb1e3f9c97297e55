"""CIM values: type checking, normalization and conversion of `wmiput.v1.Value`.

A `Value` carries one of a few wire members (sint, uint, real, boolean, string,
object, array); the CIM type it stands for comes from the property it belongs to.
This module decides whether a value fits a CIM type the way WMI's VARIANT coercion
does, rewrites accepted values into the canonical member for their type, derives
qualifier types, and converts between `Value` and plain Python objects.

Errors are `CimValueError` carrying the name of the WBEM HRESULT to report
(names of `wmiput.v1.HResult` in status.proto).
"""

from __future__ import annotations

import math
from typing import TypeAlias

from wmiput.v1 import object_pb2

Value = object_pb2.Value
WbemObject = object_pb2.WbemObject

SINT8 = object_pb2.CIM_TYPE_SINT8
UINT8 = object_pb2.CIM_TYPE_UINT8
SINT16 = object_pb2.CIM_TYPE_SINT16
UINT16 = object_pb2.CIM_TYPE_UINT16
SINT32 = object_pb2.CIM_TYPE_SINT32
UINT32 = object_pb2.CIM_TYPE_UINT32
SINT64 = object_pb2.CIM_TYPE_SINT64
UINT64 = object_pb2.CIM_TYPE_UINT64
REAL32 = object_pb2.CIM_TYPE_REAL32
REAL64 = object_pb2.CIM_TYPE_REAL64
BOOLEAN = object_pb2.CIM_TYPE_BOOLEAN
STRING = object_pb2.CIM_TYPE_STRING
DATETIME = object_pb2.CIM_TYPE_DATETIME
REFERENCE = object_pb2.CIM_TYPE_REFERENCE
CHAR16 = object_pb2.CIM_TYPE_CHAR16
OBJECT = object_pb2.CIM_TYPE_OBJECT

TYPE_MISMATCH = "WBEM_E_TYPE_MISMATCH"
VALUE_OUT_OF_RANGE = "WBEM_E_VALUE_OUT_OF_RANGE"
INVALID_PROPERTY_TYPE = "WBEM_E_INVALID_PROPERTY_TYPE"
INVALID_QUALIFIER_TYPE = "WBEM_E_INVALID_QUALIFIER_TYPE"
QUOTA_VIOLATION = "WBEM_E_QUOTA_VIOLATION"

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1
FLOAT32_MAX = 3.4028234663852886e38

# Inclusive ranges of the integer types; the unsigned ones (and char16) live in Value.uint.
_SIGNED_RANGE: dict[int, tuple[int, int]] = {
    SINT8: (-(2**7), 2**7 - 1),
    SINT16: (-(2**15), 2**15 - 1),
    SINT32: (INT32_MIN, INT32_MAX),
    SINT64: (INT64_MIN, INT64_MAX),
}
_UNSIGNED_RANGE: dict[int, tuple[int, int]] = {
    UINT8: (0, 2**8 - 1),
    UINT16: (0, 2**16 - 1),
    UINT32: (0, 2**32 - 1),
    UINT64: (0, UINT64_MAX),
    CHAR16: (0, 2**16 - 1),
}
_INTEGER_RANGE = {**_SIGNED_RANGE, **_UNSIGNED_RANGE}
_REAL_TYPES = frozenset({REAL32, REAL64})
_STRING_TYPES = frozenset({STRING, DATETIME, REFERENCE})

# The spelling MOF and WMI's error messages use; also the set of valid types.
_TYPE_NAMES: dict[int, str] = {
    SINT8: "sint8",
    UINT8: "uint8",
    SINT16: "sint16",
    UINT16: "uint16",
    SINT32: "sint32",
    UINT32: "uint32",
    SINT64: "sint64",
    UINT64: "uint64",
    REAL32: "real32",
    REAL64: "real64",
    BOOLEAN: "boolean",
    STRING: "string",
    DATETIME: "datetime",
    REFERENCE: "ref",
    CHAR16: "char16",
    OBJECT: "object",
}

_DIGITS = frozenset("0123456789")

# The member of a qualifier value that is not an integer, and its type.
_QUALIFIER_TYPES = {"real": REAL64, "string": STRING, "boolean": BOOLEAN}

# What to_python returns: NULL is None, an array a list.
PyValue: TypeAlias = "None | int | float | bool | str | WbemObject | list[PyValue]"


class CimValueError(Exception):
    """A value that does not fit its CIM type; `code` names the WBEM HRESULT to report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def is_null(v: Value | None) -> bool:
    """True for an absent Value or one with no member set."""
    return _kind(v) is None


def type_name(cim_type: int, is_array: bool = False) -> str:
    """The MOF name of a CIM type ("uint32", "string[]", "ref", ...); never raises."""
    if cim_type == object_pb2.CIM_TYPE_UNSPECIFIED:
        name = "unspecified"
    else:
        name = _TYPE_NAMES.get(cim_type, f"cimtype({cim_type})")
    return name + "[]" if is_array else name


def _kind(v: Value | None) -> str | None:
    """The member set in `v`, None when NULL."""
    return None if v is None else v.WhichOneof("kind")


def check_value(
    cim_type: int,
    is_array: bool,
    v: Value | None,
    *,
    what: str,
    max_array: int = 100_000,
    max_string: int = 1_048_576,
) -> None:
    """Raise CimValueError unless `v` is NULL or fits `cim_type` (an array of it if `is_array`).

    `what` names the value in messages (e.g. "property Name"). Besides the canonical
    member, the coercions WMI's VARIANT conversion performs are accepted: sint for an
    unsigned type, uint for a signed type (both if in range) and integers for reals.
    """
    if cim_type not in _TYPE_NAMES:
        raise CimValueError(INVALID_PROPERTY_TYPE, f"{what}: {cim_type} is not a valid CIM type")
    kind = _kind(v)
    if v is None or kind is None:
        return
    if is_array != (kind == "array"):
        raise CimValueError(TYPE_MISMATCH, f"{what}: expected {type_name(cim_type, is_array)}, got {kind}")
    if not is_array:
        _check_scalar(cim_type, v, what, max_string)
        return
    items = v.array.items
    if len(items) > max_array:
        raise CimValueError(
            QUOTA_VIOLATION, f"{what}: array has {len(items)} items, more than the limit of {max_array}"
        )
    for i, item in enumerate(items):
        item_what = f"{what}[{i}]"
        item_kind = item.WhichOneof("kind")
        if item_kind is None:
            raise CimValueError(TYPE_MISMATCH, f"{item_what}: array items may not be NULL")
        if item_kind == "array":
            raise CimValueError(TYPE_MISMATCH, f"{item_what}: arrays may not be nested")
        _check_scalar(cim_type, item, item_what, max_string)


def _check_scalar(cim_type: int, v: Value, what: str, max_string: int) -> None:
    """Check one non-NULL, non-array value against a valid scalar type."""
    kind = v.WhichOneof("kind")

    def mismatch() -> CimValueError:
        return CimValueError(TYPE_MISMATCH, f"{what}: expected {type_name(cim_type)}, got {kind}")

    if cim_type in _INTEGER_RANGE:
        if kind not in ("sint", "uint"):
            raise mismatch()
        n = getattr(v, kind)
        lo, hi = _INTEGER_RANGE[cim_type]
        # A negative sint for an unsigned type is an out-of-range number, not a wrong kind.
        if not lo <= n <= hi:
            raise CimValueError(
                VALUE_OUT_OF_RANGE, f"{what}: {n} is out of range for {type_name(cim_type)} ({lo}..{hi})"
            )
    elif cim_type in _REAL_TYPES:
        # Any 64-bit integer fits even float32's range, so integers need no range check.
        if kind in ("sint", "uint"):
            return
        if kind != "real":
            raise mismatch()
        if cim_type == REAL32 and math.isfinite(v.real) and abs(v.real) > FLOAT32_MAX:
            raise CimValueError(VALUE_OUT_OF_RANGE, f"{what}: {v.real!r} is out of range for real32")
    elif cim_type == BOOLEAN:
        if kind != "boolean":
            raise mismatch()
    elif cim_type in _STRING_TYPES:
        if kind != "string":
            raise mismatch()
        _check_string(cim_type, v.string, what, max_string)
    elif kind != "object":  # OBJECT is the only type left
        raise mismatch()


def _check_string(cim_type: int, s: str, what: str, max_string: int) -> None:
    if len(s) > max_string:
        raise CimValueError(
            QUOTA_VIOLATION, f"{what}: string has {len(s)} characters, more than the limit of {max_string}"
        )
    # WMI strings are BSTRs read up to the first NUL: an embedded one would silently truncate.
    if "\0" in s:
        raise CimValueError(TYPE_MISMATCH, f"{what}: strings may not contain U+0000")
    if cim_type == DATETIME:
        problem = _datetime_problem(s)
        if problem is not None:
            raise CimValueError(TYPE_MISMATCH, f"{what}: invalid datetime {s!r}: {problem}")
    elif cim_type == REFERENCE and not s:
        raise CimValueError(TYPE_MISMATCH, f"{what}: a reference may not be empty")


# (start, end, name, inclusive range or None) of the fields of yyyymmddHHMMSS.mmmmmmsUUU.
_POINT_FIELDS: tuple[tuple[int, int, str, tuple[int, int] | None], ...] = (
    (0, 4, "year", None),
    (4, 6, "month", (1, 12)),
    (6, 8, "day", (1, 31)),
    (8, 10, "hour", (0, 23)),
    (10, 12, "minute", (0, 59)),
    (12, 14, "second", (0, 59)),
    (15, 21, "microseconds", None),
    (22, 25, "UTC offset", None),
)
# The same for the interval form ddddddddHHMMSS.mmmmmm:000.
_INTERVAL_FIELDS: tuple[tuple[int, int, str, tuple[int, int] | None], ...] = (
    (0, 8, "days", None),
    (8, 10, "hours", (0, 23)),
    (10, 12, "minutes", (0, 59)),
    (12, 14, "seconds", (0, 59)),
    (15, 21, "microseconds", None),
)


def _datetime_problem(s: str) -> str | None:
    """Why `s` is not a CIM datetime (point in time or interval), or None if it is one."""
    if len(s) != 25:
        return f"must be 25 characters, got {len(s)}"
    if s[14] != ".":
        return "expected '.' at position 15"
    if s[21] in "+-":
        return _fields_problem(s, _POINT_FIELDS, stars=True)
    if s[21] != ":":
        return "expected '+', '-' or ':' at position 22"
    if "*" in s:
        return "an interval may not contain '*'"
    if s[22:] != "000":
        return "an interval must end in ':000'"
    return _fields_problem(s, _INTERVAL_FIELDS, stars=False)


def _fields_problem(
    s: str, fields: tuple[tuple[int, int, str, tuple[int, int] | None], ...], *, stars: bool
) -> str | None:
    for start, end, name, bounds in fields:
        field = s[start:end]
        # A starred field means "any value"; only a whole field can be left open.
        if stars and field == "*" * len(field):
            continue
        if "*" in field:
            return f"{name} {field!r} is partially starred"
        if not set(field) <= _DIGITS:
            return f"{name} {field!r} is not numeric"
        if bounds is not None and not bounds[0] <= int(field) <= bounds[1]:
            return f"{name} {field} is out of range {bounds[0]:0{len(field)}}-{bounds[1]:0{len(field)}}"
    return None


def normalize_value(cim_type: int, is_array: bool, v: Value) -> Value:
    """A new Value holding `v` in the canonical member for `cim_type`; `v` is left untouched.

    `v` must have passed check_value for the same type: signed integers end up in sint,
    unsigned ones and char16 in uint, integers given for a real type in real.
    """
    out = Value()
    if is_null(v):
        return out
    if not is_array:
        out.CopyFrom(_normalize_scalar(cim_type, v))
        return out
    out.array.SetInParent()  # an empty array is not NULL
    for item in v.array.items:
        out.array.items.append(_normalize_scalar(cim_type, item))
    return out


def _normalize_scalar(cim_type: int, v: Value) -> Value:
    kind = v.WhichOneof("kind")
    if cim_type in _SIGNED_RANGE and kind == "uint":
        return Value(sint=v.uint)
    if cim_type in _UNSIGNED_RANGE and kind == "sint":
        return Value(uint=v.sint)
    if cim_type in _REAL_TYPES and kind in ("sint", "uint"):
        return Value(real=float(getattr(v, kind)))
    out = Value()
    out.CopyFrom(v)
    return out


def qualifier_type(v: Value) -> tuple[int, bool]:
    """The (CimType, is_array) of a qualifier value.

    WMI qualifiers are VT_I4, VT_R8, VT_BSTR, VT_BOOL or arrays of one of those, so
    only sint32, real64, string, boolean and their arrays are accepted; a uint that
    fits int32 counts as sint32, and an empty array is string[].
    """
    kind = v.WhichOneof("kind")
    if kind != "array":
        return _qualifier_scalar_type(v, "qualifier value"), False
    types = {_qualifier_scalar_type(item, f"qualifier value[{i}]") for i, item in enumerate(v.array.items)}
    if len(types) > 1:
        names = ", ".join(sorted(type_name(t) for t in types))
        raise CimValueError(INVALID_QUALIFIER_TYPE, f"qualifier array mixes types: {names}")
    return (types.pop() if types else STRING), True


def _qualifier_scalar_type(v: Value, what: str) -> int:
    kind = v.WhichOneof("kind")
    if kind == "sint" and INT32_MIN <= v.sint <= INT32_MAX:
        return SINT32
    if kind == "uint" and v.uint <= INT32_MAX:
        return SINT32
    if kind in ("sint", "uint"):
        n = getattr(v, kind)
        raise CimValueError(INVALID_QUALIFIER_TYPE, f"{what}: {n} does not fit sint32")
    if kind in _QUALIFIER_TYPES:
        return _QUALIFIER_TYPES[kind]
    raise CimValueError(
        INVALID_QUALIFIER_TYPE,
        f"{what}: qualifiers may only be sint32, real64, string, boolean or arrays of those, got {kind or 'NULL'}",
    )


def to_python(v: Value | None) -> PyValue:
    """The Python form of a value: None for NULL, a list for an array, a copy of an embedded object."""
    kind = _kind(v)
    if v is None or kind is None:
        return None
    if kind == "array":
        return [to_python(item) for item in v.array.items]
    if kind == "object":
        obj = WbemObject()
        obj.CopyFrom(v.object)
        return obj
    scalar: PyValue = getattr(v, kind)
    return scalar


def from_python(x: object, cim_type: int | None = None) -> Value | None:
    """The Value for a Python object (None for None); `cim_type` picks sint or uint for ints.

    An int goes to uint when `cim_type` is unsigned or char16 (and the int is not
    negative) or when it only fits uint64; otherwise to sint. List items are converted
    the same way; a None item becomes a NULL item, which check_value rejects.
    """
    if x is None:
        return None
    # bool before int: bool is a subclass of int.
    if isinstance(x, bool):
        return Value(boolean=x)
    if isinstance(x, int):
        if not INT64_MIN <= x <= UINT64_MAX:
            raise CimValueError(VALUE_OUT_OF_RANGE, f"{x} does not fit in 64 bits")
        if x > INT64_MAX or (cim_type in _UNSIGNED_RANGE and x >= 0):
            return Value(uint=x)
        return Value(sint=x)
    if isinstance(x, float):
        return Value(real=x)
    if isinstance(x, str):
        return Value(string=x)
    if isinstance(x, WbemObject):
        return Value(object=x)
    if isinstance(x, (list, tuple)):
        out = Value()
        out.array.SetInParent()  # an empty list is an empty array, not NULL
        for item in x:
            item_value = from_python(item, cim_type)
            out.array.items.append(Value() if item_value is None else item_value)
        return out
    raise CimValueError(TYPE_MISMATCH, f"cannot convert {type(x).__name__} to a CIM value")


def values_equal(a: Value | None, b: Value | None) -> bool:
    """Same kind and same content; NULL equals NULL and a NaN real equals a NaN real."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if a is None or b is None or kind is None:
        return True  # both NULL
    if kind == "real":
        # Writing NaN over a stored NaN changes nothing.
        return a.real == b.real or (math.isnan(a.real) and math.isnan(b.real))
    if kind == "array":
        items_a, items_b = a.array.items, b.array.items
        return len(items_a) == len(items_b) and all(map(values_equal, items_a, items_b))
    return bool(getattr(a, kind) == getattr(b, kind))
