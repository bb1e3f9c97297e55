r"""WMI object paths: a parser and a formatter that round-trip, escaping included.

Grammar (MS-WMI §2.2.2 and Microsoft's "Describing the Location of a WMI Object"):

    CIMPATH        = [ NAMESPACE-PATH ":" ] OBJECT-PATH
    NAMESPACE-PATH = [ "\\" MACHINE "\" ] NAMESPACE          ("//" MACHINE "/" ... also accepted)
    NAMESPACE      = IDENT *( "\" IDENT )
    OBJECT-PATH    = CLASS [ "=@" | "." KEY "=" VALUE *( "," KEY "=" VALUE ) | "=" VALUE ]
    VALUE          = integer | real | "string" | 'string' | TRUE | FALSE

Choices beyond the grammar (positions in errors are 0-based):

- "\" and "/" are both accepted as separators in the namespace path; output always uses "\".
- A namespace-only path ("\\Server\root\cimv2", "root\cimv2", "root:") is accepted with or
  without a trailing ":"; it is written without one unless the namespace is a single name
  and there is no machine ("root:"), where "root" alone would read as a class.
- In quoted strings a backslash escapes only "\", '"' and "'"; any other escape is an error.
  Output always uses double quotes and escapes only "\" and '"'.
- No whitespace outside quoted strings; integers must fit sint64..uint64; reals must be finite.
- URL-style percent escapes ("%20") are NOT decoded (some WMI clients do): outside a quoted
  string "%" is an error, inside one it is kept literally.
- MACHINE is "." or letters, digits, "_", "-", "." (DNS names, IPv4); IPv6 literals are not
  supported.
- ObjectPath equality is plain dataclass equality (key names case-sensitive, 1 == 1.0 == True);
  use canonical_key_string() for an instance's identity.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "KeyValue",
    "ObjectPath",
    "PathError",
    "canonical_key_string",
    "format_value",
    "join_namespace",
    "parse_path",
    "split_namespace",
]

KeyValue = str | int | float | bool

DEFAULT_MAX_LENGTH = 8192 * 4

_IDENT = re.compile(r"[A-Za-z_\u0080-\uffef][A-Za-z0-9_\u0080-\uffef]*")
_MACHINE = re.compile(r"[A-Za-z0-9_.\-\u0080-\uffef]+")
_NUMBER = re.compile(r"-?[0-9]+(?P<real>(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)")
_SEPARATORS = "\\/"
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # sint64 .. uint64: the widest WMI key types


class PathError(ValueError):
    """A malformed object path (or an ObjectPath that cannot be written as one)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


def _check_value(value: object) -> None:
    if isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise PathError(f"integer key value {value} is outside the 64-bit range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PathError(f"real key value {value!r} has no path syntax (must be finite)")
        return
    raise PathError(f"unsupported key value type {type(value).__name__} (str, int, float or bool)")


def format_value(v: KeyValue) -> str:
    """A key value as path text: str double-quoted and escaped, bool TRUE/FALSE, numbers decimal."""
    _check_value(v)
    if isinstance(v, bool):  # before int: bool is an int subclass
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, int):
        return str(v)
    return repr(v)  # finite float: repr always has "." or "e", so it reads back as a real


def canonical_key_string(keys: Iterable[tuple[str, KeyValue]]) -> str:
    """Deterministic identity text of a key set: names lower-cased and sorted, values as written.

    String values keep their case. The "Class=value" shorthand (name "") stays distinct from the
    named form; resolving it needs the class schema, which this module does not have.
    """
    items = [(name.lower(), format_value(value)) for name, value in keys]
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise PathError(f"duplicate key names in {sorted(names)}")
    return ",".join(f"{name}={text}" for name, text in sorted(items))


def split_namespace(ns: str) -> list[str]:
    """'root\\cimv2' or 'root/cimv2' -> ['root', 'cimv2']; '' -> []."""
    if ns == "":
        return []
    parts = re.split(r"[\\/]", ns)
    for part in parts:
        if not _IDENT.fullmatch(part):
            raise PathError(f"namespace {ns!r}: {part!r} is not a valid namespace name")
    return parts


def join_namespace(parts: Iterable[str]) -> str:
    """['root', 'cimv2'] -> 'root\\cimv2' (each part validated)."""
    parts = list(parts)
    for part in parts:
        if not isinstance(part, str) or not _IDENT.fullmatch(part):
            raise PathError(f"{part!r} is not a valid namespace name")
    return "\\".join(parts)


@dataclass(frozen=True)
class ObjectPath:
    """A parsed WMI object path; validated on construction, so format() always parses back."""

    server: str = ""  # "" = local; "." kept as "."
    namespace: str = ""  # "root\\cimv2" with backslashes, "" if relative
    class_name: str = ""  # "" for a namespace-only path
    keys: tuple[tuple[str, KeyValue], ...] = ()  # in the order given; "" names the Class=value shorthand
    singleton: bool = False  # Class=@

    def __post_init__(self) -> None:
        if not isinstance(self.server, str) or (self.server and not _MACHINE.fullmatch(self.server)):
            raise PathError(f"invalid machine name {self.server!r}")
        # Normalise "/" separators so equal namespaces compare equal.
        object.__setattr__(self, "namespace", join_namespace(split_namespace(self.namespace)))
        if self.server and not self.namespace:
            raise PathError(f"machine {self.server!r} given without a namespace")
        if not isinstance(self.class_name, str) or (self.class_name and not _IDENT.fullmatch(self.class_name)):
            raise PathError(f"invalid class name {self.class_name!r}")
        try:
            keys = tuple((name, value) for name, value in self.keys)
        except (TypeError, ValueError):
            raise PathError(f"keys must be (name, value) pairs, got {self.keys!r}") from None
        object.__setattr__(self, "keys", keys)
        seen: set[str] = set()
        for name, value in keys:
            if not isinstance(name, str):
                raise PathError(f"key name {name!r} is not a string")
            if name == "":
                if len(keys) != 1:
                    raise PathError("an empty key name (Class=value shorthand) needs exactly one key")
            elif not _IDENT.fullmatch(name):
                raise PathError(f"invalid key name {name!r}")
            if name.lower() in seen:
                raise PathError(f"duplicate key name {name!r}")
            seen.add(name.lower())
            _check_value(value)
        if not isinstance(self.singleton, bool):
            raise PathError("singleton must be a bool")
        if (keys or self.singleton) and not self.class_name:
            raise PathError("keys or '=@' given without a class name")
        if keys and self.singleton:
            raise PathError("a singleton path (Class=@) takes no keys")
        if not self.class_name and not self.namespace:
            raise PathError("empty path: neither a namespace nor a class")

    @property
    def is_class(self) -> bool:
        return bool(self.class_name) and not self.keys and not self.singleton

    @property
    def is_instance(self) -> bool:
        return bool(self.class_name) and (bool(self.keys) or self.singleton)

    def relpath(self) -> str:
        """The object part: 'Class', 'Class.k=1,j="a"', 'Class=@', 'Class="v"'; '' if namespace-only."""
        if self.singleton:
            return f"{self.class_name}=@"
        if len(self.keys) == 1 and self.keys[0][0] == "":
            return f"{self.class_name}={format_value(self.keys[0][1])}"
        if self.keys:
            return self.class_name + "." + ",".join(f"{k}={format_value(v)}" for k, v in self.keys)
        return self.class_name

    def format(self) -> str:
        """The full path text; parse_path(p.format()) == p."""
        rel = self.relpath()
        if self.server:
            location = f"\\\\{self.server}\\{self.namespace}"
        elif self.namespace:
            location = self.namespace
        else:
            return rel
        if rel:
            return f"{location}:{rel}"
        # Namespace only: a lone name without a machine would read back as a class.
        return location if self.server or "\\" in self.namespace else location + ":"

    def with_location(self, server: str, namespace: str) -> ObjectPath:
        return dataclasses.replace(self, server=server, namespace=namespace)

    def __str__(self) -> str:
        return self.format()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> PathError:
        pos = self.pos if pos is None else pos
        near = self.text[pos : pos + 24]
        where = f" near {near!r}" if near else " (end of path)"
        return PathError(f"{message} at position {pos}{where}", pos)

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def unexpected(self, expected: str) -> PathError:
        c = self.peek()
        if c is None:
            return self.error(f"expected {expected}, got end of path")
        if c.isspace():
            return self.error(f"expected {expected}, got whitespace (not allowed outside quoted strings)")
        return self.error(f"expected {expected}, got {c!r}")

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        m = pattern.match(self.text, self.pos)
        if not m:
            raise self.unexpected(what)
        self.pos = m.end()
        return m.group()

    def namespace(self, first: str) -> str:
        parts = [first]
        while (c := self.peek()) is not None and c in _SEPARATORS:
            self.pos += 1
            parts.append(self.match(_IDENT, "a namespace name"))
        return "\\".join(parts)

    def parse(self) -> ObjectPath:
        text = self.text
        server = namespace = ""
        if text.startswith(("\\\\", "//")):
            self.pos = 2
            server = self.match(_MACHINE, "a machine name")
            if (c := self.peek()) is None or c not in _SEPARATORS:
                raise self.unexpected("'\\' and a namespace after the machine name")
            self.pos += 1
            namespace = self.namespace(self.match(_IDENT, "a namespace name"))
        else:
            first = self.match(_IDENT, "a class or namespace name")
            c = self.peek()
            if c is not None and c in _SEPARATORS:
                namespace = self.namespace(first)
            elif c == ":":
                namespace = first
            else:
                return self.object_path(server, namespace, first)
        # A namespace path: alone, with a trailing ":", or ":" and an object path.
        if self.peek() is None:
            return ObjectPath(server, namespace)
        if self.peek() != ":":
            raise self.unexpected("':' or a namespace separator")
        self.pos += 1
        if self.peek() is None:
            return ObjectPath(server, namespace)
        return self.object_path(server, namespace, self.match(_IDENT, "a class name"))

    def object_path(self, server: str, namespace: str, class_name: str) -> ObjectPath:
        keys: list[tuple[str, KeyValue]] = []
        singleton = False
        c = self.peek()
        if c == "=":
            self.pos += 1
            if self.peek() == "@":
                self.pos += 1
                singleton = True
                if self.peek() is not None:
                    raise self.error("a singleton path (Class=@) takes no keys or further text")
            else:
                keys.append(("", self.value()))
                if self.peek() == ",":
                    raise self.error("the Class=value shorthand takes exactly one key; name the keys instead")
        elif c == ".":
            self.pos += 1
            seen: set[str] = set()
            while True:
                if self.peek() in ("=", ","):
                    raise self.error("empty key name")
                name_pos = self.pos
                name = self.match(_IDENT, "a key name")
                if name.lower() in seen:
                    raise self.error(f"duplicate key name {name!r}", name_pos)
                seen.add(name.lower())
                if self.peek() != "=":
                    raise self.unexpected(f"'=' after key name {name!r}")
                self.pos += 1
                keys.append((name, self.value()))
                if self.peek() != ",":
                    break
                self.pos += 1
        elif c is not None and c != ":":
            raise self.unexpected("'.', '=' or end of path after the class name")
        if self.peek() is not None:
            if self.peek() == ":":
                raise self.error("unexpected ':' (namespace path must come first, with no '.' or '=')")
            raise self.unexpected("',' or end of path")
        return ObjectPath(server, namespace, class_name, tuple(keys), singleton)

    def value(self) -> KeyValue:
        c = self.peek()
        start = self.pos
        if c is None or c == ",":
            raise self.error("missing value")
        if c in "\"'":
            return self.string(c)
        if c == "@":
            raise self.error("'@' is only valid as the whole object part, Class=@")
        if c == "-" or "0" <= c <= "9":
            m = _NUMBER.match(self.text, self.pos)
            if not m:
                raise self.error("malformed number")
            self.pos = m.end()
            if m.group("real"):
                real = float(m.group())
                if not math.isfinite(real):
                    raise self.error("real value out of range", start)
                return real
            number = int(m.group())
            if not _INT_MIN <= number <= _INT_MAX:
                raise self.error("integer value outside the 64-bit range (quote it)", start)
            return number
        m = _IDENT.match(self.text, self.pos)
        if m:
            word = m.group().upper()
            if word in ("TRUE", "FALSE"):
                self.pos = m.end()
                return word == "TRUE"
            raise self.error(f"unquoted value {m.group()!r} (strings must be quoted)")
        raise self.unexpected("a value (number, quoted string, TRUE or FALSE)")

    def string(self, quote: str) -> str:
        text, start = self.text, self.pos
        out: list[str] = []
        i = start + 1
        n = len(text)
        while i < n:
            c = text[i]
            if c == quote:
                self.pos = i + 1
                return "".join(out)
            if c == "\\":
                if i + 1 >= n:
                    break
                escaped = text[i + 1]
                if escaped not in "\\\"'":
                    raise self.error(f"invalid escape '\\{escaped}' in quoted string (only \\\\, \\\", \\')", i)
                out.append(escaped)
                i += 2
                continue
            out.append(c)
            i += 1
        raise self.error("unterminated quoted string", start)


def parse_path(text: str, *, max_length: int = DEFAULT_MAX_LENGTH) -> ObjectPath:
    """Parse a WMI object path; raises PathError naming the position of the first problem."""
    if not isinstance(text, str):
        raise TypeError(f"path must be str, not {type(text).__name__}")
    if len(text) > max_length:
        raise PathError(
            f"path is {len(text)} characters; the limit is {max_length} (exceeded at position {max_length})",
            max_length,
        )
    if not text:
        raise PathError("empty path at position 0", 0)
    return _Parser(text).parse()
