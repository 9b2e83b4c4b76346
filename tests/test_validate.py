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
    ({"a": 3}, {"a": "v.literal(3)"}, "expected the literal 3"),      # int64 3n is not the number 3
    ({"a": 1.0}, {"a": "v.literal(true)"}, "expected the literal true"),
    ({"a": [1.0] * 8193}, {"a": "v.array(v.number())"}, "at most 8192"),
    ({"a": "\ud800"}, {"a": "v.string()"}, "lone surrogate"),
    ({"a": {"$x": 1.0}}, {"a": "v.record(v.string(), v.number())"}, "must not start with '$'"),
    ({"a": b"x" * (1024 * 1024)}, {"a": "v.bytes()"}, "Convex's limit is 1048576"),
])
def test_refusals(doc, fields, fragment):
    found = problems(doc, **fields)
    assert any(fragment in p for p in found), found


def nested(containers: int, leaf):
    """`containers` alternating objects and arrays around `leaf`."""
    value = leaf
    for i in range(containers):
        value = {"x": value} if i % 2 else [value]
    return value


@pytest.mark.parametrize("leaf", [1.0, "s", None])
def test_nesting_counts_objects_and_arrays_only(leaf):
    # The document is level 1; 15 containers in field `d` reach level 16, the limit. Only arrays
    # and objects nest (Convex's backend tests: 64 arrays around a scalar are fine for a value,
    # 65 are not), so the scalar inside the 16th level does not count.
    assert problems({"d": nested(15, leaf)}, d="v.any()") == []
    assert any("deeper than 16" in p for p in problems({"d": nested(16, leaf)}, d="v.any()"))


def test_record_contents_are_checked():
    # convex-test skips records (so the differential test cannot cover them); Convex checks them.
    found = problems({"r": {"ok": 1.0, "bad": "x"}}, r="v.record(v.string(), v.number())")
    assert found == ["r.bad: expected number (float64), got string"]
    assert problems({"r": "not an object"}, r="v.record(v.string(), v.number())") != []


def test_id_table_comes_from_the_id_reader():
    def reader(value):
        return {"a1": "users", "b1": "posts"}.get(value)
    fields = {"u": pv('v.id("users")')}
    assert check_document({"u": "a1"}, fields, reader) == []
    assert [str(p) for p in check_document({"u": "b1"}, fields, reader)] == \
        ["u: expected an id of table 'users', got an id of table 'posts'"]
    assert [str(p) for p in check_document({"u": "zz"}, fields, reader)] == \
        ["u: expected an id of table 'users', got string"]
    # Without a reader the table cannot be told from a real id: any short printable string passes.
    assert problems({"u": "k57a3ht1fe0j8zqv2v8hw9a5cn7x4m6r"}, u='v.id("users")') == []
    assert problems({"u": ""}, u='v.id("users")') != []


def test_size_formula():
    assert value_size({"ab": "xyz"}) == 2 + (2 + 1 + 2 + 3)
    assert value_size([1.0, None, True, b"12"]) == 2 + 9 + 1 + 1 + 4
    assert value_size({"é": "é"}) == 2 + (2 + 1 + 2 + 2)        # UTF-8 bytes, keys included


def test_number_literal_takes_any_float_equal_to_it():
    assert problems({"a": 3.0, "z": -0.0}, a="v.literal(3)", z="v.literal(0)") == []
