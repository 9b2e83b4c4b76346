"""The key ledger against a model of what it must say: for each row of a batch, None when it
is its key's first occurrence (or that occurrence read again), else where the key was first read."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from migrator.importer.key_ledger import KeyLedger, Position

# A batch: (dump, table, [(key, row index)]); re-reading a batch already claimed is a resume.
batches = st.lists(st.tuples(st.sampled_from([0, 1]), st.sampled_from(["a", "b"]),
                             st.lists(st.tuples(st.integers(0, 6), st.integers(0, 9)), max_size=8)),
                   max_size=8)


@settings(max_examples=200, deadline=None)
@given(batches, st.booleans())
def test_claims_name_each_keys_first_occurrence(tmp_path_factory, sequence, on_disk):
    path = tmp_path_factory.mktemp("ledger") / "keys.sqlite" if on_disk else None
    ledger = KeyLedger(path, fresh=True)
    dumps = [ledger.dump_number(f"dump{n}", f"file{n}", f"path{n}") for n in (0, 1)]
    first: dict[bytes, tuple[int, str, int]] = {}        # the model: key -> (dump, table, row) first read
    for dump, table, rows in sequence + sequence[:2]:    # the first batches read again, as after a crash
        entries = [(bytes([key]) * 16, row) for key, row in rows]
        expected = []
        for key, row in entries:
            known = first.setdefault(key, (dump, table, row))
            expected.append(None if known == (dump, table, row) else Position(f"path{known[0]}", known[1], known[2] + 1))
        assert ledger.claim(dumps[dump], table, entries) == expected
    ledger.close()
