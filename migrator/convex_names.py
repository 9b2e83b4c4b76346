"""Convex's naming rules (see shared convex-facts.md: Names) as checks.

Everything that ends up as a name in generated TypeScript passes through here first.
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_FIELD_NAME = 1024
RESERVED_INDEX_NAMES = frozenset({"by_id", "by_creation_time"})


def is_identifier(name: str) -> bool:
    """1..64 chars of [A-Za-z0-9_], not starting with a digit, not all underscores."""
    return bool(IDENTIFIER.fullmatch(name)) and name.strip("_") != ""


def table_name_problem(name: str) -> str | None:
    if not is_identifier(name):
        return "table names must be identifiers: 1-64 of A-Z a-z 0-9 _, not starting with a digit"
    if name.startswith("_"):
        return "table names must not start with '_' (reserved for system tables)"
    return None


def index_name_problem(name: str) -> str | None:
    if not is_identifier(name):
        return "index names must be identifiers: 1-64 of A-Z a-z 0-9 _, not starting with a digit"
    if name.startswith("_"):
        return "index names must not start with '_'"
    if name in RESERVED_INDEX_NAMES:
        return f"{name!r} is a reserved index name"
    return None


def field_name_problem(name: str, *, top_level: bool, in_object_validator: bool = True) -> str | None:
    """Why Convex refuses `name` as a field name here, or None.

    `in_object_validator`: the key is declared in a `v.object({...})` (so must be an
    identifier); keys of a `v.record` only need the general field-name rules.
    """
    if name == "":
        return "empty field name"
    if len(name) > MAX_FIELD_NAME:
        return f"field names are at most {MAX_FIELD_NAME} characters"
    if any(not 32 <= ord(c) <= 126 for c in name):
        return "field names must be printable ASCII"
    if name.startswith("$"):
        return "field names must not start with '$'"
    if top_level and name.startswith("_"):
        return "top-level field names must not start with '_' (reserved for _id, _creationTime)"
    if in_object_validator and not is_identifier(name):
        return "keys declared in a v.object must be identifiers (1-64 of A-Z a-z 0-9 _)"
    return None

# Document limits (convex-facts.md: Limits), shared by the profiler and the validator.
DOCUMENT_LIMIT = 1024 * 1024      # bytes, by Convex's size formula, _id and _creationTime included
MAX_DEPTH = 16                    # nesting; the document itself counts as 1
MAX_ARRAY = 8192                  # elements per array
MAX_FIELDS = 1024                 # fields per object
# What `_id` (a 32-character string) and `_creationTime` (a float64) add to a document's size.
SYSTEM_FIELDS_SIZE = (len("_id") + 1 + 2 + 32) + (len("_creationTime") + 1 + 9)
