"""The checkpoint against a deployment that keeps its data: a re-run skips what was
acknowledged; a dump re-exported in place is read again (and changes nothing already there)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from migrator import commands
from migrator.dumps import open_dump
from migrator.importer.run import ImportOptions
from migrator.sinks.local_endpoint import local_endpoint

TODO = Path(__file__).resolve().parent.parent / "fixtures" / "apps" / "todo-js"


def test_rerun_skips_then_a_reexported_dump_is_read_again(tmp_path: Path, node_available):
    dump = shutil.copy(TODO / "dump.json", tmp_path / "dump.json")
    with open_dump(dump) as d:
        rows = {t.name: t.row_count for t in d.tables}
    mapping = commands.plan_mappings([TODO / "src"], [dump], tmp_path / "mappings").writes[0].path
    commands.generate_convex([mapping], tmp_path / "convex")
    options = ImportOptions(state_dir=tmp_path / "state", progress=False)

    def counts(key: str) -> dict[str, int]:
        result = commands.import_dumps(mapping, [dump], options, url=deployment.url,
                                       deploy_key=deployment.key.reveal())
        return {t: c[key] for t, c in result.summary.tables.items()}

    with local_endpoint(tmp_path / "convex") as deployment:
        assert counts("inserted") == rows
        assert counts("skipped") == rows
        st = os.stat(dump)
        os.utime(dump, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert counts("unchanged") == rows
