"""report.html: one self-contained page (inline CSS and a small inline script, nothing fetched).

The verdict and the run's count line first, a bar per area, the summary tables, the causes of
failure, then every check as a card titled by the rule it enforces (id, area, rule, level beside
it), failures first; filters by status and area and a search box narrow the list. Known
deviations (``--expect``) are marked expected, new or stale on their cards. HTTP exchanges are
collapsed until opened.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from registry_harness.redact import mask_text
from registry_harness.reports.causes import causes, headline
from registry_harness.reports.exchanges import describe
from registry_harness.reports.html_assets import CSS, SCRIPT
from registry_harness.reports.model import CheckResult, RunResult, verdict_of
from registry_harness.reports.text import COLUMNS, clients_line, columns_of, summary_line

VERDICT_ORDER = ("fail", "error", "warn", "not-run", "skip", "disabled", "pass")
EXPECTATION_LABELS = {"expected": "expected", "new": "new failure", "stale": "no longer as recorded"}


def _badge(status: str, label: str | None = None) -> str:
    return f'<span class="badge b-{escape(status)}">{escape(label or status)}</span>'


def _counts_table(title: str, groups: dict[str, dict[str, int]], total: dict[str, int],
                  columns: tuple[str, ...] = COLUMNS) -> str:
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = []
    for name, counts in [*groups.items(), ("total", total)]:
        cells = "".join(f'<td class="n">{counts.get(c, 0)}</td>' for c in columns)
        label = f"<b>{escape(name)}</b>" if name == "total" else escape(name)
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    return f"<table><tr><th>{escape(title)}</th>{head}</tr>{''.join(rows)}</table>"


def _area_chart(run: RunResult) -> str:
    """One stacked bar per area: how many of its checks ended in each verdict."""
    verdicts = [v for v in VERDICT_ORDER[::-1] if any(verdict_of(c) == v for c in run.checks)]
    rows = []
    areas: dict[str, list[CheckResult]] = {}
    for check in run.checks:
        areas.setdefault(check.area or "-", []).append(check)
    for name, checks in areas.items():
        segments = []
        for verdict in verdicts:
            count = sum(1 for c in checks if verdict_of(c) == verdict)
            if count:
                segments.append(f'<span class="seg-{verdict}" style="width:{100 * count / len(checks):.2f}%" '
                                f'title="{escape(name)}: {count} {verdict}"></span>')
        summary = ", ".join(f"{sum(1 for c in checks if verdict_of(c) == v)} {v}" for v in verdicts
                            if any(verdict_of(c) == v for c in checks))
        rows.append(f'<div>{escape(name)}</div><div class="bar" role="img" aria-label="{escape(summary)}">'
                    f'{"".join(segments)}</div><div class="muted">{escape(summary)}</div>')
    legend = "".join(f'<span><i class="seg-{v}"></i>{v}</span>' for v in verdicts)
    return f'<div class="chart">{"".join(rows)}</div><p class="legend muted">{legend}</p>'


def _link(link: str) -> str:
    if link.startswith(("http://", "https://")):
        return f'<a href="{escape(link)}">{escape(link)}</a>'
    return f"<code>{escape(link)}</code>"


def _expectation_note(check: CheckResult, expect_file: str) -> str:
    expected = check.expected or {}
    reason = escape(expected.get("reason", ""))
    link = f" · {_link(expected['link'])}" if expected.get("link") else ""
    if check.expectation == "expected":
        return f'<p>Known deviation (expected {escape(expected.get("status", ""))}): {reason}{link}</p>'
    if check.expectation == "stale":
        return (f'<p><b>Recorded as {escape(expected.get("status", ""))} in <code>{escape(expect_file)}</code>, '
                f"now {escape(verdict_of(check))}</b>: update the file. ({reason}{link})</p>")
    if check.expectation == "new" and expect_file:
        return f"<p><b>New failure</b>: not among the known deviations in <code>{escape(expect_file)}</code>.</p>"
    return ""


def _card(check: CheckResult, expect_file: str) -> str:
    """One check: its rule as the title, id/area/rule/level beside it, then why it ended as it did."""
    verdict = verdict_of(check)
    classes = f"card s-{verdict}" + (" x-expected" if check.expectation == "expected" else "")
    text = " ".join([check.id, check.area, check.rule, check.level, check.text, verdict, check.reason,
                     check.message[:2000], " ".join(check.warnings), check.expectation]).lower()
    mark = _badge(check.expectation, EXPECTATION_LABELS[check.expectation]) if check.expectation else ""
    parts = [
        f'<article class="{classes}" id="{escape(check.id)}" data-status="{escape(verdict)}" '
        f'data-area="{escape(check.area)}" data-text="{escape(text)}">',
        f"<h3>{_badge(verdict)} {mark} {escape(check.text or check.name)}</h3>",
        f'<div class="meta"><code>{escape(check.id)}</code> · area <b>{escape(check.area)}</b> · rule '
        f"<b>{escape(check.rule)}</b> · <b>{escape(check.level)}</b> · {check.duration_s:.2f} s</div>",
        _expectation_note(check, expect_file),
    ]
    if check.reason:
        parts.append(f'<p class="muted">{escape(check.status)}: {escape(check.reason)}</p>')
    if check.message:
        parts.append(f"<pre>{escape(check.message)}</pre>")
    if check.curl:
        parts.append(f"<div>Reproduce with curl:</div><pre>{escape(check.curl)}</pre>")
    if check.warnings:
        parts.append("<div>SHOULD warnings:</div><ul>" +
                     "".join(f"<li>{escape(w)}</li>" for w in check.warnings) + "</ul>")
    if check.exchanges:
        shown = len(check.exchanges)
        note = f" (of {check.exchanges_count})" if check.exchanges_count > shown else ""
        parts.append(f"<details><summary>HTTP exchanges: {shown}{note}</summary>")
        parts += [f"<pre>{escape(describe(exchange))}</pre>" for exchange in check.exchanges]
        parts.append("</details>")
    parts.append("</article>")
    return "\n".join(p for p in parts if p)


def _filters(run: RunResult) -> str:
    present = [v for v in VERDICT_ORDER if any(verdict_of(c) == v for c in run.checks)]
    boxes = "".join(f'<label><input type="checkbox" class="f-status" value="{v}" checked> {_badge(v)} '
                    f"{sum(1 for c in run.checks if verdict_of(c) == v)}</label>" for v in present)
    areas = "".join(f'<option value="{escape(a)}">{escape(a)}</option>'
                    for a in dict.fromkeys(c.area for c in run.checks if c.area))
    return (f'<div class="filters">{boxes}<label>area <select id="f-area"><option value="">all areas</option>'
            f'{areas}</select></label><label><input type="search" id="f-q" placeholder="search id, rule, text, '
            f'message"></label><span class="muted" id="f-shown"></span></div>')


def _expectations_summary(run: RunResult) -> str:
    info = run.extra.get("expectations")
    if not isinstance(info, dict):
        return ""
    return (f'<p>Known deviations from <code>{escape(str(info.get("file", "")))}</code>'
            f'{" (" + escape(str(info["registry"])) + ")" if info.get("registry") else ""}: '
            f'{info.get("expected", 0)} as expected, <b>{info.get("new", 0)} new</b>, '
            f'<b>{info.get("stale", 0)} no longer as recorded</b>.</p>')


def render_html(run: RunResult, secrets: tuple[str | None, ...] = ()) -> str:
    verdict = "FAIL" if run.failed else "PASS"
    counts = run.counts()
    info = run.extra.get("expectations")
    expect_file = str(info.get("file", "")) if isinstance(info, dict) else ""
    order = {v: i for i, v in enumerate(VERDICT_ORDER)}
    checks = sorted(run.checks, key=lambda c: (order.get(verdict_of(c), len(order)), c.expectation == "expected"))
    target_rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_flat(v))}</td></tr>" for k, v in run.target.items()
    )
    extra_rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_flat(v))}</td></tr>" for k, v in run.extra.items()
        if k != "clients"  # shown as one line above the target
    )
    body = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(run.tool)} report — {verdict}</title><style>{CSS}</style></head><body>",
        f'<h1>{escape(run.tool)} {_badge("fail" if run.failed else "pass", verdict).replace("badge", "badge verdict")}'
        "</h1>",
        _headline(run),
        f'<p class="line">{escape(summary_line(run))}</p>',
        f'<div class="muted">target {escape(str(run.target.get("url", "")))} · started {escape(run.started)}</div>',
        *([f'<p><b>clients:</b> {escape(clients_line(run.extra["clients"]))}</p>'] if run.extra.get("clients") else []),
        _expectations_summary(run),
        "<h2>By area</h2>",
        _area_chart(run),
        _counts_table("area", run.grouped("area"), counts, columns_of(run)),
        _counts_table("spec level", run.grouped("level"), counts, columns_of(run)),
        _causes_section(run),
        f"<h2>Checks ({counts['total']})</h2>",
        _filters(run),
        "\n".join(_card(c, expect_file) for c in checks) or '<p class="muted">no checks ran</p>',
        "<h2>Target and settings</h2>",
        f"<table>{target_rows}{extra_rows}</table>",
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return mask_text("\n".join(p for p in body if p), secrets)


def _headline(run: RunResult) -> str:
    """The report's first line: the root cause (not a registry, unreachable) or the biggest cause of failure."""
    line = headline(run)
    return f'<p class="headline"><b>{escape(line)}</b></p>' if line else ""


def _causes_section(run: RunResult) -> str:
    """Failures grouped by cause, biggest first: one example exchange and curl line per cause."""
    found = causes(run)
    if not found:
        return ""
    total = sum(len(c.checks) for c in found)
    parts = [f"<h2>Causes: {total} failure{'s' if total != 1 else ''}, {len(found)} "
             f"cause{'s' if len(found) != 1 else ''}</h2>"]
    for number, cause in enumerate(found, 1):
        example = cause.example
        parts.append(f'<div class="cause"><h3>cause {number}: {len(cause.checks)} '
                     f"check{'s' if len(cause.checks) != 1 else ''} — {escape(cause.text)}</h3>")
        parts.append(f'<div class="muted">example: <a href="#{escape(example.id)}">{escape(example.id)}</a></div>')
        if example.exchanges:
            failing = next((e for e in reversed(example.exchanges) if e.get("curl") == example.curl),
                           example.exchanges[-1])
            parts.append(f"<pre>{escape(describe(failing))}</pre>")
        if example.curl:
            parts.append(f"<div>Reproduce with curl:</div><pre>{escape(example.curl)}</pre>")
        parts.append("<details><summary>every check of this cause</summary><ul>" + "".join(
            f'<li>{_badge(c.status)} <a href="#{escape(c.id)}">{escape(c.id)}</a> · {escape(c.rule)} '
            f"{escape(c.level)}</li>" for c in cause.checks) + "</ul></details></div>")
    return "\n".join(parts)


def _flat(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def write_html(run: RunResult, path: Path, secrets: tuple[str | None, ...] = ()) -> Path:
    path.write_text(render_html(run, secrets), encoding="utf-8")
    return path
