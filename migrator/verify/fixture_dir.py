"""The fixture directory convention `dexie-convex verify` works on.

    <fixture>/
      dump.json | dump-*.json                   the dumps (at least one)
      src/                                      optional: the app's Dexie declarations
      mapping.json5 | mappings/*.json5          optional: reviewed mapping files (else planned
                                                from src/ and the dumps, as `plan` would)
      expected/plan.json                        the resolved plan per database
      expected/schema.ts                        the generated Convex schema
      expected/content.json                     per database and table: row count, checksums,
                                                a digest per original key, rejected rows

A directory that is not a fixture stands for every fixture below it (hidden folders and
node_modules are not searched).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import MigratorError

EXPECTED_DIR = "expected"
PLAN_FILE, SCHEMA_FILE, CONTENT_FILE = "plan.json", "schema.ts", "content.json"


@dataclass
class Fixture:
    path: Path
    dumps: list[Path]
    src: Path | None
    mappings: list[Path]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def expected(self) -> Path:
        return self.path / EXPECTED_DIR

    def relative(self, path: Path) -> str:
        """A path inside the fixture as the expectations name it (the same on every machine)."""
        return path.relative_to(self.path).as_posix()


def _dumps(path: Path) -> list[Path]:
    return sorted({*path.glob("dump.json"), *path.glob("dump-*.json")})


def read_fixture(path: str | Path) -> Fixture:
    path = Path(path)
    dumps = _dumps(path)
    if not dumps:
        raise MigratorError(f"{path}: no dump (dump.json or dump-*.json) in this fixture",
                            "put the app's exported dump(s) there")
    mappings = sorted({*path.glob("mapping.json5"), *(path / "mappings").glob("*.json5")})
    src = path / "src"
    return Fixture(path=path, dumps=dumps, src=src if src.is_dir() else None, mappings=mappings)


def _fixtures_below(folder: Path) -> list[Fixture]:
    if _dumps(folder):
        return [read_fixture(folder)]
    return [f for sub in sorted(folder.iterdir())
            if sub.is_dir() and not sub.name.startswith(".") and sub.name != "node_modules"
            for f in _fixtures_below(sub)]


def find_fixtures(paths: list[str | Path]) -> list[Fixture]:
    """Each path is a fixture, or a folder with fixtures somewhere below it."""
    found: list[Fixture] = []
    for given in map(Path, paths):
        if not given.is_dir():
            raise MigratorError(f"{given}: not a directory", "give fixture directories (or a folder of them)")
        inner = _fixtures_below(given)
        if not inner:
            raise MigratorError(f"{given}: no fixture in it (a folder with dump.json or dump-*.json)",
                                "see `dexie-convex verify --help` for the layout")
        found.extend(inner)
    return found
