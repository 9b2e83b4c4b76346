import pytest

from migrator.dexie_schema import (DexieSchemaError, VersionSpec, merge_versions, parse_legacy_spec,
                                   parse_table_spec)


def test_inbound_auto_increment():
    t = parse_table_spec("friends", "++id, name, &email, *tags, [first+last], address.city")
    pk = t.primary_key
    assert (pk.key_path, pk.auto, pk.unique, pk.compound, pk.src) == ("id", True, True, False, "++id")
    by_name = {i.name: i for i in t.indexes}
    assert by_name["email"].unique and by_name["email"].src == "&email"
    assert by_name["tags"].multi and by_name["tags"].src == "*tags"
    assert by_name["[first+last]"].key_path == ("first", "last") and by_name["[first+last]"].compound
    assert by_name["address.city"].key_path == "address.city"


@pytest.mark.parametrize("spec,auto", [("", False), ("++", True)])
def test_outbound(spec, auto):
    t = parse_table_spec("t", spec)
    assert t.outbound and t.primary_key.key_path is None and t.primary_key.auto is auto


def test_compound_primary_key_and_type_suffix():
    t = parse_table_spec("t", "[userId+roomId], notes: Y.Doc")
    assert t.primary_key.key_path == ("userId", "roomId")
    assert t.indexes[0].key_path == "notes" and t.indexes[0].type == "Y.Doc"


@pytest.mark.parametrize("spec,reason", [
    ("*id", "Primary key cannot be multiEntry"),
    ("++id,++x", "Only primary key can be marked as autoIncrement"),
    ("id,,x", "Index must have a name"),
    ("id,a b", "not a valid key path"),
    ("id,[a+b", "unterminated compound index"),
])
def test_rejects_what_dexie_rejects(spec, reason):
    with pytest.raises(DexieSchemaError) as err:
        parse_table_spec("t", spec)
    assert reason in err.value.reason and err.value.table == "t"


def test_legacy_null_keys():
    assert parse_legacy_spec("t", "++null,name").primary_key.auto
    assert parse_legacy_spec("t", "null").outbound


def test_versions_overlay_in_ascending_order():
    merged = merge_versions([
        VersionSpec(3, {"old": None, "friends": "++id,name"}),
        VersionSpec(1, {"friends": "++id,name,age", "old": "id"}),
        VersionSpec(2, {"pets": "++id,kind"}),
    ])
    assert merged.version == 3
    assert sorted(merged.tables) == ["friends", "pets"]
    assert [i.name for i in merged.tables["friends"].indexes] == ["name"]   # age dropped
    assert merged.deleted == {"old": 3}


def test_version_numbers_round_to_one_decimal():
    merged = merge_versions([VersionSpec(1.04, {"a": "id"}), VersionSpec(1.0, {"b": "id"})])
    assert merged.version == 1.0 and sorted(merged.tables) == ["a", "b"]
