"""Classes: validation of a class definition, inheritance, and the update-mode rules of PutClass.

Pure functions over a `Schema` snapshot; no I/O. A class is stored as its *local* definition
(its own properties, overrides and qualifiers); the *effective* class a client sees (inherited
members, propagated qualifiers, system properties) is derived here.

Update modes (reference §9.2):

    situation                              COMPATIBLE        SAFE              FORCE
    only non-important qualifiers          ok                ok                ok
    subclasses, no conflict                CLASS_HAS_CHILDREN ok               ok
    subclasses, conflict                   CLASS_HAS_CHILDREN CLASS_HAS_CHILDREN ok, child qualifier deleted
    instances, structural change           CLASS_HAS_INSTANCES CLASS_HAS_INSTANCES static: instances deleted
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from host.errors import WbemError
from host.flags import WbemFlag
from host.model import names, values
from wmiput.v1 import object_pb2 as pb

T = pb.CimType
FLAVOR_TO_INSTANCE = 0x1
FLAVOR_TO_SUBCLASS = 0x2
FLAVOR_NOT_OVERRIDABLE = 0x10
FLAVOR_ORIGIN_PROPAGATED = 0x20
FLAVOR_ORIGIN_SYSTEM = 0x40
FLAVOR_AMENDED = 0x80
FLAVOR_INPUT_MASK = FLAVOR_TO_INSTANCE | FLAVOR_TO_SUBCLASS | FLAVOR_NOT_OVERRIDABLE | FLAVOR_AMENDED
FLAVOR_ORIGIN_MASK = FLAVOR_ORIGIN_PROPAGATED | FLAVOR_ORIGIN_SYSTEM

# Qualifiers whose change never needs the class to be free of children or instances.
# Microsoft documents only Description; the rest follow the reference's recommendation (§9.2).
NON_IMPORTANT = {"description", "displayname", "mappingstrings", "modelcorrespondence", "units", "values",
                 "valuemap"}
# Qualifiers that change the shape of instances: changing them needs no instances (§9.2).
STRUCTURAL_CLASS_QUALIFIERS = {"singleton", "dynamic", "abstract"}
STRUCTURAL_PROPERTY_QUALIFIERS = {"key", "indexed"}
# WMI carries these down the hierarchy whatever their flavor: they define identity.
ALWAYS_INHERITED = {"key", "singleton"}
NEVER_INHERITED = {"abstract"}
MAX_PROPERTIES = 1024
KEY_TYPES = {T.CIM_TYPE_SINT8, T.CIM_TYPE_UINT8, T.CIM_TYPE_SINT16, T.CIM_TYPE_UINT16, T.CIM_TYPE_SINT32,
             T.CIM_TYPE_UINT32, T.CIM_TYPE_SINT64, T.CIM_TYPE_UINT64, T.CIM_TYPE_BOOLEAN, T.CIM_TYPE_STRING,
             T.CIM_TYPE_DATETIME, T.CIM_TYPE_REFERENCE, T.CIM_TYPE_CHAR16}
VALID_TYPES = set(pb.CimType.values()) - {T.CIM_TYPE_UNSPECIFIED}


def lower(name: str) -> str:
    return name.lower()


def qualifier(quals: Iterable[pb.Qualifier], name: str) -> pb.Qualifier | None:
    n = name.lower()
    for q in quals:
        if q.name.lower() == n:
            return q
    return None


def truthy(quals: Iterable[pb.Qualifier], name: str) -> bool:
    """A boolean qualifier present and TRUE (a bare MOF qualifier means TRUE)."""
    q = qualifier(quals, name)
    if q is None:
        return False
    kind = q.value.WhichOneof("kind")
    return kind is None or (kind == "boolean" and q.value.boolean)


def qualifier_string(quals: Iterable[pb.Qualifier], name: str) -> str | None:
    q = qualifier(quals, name)
    return q.value.string if q is not None and q.value.WhichOneof("kind") == "string" else None


class Schema:
    """A consistent snapshot of one namespace's classes (local definitions), keyed by lower-case name."""

    def __init__(self, classes: dict[str, pb.WbemObject], version: int = 0) -> None:
        self.classes = classes
        self.version = version
        self._children: dict[str, list[str]] | None = None
        self._effective: dict[str, pb.WbemObject] = {}
        self._chains: dict[str, list[pb.WbemObject]] = {}

    def copy_with(self, changes: dict[str, pb.WbemObject | None]) -> "Schema":
        classes = dict(self.classes)
        for k, v in changes.items():
            if v is None:
                classes.pop(k, None)
            else:
                classes[k] = v
        return Schema(classes, self.version)

    def get(self, name: str) -> pb.WbemObject | None:
        return self.classes.get(name.lower())

    def children(self, name: str) -> list[str]:
        """Immediate subclasses (lower-case names); "" lists the root classes."""
        if self._children is None:
            kids: dict[str, list[str]] = {}
            for k, c in self.classes.items():
                kids.setdefault(c.superclass.lower(), []).append(k)
            for v in kids.values():
                v.sort()
            self._children = kids
        return self._children.get(name.lower(), [])

    def descendants(self, name: str) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self.children(name)))
        while stack:
            k = stack.pop()
            out.append(k)
            stack.extend(reversed(self.children(k)))
        return out

    def chain(self, name: str) -> list[pb.WbemObject]:
        """The derivation from the root down to `name` (local definitions). Memoised: callers
        must not modify the list."""
        key = name.lower()
        hit = self._chains.get(key)
        if hit is None:
            hit = self._chains[key] = self._walk(name)
        return hit

    def _walk(self, name: str) -> list[pb.WbemObject]:
        out: list[pb.WbemObject] = []
        seen: set[str] = set()
        c = self.get(name)
        while c is not None:
            if c.class_name.lower() in seen:  # a stored cycle would be a bug; never loop on it
                raise WbemError("WBEM_E_CRITICAL_ERROR", f"class {name} has a circular derivation in the repository")
            seen.add(c.class_name.lower())
            out.append(c)
            c = self.get(c.superclass) if c.superclass else None
        out.reverse()
        return out

    def is_a(self, name: str, ancestor: str) -> bool:
        return any(c.class_name.lower() == ancestor.lower() for c in self.chain(name))

    def effective(self, name: str) -> pb.WbemObject:
        key = name.lower()
        hit = self._effective.get(key)
        if hit is None:
            hit = merge_chain(self.chain(name))
            self._effective[key] = hit
        return hit


# ---------------------------------------------------------------------------------------------
# Inheritance


def inherited_qualifiers(parent: Iterable[pb.Qualifier], *, to_instance: bool = False) -> list[pb.Qualifier]:
    bit = FLAVOR_TO_INSTANCE if to_instance else FLAVOR_TO_SUBCLASS
    out = []
    for q in parent:
        n = q.name.lower()
        if n in NEVER_INHERITED:
            continue
        if q.flavor & bit or n in ALWAYS_INHERITED:
            c = pb.Qualifier()
            c.CopyFrom(q)
            c.flavor = (q.flavor & FLAVOR_INPUT_MASK) | FLAVOR_ORIGIN_PROPAGATED
            out.append(c)
    return out


def overlay_qualifiers(inherited: list[pb.Qualifier], local: Iterable[pb.Qualifier]) -> list[pb.Qualifier]:
    out = {q.name.lower(): q for q in inherited}
    for q in local:
        c = pb.Qualifier()
        c.CopyFrom(q)
        c.flavor &= FLAVOR_INPUT_MASK
        out[q.name.lower()] = c
    return list(out.values())


def merge_chain(chain: list[pb.WbemObject]) -> pb.WbemObject:
    """The effective class of the last element of `chain` (root first)."""
    eff = pb.WbemObject(genus=pb.GENUS_CLASS)
    props: dict[str, pb.Property] = {}
    methods: dict[str, pb.Method] = {}
    quals: list[pb.Qualifier] = []
    for depth, c in enumerate(chain):
        quals = overlay_qualifiers(inherited_qualifiers(quals) if depth else [], c.qualifiers)
        for k, p in list(props.items()):
            q = pb.Property()
            q.CopyFrom(p)
            del q.qualifiers[:]
            q.qualifiers.extend(inherited_qualifiers(p.qualifiers))
            props[k] = q
        for p in c.properties:
            k = p.name.lower()
            base = props.get(k)
            q = pb.Property()
            q.CopyFrom(p)
            if base is not None:
                q.class_origin = base.class_origin
                q.name = base.name
                del q.qualifiers[:]
                q.qualifiers.extend(overlay_qualifiers(list(base.qualifiers), p.qualifiers))
                if not p.HasField("value") and base.HasField("value"):
                    q.value.CopyFrom(base.value)
            else:
                q.class_origin = c.class_name
            props[k] = q
        for m in c.methods:
            mm = pb.Method()
            mm.CopyFrom(m)
            prev = methods.get(m.name.lower())
            mm.class_origin = prev.class_origin if prev is not None else c.class_name
            methods[m.name.lower()] = mm
    last = chain[-1]
    eff.class_name = last.class_name
    eff.superclass = last.superclass
    eff.qualifiers.extend(quals)
    eff.properties.extend(props.values())
    eff.methods.extend(methods.values())
    return eff


def key_properties(eff: pb.WbemObject) -> list[pb.Property]:
    return [p for p in eff.properties if truthy(p.qualifiers, "key")]


def is_abstract(local: pb.WbemObject) -> bool:
    return truthy(local.qualifiers, "abstract")


def is_singleton(eff: pb.WbemObject) -> bool:
    return truthy(eff.qualifiers, "singleton")


def is_dynamic(eff: pb.WbemObject) -> bool:
    return truthy(eff.qualifiers, "dynamic")


def system_properties(eff: pb.WbemObject, chain: list[pb.WbemObject], *, server: str, namespace: str) -> pb.SystemProperties:
    derivation = [c.class_name for c in reversed(chain[:-1])]
    return pb.SystemProperties(
        class_name=eff.class_name,
        superclass=eff.superclass,
        dynasty=chain[0].class_name,
        derivation=derivation,
        genus=pb.GENUS_CLASS,
        path=f"\\\\{server}\\{namespace}:{eff.class_name}",
        relpath=eff.class_name,
        namespace=namespace,
        server=server,
        property_count=len(eff.properties),
    )


# ---------------------------------------------------------------------------------------------
# Validation of a class put


@dataclass
class Limits:
    max_identifier: int = names.MAX_IDENTIFIER
    max_properties: int = MAX_PROPERTIES
    max_qualifiers: int = 256
    max_depth: int = 64
    max_array: int = 100_000
    max_string: int = 1_048_576


@dataclass
class ClassPlan:
    """What a validated PutClass will write."""

    name: str
    local: pb.WbemObject
    created: bool
    writes: dict[str, pb.WbemObject] = field(default_factory=dict)  # lower name -> local definition
    delete_instances_of: list[str] = field(default_factory=list)  # lower names, force mode on a static class
    require_no_instances: list[str] = field(default_factory=list)  # lower names checked atomically at write
    noop: bool = False


def _err(code: str, msg: str, param: str = "") -> WbemError:
    return WbemError(code, msg, parameter_info=param, operation="PutClass")


def check_qualifiers(quals: Iterable[pb.Qualifier], where: str, limits: Limits, *, amended_ok: bool = True) -> list[pb.Qualifier]:
    """Validate and normalize qualifiers given by a client; propagated (inherited) ones are dropped."""
    out: list[pb.Qualifier] = []
    seen: set[str] = set()
    quals = list(quals)
    if len(quals) > limits.max_qualifiers:
        raise _err("WBEM_E_QUOTA_VIOLATION", f"{where}: {len(quals)} qualifiers; the limit is {limits.max_qualifiers}",
                   where)
    for q in quals:
        if q.flavor & FLAVOR_ORIGIN_PROPAGATED:
            continue  # came back from a GetObject: inherited, not ours
        names.check_member_name(q.name, "qualifier", operation="PutClass", max_length=limits.max_identifier)
        if q.name.lower() in seen:
            raise _err("WBEM_E_INVALID_OBJECT", f"{where}: qualifier {q.name} appears twice", q.name)
        seen.add(q.name.lower())
        if q.flavor & ~(FLAVOR_INPUT_MASK | FLAVOR_ORIGIN_MASK):
            raise _err("WBEM_E_INVALID_FLAVOR", f"{where}: qualifier {q.name} has flavor bits 0x{q.flavor:X}; "
                       f"valid bits are 0x1, 0x2, 0x10, 0x80", q.name)
        if q.HasField("value") and q.value.WhichOneof("kind") is not None:
            try:
                values.qualifier_type(q.value)
                if q.value.WhichOneof("kind") == "string":
                    values.check_value(T.CIM_TYPE_STRING, False, q.value, what=f"{where} qualifier {q.name}",
                                       max_string=limits.max_string)
            except values.CimValueError as e:
                raise _err(e.code, e.message, q.name) from None
        c = pb.Qualifier()
        c.CopyFrom(q)
        if not c.value.WhichOneof("kind"):
            c.value.boolean = True  # a bare qualifier means TRUE
        c.flavor &= FLAVOR_INPUT_MASK
        out.append(c)
    return out


def _check_property(p: pb.Property, cls: str, limits: Limits, what: str = "property") -> pb.Property:
    names.check_member_name(p.name, what, operation="PutClass", max_length=limits.max_identifier)
    if p.type not in VALID_TYPES:
        raise _err("WBEM_E_INVALID_PROPERTY_TYPE", f"{cls}.{p.name}: CIM type {p.type} is not valid", p.name)
    out = pb.Property(name=p.name, type=p.type, is_array=p.is_array, reference_class=p.reference_class)
    if p.reference_class and not names.reference_target_name(p.reference_class):
        raise _err("WBEM_E_INVALID_PARAMETER", f"{cls}.{p.name}: {p.reference_class!r} is not a class name", p.name)
    out.qualifiers.extend(check_qualifiers(p.qualifiers, f"{cls}.{p.name}", limits))
    if p.HasField("value") and not values.is_null(p.value):
        try:
            values.check_value(p.type, p.is_array, p.value, what=f"{cls}.{p.name}", max_array=limits.max_array,
                               max_string=limits.max_string)
        except values.CimValueError as e:
            raise _err(e.code, e.message, p.name) from None
        out.value.CopyFrom(values.normalize_value(p.type, p.is_array, p.value))
    return out


def normalize_class(obj: pb.WbemObject, parent_eff: pb.WbemObject | None, limits: Limits) -> pb.WbemObject:
    """The local definition a client's class object stands for: own members and real overrides only."""
    name = obj.class_name
    local = pb.WbemObject(genus=pb.GENUS_CLASS, class_name=name, superclass=obj.superclass)
    local.qualifiers.extend(check_qualifiers(obj.qualifiers, name, limits))
    inherited = {p.name.lower(): p for p in parent_eff.properties} if parent_eff is not None else {}
    seen: set[str] = set()
    for p in obj.properties:
        lp = p.name.lower()
        if lp in seen:
            raise _err("WBEM_E_INVALID_OBJECT", f"{name}: property {p.name} appears twice", p.name)
        seen.add(lp)
        base = inherited.get(lp)
        if base is None and p.class_origin and p.class_origin.lower() != name.lower():
            raise _err("WBEM_E_INVALID_PROPERTY", f"{name}.{p.name} claims to come from {p.class_origin}, "
                       f"which does not define it", p.name)
        q = _check_property(p, name, limits)
        if base is not None:
            if (q.type, q.is_array) != (base.type, base.is_array):
                raise _err("WBEM_E_TYPE_MISMATCH", f"{name}.{p.name} is {values.type_name(q.type, q.is_array)} but "
                           f"{base.class_origin} defines it as {values.type_name(base.type, base.is_array)}", p.name)
            same_value = values.values_equal(q.value if q.HasField("value") else None,
                                             base.value if base.HasField("value") else None)
            if same_value and not q.qualifiers:
                continue  # only inherited: nothing of ours to store
            q.name = base.name
        local.properties.append(q)
    mseen: set[str] = set()
    for m in obj.methods:
        names.check_member_name(m.name, "method", operation="PutClass", max_length=limits.max_identifier)
        if m.name.lower() in mseen:
            raise _err("WBEM_E_INVALID_OBJECT", f"{name}: method {m.name} appears twice", m.name)
        mseen.add(m.name.lower())
        if m.class_origin and m.class_origin.lower() != name.lower():
            continue  # inherited method echoed back
        mm = pb.Method(name=m.name)
        mm.qualifiers.extend(check_qualifiers(m.qualifiers, f"{name}.{m.name}()", limits))
        for src, dst in ((m.in_parameters, mm.in_parameters), (m.out_parameters, mm.out_parameters)):
            pseen: set[str] = set()
            for prm in src:
                if prm.name.lower() in pseen:
                    raise _err("WBEM_E_INVALID_DUPLICATE_PARAMETER", f"{name}.{m.name}(): parameter {prm.name} "
                               "appears twice", prm.name)
                pseen.add(prm.name.lower())
                dst.append(_check_property(prm, f"{name}.{m.name}()", limits, "parameter"))
        local.methods.append(mm)
    return local


def check_structure(local: pb.WbemObject, schema: Schema, limits: Limits) -> pb.WbemObject:
    """Rules that need the hierarchy: keys, Abstract, Singleton, limits, overrides. Returns the effective class."""
    name = local.class_name
    parent = schema.get(local.superclass) if local.superclass else None
    parent_eff = schema.effective(local.superclass) if parent is not None else None
    chain = (schema.chain(local.superclass) if parent is not None else []) + [local]
    if len(chain) > limits.max_depth:
        raise _err("WBEM_E_QUOTA_VIOLATION", f"{name}: derivation depth {len(chain)} exceeds {limits.max_depth}", name)
    eff = merge_chain(chain)
    if len(eff.properties) > limits.max_properties:
        raise _err("WBEM_E_TOO_MANY_PROPERTIES", f"{name} has {len(eff.properties)} properties; the limit is "
                   f"{limits.max_properties}", name)
    if parent is not None and truthy(parent.qualifiers, "terminal"):
        raise _err("WBEM_E_INVALID_SUPERCLASS", f"{parent.class_name} is Terminal: it cannot have subclasses",
                   parent.class_name)
    if truthy(local.qualifiers, "terminal") and truthy(local.qualifiers, "abstract"):
        raise _err("WBEM_E_INVALID_QUALIFIER", f"{name}: Terminal and Abstract cannot be combined", name)
    if truthy(local.qualifiers, "abstract") and parent is not None and not is_abstract(parent):
        raise _err("WBEM_E_CANNOT_BE_ABSTRACT", f"{name} is Abstract but its parent {parent.class_name} is not",
                   name)
    parent_keys = {p.name.lower() for p in key_properties(parent_eff)} if parent_eff is not None else set()
    for p in local.properties:
        if truthy(p.qualifiers, "key"):
            if p.is_array or p.type not in KEY_TYPES:
                raise _err("WBEM_E_CANNOT_BE_KEY", f"{name}.{p.name}: a {values.type_name(p.type, p.is_array)} "
                           "property cannot be a key", p.name)
            if parent_keys and p.name.lower() not in parent_keys:
                raise _err("WBEM_E_CANNOT_CHANGE_KEY_INHERITANCE", f"{name}.{p.name}: {local.superclass} already "
                           "defines the keys; a subclass cannot add keys", p.name)
        q = qualifier(p.qualifiers, "key")
        if q is not None and p.name.lower() in parent_keys and not truthy(p.qualifiers, "key"):
            raise _err("WBEM_E_CANNOT_CHANGE_KEY_INHERITANCE", f"{name}.{p.name}: an inherited key cannot be "
                       "turned off", p.name)
    if parent_eff is not None:
        _check_overrides(local, parent_eff, "PutClass")
    if is_singleton(eff):
        if key_properties(eff):
            raise _err("WBEM_E_CANNOT_BE_SINGLETON", f"{name} is Singleton but has key properties", name)
        if parent is not None and not is_singleton(parent_eff) and not is_abstract(parent):  # type: ignore[arg-type]
            raise _err("WBEM_E_CANNOT_BE_SINGLETON", f"{name} is Singleton but its parent {parent.class_name} is "
                       "neither Singleton nor Abstract", name)
    return eff


def _check_overrides(local: pb.WbemObject, parent_eff: pb.WbemObject, operation: str,
                     code: str = "WBEM_E_OVERRIDE_NOT_ALLOWED") -> None:
    """A DisableOverride qualifier propagated from above may not get another value."""
    for q in local.qualifiers:
        _check_one_override(q, parent_eff.qualifiers, local.class_name, operation, code)
    parent_props = {p.name.lower(): p for p in parent_eff.properties}
    for p in local.properties:
        base = parent_props.get(p.name.lower())
        if base is not None:
            for q in p.qualifiers:
                _check_one_override(q, base.qualifiers, f"{local.class_name}.{p.name}", operation, code)


def _check_one_override(q: pb.Qualifier, above: Iterable[pb.Qualifier], where: str, operation: str, code: str) -> None:
    base = qualifier(above, q.name)
    if base is None or not base.flavor & FLAVOR_NOT_OVERRIDABLE:
        return
    if not (base.flavor & FLAVOR_TO_SUBCLASS or base.name.lower() in ALWAYS_INHERITED):
        return
    if not values.values_equal(q.value, base.value):
        raise WbemError(code, f"{where}: qualifier {q.name} is DisableOverride above and cannot be overridden",
                        parameter_info=q.name, operation=operation)


# ---------------------------------------------------------------------------------------------
# Updates


def _qual_map(quals: Iterable[pb.Qualifier]) -> dict[str, pb.Qualifier]:
    return {q.name.lower(): q for q in quals}


def _qual_changes(old: Iterable[pb.Qualifier], new: Iterable[pb.Qualifier]) -> set[str]:
    a, b = _qual_map(old), _qual_map(new)
    return {n for n in a.keys() | b.keys()
            if (n in a) != (n in b) or (n in a and (not values.values_equal(a[n].value, b[n].value)
                                                    or a[n].flavor != b[n].flavor))}


def _important(changed: set[str], old: Iterable[pb.Qualifier], new: Iterable[pb.Qualifier]) -> bool:
    a, b = _qual_map(old), _qual_map(new)
    for n in changed:
        amended = any(n in m and m[n].flavor & FLAVOR_AMENDED for m in (a, b))
        if n not in NON_IMPORTANT and not amended:
            return True
    return False


def canonical(obj: pb.WbemObject) -> bytes:
    """A class definition's bytes with members and qualifiers in name order: the order a client
    lists them in is not part of the class (GetObject lists inherited members first)."""
    c = pb.WbemObject()
    c.CopyFrom(obj)

    def sort(items: Any) -> None:
        ordered = sorted(items, key=lambda x: x.name.lower())
        copies = [type(x)() for x in ordered]
        for dst, src in zip(copies, ordered, strict=False):
            dst.CopyFrom(src)
        del items[:]
        items.extend(copies)

    sort(c.qualifiers)
    for p in c.properties:
        sort(p.qualifiers)
    for m in c.methods:
        sort(m.qualifiers)
    sort(c.properties)
    sort(c.methods)
    return c.SerializeToString(deterministic=True)


def classify_change(old: pb.WbemObject, new: pb.WbemObject) -> tuple[bool, bool, bool]:
    """(changed at all, important, structural) for an update of a class's local definition."""
    if canonical(old) == canonical(new):
        return False, False, False
    structural = old.superclass.lower() != new.superclass.lower()
    cq = _qual_changes(old.qualifiers, new.qualifiers)
    structural |= bool(cq & STRUCTURAL_CLASS_QUALIFIERS)
    important = _important(cq, old.qualifiers, new.qualifiers)
    op, np = ({p.name.lower(): p for p in d.properties} for d in (old, new))
    if op.keys() != np.keys():
        structural = True
    for k in op.keys() & np.keys():
        a, b = op[k], np[k]
        if (a.type, a.is_array, a.reference_class.lower()) != (b.type, b.is_array, b.reference_class.lower()):
            structural = True
        pq = _qual_changes(a.qualifiers, b.qualifiers)
        structural |= bool(pq & STRUCTURAL_PROPERTY_QUALIFIERS)
        important |= _important(pq, a.qualifiers, b.qualifiers)
        if not values.values_equal(a.value if a.HasField("value") else None, b.value if b.HasField("value") else None):
            important = True
    if [m.SerializeToString(deterministic=True) for m in old.methods] != \
            [m.SerializeToString(deterministic=True) for m in new.methods]:
        important = True
    return True, important or structural, structural


def _conflicts(child: pb.WbemObject, old_parent_eff: pb.WbemObject, new_parent_eff: pb.WbemObject,
               *, repair: bool) -> tuple[list[str], pb.WbemObject]:
    """Where a subclass's own definition disagrees with its parent's new version.

    A conflict is a child qualifier that the parent now propagates with another value (newly,
    or as DisableOverride), or a child property override whose type the parent changed.
    With `repair`, the conflicting child qualifiers and overrides are deleted (force mode).
    """
    found: list[str] = []
    fixed = pb.WbemObject()
    fixed.CopyFrom(child)

    def clash(q: pb.Qualifier, old_above: Iterable[pb.Qualifier], new_above: Iterable[pb.Qualifier]) -> bool:
        nq = qualifier(new_above, q.name)
        if nq is None or values.values_equal(nq.value, q.value):
            return False
        oq = qualifier(old_above, q.name)
        newly = oq is None or not values.values_equal(oq.value, nq.value) or oq.flavor != nq.flavor
        return newly or bool(nq.flavor & FLAVOR_NOT_OVERRIDABLE)

    old_inh = inherited_qualifiers(old_parent_eff.qualifiers)
    new_inh = inherited_qualifiers(new_parent_eff.qualifiers)
    keep = [q for q in fixed.qualifiers if not clash(q, old_inh, new_inh)]
    if len(keep) != len(fixed.qualifiers):
        found += [f"{child.class_name}: qualifier {q.name}" for q in fixed.qualifiers if q not in keep]
        del fixed.qualifiers[:]
        fixed.qualifiers.extend(keep)
    oldp = {p.name.lower(): p for p in old_parent_eff.properties}
    newp = {p.name.lower(): p for p in new_parent_eff.properties}
    props = []
    for p in fixed.properties:
        base = newp.get(p.name.lower())
        if base is not None and (base.type, base.is_array) != (p.type, p.is_array):
            found.append(f"{child.class_name}.{p.name}: type")
            continue  # force: the child's override goes, the parent's definition rules
        if base is not None:
            ob = oldp.get(p.name.lower())
            old_q = inherited_qualifiers(ob.qualifiers) if ob is not None else []
            new_q = inherited_qualifiers(base.qualifiers)
            pk = [q for q in p.qualifiers if not clash(q, old_q, new_q)]
            if len(pk) != len(p.qualifiers):
                found += [f"{child.class_name}.{p.name}: qualifier {q.name}" for q in p.qualifiers if q not in pk]
                del p.qualifiers[:]
                p.qualifiers.extend(pk)
        props.append(p)
    del fixed.properties[:]
    fixed.properties.extend(props)
    return found, (fixed if repair else child)


def plan_put_class(obj: pb.WbemObject, flags: int, schema: Schema, limits: Limits) -> ClassPlan:
    """Validate a PutClass against a schema snapshot and say what to write.

    The instance counts this plan depends on are checked by the repository atomically with the
    write (`require_no_instances`), so a racing PutInstance cannot slip in between.
    """
    if obj.genus == pb.GENUS_INSTANCE:
        raise _err("WBEM_E_INVALID_CLASS", "PutClass was given an instance; use PutInstance", obj.class_name)
    if obj.genus != pb.GENUS_CLASS:
        raise _err("WBEM_E_INCOMPLETE_CLASS", "the object is not a class (genus is not set)", obj.class_name)
    name = obj.class_name
    names.check_class_name(name, operation="PutClass", max_length=limits.max_identifier)
    key = name.lower()
    old = schema.get(name)
    if flags & WbemFlag.CREATE_ONLY and old is not None:
        raise _err("WBEM_E_ALREADY_EXISTS", f"class {old.class_name} already exists", name)
    if flags & WbemFlag.UPDATE_ONLY and old is None:
        raise _err("WBEM_E_NOT_FOUND", f"class {name} does not exist", name)
    if obj.superclass:
        if not names.is_identifier(obj.superclass):
            raise _err("WBEM_E_INVALID_SUPERCLASS", f"superclass name {obj.superclass!r} is not valid", obj.superclass)
        if obj.superclass.lower() == key:
            raise _err("WBEM_E_CIRCULAR_REFERENCE", f"class {name} cannot derive from itself", name)
        if schema.get(obj.superclass) is None:
            raise _err("WBEM_E_NOT_FOUND", f"superclass {obj.superclass} does not exist", obj.superclass)
        if old is not None and key in {c.class_name.lower() for c in schema.chain(obj.superclass)}:
            raise _err("WBEM_E_CIRCULAR_REFERENCE", f"{obj.superclass} derives from {name}", obj.superclass)
    parent_eff = schema.effective(obj.superclass) if obj.superclass else None
    local = normalize_class(obj, parent_eff, limits)
    if old is not None and flags & WbemFlag.USE_AMENDED_QUALIFIERS:
        local = _keep_stored_amended(old, local)
    if old is not None:
        local.class_name = old.class_name  # names are case-insensitive: the first spelling stays
    if obj.superclass:
        local.superclass = schema.get(obj.superclass).class_name  # type: ignore[union-attr]  # the parent's spelling
    check_structure(local, schema, limits)
    plan = ClassPlan(name=name, local=local, created=old is None, writes={key: local})
    if old is None:
        return plan
    changed, important, structural = classify_change(old, local)
    if not changed:
        plan.noop = True
        return plan
    if not important:
        return plan
    mode = flags & (WbemFlag.UPDATE_SAFE_MODE | WbemFlag.UPDATE_FORCE_MODE)
    kids = schema.descendants(name)
    new_schema = schema.copy_with({key: local})
    if kids:
        if mode == 0:
            raise _err("WBEM_E_CLASS_HAS_CHILDREN", f"class {name} has subclasses ({len(kids)}); update it with "
                       "WBEM_FLAG_UPDATE_SAFE_MODE or WBEM_FLAG_UPDATE_FORCE_MODE", name)
        found: list[str] = []
        for k in kids:  # parents come before children in descendants(), so repairs cascade
            child = new_schema.classes[k]
            old_parent_eff = schema.effective(schema.classes[k].superclass)
            new_parent_eff = new_schema.effective(child.superclass)
            f, fixed = _conflicts(child, old_parent_eff, new_parent_eff, repair=mode == WbemFlag.UPDATE_FORCE_MODE)
            found += f
            if fixed is not child:
                new_schema = new_schema.copy_with({k: fixed})
                plan.writes[k] = fixed
        if found and mode == WbemFlag.UPDATE_SAFE_MODE:
            raise _err("WBEM_E_CLASS_HAS_CHILDREN", f"the update of {name} conflicts with subclasses: "
                       + "; ".join(found[:5]), name)
        for k in kids:  # every subclass must still be a valid class under the new parent
            try:
                check_structure(new_schema.classes[k], new_schema, limits)
            except WbemError as e:
                raise _err("WBEM_E_CLASS_HAS_CHILDREN", f"the update of {name} would make subclass "
                           f"{new_schema.classes[k].class_name} invalid: {e.description}", name) from None
    if structural:
        affected = [key] + kids
        if mode == WbemFlag.UPDATE_FORCE_MODE:
            if not is_dynamic(new_schema.effective(name)):
                plan.delete_instances_of = affected
        else:
            plan.require_no_instances = affected
    return plan


def _keep_stored_amended(old: pb.WbemObject, new: pb.WbemObject) -> pb.WbemObject:
    """USE_AMENDED_QUALIFIERS on an update: amended qualifiers sent are ignored, stored ones stay."""
    out = pb.WbemObject()
    out.CopyFrom(new)

    def merge(stored: Iterable[pb.Qualifier], sent: Iterable[pb.Qualifier]) -> list[pb.Qualifier]:
        keep = [q for q in sent if not q.flavor & FLAVOR_AMENDED]
        have = {q.name.lower() for q in keep}
        return keep + [q for q in stored if q.flavor & FLAVOR_AMENDED and q.name.lower() not in have]

    quals = merge(old.qualifiers, out.qualifiers)
    del out.qualifiers[:]
    out.qualifiers.extend(quals)
    oldp = {p.name.lower(): p for p in old.properties}
    for p in out.properties:
        o = oldp.get(p.name.lower())
        pq = merge(o.qualifiers if o is not None else [], p.qualifiers)
        del p.qualifiers[:]
        p.qualifiers.extend(pq)
    return out


def has_amended(obj: pb.WbemObject) -> bool:
    return any(q.flavor & FLAVOR_AMENDED for q in obj.qualifiers) or any(
        q.flavor & FLAVOR_AMENDED for p in obj.properties for q in p.qualifiers)


def strip_amended(obj: pb.WbemObject) -> pb.WbemObject:
    out = pb.WbemObject()
    out.CopyFrom(obj)
    keep = [q for q in out.qualifiers if not q.flavor & FLAVOR_AMENDED]
    del out.qualifiers[:]
    out.qualifiers.extend(keep)
    for p in out.properties:
        pk = [q for q in p.qualifiers if not q.flavor & FLAVOR_AMENDED]
        del p.qualifiers[:]
        p.qualifiers.extend(pk)
    return out
