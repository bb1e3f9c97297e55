"""Build WMI classes and instances from plain Python values, and read them back as dicts."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from host.model import values
from wmiput.v1 import object_pb2 as pb

T = pb.CimType
TYPES: dict[str, int] = {
    "sint8": T.CIM_TYPE_SINT8, "uint8": T.CIM_TYPE_UINT8, "sint16": T.CIM_TYPE_SINT16,
    "uint16": T.CIM_TYPE_UINT16, "sint32": T.CIM_TYPE_SINT32, "uint32": T.CIM_TYPE_UINT32,
    "sint64": T.CIM_TYPE_SINT64, "uint64": T.CIM_TYPE_UINT64, "real32": T.CIM_TYPE_REAL32,
    "real64": T.CIM_TYPE_REAL64, "boolean": T.CIM_TYPE_BOOLEAN, "string": T.CIM_TYPE_STRING,
    "datetime": T.CIM_TYPE_DATETIME, "reference": T.CIM_TYPE_REFERENCE, "ref": T.CIM_TYPE_REFERENCE,
    "char16": T.CIM_TYPE_CHAR16, "object": T.CIM_TYPE_OBJECT,
}
# Default flavors: qualifiers follow their class down and onto instances, as MOF's defaults do.
DEFAULT_FLAVOR = 0x1 | 0x2


def parse_type(text: str) -> tuple[int, bool]:
    """"uint32" -> (UINT32, False); "string[]" -> (STRING, True)."""
    is_array = text.endswith("[]")
    base = text[:-2] if is_array else text
    try:
        return TYPES[base.lower()], is_array
    except KeyError:
        raise ValueError(f"unknown CIM type {text!r}; one of {', '.join(sorted(TYPES))}") from None


def qualifier(name: str, value: Any = True, flavor: int = DEFAULT_FLAVOR) -> pb.Qualifier:
    q = pb.Qualifier(name=name, flavor=flavor)
    v = values.from_python(value)
    if v is not None:
        q.value.CopyFrom(v)
    return q


def _qualifiers(q: Mapping[str, Any] | Iterable[pb.Qualifier] | None) -> list[pb.Qualifier]:
    if q is None:
        return []
    if isinstance(q, Mapping):
        return [qualifier(k, v) for k, v in q.items()]
    return list(q)


def prop(name: str, type: str, default: Any = None, *, key: bool = False,
         qualifiers: Mapping[str, Any] | Iterable[pb.Qualifier] | None = None, reference_class: str = "") -> pb.Property:
    """A property definition: prop("Id", "string", key=True), prop("Sizes", "uint32[]", [1, 2])."""
    t, arr = parse_type(type)
    p = pb.Property(name=name, type=t, is_array=arr, reference_class=reference_class)
    if key:
        p.qualifiers.append(qualifier("Key", True, 0x2 | 0x10))
    p.qualifiers.extend(_qualifiers(qualifiers))
    v = values.from_python(default, t)
    if v is not None:
        p.value.CopyFrom(v)
    return p


def wmi_class(name: str, *properties: pb.Property, superclass: str = "",
              qualifiers: Mapping[str, Any] | Iterable[pb.Qualifier] | None = None) -> pb.WbemObject:
    """A class: wmi_class("Vendor_Disk", prop("Id", "string", key=True), superclass="Vendor_Device")."""
    c = pb.WbemObject(genus=pb.GENUS_CLASS, class_name=name, superclass=superclass)
    c.qualifiers.extend(_qualifiers(qualifiers))
    c.properties.extend(properties)
    return c


def instance(class_name: str, props: Mapping[str, Any] | None = None, /, **kw: Any) -> pb.WbemObject:
    """An instance from plain values; None is NULL. instance("Vendor_Disk", Id="d1", Size=5).

    Integers go as sint (uint when above the int64 range); the server converts them to the class's
    type, so instance values need no type names.
    """
    i = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name=class_name)
    for k, v in {**(props or {}), **kw}.items():
        p = i.properties.add(name=k)
        pv = values.from_python(v)
        if pv is not None:
            p.value.CopyFrom(pv)
    return i


def to_dict(obj: pb.WbemObject) -> dict[str, Any]:
    """Property values of an object (NULL is None), with the system properties under "__" names."""
    out: dict[str, Any] = {}
    s = obj.system
    if obj.HasField("system"):
        out.update({"__CLASS": s.class_name, "__SUPERCLASS": s.superclass or None, "__DYNASTY": s.dynasty,
                    "__DERIVATION": list(s.derivation), "__GENUS": int(s.genus), "__PATH": s.path,
                    "__RELPATH": s.relpath, "__NAMESPACE": s.namespace, "__SERVER": s.server,
                    "__PROPERTY_COUNT": s.property_count})
    for p in obj.properties:
        out[p.name] = values.to_python(p.value) if p.HasField("value") else None
    return out
