"""Our spec-string parser against what real Dexie 4.4.7 (+ IndexedDB) did with the same strings.

fixtures/spec-corpus/dexie-parse.json is written by fixtures/generate/generate.mjs, which runs
real dexie on fake-indexeddb for every string in specs.json.
"""
import json

import pytest

from conftest import FIXTURES
from migrator.dexie_schema import DexieSchemaError, parse_table_spec

CORPUS = json.loads((FIXTURES / "spec-corpus" / "dexie-parse.json").read_text())
FIELDS = ("name", "keyPath", "unique", "multi", "auto", "compound", "src")


def test_corpus_is_large_and_has_both_outcomes():
    assert len(CORPUS) >= 60
    assert {e["ok"] for e in CORPUS} == {True, False}


@pytest.mark.parametrize("entry", CORPUS, ids=[repr(e["spec"]) for e in CORPUS])
def test_parse_agrees_with_dexie(entry):
    spec = entry["spec"]
    if not entry["ok"]:
        with pytest.raises(DexieSchemaError) as err:
            parse_table_spec("t", spec)
        error_name = entry["error"].split(":")[0]
        if "lower version" not in entry["error"]:      # fake-indexeddb's wrong message (fixtures/README.md)
            assert error_name.replace("Error", "") in err.value.reason.replace("Error", "") or \
                entry["error"].split(": ", 1)[-1][:30] in err.value.reason
        return
    table = parse_table_spec("t", spec)
    assert table.primary_key.to_dexie_json() == {k: entry["primKey"][k] for k in FIELDS}
    assert [i.to_dexie_json() for i in table.indexes] == [{k: i[k] for k in FIELDS} for i in entry["indexes"]]
