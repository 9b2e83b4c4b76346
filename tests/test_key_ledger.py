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


# Convex-encoded keys as the importer claims them: numbers (floats, any sign and size), strings
# that read like numbers, int64s and compound keys; the scopes of two tables and two owners.
encoded_keys = st.one_of(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f or str(f) == "0.0"),
                         st.sampled_from(["1", "1.0", "-1"]),
                         st.integers(-3, 3).map(lambda n: {"$integer": str(n)}),
                         st.lists(st.sampled_from([1.0, "a"]), max_size=2))
scopes = st.sampled_from([("a", None), ("b", None), ("a", "owner1"), ("a", "owner2")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(scopes, st.lists(encoded_keys, max_size=6)), max_size=8), st.booleans())
def test_claims_by_key_and_scope(tmp_path_factory, batches_of_keys, on_disk):
    """`claim_later` tells keys apart as Convex does (1.0, "1" and int64 1 are three keys) and
    within their scope only, in a throwaway ledger (number keys by their ordered bytes) as in
    a durable one (fingerprints)."""
    path = tmp_path_factory.mktemp("ledger") / "keys.sqlite" if on_disk else None
    ledger = KeyLedger(path, fresh=True)
    dump = ledger.dump_number("dump", "file", "path")
    first: dict[tuple, int] = {}
    row = 0
    for scope, keys in batches_of_keys:
        claims = []
        for key in keys:
            claims.append((key, row))
            row += 1
        expected = []
        for key, at in claims:
            known = first.setdefault((scope, repr(key), type(key)), at)
            expected.append(None if known == at else Position("path", scope[0], known + 1))
        assert ledger.claim_later(dump, scope[0], scope, claims)() == expected
    ledger.close()
