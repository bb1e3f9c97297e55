"""Instances: validation of PutInstance, identity (keys, paths) and the stored record.

Pure functions; no I/O. An instance is stored as a record of property values; its identity is
(namespace, dynasty, canonical key text), because key values are unique across a dynasty:
an instance never "moves" to a sibling class (reference §8.1, C8).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from host.errors import WbemError
from host.flags import WbemFlag
from host.model import classes, names, paths, values
from host.model.classes import Limits, Schema
from wmiput.v1 import object_pb2 as pb

T = pb  # CimType values as module attributes: the enum wrapper's attribute lookup is slow on hot paths
MAX_PATH = 8192  # WBEM_MAX_PATH: __RELPATH limit
INT_TYPES = {T.CIM_TYPE_SINT8, T.CIM_TYPE_UINT8, T.CIM_TYPE_SINT16, T.CIM_TYPE_UINT16, T.CIM_TYPE_SINT32,
             T.CIM_TYPE_UINT32, T.CIM_TYPE_SINT64, T.CIM_TYPE_UINT64, T.CIM_TYPE_CHAR16}
STRING_TYPES = {T.CIM_TYPE_STRING, T.CIM_TYPE_DATETIME, T.CIM_TYPE_REFERENCE}
INT32 = range(-(2**31), 2**31)


@dataclass
class InstancePlan:
    class_name: str  # as the class spells it
    dynasty: str  # lower-case
    identity: str  # canonical key text
    relpath: str
    record: pb.WbemObject  # genus INSTANCE, class_name, property values, instance-local qualifiers
    partial: list[str] | None = None  # __PUT_EXT_PROPERTIES (lower-case), for a partial update
    generated_key: bool = False



@dataclass(frozen=True)
class _Facts:
    """What the instance rules ask of an effective class, worked out once per class object."""

    props: dict[str, pb.Property]  # lower-case name -> property
    keys: list[pb.Property]
    keys_by_name: list[pb.Property]  # sorted as __RELPATH lists them
    not_null: list[pb.Property]
    singleton: bool


_FACTS: dict[int, tuple[pb.WbemObject, _Facts]] = {}
_FACTS_MAX = 4096


def _facts(eff: pb.WbemObject) -> _Facts:
    """Effective classes come from Schema.effective, shared and never modified, so their facts
    are kept by identity (the entry holds the class, so its id cannot be reused meanwhile)."""
    hit = _FACTS.get(id(eff))
    if hit is not None and hit[0] is eff:
        return hit[1]
    keys = classes.key_properties(eff)
    f = _Facts(props={p.name.lower(): p for p in eff.properties}, keys=keys,
               keys_by_name=sorted(keys, key=lambda p: p.name.lower()),
               not_null=[p for p in eff.properties
                         if any(classes.truthy(p.qualifiers, q) for q in ("not_null", "indexed", "required", "key"))],
               singleton=classes.is_singleton(eff))
    if len(_FACTS) >= _FACTS_MAX:
        _FACTS.clear()
    _FACTS[id(eff)] = (eff, f)
    return f

def _err(code: str, msg: str, param: str = "", op: str = "PutInstance") -> WbemError:
    return WbemError(code, msg, parameter_info=param, operation=op)


def resolve_class(schema: Schema, name: str, operation: str) -> pb.WbemObject:
    if not name or not names.is_identifier(name) or schema.get(name) is None:
        raise _err("WBEM_E_INVALID_CLASS", f"class {name!r} does not exist in this namespace", name, operation)
    return schema.effective(name)


def _context(ctx: pb.Context | None) -> dict[str, pb.Value]:
    return {v.name.lower(): v.value for v in ctx.values} if ctx is not None else {}


def partial_properties(ctx: pb.Context | None, flags: int, eff: pb.WbemObject) -> list[str] | None:
    """The __PUT_EXT_* partial-instance context (reference §8.3), or None for a full update."""
    c = _context(ctx)
    ext = {k: v for k, v in c.items() if k.startswith("__put_ext")}
    if not ext:
        return None
    flag = ext.get("__put_extensions")
    if flag is None or flag.WhichOneof("kind") != "boolean" or not flag.boolean:
        raise _err("WBEM_E_INVALID_CONTEXT", "__PUT_EXT_* values need __PUT_EXTENSIONS = TRUE", "__PUT_EXTENSIONS")
    if not flags & WbemFlag.UPDATE_ONLY:
        raise _err("WBEM_E_INVALID_CONTEXT", "a partial-instance update needs WBEM_FLAG_UPDATE_ONLY", "lFlags")
    for b in ("__put_ext_strict_nulls", "__put_ext_atomic", "__put_ext_client_request"):
        if b in ext and ext[b].WhichOneof("kind") != "boolean":
            raise _err("WBEM_E_INVALID_CONTEXT", f"{b.upper()} must be a boolean", b.upper())
    unknown = set(ext) - {"__put_extensions", "__put_ext_properties", "__put_ext_strict_nulls", "__put_ext_atomic",
                          "__put_ext_client_request"}
    if unknown:
        raise _err("WBEM_E_UNSUPPORTED_PUT_EXTENSION", f"unknown put extension {sorted(unknown)[0].upper()}",
                   sorted(unknown)[0].upper())
    props = ext.get("__put_ext_properties")
    if props is None or props.WhichOneof("kind") != "array" or any(
            i.WhichOneof("kind") != "string" for i in props.array.items):
        raise _err("WBEM_E_INVALID_CONTEXT", "__PUT_EXT_PROPERTIES must be an array of property names",
                   "__PUT_EXT_PROPERTIES")
    known = {p.name.lower() for p in eff.properties}
    out = []
    for i in props.array.items:
        if i.string.lower() not in known:
            raise _err("WBEM_E_INVALID_PROPERTY", f"__PUT_EXT_PROPERTIES names {i.string!r}, which "
                       f"{eff.class_name} does not have", i.string)
        out.append(i.string.lower())
    return out


def plan_put_instance(obj: pb.WbemObject, flags: int, ctx: pb.Context | None, schema: Schema,
                      limits: Limits) -> InstancePlan:
    """Validate an instance against its class; the record to store and its identity."""
    if obj.genus == pb.GENUS_CLASS:
        raise _err("WBEM_E_INVALID_OBJECT", "PutInstance was given a class; use PutClass", obj.class_name)
    if obj.genus != pb.GENUS_INSTANCE:
        raise _err("WBEM_E_INVALID_OBJECT", "the object is not an instance (genus is not set)", obj.class_name)
    eff = resolve_class(schema, obj.class_name, "PutInstance")
    local = schema.get(obj.class_name)
    assert local is not None
    if classes.is_abstract(local):
        raise _err("WBEM_E_INVALID_OPERATION", f"{eff.class_name} is Abstract: it cannot have instances",
                   eff.class_name)
    if classes.truthy(eff.qualifiers, "amendment"):
        raise _err("WBEM_E_INVALID_OPERATION", f"{eff.class_name} carries the Amendment qualifier: its instances "
                   "cannot be created", eff.class_name)
    if classes.has_amended(obj):
        if not flags & WbemFlag.USE_AMENDED_QUALIFIERS:
            raise _err("WBEM_E_AMENDED_OBJECT", "the instance carries amended qualifiers; put it with "
                       "WBEM_FLAG_USE_AMENDED_QUALIFIERS", eff.class_name)
        obj = classes.strip_amended(obj)
    partial = partial_properties(ctx, flags, eff)
    record = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name=eff.class_name)
    record.qualifiers.extend(classes.check_qualifiers(obj.qualifiers, eff.class_name, limits))
    given = _given_values(obj, eff, limits, schema)
    for p in eff.properties:
        rp = record.properties.add(name=p.name)
        if p.name.lower() in given:
            v = given[p.name.lower()]
            if v is not None:
                rp.value.CopyFrom(v)
        elif p.HasField("value"):
            rp.value.CopyFrom(p.value)  # a property left out takes the class default, as SpawnInstance gives it
    generated = fill_keys(record, eff, partial is not None)
    if partial is None:
        check_nulls(record, eff)
    relpath = relpath_of(record, eff)
    if len(relpath) > MAX_PATH:
        raise _err("WBEM_E_QUOTA_VIOLATION", f"__RELPATH is {len(relpath)} characters; the limit is {MAX_PATH}",
                   eff.class_name)
    chain = schema.chain(eff.class_name)
    return InstancePlan(class_name=eff.class_name, dynasty=chain[0].class_name.lower(),
                        identity=keyed_hierarchy_prefix(chain) + identity_of(record, eff), relpath=relpath, record=record, partial=partial,
                        generated_key=generated)


def _given_values(obj: pb.WbemObject, eff: pb.WbemObject, limits: Limits, schema: Schema,
                  depth: int = 0) -> dict[str, pb.Value | None]:
    props = _facts(eff).props
    out: dict[str, pb.Value | None] = {}
    if len(obj.properties) > limits.max_properties:
        raise _err("WBEM_E_TOO_MANY_PROPERTIES", f"{len(obj.properties)} properties; the limit is "
                   f"{limits.max_properties}", eff.class_name)
    for p in obj.properties:
        k = p.name.lower()
        if k.startswith("__"):
            raise _err("WBEM_E_READ_ONLY", f"{p.name[:64]} is a system property: the server computes it; send "
                       "only the class's own properties", p.name[:64])
        cp = props.get(k)
        if cp is None:
            raise _err("WBEM_E_INVALID_PROPERTY", f"{eff.class_name} has no property {p.name!r}", p.name[:64])
        if k in out:
            raise _err("WBEM_E_INVALID_OBJECT", f"property {p.name} appears twice", p.name)
        if p.type != T.CIM_TYPE_UNSPECIFIED and (p.type, p.is_array) != (cp.type, cp.is_array):
            raise _err("WBEM_E_TYPE_MISMATCH", f"{eff.class_name}.{cp.name} is "
                       f"{values.type_name(cp.type, cp.is_array)}, not {values.type_name(p.type, p.is_array)}",
                       cp.name)
        if not p.HasField("value") or values.is_null(p.value):
            out[k] = None
            continue
        try:
            values.check_value(cp.type, cp.is_array, p.value, what=f"{eff.class_name}.{cp.name}",
                               max_array=limits.max_array, max_string=limits.max_string)
        except values.CimValueError as e:
            raise _err(e.code, e.message, cp.name) from None
        if cp.type == T.CIM_TYPE_REFERENCE:
            for item in (p.value.array.items if cp.is_array else [p.value]):
                try:
                    paths.parse_path(item.string)
                except paths.PathError as e:
                    raise _err("WBEM_E_TYPE_MISMATCH", f"{eff.class_name}.{cp.name}: not an object path: {e}",
                               cp.name) from None
        v = values.normalize_value(cp.type, cp.is_array, p.value)
        if cp.type == T.CIM_TYPE_OBJECT:
            for item in (v.array.items if cp.is_array else [v]):
                item.object.CopyFrom(_embedded(item.object, cp.reference_class, schema, limits, depth + 1,
                                               f"{eff.class_name}.{cp.name}"))
        out[k] = v
    return out


MAX_OBJECT_NESTING = 64  # WBEM_MAX_OBJECT_NESTING


def _embedded(o: pb.WbemObject, expected: str, schema: Schema, limits: Limits, depth: int, where: str
              ) -> pb.WbemObject:
    """An embedded object is a real object: an instance of an existing class (of the property's
    "object:X" class, if it names one), with values that fit that class, checked all the way down."""
    if depth > MAX_OBJECT_NESTING:
        raise _err("WBEM_E_QUOTA_VIOLATION", f"{where}: embedded objects nest deeper than {MAX_OBJECT_NESTING}")
    if o.genus != pb.GENUS_INSTANCE:
        raise _err("WBEM_E_TYPE_MISMATCH", f"{where}: an embedded object must be an instance", where)
    if not names.is_identifier(o.class_name) or schema.get(o.class_name) is None:
        raise _err("WBEM_E_INVALID_CLASS", f"{where}: embedded object of class {o.class_name[:64]!r}, which does "
                   "not exist", o.class_name[:64])
    if expected and (schema.get(expected) is None or not schema.is_a(o.class_name, expected)):
        raise _err("WBEM_E_TYPE_MISMATCH", f"{where}: expected an object of class {expected}, got "
                   f"{o.class_name}", where)
    eff = schema.effective(o.class_name)
    out = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name=eff.class_name)
    out.qualifiers.extend(classes.check_qualifiers(o.qualifiers, where, limits))
    types = {p.name.lower(): p for p in eff.properties}
    for k, v in _given_values(o, eff, limits, schema, depth).items():
        cp = types[k]
        op = out.properties.add(name=cp.name, type=cp.type, is_array=cp.is_array)
        if v is not None:
            op.value.CopyFrom(v)
    return out


def fill_keys(record: pb.WbemObject, eff: pb.WbemObject, partial: bool) -> bool:
    """Check key values; a NULL string key gets a generated GUID (reference §8.1, C6)."""
    f = _facts(eff)
    keys = f.keys
    if not keys and not f.singleton:
        raise _err("WBEM_E_NO_KEY", f"{eff.class_name} has no key properties and is not Singleton: its "
                   "instances cannot be identified", eff.class_name)
    rec = {p.name.lower(): p for p in record.properties}
    generated = False
    for k in keys:
        rp = rec[k.name.lower()]
        if not rp.HasField("value") or values.is_null(rp.value):
            if k.type == T.CIM_TYPE_STRING and not partial:
                rp.value.string = "{" + str(uuid.uuid4()).upper() + "}"
                generated = True
                continue
            raise _err("WBEM_E_ILLEGAL_NULL", f"key property {eff.class_name}.{k.name} is NULL", k.name)
        if k.type in STRING_TYPES and not any(ch > " " for ch in rp.value.string):
            raise _err("WBEM_E_INVALID_PARAMETER", f"key property {eff.class_name}.{k.name} must contain a "
                       "character above U+0020", k.name)
    return generated


def check_nulls(record: pb.WbemObject, eff: pb.WbemObject) -> None:
    """Not_Null, Indexed and Required properties refuse NULL (WBEM_E_ILLEGAL_NULL)."""
    rec = {p.name.lower(): p for p in record.properties}
    for p in _facts(eff).not_null:
        rp = rec.get(p.name.lower())
        if rp is None or not rp.HasField("value") or values.is_null(rp.value):
            raise _err("WBEM_E_ILLEGAL_NULL", f"{eff.class_name}.{p.name} may not be NULL", p.name)


def merge_partial(stored: pb.WbemObject, new: pb.WbemObject, names_: list[str]) -> pb.WbemObject:
    """A partial update: the listed properties from `new`, everything else as stored."""
    out = pb.WbemObject()
    out.CopyFrom(stored)
    fresh = {p.name.lower(): p for p in new.properties}
    for p in out.properties:
        if p.name.lower() in names_:
            p.ClearField("value")
            if fresh[p.name.lower()].HasField("value"):
                p.value.CopyFrom(fresh[p.name.lower()].value)
    return out


def key_values(record: pb.WbemObject, eff: pb.WbemObject) -> list[tuple[str, paths.KeyValue]]:
    """(name, path value) of each key, sorted by name as WMI writes __RELPATH."""
    rec = {p.name.lower(): p for p in record.properties}
    out: list[tuple[str, paths.KeyValue]] = []
    for k in _facts(eff).keys_by_name:
        v = values.to_python(rec[k.name.lower()].value)
        if isinstance(v, int) and not isinstance(v, bool) and k.type != T.CIM_TYPE_BOOLEAN and v not in INT32:
            v = str(v)  # 64-bit keys outside the 32-bit range are written quoted
        out.append((k.name, v))  # type: ignore[arg-type]
    return out


def relpath_of(record: pb.WbemObject, eff: pb.WbemObject) -> str:
    if _facts(eff).singleton:
        return paths.ObjectPath(class_name=eff.class_name, singleton=True).relpath()
    return paths.ObjectPath(class_name=eff.class_name, keys=tuple(key_values(record, eff))).relpath()


def _identity_value(v: paths.KeyValue) -> paths.KeyValue:
    # Object paths compare case-insensitively (reference §7.2), so identity folds string case.
    return v.casefold() if isinstance(v, str) else v


def keyed_hierarchy_prefix(chain: list[pb.WbemObject]) -> str:
    """Keys are unique within a keyed hierarchy: the subtree under the class that declares them.

    Usually that is the dynasty (the root), and the identity is the key text alone. Under an
    abstract keyless root, subclasses may each declare keys (reference §6.4); each such subtree is
    its own keyed hierarchy, so the identity is prefixed with the class that declared the keys.
    WMI's provider registrations are the everyday case: __InstanceProviderRegistration and
    __ClassProviderRegistration of one provider share the key value and coexist.
    """
    for depth, c in enumerate(chain):
        if any(classes.truthy(p.qualifiers, "key") for p in c.properties):
            return "" if depth == 0 else c.class_name.lower() + ":"
    return ""


def identity_of(record: pb.WbemObject, eff: pb.WbemObject) -> str:
    if _facts(eff).singleton:
        return "@" + eff.class_name.lower()
    return paths.canonical_key_string((n, _identity_value(v)) for n, v in key_values(record, eff))


def identity_from_path(path: paths.ObjectPath, eff: pb.WbemObject, operation: str) -> str:
    """The identity an instance path names, with its key values typed by the class's keys."""
    if path.singleton:
        if not classes.is_singleton(eff):
            raise _err("WBEM_E_INVALID_OBJECT_PATH", f"{eff.class_name} is not Singleton; '=@' names nothing",
                       path.format(), operation)
        return "@" + eff.class_name.lower()
    keys = {k.name.lower(): k for k in classes.key_properties(eff)}
    given = dict()
    for n, v in path.keys:
        if n == "" and len(keys) == 1 and len(path.keys) == 1:
            n = next(iter(keys.values())).name
        k = keys.get(n.lower())
        if k is None:
            raise _err("WBEM_E_INVALID_OBJECT_PATH", f"{n or '(unnamed)'} is not a key of {eff.class_name}",
                       path.format(), operation)
        given[k.name.lower()] = (k, v)
    if set(given) != set(keys):
        missing = sorted(k.name for n, k in keys.items() if n not in given)
        raise _err("WBEM_E_INVALID_OBJECT_PATH", f"the path lacks key(s) {', '.join(missing)} of {eff.class_name}",
                   path.format(), operation)
    typed: list[tuple[str, paths.KeyValue]] = []
    for n in sorted(given):
        k, v = given[n]
        typed.append((k.name, _typed_key(k, v, path, operation)))
    return paths.canonical_key_string((n, _identity_value(v)) for n, v in typed)


def _typed_key(k: pb.Property, v: paths.KeyValue, path: paths.ObjectPath, operation: str) -> paths.KeyValue:
    def bad() -> WbemError:
        return _err("WBEM_E_INVALID_OBJECT_PATH", f"key {k.name} is {values.type_name(k.type)}; {v!r} does not fit",
                    path.format(), operation)

    if k.type == T.CIM_TYPE_BOOLEAN:
        if not isinstance(v, bool):
            raise bad()
        return v
    if k.type in INT_TYPES:
        if isinstance(v, bool):
            raise bad()
        if isinstance(v, str):
            try:
                v = int(v, 10)
            except ValueError:
                raise bad() from None
        if not isinstance(v, int):
            raise bad()
        return str(v) if v not in INT32 else v
    if not isinstance(v, str):
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad()
        v = str(v)  # an unquoted number for a string key: WMI compares the text
    return v


def instance_view(record: pb.WbemObject, schema: Schema, *, server: str, namespace: str) -> pb.WbemObject:
    """The instance as a client sees it: typed properties, propagated qualifiers, system properties."""
    eff = schema.effective(record.class_name)
    chain = schema.chain(record.class_name)
    out = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name=eff.class_name)
    out.qualifiers.extend(classes.overlay_qualifiers(classes.inherited_qualifiers(eff.qualifiers, to_instance=True),
                                           record.qualifiers))
    rec = {p.name.lower(): p for p in record.properties}
    for p in eff.properties:
        op = out.properties.add(name=p.name, type=p.type, is_array=p.is_array, class_origin=p.class_origin,
                                reference_class=p.reference_class)
        op.qualifiers.extend(classes.inherited_qualifiers(p.qualifiers, to_instance=True))
        rp = rec.get(p.name.lower())
        if rp is not None:
            if rp.HasField("value"):
                op.value.CopyFrom(rp.value)
        elif p.HasField("value"):
            op.value.CopyFrom(p.value)
    relpath = relpath_of(out, eff)
    out.system.CopyFrom(pb.SystemProperties(
        class_name=eff.class_name, superclass=eff.superclass, dynasty=chain[0].class_name,
        derivation=[c.class_name for c in reversed(chain[:-1])], genus=pb.GENUS_INSTANCE,
        path=f"\\\\{server}\\{namespace}:{relpath}", relpath=relpath, namespace=namespace, server=server,
        property_count=len(eff.properties)))
    return out


def class_view(schema: Schema, name: str, *, server: str, namespace: str) -> pb.WbemObject:
    eff = pb.WbemObject()
    eff.CopyFrom(schema.effective(name))
    eff.system.CopyFrom(classes.system_properties(eff, schema.chain(name), server=server, namespace=namespace))
    return eff
