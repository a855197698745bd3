"""Comparisons of results.json files: two runs check by check, and several registries as one matrix.

Works on the JSON documents the suite writes (any version that has ``checks`` with ``id`` and
``status``), so a run kept from last month compares with today's. A check is named by its key
(``test_pull.py::test_blob_get``), not its path, and judged by its verdict (a pass with SHOULD
warnings is ``warn``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from pathlib import Path

from registry_harness.reports.expectations import check_key
from registry_harness.reports.html_assets import CSS
from registry_harness.reports.model import FAILING, verdict_of

KINDS = ("regression", "fix", "changed", "added", "removed", "unchanged")
LISTED = 10  # added/removed checks listed in the terminal (all of them are in the HTML page)
VERDICTS = ("pass", "warn", "fail", "error", "skip", "disabled", "not-run")


class ResultsError(ValueError):
    """A results file that cannot be read; the message is one line."""


def load_results(path: str | Path) -> dict:
    """A results.json document, validated enough to compare (one-line ResultsError otherwise)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        raise ResultsError(f"{path}: not a results.json of registry-conformance (no 'checks' list)")
    return data


def verdicts(results: dict) -> dict[str, dict]:
    """Check key → the check's dict, with ``verdict`` added."""
    return {check_key(c["id"]): {**c, "verdict": verdict_of(c)} for c in results["checks"]}


@dataclass
class Change:
    """One check seen in both runs (or one of them): its verdict before and after."""

    key: str
    before: str  # "" when the check is absent from that run
    after: str
    check: dict  # the newer run's record of it (the older one's when it was removed)

    @property
    def kind(self) -> str:
        if not self.before:
            return "regression" if self.after in FAILING else "added"
        if not self.after:
            return "removed"
        if self.after in FAILING and self.before not in FAILING:
            return "regression"
        if self.before in FAILING and self.after not in FAILING:
            return "fix"
        return "changed" if self.before != self.after else "unchanged"


def compare(before: dict, after: dict) -> dict[str, list[Change]]:
    """Every check of either run, grouped by kind of change (``KINDS``), in check order."""
    old, new = verdicts(before), verdicts(after)
    groups: dict[str, list[Change]] = {kind: [] for kind in KINDS}
    for key in [*new, *(k for k in old if k not in new)]:
        change = Change(key, old.get(key, {}).get("verdict", ""), new.get(key, {}).get("verdict", ""),
                        new.get(key) or old[key])
        groups[change.kind].append(change)
    return groups


def label_of(results: dict) -> str:
    target = results.get("target") or {}
    return f"{target.get('url', '?')} ({results.get('started', '?')})"


def _detail(change: Change) -> str:
    check = change.check
    text = (check.get("message") or check.get("reason") or "; ".join(check.get("warnings") or []) or "").strip()
    return _cut(text.splitlines()[0] if text else check.get("text", ""), 60)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def comparison_line(groups: dict[str, list[Change]]) -> str:
    counts = {kind: len(items) for kind, items in groups.items()}
    word = "REGRESSED" if counts["regression"] else "NO REGRESSION"
    return (f"{word}: {counts['regression']} regressions, {counts['fix']} fixes, {counts['changed']} changed, "
            f"{counts['added']} added, {counts['removed']} removed, {counts['unchanged']} unchanged")


def render_comparison_text(groups: dict[str, list[Change]], before: dict, after: dict) -> str:
    """The terminal table: regressions, fixes, other changes, then the counts."""
    lines = [f"A: {label_of(before)}", f"B: {label_of(after)}"]
    width = min(max([len(c.key) for kind in KINDS[:-1] for c in groups[kind]] + [5]), 70)
    for kind in KINDS[:-1]:
        if not groups[kind]:
            continue
        lines += ["", f"{kind.replace('regression', 'regressions').replace('fix', 'fixes')} ({len(groups[kind])}):"]
        shown = groups[kind] if kind in ("regression", "fix", "changed") else groups[kind][:LISTED]
        for change in shown:
            arrow = f"{change.before or '-':>8} -> {change.after or '-':<8}"
            lines.append(f"  {change.key:<{width}}  {arrow}  {_detail(change)}")
        if len(shown) < len(groups[kind]):
            lines.append(f"  … and {len(groups[kind]) - len(shown)} more (in the HTML page)")
    tally: dict[str, int] = {}
    for change in groups["unchanged"]:
        tally[change.after] = tally.get(change.after, 0) + 1
    lines += ["", f"unchanged: {len(groups['unchanged'])} ("
              + ", ".join(f"{n} {v}" for v, n in sorted(tally.items(), key=lambda i: VERDICTS.index(i[0])
                                                         if i[0] in VERDICTS else 99)) + ")",
              comparison_line(groups)]
    return "\n".join(lines)


def _badge(verdict: str) -> str:
    return f'<span class="badge b-{escape(verdict)}">{escape(verdict)}</span>' if verdict else "–"


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>")


def render_comparison_html(groups: dict[str, list[Change]], before: dict, after: dict) -> str:
    """One self-contained page: the same groups as the terminal, each a table with both verdicts."""
    body = [f"<h1>registry-conformance compare</h1><p class=\"line\">{escape(comparison_line(groups))}</p>",
            f"<p>A: {escape(label_of(before))}<br>B: {escape(label_of(after))}</p>"]
    for kind in KINDS:
        rows = "".join(
            f"<tr><td><code>{escape(c.key)}</code></td><td>{escape(c.check.get('area', ''))}</td>"
            f"<td>{escape(c.check.get('rule', ''))} {escape(c.check.get('level', ''))}</td>"
            f"<td>{_badge(c.before)}</td><td>{_badge(c.after)}</td><td>{escape(_detail(c))}</td></tr>"
            for c in groups[kind])
        table = (f"<table><tr><th>check</th><th>area</th><th>rule</th><th>A</th><th>B</th><th>detail</th></tr>"
                 f"{rows}</table>") if rows else '<p class="muted">none</p>'
        body.append(f"<h2>{escape(kind)} ({len(groups[kind])})</h2>"
                    + (f"<details><summary>show</summary>{table}</details>" if kind == "unchanged" else table))
    return _page("registry-conformance compare", body)


# -- the compatibility matrix ----------------------------------------------------------------------

CLIENTS_AREA = "clients"


def clients_verdict(results: dict | None) -> str:
    """The registry's verdict with real clients, where the run holds one (a ``clients`` area), else "–"."""
    if not results:
        return "–"
    explicit = results.get("clients")
    if isinstance(explicit, dict) and explicit.get("verdict"):
        return str(explicit["verdict"])
    counts = (results.get("by_area") or {}).get(CLIENTS_AREA)
    if not isinstance(counts, dict) or not counts.get("total"):
        return "–"
    bad = counts.get("fail", 0) + counts.get("error", 0)
    return f"{'fail' if bad else 'pass'} ({counts.get('pass', 0)}/{counts['total']} pass)"


@dataclass
class Column:
    """One registry of the matrix: its label, its results (None when the run produced none) and why."""

    label: str
    results: dict | None
    note: str = ""


def _rows(columns: list[Column]) -> list[tuple[str, str, list[str]]]:
    """(check key, area, verdict per column) in the order the runs list their checks."""
    table = [verdicts(c.results) if c.results else {} for c in columns]
    keys: dict[str, str] = {}
    for checks in table:
        for key, check in checks.items():
            keys.setdefault(key, check.get("area", ""))
    return [(key, area, [checks.get(key, {}).get("verdict", "") for checks in table]) for key, area in keys.items()]


def _url(column: Column) -> str:
    return str(((column.results or {}).get("target") or {}).get("url", "–"))


def _summary(column: Column) -> str:
    if not column.results:
        return column.note or "no results"
    counts = column.results.get("counts") or {}
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in ("pass", "fail", "warn", "skip", "disabled", "error"))


def render_matrix_markdown(columns: list[Column]) -> str:
    """The matrix as Markdown: one summary table of registries, then checks × registries."""
    head = "| | " + " | ".join(c.label for c in columns) + " |"
    rule = "|---|" + "---|" * len(columns)
    lines = ["# Registry compatibility matrix", "", head, rule,
             "| target | " + " | ".join(_url(c) for c in columns) + " |",
             "| checks | " + " | ".join(_summary(c) for c in columns) + " |",
             "| clients | " + " | ".join(clients_verdict(c.results) for c in columns) + " |"]
    area_names = list(dict.fromkeys(area for _, area, _ in _rows(columns)))
    for area in area_names:
        cells = []
        for column in columns:
            counts = ((column.results or {}).get("by_area") or {}).get(area)
            cells.append(f"{counts.get('pass', 0)}/{counts.get('total', 0)}" if counts else "–")
        lines.append(f"| {area} (pass/total) | " + " | ".join(cells) + " |")
    lines += ["", "| check | area | " + " | ".join(c.label for c in columns) + " |",
              "|---|---|" + "---|" * len(columns)]
    for key, area, cells in _rows(columns):
        shown = [f"**{v}**" if v in FAILING else (v or "–") for v in cells]
        lines.append(f"| `{key}` | {area} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def render_matrix_html(columns: list[Column]) -> str:
    """The matrix as one self-contained page, rows that differ between registries marked."""
    head = "".join(f"<th>{escape(c.label)}</th>" for c in columns)
    summary = [
        "<table><tr><th></th>" + head + "</tr>",
        "<tr><th>target</th>" + "".join(
            f"<td>{escape(_url(c))}</td>" for c in columns) + "</tr>",
        "<tr><th>checks</th>" + "".join(f"<td>{escape(_summary(c))}</td>" for c in columns) + "</tr>",
        "<tr><th>clients</th>" + "".join(f"<td>{escape(clients_verdict(c.results))}</td>" for c in columns)
        + "</tr></table>",
    ]
    rows = []
    for key, area, cells in _rows(columns):
        shade = ' style="background:#fff8e5"' if len(set(cells)) > 1 else ""
        rows.append(f"<tr{shade}><td><code>{escape(key)}</code></td>"
                    f"<td>{escape(area)}</td>" + "".join(f"<td>{_badge(v)}</td>" for v in cells) + "</tr>")
    body = ["<h1>Registry compatibility matrix</h1>", *summary,
            '<p class="muted">rows where the registries differ are shaded</p>',
            f"<table><tr><th>check</th><th>area</th>{head}</tr>{''.join(rows)}</table>"]
    return _page("registry compatibility matrix", body)
