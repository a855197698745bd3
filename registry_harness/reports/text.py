"""The terminal's words: the table of areas × verdicts, the "skipped, and why" block and the last line."""

from __future__ import annotations

import re
from collections.abc import Mapping

from registry_harness.reports.model import NOT_RUN, CheckResult, RunResult

COLUMNS = ("pass", "fail", "warn", "skip", "disabled", "error")
_RUN_SPECIFIC = ((re.compile(r"https?://[^\s;,)]+"), "<url>"),
                 (re.compile(r"\b(sha256|sha512):[0-9a-f]{16,}"), r"\1:…"))
SHOWN_NAMES = 3


def summary_table(run: RunResult, key: str = "area") -> str:
    """A fixed-width table with one row per ``key`` value and a total row."""
    rows = [(name, counts) for name, counts in run.grouped(key).items()]
    rows.append(("total", run.counts()))
    columns = columns_of(run)
    width = max([len(key)] + [len(name) for name, _ in rows])
    head = f"{key:<{width}}  " + "  ".join(f"{c:>8}" for c in columns)
    lines = [head, "-" * len(head)]
    for name, counts in rows:
        if name == "total":
            lines.append("-" * len(head))
        lines.append(f"{name:<{width}}  " + "  ".join(f"{counts.get(c, 0):>8}" for c in columns))
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
def columns_of(run: RunResult) -> tuple[str, ...]:
    """The table's columns: the usual six, and ``not-run`` when some checks did not run."""
    return COLUMNS + ((NOT_RUN,) if any(c.status == NOT_RUN for c in run.checks) else ())


def summary_line(run: RunResult, deselected: int = 0) -> str:
    """The run's last line: its verdict and the counts exactly as the table has them."""
    counts = run.counts()
    expected = {s: sum(1 for c in run.checks if c.expectation == "expected" and _verdict_class(c) == s)
                for s in columns_of(run)}
    parts = []
    for status in columns_of(run):
        part = f"{counts[status]} {status}"
        if expected[status]:
            part += f" ({expected[status]} expected)"
        parts.append(part)
    line = f"{'FAIL' if run.failed else 'PASS'}: {counts['total']} checks: {', '.join(parts)}"
    stale = sum(1 for c in run.checks if c.expectation == "stale")
    if stale:
        line += f"; {stale} known deviation{'s' if stale > 1 else ''} no longer as recorded"
    if deselected:
        line += f" ({deselected} not selected)"
    return f"{line} in {run.duration_s:.1f}s"


def _verdict_class(check: CheckResult) -> str:
    """The table column an expected check is counted in (a warned pass counts under warn)."""
    return "warn" if check.status == "pass" and check.warnings else check.status


def _group_reason(reason: str) -> str:
    for pattern, replacement in _RUN_SPECIFIC:
        reason = pattern.sub(replacement, reason)
    return reason.strip() or "(no reason given)"


def skipped_block(run: RunResult, hints: Mapping[str, str] | None = None) -> list[str]:
    """"skipped, and why": skipped and disabled checks grouped by reason, largest group first.

    ``hints`` maps a reason to a line shown under its group (how to make those checks run).
    """
    groups: dict[tuple[str, str], list[CheckResult]] = {}
    for check in run.checks:
        if check.status in ("skip", "disabled"):
            groups.setdefault((check.status, _group_reason(check.reason)), []).append(check)
    if not groups:
        return []
    lines = ["skipped, and why:"]
    for (status, reason), checks in sorted(groups.items(), key=lambda item: -len(item[1])):
        areas = sorted({c.area for c in checks})
        lines.append(f"  {len(checks):>3} {status:<8} {', '.join(areas)}: {reason}")
        if len(checks) <= SHOWN_NAMES:
            lines.append("               " + ", ".join(c.id.rsplit("::", 1)[-1] for c in checks))
        if hints and reason in hints:
            lines.append(f"               hint: {hints[reason]}")
    return lines
