import pytest

from migrator.plan.validators import Validator, ValidatorSyntaxError, parse_validator

CASES = [
    "v.string()", "v.number()", "v.int64()", "v.bytes()", "v.any()", "v.null()", "v.boolean()",
    'v.literal("a\\"b")', "v.literal(3)", "v.literal(true)", 'v.id("companies")',
    "v.array(v.union(v.string(), v.null()))", "v.optional(v.record(v.string(), v.number()))",
    'v.object({\n  a: v.string(),\n  "b": v.optional(v.array(v.int64())),\n})',
]


@pytest.mark.parametrize("text", CASES)
def test_parse_render_round_trip(text):
    parsed = parse_validator(text)
    assert parse_validator(parsed.to_ts()) == parsed


def test_nullable_and_float64_normalise():
    assert parse_validator("v.nullable(v.float64())") == Validator.union(Validator("number"), Validator("null"))


@pytest.mark.parametrize("text", [
    'v.string(); process.exit(1)', "v.string() + x", "require('fs')", "v.evil()",
    "v.object({ $bad: v.string() })", 'v.object({ "with space": v.string() })', "v.literal(x)",
])
def test_rejects_anything_but_validators(text):
    with pytest.raises(ValidatorSyntaxError):
        parse_validator(text)


def test_strings_are_quoted_not_pasted():
    hostile = '"); require("child_process"); ("\u2028`${x}`'
    ts = Validator.literal(hostile).to_ts()
    assert ts.startswith('v.literal("') and "\u2028" not in ts and "\n" not in ts
    assert parse_validator(ts) == Validator.literal(hostile)
