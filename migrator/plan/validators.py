"""Convex validators (`v.*`) as data: render them to TypeScript and parse them back.

The mapping file holds validators as TypeScript text the user can edit. `generate` never
pastes that text into `schema.ts`: it parses it with the small grammar below (only `v.*`
calls, string/number/boolean literals and object literals) and renders it again, so a
name or string from a dump cannot inject code.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from ..convex_names import field_name_problem

SIMPLE_KINDS = ("string", "number", "float64", "int64", "boolean", "null", "bytes", "any")


class ValidatorSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Validator:
    """One `v.<kind>(...)`. `args` holds children (Validators), a literal or a table name."""

    kind: str
    args: tuple = ()

    # -- constructors -------------------------------------------------------------------
    @staticmethod
    def simple(kind: str) -> "Validator":
        return Validator(kind)

    @staticmethod
    def literal(value: str | float | bool) -> "Validator":
        return Validator("literal", (value,))

    @staticmethod
    def id(table: str) -> "Validator":
        return Validator("id", (table,))

    @staticmethod
    def array(item: "Validator") -> "Validator":
        return Validator("array", (item,))

    @staticmethod
    def record(value: "Validator") -> "Validator":
        return Validator("record", (Validator("string"), value))

    @staticmethod
    def optional(inner: "Validator") -> "Validator":
        return inner if inner.kind == "optional" else Validator("optional", (inner,))

    @staticmethod
    def object(fields: dict[str, "Validator"]) -> "Validator":
        return Validator("object", (tuple(fields.items()),))

    @staticmethod
    def union(*members: "Validator") -> "Validator":
        flat: list[Validator] = []
        for m in members:
            for x in (m.args if m.kind == "union" else (m,)):
                if x.kind == "any":
                    return x
                if x not in flat:
                    flat.append(x)
        if len(flat) == 1:
            return flat[0]
        return Validator("union", tuple(flat))

    # -- accessors ----------------------------------------------------------------------
    @property
    def is_optional(self) -> bool:
        return self.kind == "optional"

    @property
    def required(self) -> "Validator":
        """The validator without its `v.optional` wrapper."""
        return self.args[0] if self.kind == "optional" else self

    @property
    def fields(self) -> dict[str, "Validator"]:
        return dict(self.args[0]) if self.kind == "object" else {}

    def to_ts(self, indent: int = 0) -> str:
        return _render(self, indent)


def _ts_string(text: str) -> str:
    """A TypeScript string literal: JSON escaping, ASCII only (so U+2028/9 and controls are escaped)."""
    return json.dumps(text, ensure_ascii=True)


def ts_property_key(name: str) -> str:
    """An object key: bare when it is an identifier, quoted otherwise."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else _ts_string(name)


def _ts_number(value: float) -> str:
    if isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return repr(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _render(val: Validator, indent: int) -> str:
    kind, args = val.kind, val.args
    if kind in SIMPLE_KINDS:
        return f"v.{kind}()"
    if kind == "literal":
        (value,) = args
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = _ts_string(value)
        else:
            text = _ts_number(value)
        return f"v.literal({text})"
    if kind == "id":
        return f"v.id({_ts_string(args[0])})"
    if kind in ("array", "optional"):
        return f"v.{kind}({_render(args[0], indent)})"
    if kind == "record":
        return f"v.record({_render(args[0], indent)}, {_render(args[1], indent)})"
    if kind == "union":
        return "v.union(" + ", ".join(_render(a, indent) for a in args) + ")"
    if kind == "object":
        items = args[0]
        if not items:
            return "v.object({})"
        pad = "  " * (indent + 1)
        body = "".join(f"{pad}{ts_property_key(k)}: {_render(x, indent + 1)},\n" for k, x in items)
        return "v.object({\n" + body + "  " * indent + "})"
    raise ValueError(f"unknown validator kind {kind!r}")


# -- parsing ------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<word>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<punct>[().,{}:])
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValidatorSyntaxError(f"unexpected text at {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _unquote(token: str) -> str:
    if token.startswith("'"):
        token = '"' + token[1:-1].replace('\\\'', "'").replace('"', '\\"') + '"'
    return json.loads(token)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            want = value or kind
            raise ValidatorSyntaxError(f"expected {want!r} in {self.text!r}, found {tok[1] if tok else 'end'!r}")
        self.i += 1
        return tok[1]

    def validator(self) -> Validator:
        self.take("v")
        self.take(".")
        kind = self.take(kind="word")
        self.take("(")
        if kind == "float64":
            kind = "number"
        if kind in SIMPLE_KINDS:
            result = Validator(kind)
        elif kind == "literal":
            result = Validator.literal(self.literal())
        elif kind == "id":
            result = Validator.id(_unquote(self.take(kind="str")))
        elif kind in ("array", "optional"):
            inner = self.validator()
            result = Validator.optional(inner) if kind == "optional" else Validator.array(inner)
        elif kind == "nullable":
            result = Validator.union(self.validator(), Validator("null"))
        elif kind == "record":
            key = self.validator()
            self.take(",")
            result = Validator("record", (key, self.validator()))
        elif kind == "union":
            members = [self.validator()]
            while self.peek() and self.peek()[1] == ",":
                self.take(",")
                if self.peek() and self.peek()[1] == ")":
                    break
                members.append(self.validator())
            result = Validator("union", tuple(members)) if len(members) > 1 else members[0]
        elif kind == "object":
            result = Validator.object(self.object_body())
        else:
            raise ValidatorSyntaxError(f"unknown validator v.{kind} in {self.text!r}")
        self.take(")")
        return result

    def literal(self) -> str | float | bool:
        kind, value = self.peek() or ("", "")
        self.i += 1
        if kind == "str":
            return _unquote(value)
        if kind == "num":
            number = float(value)
            return int(number) if number.is_integer() else number
        if value in ("true", "false"):
            return value == "true"
        raise ValidatorSyntaxError(f"v.literal takes a string, number or boolean in {self.text!r}")

    def object_body(self) -> dict[str, Validator]:
        self.take("{")
        fields: dict[str, Validator] = {}
        while self.peek() and self.peek()[1] != "}":
            kind, key = self.peek()
            self.i += 1
            if kind == "str":
                key = _unquote(key)
            elif kind != "word":
                raise ValidatorSyntaxError(f"bad object key {key!r} in {self.text!r}")
            self.take(":")
            fields[key] = self.validator()
            if self.peek() and self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return fields


def parse_validator(text: str) -> Validator:
    """Parse `v.*` TypeScript text (as written in a mapping file) into a Validator."""
    parser = _Parser(text)
    result = parser.validator()
    if parser.peek() is not None:
        raise ValidatorSyntaxError(f"unexpected {parser.peek()[1]!r} after the validator in {text!r}")
    check_validator(result)
    return result


def check_validator(val: Validator, path: str = "") -> None:
    """Convex's rules for keys inside v.object validators (identifiers, no `$`)."""
    if val.kind == "object":
        for key, child in val.args[0]:
            problem = field_name_problem(key, top_level=False)
            if problem:
                raise ValidatorSyntaxError(f"field {path + key!r}: {problem}")
            check_validator(child, f"{path}{key}.")
    elif val.kind in ("array", "optional", "union", "record"):
        for child in val.args:
            check_validator(child, path)
