"""Parse MOF text into statements: what one file says, in order, with its line numbers.

The grammar (grammar.lark) is DSP0004 v2 MOF plus the WMI dialect mofcomp accepts; lark's LALR
parser runs it. Nothing here looks at other files or at the server: `#pragma include` and the
other pragmas come back as `Pragma` statements for the compiler to act on.

Syntax errors raise MofError with mofcomp's own WBEMMOF_E_* code and the file:line:column.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Union

import lark
from lark import Token, Transformer, v_args

from host.mof.errors import MofCode, MofError


@dataclass(frozen=True)
class Where:
    file: str
    line: int
    end_line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Alias:
    """`$name`: the path of the instance declared `as $name`, known once it is put."""

    name: str


@dataclass
class Qualifier:
    name: str
    value: Any = None  # plain Python (see Value below); None when the MOF gives no parameter
    has_value: bool = False
    flavors: list[str] = field(default_factory=list)


@dataclass
class Property:
    name: str
    type: str  # a CIM type name, "ref", or a class name (an embedded object of that class)
    reference_class: str = ""
    is_array: bool = False
    array_size: int | None = None
    default: Any = None
    has_default: bool = False
    qualifiers: list[Qualifier] = field(default_factory=list)


@dataclass
class Method:
    name: str
    return_type: str  # "void" for none
    return_class: str = ""
    parameters: list[Property] = field(default_factory=list)
    qualifiers: list[Qualifier] = field(default_factory=list)


@dataclass
class ClassDecl:
    name: str
    superclass: str
    qualifiers: list[Qualifier]
    properties: list[Property]
    methods: list[Method]
    alias: str | None
    where: Where


@dataclass
class Entry:
    name: str
    value: Any = None
    has_value: bool = False
    qualifiers: list[Qualifier] = field(default_factory=list)


@dataclass
class InstanceDecl:
    class_name: str
    entries: list[Entry]
    qualifiers: list[Qualifier]
    alias: str | None
    where: Where


@dataclass
class QualifierDecl:
    """`qualifier Name : type [= default], Scope(..), Flavor(..);` or WMI's `qualifier Name : Flavor..;`."""

    name: str
    type: str | None  # None for a flavor-only (WMI default-flavor) statement
    is_array: bool
    default: Any
    scopes: list[str]
    flavors: list[str]
    where: Where


@dataclass
class Pragma:
    name: str  # lower case
    args: list[Any]  # strings and bare words, in order
    where: Where


Statement = Union[Pragma, QualifierDecl, ClassDecl, InstanceDecl]
# Values are plain Python: int, float, str, bool, None, Char (char16), lists, Alias, InstanceDecl.


class Char(str):
    """A char16 literal ('a'): a one-character string that knows it is a character."""


_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(?:[xX]([0-9a-fA-F]{1,4})|(.))", re.S)


def unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return chr(int(m.group(1), 16))
        c = m.group(2)
        return _ESCAPES.get(c, c)  # mofcomp keeps an unknown escape's character

    return _ESCAPE_RE.sub(one, body)


def parse_integer(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body[:2].lower() == "0x":
        return sign * int(body[2:], 16)
    if body[-1:] in "bB":
        return sign * int(body[:-1], 2)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body, 8)  # DSP0004: a leading 0 means octal
    return sign * int(body)


@functools.cache
def _parser() -> lark.Lark:
    grammar = resources.files("host.mof").joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=False)


def _name(tok: Any) -> str:
    return str(tok)


@v_args(inline=True)
class _ToStatements(Transformer):
    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _where(self, meta: Any) -> Where:
        return Where(self.file, getattr(meta, "line", 0), getattr(meta, "end_line", 0))

    # ---- values
    def integer(self, tok: Token) -> int:
        return parse_integer(str(tok))

    def real(self, tok: Token) -> float:
        return float(str(tok))

    def string(self, *toks: Token) -> str:
        return "".join(unescape(str(t)[1:-1]) for t in toks)

    def char(self, tok: Token) -> Char:
        text = unescape(str(tok)[1:-1])
        if len(text) != 1:
            raise MofError(MofCode.ILLEGAL_CONSTANT_VALUE, f"{tok} is not one character",
                           Where(self.file, tok.line), column=tok.column)
        return Char(text)

    def true(self, _: Token) -> bool:
        return True

    def false(self, _: Token) -> bool:
        return False

    def null(self, _: Token) -> None:
        return None

    def alias_ref(self, tok: Token) -> Alias:
        return Alias(str(tok)[1:])

    def array_init(self, *items: Any) -> list[Any]:
        return list(items)

    # ---- qualifiers
    def qualifier_list(self, *qs: Qualifier) -> list[Qualifier]:
        return list(qs)

    def qualifier_param(self, value: Any) -> tuple[str, Any]:
        return ("param", value)

    def flavors(self, *names: Token) -> tuple[str, list[str]]:
        return ("flavors", [str(n) for n in names])

    def qualifier(self, name: Token, *rest: Any) -> Qualifier:
        q = Qualifier(name=str(name))
        for kind, v in rest:
            if kind == "param":
                q.value, q.has_value = v, True
            else:
                q.flavors = v
        return q

    # ---- class members
    def type_name(self, tok: Token) -> str:
        return str(tok)

    def array(self, *size: Token) -> tuple[str, int | None]:
        return ("array", parse_integer(str(size[0])) if size else None)

    def default(self, value: Any) -> tuple[str, Any]:
        return ("default", value)

    def _apply(self, p: Property, rest: tuple[Any, ...]) -> Property:
        for kind, v in rest:
            if kind == "array":
                p.is_array, p.array_size = True, v
            elif kind == "default":
                p.default, p.has_default = v, True
        return p

    def property(self, type_name: str, name: Token, *rest: Any) -> Property:
        return self._apply(Property(name=str(name), type=type_name), rest)

    def reference(self, cls: Token, _ref: Token, name: Token, *rest: Any) -> Property:
        return self._apply(Property(name=str(name), type="ref", reference_class=str(cls)), rest)

    def parameter(self, *parts: Any) -> Property:
        quals: list[Qualifier] = []
        if parts and isinstance(parts[0], list):
            quals, parts = parts[0], parts[1:]
        if len(parts) >= 3 and isinstance(parts[1], Token) and parts[1].type == "REF":
            p = Property(name=str(parts[2]), type="ref", reference_class=str(parts[0]), qualifiers=quals)
            return self._apply(p, parts[3:])
        return self._apply(Property(name=str(parts[1]), type=parts[0], qualifiers=quals), parts[2:])

    def method(self, return_type: str, name: Token, *params: Property) -> Method:
        m = Method(name=str(name), return_type=return_type, parameters=list(params))
        return m

    @v_args(meta=True, inline=True)
    def member(self, meta: Any, *parts: Any) -> Property | Method:
        quals: list[Qualifier] = parts[0] if len(parts) == 2 else []
        body = parts[-1]
        body.qualifiers = quals
        return body

    def superclass(self, name: Token) -> tuple[str, str]:
        return ("superclass", str(name))

    def alias(self, tok: Token) -> tuple[str, str]:
        return ("alias", str(tok)[1:])

    @v_args(meta=True, inline=True)
    def class_decl(self, meta: Any, *parts: Any) -> ClassDecl:
        quals: list[Qualifier] = []
        if parts and isinstance(parts[0], list):
            quals, parts = parts[0], parts[1:]
        name, rest = str(parts[0]), parts[1:]
        c = ClassDecl(name=name, superclass="", qualifiers=quals, properties=[], methods=[], alias=None,
                      where=self._where(meta))
        for part in rest:
            if isinstance(part, tuple) and part[0] == "superclass":
                c.superclass = part[1]
            elif isinstance(part, tuple) and part[0] == "alias":
                c.alias = part[1]
            elif isinstance(part, Method):
                c.methods.append(part)
            else:
                c.properties.append(part)
        return c

    # ---- instances
    def entry(self, *parts: Any) -> Entry:
        quals: list[Qualifier] = []
        if parts and isinstance(parts[0], list):
            quals, parts = parts[0], parts[1:]
        e = Entry(name=str(parts[0]), qualifiers=quals)
        if len(parts) > 1:
            e.value, e.has_value = parts[1], True
        return e

    @v_args(meta=True, inline=True)
    def instance_decl(self, meta: Any, *parts: Any) -> InstanceDecl:
        quals: list[Qualifier] = []
        if parts and isinstance(parts[0], list):
            quals, parts = parts[0], parts[1:]
        inst = InstanceDecl(class_name=str(parts[0]), entries=[], qualifiers=quals, alias=None,
                            where=self._where(meta))
        for part in parts[1:]:
            if isinstance(part, tuple) and part[0] == "alias":
                inst.alias = part[1]
            else:
                inst.entries.append(part)
        return inst

    @v_args(meta=True, inline=True)
    def embedded_instance(self, meta: Any, name: Token, *entries: Entry) -> InstanceDecl:
        return InstanceDecl(class_name=str(name), entries=list(entries), qualifiers=[], alias=None,
                            where=self._where(meta))

    # ---- qualifier declarations
    def scope(self, *names: Token) -> tuple[str, list[str]]:
        return ("scope", [str(n).lower() for n in names])

    def flavor_decl(self, *names: Token) -> tuple[str, list[str]]:
        return ("flavor", [str(n) for n in names])

    def qdecl_typed(self, type_tok: Token, *rest: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(type_tok).lower(), "is_array": False, "default": None,
                               "scopes": [], "flavors": []}
        for kind, v in rest:
            if kind == "array":
                out["is_array"] = True
            elif kind == "default":
                out["default"] = v
            elif kind == "scope":
                out["scopes"] = v
            elif kind == "flavor":
                out["flavors"] = v
        return out

    def qdecl_flavors(self, *names: Token) -> dict[str, Any]:
        return {"type": None, "is_array": False, "default": None, "scopes": [], "flavors": [str(n) for n in names]}

    @v_args(meta=True, inline=True)
    def qualifier_decl(self, meta: Any, name: Token, body: dict[str, Any]) -> QualifierDecl:
        return QualifierDecl(name=str(name), where=self._where(meta), **body)

    # ---- statements
    def pragma(self, tok: Token) -> Pragma:
        return parse_pragma(str(tok), Where(self.file, tok.line, tok.end_line or tok.line))

    def empty(self, *_: Any) -> None:
        return None

    def start(self, *statements: Statement | None) -> list[Statement]:
        return [s for s in statements if s is not None]


_PRAGMA_RE = re.compile(r"#\s*pragma\s+(\w+)\s*(.*)$", re.I | re.S)
_PRAGMA_ARG_RE = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,()"]+))\s*')


def _strip_comment(text: str) -> str:
    """Drop a trailing // or /* */ comment that is outside the pragma's strings."""
    in_string = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif text.startswith("//", i) or text.startswith("/*", i):
            return text[:i].rstrip()
        i += 1
    return text


def parse_pragma(text: str, where: Where) -> Pragma:
    """`#pragma name("arg", WORD)` or `#pragma name` (WMI's autorecover has no parentheses)."""
    text = _strip_comment(text.strip())
    m = _PRAGMA_RE.match(text)
    if not m:
        raise MofError(MofCode.INVALID_PRAGMA, f"cannot read {text!r}", where)
    name, rest = m.group(1).lower(), m.group(2).strip()
    args: list[Any] = []
    if rest:
        if not (rest.startswith("(") and rest.endswith(")")):
            raise MofError(MofCode.INVALID_PRAGMA, f"#pragma {name}: the arguments must be in parentheses", where)
        inner, pos = rest[1:-1], 0
        while pos < len(inner):
            am = _PRAGMA_ARG_RE.match(inner, pos)
            if not am or am.end() == pos:
                raise MofError(MofCode.INVALID_PRAGMA, f"#pragma {name}: cannot read {inner[pos:]!r}", where)
            args.append(unescape(am.group(1)) if am.group(1) is not None else am.group(2))
            pos = am.end()
            if pos < len(inner):
                if inner[pos] != ",":
                    raise MofError(MofCode.INVALID_PRAGMA, f"#pragma {name}: expected ',' in {inner!r}", where)
                pos += 1
    return Pragma(name=name, args=args, where=where)


_EXPECTED_CODES = [  # the first terminal the parser wanted decides the mofcomp code
    ("SEMICOLON", MofCode.EXPECTED_SEMI),
    ("RBRACE", MofCode.EXPECTED_CLOSE_BRACE),
    ("LBRACE", MofCode.EXPECTED_OPEN_BRACE),
    ("RSQB", MofCode.EXPECTED_CLOSE_BRACKET),
    ("RPAR", MofCode.EXPECTED_CLOSE_PAREN),
    ("LPAR", MofCode.EXPECTED_OPEN_PAREN),
]


def _syntax_error(e: lark.exceptions.UnexpectedInput, file: str) -> MofError:
    where = Where(file, getattr(e, "line", 0) or 0)
    column = getattr(e, "column", 0) or 0
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        return MofError(MofCode.UNRECOGNIZED_TOKEN, f"unexpected character {e.char!r}", where, column=column)
    if isinstance(e, lark.exceptions.UnexpectedEOF):
        return MofError(MofCode.INVALID_FILE, "unexpected end of MOF", where, column=column)
    assert isinstance(e, lark.exceptions.UnexpectedToken)
    expected = set(e.expected)
    token = e.token
    if token.type == "$END":
        return MofError(MofCode.INVALID_FILE, "unexpected end of MOF", where, column=column)
    code = MofCode.UNRECOGNIZED_TOKEN
    for name, c in _EXPECTED_CODES:
        if name in expected:
            code = c
            break
    else:
        if expected <= {"IDENT", "DATATYPE"} and "DATATYPE" in expected:
            code = MofCode.UNRECOGNIZED_TYPE
    wanted = ", ".join(sorted(expected)[:6])
    return MofError(code, f"unexpected {token!s} (expected {wanted})", where, column=column)


def parse(text: str, file: str = "<mof>") -> list[Statement]:
    """The statements of one MOF text, in order."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, file) from None
    try:
        return _ToStatements(file).transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, MofError):
            raise e.orig_exc from None
        raise
