"""Which validator changes are safe for existing data: "does the new validator accept
every value the old one accepted?" Widening is safe; anything else can break documents
already stored and the app code that writes them.

The relation is conservative: when it cannot show acceptance it answers False, so a
change is called breaking rather than silently passed.
"""

from __future__ import annotations

from ..plan.validators import Validator

_LITERAL_KINDS = {str: "string", bool: "boolean", int: "number", float: "number"}


def accepts(new: Validator, old: Validator) -> bool:
    """True when every value valid under `old` is valid under `new` (`old` ⊆ `new`)."""
    if new.kind == "any":
        return True
    if old.kind == "any":
        return False
    if new.is_optional or old.is_optional:
        return (new.is_optional or not old.is_optional) and accepts(new.required, old.required)
    if old.kind == "union":
        return all(accepts(new, member) for member in old.args)
    if new.kind == "union":
        return any(accepts(member, old) for member in new.args)
    if old.kind == "literal":
        value = old.args[0]
        if new.kind == "literal":
            return type(new.args[0]) is type(value) and new.args[0] == value
        return new.kind == _LITERAL_KINDS[type(value)]
    if old.kind == "id" and new.kind == "string":
        return True
    if new.kind == "record" and old.kind == "object":
        return accepts(new.args[0], Validator("string")) and \
            all(accepts(new.args[1], f.required) for f in old.fields.values())
    if new.kind != old.kind:
        return False
    if new.kind == "array":
        return accepts(new.args[0], old.args[0])
    if new.kind == "record":
        return accepts(new.args[0], old.args[0]) and accepts(new.args[1], old.args[1])
    if new.kind == "object":
        return object_accepts(new.fields, old.fields)
    return new.args == old.args


def object_accepts(new: dict[str, Validator], old: dict[str, Validator]) -> bool:
    """Objects are closed in Convex: a field the new validator lacks is refused, and a field
    it adds must be optional."""
    return all(name in new and accepts(new[name], val) for name, val in old.items()) and \
        all(val.is_optional for name, val in new.items() if name not in old)


def equivalent(a: Validator, b: Validator) -> bool:
    """Same set of values (field order in objects and member order in unions do not matter)."""
    return accepts(a, b) and accepts(b, a)


def lost_values(new: Validator, old: Validator) -> list[Validator]:
    """The members of `old` (a union, or `old` itself) that `new` no longer accepts."""
    members = old.required.args if old.required.kind == "union" else (old.required,)
    return [m for m in members if not accepts(new.required, m)]
