"""The human report of a verify run: one line per fixture, one line per drift under it."""

from __future__ import annotations

from .run import VerifyReport

MAX_VALUE_LINES = 6


def format_report(reports: list[VerifyReport]) -> str:
    lines = []
    for r in reports:
        rows = sum(n for tables in r.counts.values() for n in tables.values())
        head = f"{'ok  ' if r.ok else 'FAIL'} {r.name}: {', '.join(r.stages) or 'nothing ran'}; {rows} rows"
        if r.drifts:
            head += f"; {len(r.drifts)} drift{'s' if len(r.drifts) != 1 else ''}"
        lines.append(head)
        for path in r.updated:
            lines.append(f"     updated {path}")
        for d in r.drifts:
            text = d.message().splitlines()
            lines.append("     " + text[0])
            lines += ["       " + t for t in text[1:MAX_VALUE_LINES]]
            if len(text) > MAX_VALUE_LINES:
                lines.append(f"       ... {len(text) - MAX_VALUE_LINES} more lines (--json has them all)")
    failed = [r.name for r in reports if not r.ok]
    if any(not r.ok and "deployment" not in r.stages for r in reports):
        lines.append("if the change is deliberate, rewrite the expectations with `dexie-convex verify --update` "
                     "on the same paths and review the diff of expected/")
    lines.append(f"{len(reports) - len(failed)} of {len(reports)} clean"
                 + (f"; drift in {', '.join(failed)}" if failed else ""))
    return "\n".join(lines)
