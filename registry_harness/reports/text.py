"""The terminal summary: a small table of areas × verdicts."""

from __future__ import annotations

import re

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


def clients_line(clients: dict[str, dict]) -> str:
    """``works with docker 20.10 / skopeo 1.9; fails with podman 4.3; not tried: oras-py (not installed)``."""
    def named(name: str) -> str:
        version = clients[name].get("version")
        return f"{name} {short_version(str(version))}" if version else name

    parts = []
    for verdict, label in (("works", "works with"), ("fails", "fails with")):
        names = [named(n) for n, c in clients.items() if c.get("verdict") == verdict]
        if names:
            parts.append(f"{label} {' / '.join(names)}")
    untried = [f"{named(n)} ({c.get('reason') or 'skipped'})" for n, c in clients.items()
               if c.get("verdict") == "not tried"]
    if untried:
        parts.append("not tried: " + ", ".join(untried))
    return "; ".join(parts)


def short_version(version: str) -> str:
    """``20.10.24+dfsg1`` → ``20.10``: the major.minor a verdict shows."""
    match = re.search(r"(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version
