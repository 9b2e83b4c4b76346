"""Parse JS/TS files with tree-sitter and name places in them as `file:line:col`.

Everything downstream works on syntax trees, never on the raw text, so comments, string
contents and odd formatting cannot fool it. `.ts/.mts/.cts` use the TypeScript grammar;
everything else uses TSX, which also parses plain JS with JSX in it (the TypeScript
grammar rejects JSX).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

SOURCE_SUFFIXES = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")
SKIPPED_DIRS = {"node_modules", "dist", "build", ".git"}
_TS_SUFFIXES = (".ts", ".mts", ".cts")

# Expression wrappers that do not change the value: (x), x as T, x satisfies T, x!, <T>x
TRANSPARENT_EXPRESSIONS = {
    "parenthesized_expression", "as_expression", "satisfies_expression",
    "non_null_expression", "type_assertion",
}


@lru_cache(maxsize=None)
def _parser(typescript: bool) -> Parser:
    grammar = tree_sitter_typescript.language_typescript() if typescript else tree_sitter_typescript.language_tsx()
    return Parser(Language(grammar))


@dataclass(eq=False)
class SourceFile:
    path: str
    source: bytes
    root: Node

    def text(self, node: Node) -> str:
        return self.source[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def location(self, node: Node) -> str:
        """`file:line:col`, 1-based; the column counts characters, not bytes."""
        row, byte_col = node.start_point
        line_start = node.start_byte - byte_col
        col = len(self.source[line_start:node.start_byte].decode("utf-8", "replace"))
        return f"{self.path}:{row + 1}:{col + 1}"


def parse_source(path: str | Path, source: bytes | None = None) -> SourceFile:
    path = os.path.normpath(str(path))
    if source is None:
        source = Path(path).read_bytes()
    tree = _parser(path.endswith(_TS_SUFFIXES)).parse(source)
    return SourceFile(path=path, source=source, root=tree.root_node)


class SourceCache:
    """Parse each file once per run: imports lead back to files already read."""

    def __init__(self) -> None:
        self._files: dict[str, SourceFile] = {}

    def get(self, path: str | Path) -> SourceFile:
        key = os.path.normpath(str(path))
        if key not in self._files:
            self._files[key] = parse_source(key)
        return self._files[key]


def is_source_file(path: Path) -> bool:
    return path.name.endswith(SOURCE_SUFFIXES) and not path.name.endswith((".d.ts", ".d.mts", ".d.cts"))


def iter_source_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files given directly, and source files found under directories (sorted, so runs repeat)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
                for name in sorted(filenames):
                    candidate = Path(dirpath) / name
                    if is_source_file(candidate):
                        yield candidate
        else:
            yield path


def kids(node: Node) -> list[Node]:
    """Named children without comments (comments may appear anywhere in the tree)."""
    return [child for child in node.named_children if child.type != "comment"]


def unwrap(node: Node) -> Node:
    """Strip parentheses, `as`, `satisfies`, `!` and type assertions around an expression."""
    while node.type in TRANSPARENT_EXPRESSIONS:
        inner = kids(node)
        node = inner[-1] if node.type == "type_assertion" else inner[0]
    return node


def walk(node: Node) -> Iterator[Node]:
    """Every node under `node` in document order (iterative: deep trees are fine)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))
