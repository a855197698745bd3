"""The terminal summary: a small table of areas × verdicts."""

from __future__ import annotations

from registry_harness.reports.model import RunResult

COLUMNS = ("pass", "fail", "warn", "skip", "disabled", "error")


def summary_table(run: RunResult, key: str = "area") -> str:
    """A fixed-width table with one row per ``key`` value and a total row."""
    rows = [(name, counts) for name, counts in run.grouped(key).items()]
    rows.append(("total", run.counts()))
    width = max([len(key)] + [len(name) for name, _ in rows])
    head = f"{key:<{width}}  " + "  ".join(f"{c:>8}" for c in COLUMNS)
    lines = [head, "-" * len(head)]
    for name, counts in rows:
        if name == "total":
            lines.append("-" * len(head))
        lines.append(f"{name:<{width}}  " + "  ".join(f"{counts.get(c, 0):>8}" for c in COLUMNS))
    return "\n".join(lines)
