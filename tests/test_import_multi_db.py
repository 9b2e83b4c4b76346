"""Two Dexie databases generated into one convex/ folder import one after the other into the
same deployment (here the local endpoint): each mapping checks its own plan hash."""

from __future__ import annotations

from pathlib import Path

from migrator import commands
from migrator.dumps import open_dump
from migrator.importer.run import ImportOptions
from migrator.sinks.local_endpoint import local_endpoint

APP = Path(__file__).resolve().parent.parent / "fixtures" / "apps" / "multi-db"


def test_each_database_imports_into_the_shared_deployment(tmp_path: Path, node_available):
    dumps = {"AppA": APP / "dump-AppA.json", "AppB": APP / "dump-AppB.json"}
    planned = commands.plan_mappings([APP / "src"], list(dumps.values()), tmp_path / "mappings")
    mappings = {p.database: w.path for p, w in zip(planned.plans, planned.writes)}
    assert sorted(mappings) == ["AppA", "AppB"]
    commands.generate_convex(list(mappings.values()), tmp_path / "convex")
    expected: dict[str, int] = {}
    for dump in dumps.values():
        with open_dump(dump) as d:
            expected.update({t.name: t.row_count for t in d.tables})
    with local_endpoint(tmp_path / "convex") as deployment:
        inserted: dict[str, int] = {}
        for name, mapping in mappings.items():
            options = ImportOptions(state_dir=tmp_path / "state" / name, progress=False)
            result = commands.import_dumps(mapping, [dumps[name]], options, url=deployment.url,
                                           deploy_key=deployment.key.reveal())
            assert result.summary.rejected_total == 0
            inserted.update({t: c["inserted"] for t, c in result.summary.tables.items()})
    assert inserted == expected
