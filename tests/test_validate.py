import pytest

from migrator.plan.validators import parse_validator as pv
from migrator.validate.document import check_document, value_size


def problems(doc, **fields):
    return [str(p) for p in check_document(doc, {k: pv(v) for k, v in fields.items()})]


def test_valid_document():
    assert problems({"a": 1.0, "b": "x", "n": 5, "o": {"k": [None, True]}, "r": {"any key": b"\x00"}},
                    a="v.number()", b="v.optional(v.string())", n="v.int64()",
                    o="v.object({k: v.array(v.union(v.null(), v.boolean()))})",
                    r="v.record(v.string(), v.bytes())") == []


@pytest.mark.parametrize("doc,fields,fragment", [
    ({"a": 1}, {"a": "v.number()"}, "expected number (float64), got bigint"),
    ({"a": 1.0}, {"a": "v.int64()"}, "expected int64"),
    ({}, {"a": "v.string()"}, "a: required field is missing"),
    ({"a": "x", "b": 1.0}, {"a": "v.string()"}, "b: extra field"),
    ({"a": "c"}, {"a": 'v.union(v.literal("a"), v.literal("b"))'}, "does not match"),
    ({"a": [1.0] * 8193}, {"a": "v.array(v.number())"}, "at most 8192"),
    ({"a": "\ud800"}, {"a": "v.string()"}, "lone surrogate"),
    ({"a": {"$x": 1.0}}, {"a": "v.record(v.string(), v.number())"}, "must not start with '$'"),
    ({"a": b"x" * (1024 * 1024)}, {"a": "v.bytes()"}, "Convex's limit is 1048576"),
])
def test_refusals(doc, fields, fragment):
    found = problems(doc, **fields)
    assert any(fragment in p for p in found), found


def test_nesting_limit():
    deep = inner = {}
    for _ in range(16):
        inner["x"] = {}
        inner = inner["x"]
    assert any("deeper than 16" in p for p in problems({"d": deep}, d="v.any()"))


def test_size_formula():
    assert value_size({"ab": "xyz"}) == 2 + (2 + 1 + 2 + 3)
    assert value_size([1.0, None, True, b"12"]) == 2 + 9 + 1 + 1 + 4
