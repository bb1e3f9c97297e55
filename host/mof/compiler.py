"""Compile MOF files into the puts that load them: classes and instances as proto objects.

    unit = Compiler(search_paths=["schema/"]).compile_file("cim_schema_2.49.0.mof")
    for item in unit.items: ...        # Item: what to put where, with which flags, from which line

This is mofcomp's front half. It follows `#pragma include` (relative to the including file, then
the search paths), `#pragma namespace`, `classflags`, `instanceflags`, `deleteclass` and
`deleteinstance`, applies qualifier declarations (their type and default flavors), and turns each
class and instance into the WbemObject a PutClass/PutInstance sends. It never talks to a server:
aliases (`$P`) are left as fix-ups that the loader fills in with the paths the puts return.

WMI's relaxations of DSP0004 are kept, as mofcomp keeps them (PROVENANCE.md W1-W15): undeclared
qualifiers are accepted (type from the value, DSP0004's default flavors), qualifier scopes are not
enforced, references may sit in any class, and a subclass may redeclare an inherited member
without Override. Whether a class is acceptable is the server's decision, reported per item.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from host.client._objects import TYPES
from host.flags import WbemFlag
from host.model import values
from host.mof import syntax
from host.mof.errors import MofCode, MofError
from host.mof.syntax import Alias, Char, Where
from wmiput.v1 import object_pb2 as pb

T = pb.CimType
CIM_TYPES: dict[str, int] = {k: v for k, v in TYPES.items() if k != "reference"}  # MOF says "ref"
TO_INSTANCE, TO_SUBCLASS, DISABLE_OVERRIDE, AMENDED = 0x1, 0x2, 0x10, 0x80
DEFAULT_FLAVOR = TO_SUBCLASS  # DSP0004: EnableOverride, ToSubclass, not ToInstance
DEFAULT_NAMESPACE = "root\\default"  # mofcomp's, when neither -N nor #pragma namespace says

CLASS_FLAG_WORDS = {"createonly": WbemFlag.CREATE_ONLY, "updateonly": WbemFlag.UPDATE_ONLY,
                    "safeupdate": WbemFlag.UPDATE_SAFE_MODE, "forceupdate": WbemFlag.UPDATE_FORCE_MODE}
INSTANCE_FLAG_WORDS = {"createonly": WbemFlag.CREATE_ONLY, "updateonly": WbemFlag.UPDATE_ONLY}
IGNORED_PRAGMAS = {"autorecover", "locale", "amendment", "source", "nonlocal", "nonlocaltype", "sourcetype"}


@dataclass
class Item:
    """One thing to do on the server, in a namespace, from a place in a file."""

    kind: str  # "class", "instance", "delete_class", "delete_instance"
    namespace: str
    where: Where
    name: str  # class name, or the instance's class, or the path to delete
    obj: pb.WbemObject | None = None
    flags: int = 0
    alias: str | None = None  # `as $alias`: the path this put returns is the alias's value
    alias_refs: list[tuple[int, int | None, str]] = field(default_factory=list)  # (property, array item, alias)
    uses_classes: set[str] = field(default_factory=set)  # class-typed members: classes that must exist
    fail_if_missing: bool = True  # deleteclass/deleteinstance: FAIL (True) or NOFAIL
    index: int = 0


@dataclass
class QualifierType:
    type: str | None
    is_array: bool
    default: Any
    flavor: int | None  # None: the declaration said nothing about flavors


@dataclass
class Unit:
    """The outcome of compiling one or more files."""

    items: list[Item] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # pragmas accepted but without effect here
    namespaces: set[str] = field(default_factory=set)

    @property
    def classes(self) -> list[Item]:
        return [i for i in self.items if i.kind == "class"]

    @property
    def instances(self) -> list[Item]:
        return [i for i in self.items if i.kind == "instance"]


def normalize_namespace(name: str) -> str:
    parts = [p for p in name.replace("/", "\\").split("\\") if p]
    return "\\".join(parts)


def pragma_namespace(arg: str, current: str, where: Where) -> str:
    """WMI's forms: `\\\\.\\root\\cimv2`, `//./root/x`, `\\root\\x` (from the top), `root\\x`, or
    a name relative to the current namespace (`SAMPLE_Office`)."""
    text = arg.replace("/", "\\")
    if text.startswith("\\\\"):
        server, _, rest = text[2:].partition("\\")
        if server.lower() not in (".", "localhost") or not rest:
            raise MofError(MofCode.INVALID_NAMESPACE_SPECIFICATION,
                           f"{arg!r}: only the local server (\\\\.) can be named; connect with --target instead", where)
        return normalize_namespace(rest)
    if text.startswith("\\"):
        return normalize_namespace(text)
    ns = normalize_namespace(text)
    if not ns:
        raise MofError(MofCode.INVALID_NAMESPACE_SPECIFICATION, f"{arg!r} names no namespace", where)
    if ns.split("\\", 1)[0].lower() == "root":
        return ns
    return f"{current}\\{ns}"


class Compiler:
    def __init__(self, *, namespace: str = DEFAULT_NAMESPACE, search_paths: Iterable[str | os.PathLike[str]] = (),
                 class_flags: int = 0, instance_flags: int = 0, skip_missing_includes: bool = False,
                 max_include_depth: int = 32) -> None:
        self.namespace = normalize_namespace(namespace)
        self.search_paths = [Path(p) for p in search_paths]
        self.class_flags = class_flags
        self.instance_flags = instance_flags
        self.skip_missing_includes = skip_missing_includes
        self.max_include_depth = max_include_depth
        self.qualifier_types: dict[str, QualifierType] = {}
        self.unit = Unit()
        self._stack: list[Path] = []

    # ---- files
    def compile_file(self, path: str | os.PathLike[str]) -> Unit:
        p = Path(path)
        if not p.is_file():
            raise MofError(MofCode.INVALID_FILE, f"{p}: no such file")
        self._compile(p.resolve(), str(p))
        return self.unit

    def compile_text(self, text: str, file: str = "<mof>") -> Unit:
        self._statements(syntax.parse(text, file), Path.cwd() / file, file)
        return self.unit

    def _compile(self, path: Path, shown: str) -> None:
        if path in self._stack:
            raise MofError(MofCode.ERROR_INVALID_INCLUDE_FILE, f"{shown} includes itself (through "
                           f"{' > '.join(p.name for p in self._stack)})")
        if len(self._stack) >= self.max_include_depth:
            raise MofError(MofCode.ERROR_INVALID_INCLUDE_FILE, f"{shown}: includes nest deeper than "
                           f"{self.max_include_depth}")
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise MofError(MofCode.INVALID_FILE, f"{shown}: {e.strerror}") from None
        text = _decode(raw)
        self.unit.files.append(shown)
        self._stack.append(path)
        try:
            self._statements(syntax.parse(text, shown), path, shown)
        finally:
            self._stack.pop()

    def _find_include(self, name: str, including: Path) -> Path | None:
        candidates = [including.parent / name] + [d / name for d in self.search_paths]
        for c in candidates:
            if c.is_file():
                return c.resolve()
        # Case-insensitive, as on Windows where these files come from.
        for d in [including.parent, *self.search_paths]:
            target = (d / name)
            folder = target.parent
            if folder.is_dir():
                for entry in folder.iterdir():
                    if entry.name.lower() == target.name.lower() and entry.is_file():
                        return entry.resolve()
        return None

    # ---- statements
    def _statements(self, statements: list[syntax.Statement], path: Path, shown: str) -> None:
        for s in statements:
            if isinstance(s, syntax.Pragma):
                self._pragma(s, path)
            elif isinstance(s, syntax.QualifierDecl):
                self._qualifier_decl(s)
            elif isinstance(s, syntax.ClassDecl):
                self._add(self._class(s))
            elif isinstance(s, syntax.InstanceDecl):
                self._add(self._instance(s))

    def _add(self, item: Item) -> None:
        item.index = len(self.unit.items)
        self.unit.namespaces.add(item.namespace)
        self.unit.items.append(item)

    def _pragma(self, p: syntax.Pragma, path: Path) -> None:
        def one_string() -> str:
            if len(p.args) != 1 or not isinstance(p.args[0], str):
                raise MofError(MofCode.INVALID_PRAGMA, f"#pragma {p.name} takes one string", p.where)
            return p.args[0]

        if p.name == "include":
            name = one_string()
            found = self._find_include(name, path)
            if found is None:
                if self.skip_missing_includes:
                    self.unit.notes.append(f"{p.where}: #pragma include({name!r}): not found, skipped")
                    return
                raise MofError(MofCode.ERROR_INVALID_INCLUDE_FILE, f"cannot find {name!r} next to "
                               f"{path.name} or on the search path", p.where)
            shown = os.path.relpath(found)
            if shown.startswith(".."):
                shown = str(found)
            self._compile(found, shown)
        elif p.name == "namespace":
            self.namespace = pragma_namespace(one_string(), self.namespace, p.where)
        elif p.name == "classflags":
            self.class_flags = _flag_words(p, CLASS_FLAG_WORDS)
        elif p.name == "instanceflags":
            self.instance_flags = _flag_words(p, INSTANCE_FLAG_WORDS)
        elif p.name in ("deleteclass", "deleteinstance"):
            code = MofCode.INVALID_DELETECLASS_SYNTAX if p.name == "deleteclass" else MofCode.INVALID_DELETEINSTANCE_SYNTAX
            if len(p.args) != 2 or str(p.args[1]).upper() not in ("FAIL", "NOFAIL"):
                raise MofError(code, f"#pragma {p.name}(\"name\", FAIL|NOFAIL)", p.where)
            self._add(Item(kind="delete_class" if p.name == "deleteclass" else "delete_instance",
                           namespace=self.namespace, where=p.where, name=str(p.args[0]),
                           fail_if_missing=str(p.args[1]).upper() == "FAIL"))
        elif p.name in IGNORED_PRAGMAS:
            self.unit.notes.append(f"{p.where}: #pragma {p.name}: accepted, no effect here")
        else:
            raise MofError(MofCode.INVALID_PRAGMA, f"unknown pragma {p.name!r}", p.where)

    def _qualifier_decl(self, d: syntax.QualifierDecl) -> None:
        key = d.name.lower()
        if d.type is None:  # WMI: `qualifier Name : ToInstance;` sets the default flavor only
            known = self.qualifier_types.get(key)
            flavor = _flavor(d.flavors, DEFAULT_FLAVOR, d.where)
            if known:
                known.flavor = flavor
            else:
                self.qualifier_types[key] = QualifierType(None, False, None, flavor)
            return
        self.qualifier_types[key] = QualifierType(
            d.type, d.is_array, d.default, _flavor(d.flavors, DEFAULT_FLAVOR, d.where) if d.flavors else None)

    # ---- qualifiers
    def _qualifiers(self, qs: list[syntax.Qualifier], where: Where) -> list[pb.Qualifier]:
        out: list[pb.Qualifier] = []
        seen: set[str] = set()
        for q in qs:
            if q.name.lower() in seen:
                raise MofError(MofCode.DUPLICATE_QUALIFIER, f"qualifier {q.name} is given twice", where)
            seen.add(q.name.lower())
            decl = self.qualifier_types.get(q.name.lower())
            base = decl.flavor if decl and decl.flavor is not None else DEFAULT_FLAVOR
            pq = pb.Qualifier(name=q.name, flavor=_flavor(q.flavors, base, where))
            value = q.value if q.has_value else (decl.default if decl and decl.type not in (None, "boolean")
                                                  else True)
            if value is None and decl is not None and decl.type == "boolean":
                value = True
            t = CIM_TYPES.get(decl.type) if decl and decl.type else None
            v = _value(value, t, where, f"qualifier {q.name}")
            if v is not None:
                pq.value.CopyFrom(v)
            out.append(pq)
        return out

    # ---- classes
    def _member_type(self, type_name: str, reference_class: str, where: Where, uses: set[str]) -> tuple[int, str]:
        if type_name == "ref":
            return T.CIM_TYPE_REFERENCE, reference_class
        t = CIM_TYPES.get(type_name.lower())
        if t is not None:
            return t, ""
        uses.add(type_name)  # WMI: a class name as the type is an embedded object of that class
        return T.CIM_TYPE_OBJECT, type_name

    def _property(self, p: syntax.Property, where: Where, uses: set[str]) -> pb.Property:
        if p.type.lower() == "void":
            raise MofError(MofCode.UNRECOGNIZED_TYPE, f"property {p.name} cannot be void", where)
        t, ref = self._member_type(p.type, p.reference_class, where, uses)
        out = pb.Property(name=p.name, type=t, is_array=p.is_array, reference_class=ref)
        out.qualifiers.extend(self._qualifiers(p.qualifiers, where))
        if p.has_default:
            if isinstance(p.default, Alias):
                raise MofError(MofCode.UNEXPECTED_ALIAS, f"{p.name}: an alias cannot be a class default", where)
            v = _value(p.default, t, where, f"property {p.name}")
            if v is not None:
                if t not in (T.CIM_TYPE_OBJECT, T.CIM_TYPE_REFERENCE):
                    try:
                        values.check_value(t, p.is_array, v, what=f"property {p.name}")
                    except values.CimValueError as e:
                        code = MofCode.OUT_OF_RANGE if e.code == values.VALUE_OUT_OF_RANGE else MofCode.TYPE_MISMATCH
                        raise MofError(code, str(e), where) from None
                out.value.CopyFrom(v)
        return out

    def _method(self, m: syntax.Method, where: Where, uses: set[str]) -> pb.Method:
        out = pb.Method(name=m.name)
        out.qualifiers.extend(self._qualifiers(m.qualifiers, where))
        names: set[str] = set()
        for p in m.parameters:
            _claim(names, p.name, f"{m.name}: parameter {p.name} is declared twice", where)
            prop = self._property(p, where, uses)
            if _bool_qualifier(p.qualifiers, "in", True):
                out.in_parameters.append(prop)
            if _bool_qualifier(p.qualifiers, "out", False):
                out_prop = pb.Property()
                out_prop.CopyFrom(prop)
                out_prop.ClearField("value")
                out.out_parameters.append(out_prop)
        if m.return_type.lower() != "void":
            t, ref = self._member_type(m.return_type, "", where, uses)
            out.out_parameters.append(pb.Property(name="ReturnValue", type=t, reference_class=ref))
        return out

    def _class(self, c: syntax.ClassDecl) -> Item:
        uses: set[str] = set()
        obj = pb.WbemObject(genus=pb.GENUS_CLASS, class_name=c.name, superclass=c.superclass)
        obj.qualifiers.extend(self._qualifiers(c.qualifiers, c.where))
        names: set[str] = set()
        for p in c.properties:
            _claim(names, p.name, f"{c.name}.{p.name} is declared twice", c.where)
            obj.properties.append(self._property(p, c.where, uses))
        for m in c.methods:
            _claim(names, m.name, f"{c.name}.{m.name} is declared twice", c.where)
            obj.methods.append(self._method(m, c.where, uses))
        return Item(kind="class", namespace=self.namespace, where=c.where, name=c.name, obj=obj,
                    flags=self.class_flags, alias=c.alias, uses_classes=uses)

    # ---- instances
    def _instance_object(self, inst: syntax.InstanceDecl, refs: list[tuple[int, int | None, str]] | None,
                         uses: set[str]) -> pb.WbemObject:
        obj = pb.WbemObject(genus=pb.GENUS_INSTANCE, class_name=inst.class_name)
        obj.qualifiers.extend(self._qualifiers(inst.qualifiers, inst.where))
        names: set[str] = set()
        for e in inst.entries:
            _claim(names, e.name, f"{inst.class_name}.{e.name} is given twice", inst.where)
            prop = pb.Property(name=e.name)
            prop.qualifiers.extend(self._qualifiers(e.qualifiers, inst.where))
            index = len(obj.properties)
            value = e.value
            if isinstance(value, Alias) or (isinstance(value, list) and any(isinstance(x, Alias) for x in value)):
                if refs is None:
                    raise MofError(MofCode.ALIASES_IN_EMBEDDED, f"{e.name}: an embedded instance cannot use an "
                                   "alias", inst.where)
                if isinstance(value, Alias):
                    refs.append((index, None, value.name))
                    value = ""
                else:
                    for i, x in enumerate(value):
                        if isinstance(x, Alias):
                            refs.append((index, i, x.name))
                    value = ["" if isinstance(x, Alias) else x for x in value]
            if e.has_value:
                v = _value(value, None, inst.where, f"property {e.name}", uses=uses, compiler=self)
                if v is not None:
                    prop.value.CopyFrom(v)
            obj.properties.append(prop)
        return obj

    def _instance(self, inst: syntax.InstanceDecl) -> Item:
        refs: list[tuple[int, int | None, str]] = []
        uses: set[str] = set()
        obj = self._instance_object(inst, refs, uses)
        return Item(kind="instance", namespace=self.namespace, where=inst.where, name=inst.class_name, obj=obj,
                    flags=self.instance_flags, alias=inst.alias, alias_refs=refs, uses_classes=uses)


def _claim(names: set[str], name: str, message: str, where: Where) -> None:
    """Member names are unique in a class, an instance or a method (case-insensitively)."""
    if name.lower() in names:
        raise MofError(MofCode.DUPLICATE_PROPERTY, message, where)
    names.add(name.lower())


def _decode(raw: bytes) -> str:
    """MOF files come as UTF-8 (with or without BOM) or, from Windows tools, UTF-16 with a BOM."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _flag_words(p: syntax.Pragma, words: dict[str, int]) -> int:
    text = ",".join(str(a) for a in p.args)
    flags = 0
    for word in (w.strip().lower() for w in text.split(",")):
        if not word:
            continue
        if word not in words:
            raise MofError(MofCode.INVALID_FLAGS_SYNTAX, f"#pragma {p.name}: unknown flag {word!r} "
                           f"(one of {', '.join(words)})", p.where)
        flags |= words[word]
    if flags & WbemFlag.CREATE_ONLY and flags & WbemFlag.UPDATE_ONLY or (
            flags & WbemFlag.UPDATE_SAFE_MODE and flags & WbemFlag.UPDATE_FORCE_MODE):
        raise MofError(MofCode.INVALID_FLAGS_SYNTAX, f"#pragma {p.name}: {text!r} contradicts itself", p.where)
    return flags


_FLAVOR_BITS = {"toinstance": (TO_INSTANCE, 0), "nottoinstance": (0, TO_INSTANCE),
                "tosubclass": (TO_SUBCLASS, 0), "nottosubclass": (0, TO_SUBCLASS),
                "restricted": (0, TO_INSTANCE | TO_SUBCLASS), "enableoverride": (0, DISABLE_OVERRIDE),
                "disableoverride": (DISABLE_OVERRIDE, 0), "amended": (AMENDED, 0),
                "translatable": (0, 0)}  # CIM's Translatable is not WMI's Amended


def _flavor(words: list[str], base: int, where: Where) -> int:
    f = base
    for w in words:
        bits = _FLAVOR_BITS.get(w.lower())
        if bits is None:
            raise MofError(MofCode.EXPECTED_FLAVOR_TYPE, f"unknown qualifier flavor {w!r}", where)
        f = (f | bits[0]) & ~bits[1]
    return f


def _bool_qualifier(qs: list[syntax.Qualifier], name: str, default: bool) -> bool:
    for q in qs:
        if q.name.lower() == name:
            return True if not q.has_value or q.value is None else bool(q.value)
    return default


def _plain(x: Any, cim_type: int | None) -> Any:
    if isinstance(x, Char):
        return ord(x)
    if isinstance(x, list):
        return [_plain(i, cim_type) for i in x]
    if cim_type == T.CIM_TYPE_CHAR16 and isinstance(x, str) and len(x) == 1:
        return ord(x)
    return x


def _value(x: Any, cim_type: int | None, where: Where, what: str, *, uses: set[str] | None = None,
           compiler: Compiler | None = None) -> pb.Value | None:
    if isinstance(x, syntax.InstanceDecl):
        if compiler is None:
            raise MofError(MofCode.TYPE_MISMATCH, f"{what}: an instance is not a value here", where)
        if uses is not None:
            uses.add(x.class_name)
        return pb.Value(object=compiler._instance_object(x, None, uses if uses is not None else set()))
    if isinstance(x, list) and any(isinstance(i, syntax.InstanceDecl) for i in x):
        out = pb.Value()
        out.array.SetInParent()
        for i in x:
            v = _value(i, cim_type, where, what, uses=uses, compiler=compiler)
            out.array.items.append(v if v is not None else pb.Value())
        return out
    if isinstance(x, list) and any(i is None for i in x):
        raise MofError(MofCode.NULL_ARRAY_ELEM, f"{what}: an array item is NULL", where)
    try:
        return values.from_python(_plain(x, cim_type), cim_type)
    except values.CimValueError as e:
        raise MofError(MofCode.OUT_OF_RANGE, f"{what}: {e}", where) from None
