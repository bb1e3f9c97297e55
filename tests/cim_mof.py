"""Compile DMTF CIM MOF with pywbem and convert the classes to our proto WbemObject.

    from tests.cim_mof import compile_mof, to_wbem_class, in_dependency_order
    cim = compile_mof("…/cim_schema_2.49.0.mof")      # {name: pywbem.CIMClass}, resolved
    objs = [to_wbem_class(c) for c in in_dependency_order(cim.values())]

pywbem's MOF compiler (pywbem 1.x) compiles into a mock repository (pywbem_mock's
FakedWBEMConnection.compile_mof_file); the classes it stores are *resolved*: every inherited
property, method and qualifier is present, with `class_origin` and `propagated` telling which
ones the class itself declares. A PutClass sends only a class's own definition, so the
conversion keeps:

- properties and methods whose class_origin is the class itself, plus inherited ones the class
  overrides (a local, non-propagated Override qualifier);
- qualifiers that are not propagated (propagated=True means "inherited from above").

Qualifier flavors map to WBEM_FLAVOR bits: ToInstance 0x1, ToSubClass 0x2, DisableOverride
0x10. An unset flavor (None) takes DSP0004's default (ToSubclass, EnableOverride; ToInstance
off). CIM's Translatable is not WMI's Amended (0x80), so 0x80 is never set.

CIM embedded objects are `string` properties with an EmbeddedObject (boolean) or
EmbeddedInstance("ClassName") qualifier; pywbem reports them as type string and so do we:
the qualifier travels as it is and reference_class stays empty (our reference_class is for
`ref` and `object` typed properties only). References get reference_class from pywbem.

A method becomes a Method whose in_parameters are the parameters with IN (CIM's default TRUE)
and whose out_parameters are those with OUT TRUE, followed by "ReturnValue" with the method's
return type, as WMI lays a method signature out.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from host.model import values
from wmiput.v1 import object_pb2 as pb

T = pb.CimType
CIM_TYPES: dict[str, int] = {
    "sint8": T.CIM_TYPE_SINT8, "uint8": T.CIM_TYPE_UINT8, "sint16": T.CIM_TYPE_SINT16,
    "uint16": T.CIM_TYPE_UINT16, "sint32": T.CIM_TYPE_SINT32, "uint32": T.CIM_TYPE_UINT32,
    "sint64": T.CIM_TYPE_SINT64, "uint64": T.CIM_TYPE_UINT64, "real32": T.CIM_TYPE_REAL32,
    "real64": T.CIM_TYPE_REAL64, "boolean": T.CIM_TYPE_BOOLEAN, "string": T.CIM_TYPE_STRING,
    "datetime": T.CIM_TYPE_DATETIME, "reference": T.CIM_TYPE_REFERENCE, "char16": T.CIM_TYPE_CHAR16,
}
TO_INSTANCE, TO_SUBCLASS, DISABLE_OVERRIDE = 0x1, 0x2, 0x10
MOF_NAMESPACE = "root/cimv2"


def compile_mof(path: str | os.PathLike[str], search_paths: Iterable[str] | None = None) -> dict[str, Any]:
    """Compile a MOF file (and everything it #includes) into resolved pywbem CIMClass objects.

    Returns {class name: CIMClass} in the order the repository holds them. `search_paths`
    defaults to the file's own directory (where CIM's schema MOF finds its includes).

    The compiler runs in a thread of its own. Called from inside a pytest fixture it took 2-3x as
    long (measured: ~1.5 M minor page faults against ~20 k in a thread); the likely cause is
    CPython 3.11 mapping and unmapping frame-stack chunks under the compiler's recursive parser
    when it starts deep in a stack. A fresh thread starts on a fresh stack.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mof-compiler") as pool:
        return pool.submit(_compile_mof, os.fspath(path), search_paths).result()


def _compile_mof(path: str, search_paths: Iterable[str] | None) -> dict[str, Any]:
    from pywbem_mock import FakedWBEMConnection  # imported here: pywbem is a test-only dependency

    dirs = list(search_paths) if search_paths is not None else [os.path.dirname(os.path.abspath(path))]
    conn = FakedWBEMConnection(default_namespace=MOF_NAMESPACE)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived objects and no cycles worth collecting
    try:
        conn.compile_mof_file(path, namespace=MOF_NAMESPACE, search_paths=dirs, verbose=False)
    finally:
        if gc_was_enabled:
            gc.enable()
    store = conn.cimrepository.get_class_store(MOF_NAMESPACE)
    return {c.classname: c for c in store.iter_values(copy=False)}  # the connection is ours alone


def in_dependency_order(classes: Iterable[Any]) -> list[Any]:
    """Parents before children (then by name, for a stable order)."""
    by_name = {c.classname.lower(): c for c in classes}
    depth: dict[str, int] = {}

    def d(name: str) -> int:
        if name not in depth:
            sup = by_name[name].superclass
            depth[name] = 0 if not sup else d(sup.lower()) + 1
        return depth[name]

    return sorted(by_name.values(), key=lambda c: (d(c.classname.lower()), c.classname.lower()))


def cim_type(type_name: str) -> int:
    try:
        return CIM_TYPES[type_name.lower()]
    except KeyError:
        raise ValueError(f"CIM type {type_name!r} has no WMI equivalent") from None


def flavor(q: Any) -> int:
    f = 0
    if q.toinstance:
        f |= TO_INSTANCE
    if q.tosubclass is None or q.tosubclass:
        f |= TO_SUBCLASS
    if q.overridable is not None and not q.overridable:
        f |= DISABLE_OVERRIDE
    return f


def _plain(x: Any, type_name: str | None) -> Any:
    """A pywbem value as plain Python: datetimes and references as text, char16 as its code unit."""
    if x is None:
        return None
    if isinstance(x, list):
        return [_plain(i, type_name) for i in x]
    if type_name == "char16":
        return ord(x) if isinstance(x, str) else int(x)
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, str):
        return str(x)
    return str(x)  # CIMDateTime, CIMInstanceName: their MOF/WBEM-URI text


def to_value(x: Any, type_name: str | None) -> pb.Value | None:
    t = cim_type(type_name) if type_name else None
    return values.from_python(_plain(x, type_name), t)


def to_qualifier(q: Any) -> pb.Qualifier:
    out = pb.Qualifier(name=q.name, flavor=flavor(q))
    v = to_value(q.value, None if q.type == "char16" else q.type)
    if v is not None:
        out.value.CopyFrom(v)
    return out


def own_qualifiers(quals: Any) -> list[pb.Qualifier]:
    return [to_qualifier(q) for q in quals.values() if not q.propagated]


def _overrides(member: Any) -> bool:
    q = member.qualifiers.get("Override")
    return q is not None and not q.propagated


def is_own(member: Any, class_name: str) -> bool:
    """Declared by this class, or an inherited member this class overrides."""
    origin = member.class_origin
    if origin is not None and origin.lower() == class_name.lower():
        return True
    if origin is None and not member.propagated:
        return True
    return _overrides(member)


def to_property(p: Any) -> pb.Property:
    out = pb.Property(name=p.name, type=cim_type(p.type), is_array=bool(p.is_array))
    if p.type == "reference" and p.reference_class:
        out.reference_class = p.reference_class
    out.qualifiers.extend(own_qualifiers(p.qualifiers))
    v = to_value(getattr(p, "value", None), p.type)
    if v is not None:
        out.value.CopyFrom(v)
    return out


def _param(p: Any) -> pb.Property:
    out = pb.Property(name=p.name, type=cim_type(p.type), is_array=bool(p.is_array))
    if p.type == "reference" and p.reference_class:
        out.reference_class = p.reference_class
    out.qualifiers.extend(to_qualifier(q) for q in p.qualifiers.values())
    return out


def _flag(p: Any, name: str, default: bool) -> bool:
    q = p.qualifiers.get(name)
    if q is None:
        return default
    return q.value is None or bool(q.value)


def to_method(m: Any) -> pb.Method:
    out = pb.Method(name=m.name)
    out.qualifiers.extend(own_qualifiers(m.qualifiers))
    for p in m.parameters.values():
        if _flag(p, "IN", True):
            out.in_parameters.append(_param(p))
        if _flag(p, "OUT", False):
            out.out_parameters.append(_param(p))
    if m.return_type:
        out.out_parameters.append(pb.Property(name="ReturnValue", type=cim_type(m.return_type)))
    return out


def to_wbem_class(c: Any) -> pb.WbemObject:
    """The PutClass object for a resolved pywbem CIMClass: its own definition only."""
    obj = pb.WbemObject(genus=pb.GENUS_CLASS, class_name=c.classname, superclass=c.superclass or "")
    obj.qualifiers.extend(own_qualifiers(c.qualifiers))
    obj.properties.extend(to_property(p) for p in c.properties.values() if is_own(p, c.classname))
    obj.methods.extend(to_method(m) for m in c.methods.values() if is_own(m, c.classname))
    return obj


def is_key(p: Any) -> bool:
    q = p.qualifiers.get("Key")
    return q is not None and (q.value is None or bool(q.value))


def key_names(c: Any) -> set[str]:
    """pywbem's view of a class's keys (inherited ones included: the class is resolved)."""
    return {p.name for p in c.properties.values() if is_key(p)}
