import math

import pytest

from migrator.jsvalues import UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsMap, JsRegExp, JsSet
from migrator.plan.model import FieldPlan, KeyPlan, MultiEntryPlan, TablePlan
from migrator.plan.validators import parse_validator as pv
from migrator.transform.rows import transform_row
from migrator.transform.values import (BlobToStore, Converter, ValueRejected, encode_key, escape_record_key,
                                       iso_from_ms)


def table(fields, key_field="id", encoding="number", dedicated=False, multi=(), wrap=None):
    return TablePlan(source="t", table="t", key=KeyPlan(paths=["id"], outbound=False, auto=True, field=key_field,
                                                        index="by_id_key", encoding=encoding, dedicated=dedicated),
                     fields=[FieldPlan(source=s, name=n, validator=pv(v)) for s, n, v in fields],
                     indexes=[], multi_entry=list(multi), wrap_value=wrap)


def test_scalars_follow_js_semantics():
    c = Converter()
    assert c.convert(3, pv("v.number()")) == 3.0 and isinstance(c.convert(3, pv("v.number()")), float)
    assert c.convert(JsBigInt(2**40), pv("v.int64()")) == 2**40
    assert math.isnan(c.convert(float("nan"), pv("v.number()")))
    assert c.convert(JsDate(86_400_000.0), pv("v.number()")) == 86_400_000.0
    assert Converter(dates="iso").convert(JsDate(1.5), pv("v.string()")) == "1970-01-01T00:00:00.001Z"
    assert c.convert(JsBinary("Uint8Array", b"\x01"), pv("v.bytes()")) == b"\x01"
    assert c.convert(JsRegExp("a+", "gi"), pv("v.any()")) == {"source": "a+", "flags": "gi"}
    assert c.convert(JsSet((1, 2)), pv("v.array(v.number())")) == [1.0, 2.0]
    assert c.convert([1, UNDEFINED], pv("v.array(v.union(v.number(), v.null()))")) == [1.0, None]


def test_maps_records_and_escaped_keys():
    c = Converter()
    assert c.convert(JsMap((("a", 1),)), pv("v.record(v.string(), v.number())")) == {"a": 1.0}
    pairs = c.convert(JsMap(((1, "x"),)), pv("v.array(v.object({key: v.number(), value: v.string()}))"))
    assert pairs == [{"key": 1.0, "value": "x"}]
    assert c.convert({"$w": 1, "ü": 2, "ok": 3}, pv("v.record(v.string(), v.number())")) == {
        "%24w": 1.0, "%C3%BC": 2.0, "ok": 3.0}
    assert escape_record_key("50%") == "50%25"


def test_blobs_to_storage_or_bytes():
    c = Converter()
    assert c.convert(JsBlob("image/png", b"PNG"), pv('v.id("_storage")')) == BlobToStore(b"PNG", "image/png")
    assert c.convert(JsBlob("image/png", b"PNG"), pv("v.bytes()")) == b"PNG"


@pytest.mark.parametrize("value,validator,reason", [
    (JsBigInt(2**64), "v.int64()", "outside int64"),
    ("\ud800", "v.string()", "lone UTF-16 surrogate"),
    (JsDate(float("nan")), "v.string()", "invalid Date"),
])
def test_values_convex_cannot_hold_are_rejected(value, validator, reason):
    dates = "iso" if "Date" in reason else "ms"
    with pytest.raises(ValueRejected) as err:
        Converter(dates=dates).convert({"f": value}, pv(f"v.object({{f: {validator}}})"))
    assert reason in err.value.reason and err.value.path == "f"


def test_key_encodings():
    assert encode_key(5, "number") == 5.0
    assert encode_key(("u1", 3, JsDate(10.0)), "json") == '["u1",3,{"$date":10}]'
    assert encode_key(JsDate(0.0), "date-iso") == iso_from_ms(0.0, "") == "1970-01-01T00:00:00.000Z"
    with pytest.raises(ValueRejected):
        encode_key("x", "number")


def test_row_renames_drops_undefined_and_rejects_unknown_fields():
    plan = table([("id", "id", "v.number()"), ("_secret", "secret", "v.string()"), ("tags", "tags", "v.array(v.string())")],
                 multi=[MultiEntryPlan(source="*tags", field="tags", strategy="side-table", table="t_tags", item=pv("v.string()"))])
    row = transform_row(plan, 7, {"id": 7, "_secret": "s", "tags": ["a", "b", "a"], "gone": UNDEFINED}, Converter())
    assert row.document == {"id": 7.0, "secret": "s", "tags": ["a", "b", "a"]}
    assert row.side_rows == {"t_tags": ["a", "b"]} and row.key == 7.0
    with pytest.raises(ValueRejected) as err:
        transform_row(plan, 8, {"id": 8, "surprise": 1}, Converter())
    assert "tables.t.fields" in err.value.reason


def test_outbound_wrapped_values():
    plan = table([(None, "dexieKey", "v.string()"), (None, "value", "v.union(v.string(), v.null())")],
                 key_field="dexieKey", encoding="string", dedicated=True, wrap="value")
    assert transform_row(plan, "k", None, Converter()).document == {"value": None, "dexieKey": "k"}


def test_union_members_are_picked_by_shape_not_by_order():
    c = Converter()
    pairs_first = pv('v.union(v.array(v.object({ key: v.any(), value: v.number() })), v.record(v.string(), v.number()))')
    assert c.convert(JsMap((("a", 1),)), pairs_first) == {"a": 1.0}                     # string keys: a record
    assert c.convert(JsMap(((1, 1),)), pairs_first) == [{"key": 1.0, "value": 1.0}]     # other keys: pairs
    object_first = pv('v.union(v.object({ a: v.number(), b: v.optional(v.string()) }), v.record(v.string(), v.number()))')
    assert c.convert({"a": 1}, object_first) == {"a": 1.0}
    assert c.convert({"$w": 1, "a": 2}, object_first) == {"%24w": 1.0, "a": 2.0}       # not the object: a record
    assert c.convert({"b": "x"}, object_first) == {"b": "x"}                             # misses `a`: a record too
    assert c.convert({"$w": {"$x": 1}}, pv("v.any()")) == {"%24w": {"%24x": 1.0}}       # v.any() escapes as well


def test_references_are_encoded_as_the_target_key_field_holds_them():
    c = Converter(key_encodings={"companies": "number", "members": "json", "users": "string"})
    assert c.reference(3, pv('v.id("companies")'), "companies", "companyId") == 3.0
    assert c.reference([1, 2], pv('v.array(v.id("companies"))'), "companies", "ids") == [1.0, 2.0]
    assert c.reference(["alice", 2], pv('v.id("members")'), "members", "member") == '["alice",2]'
    assert c.reference(None, pv('v.union(v.id("users"), v.null())'), "users", "u") is None
    with pytest.raises(ValueRejected) as caught:
        c.reference(7, pv('v.id("users")'), "users", "userId")
    assert caught.value.path == "userId"
