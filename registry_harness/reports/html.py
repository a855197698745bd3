"""report.html: one self-contained page (inline CSS, no scripts, no external assets).

Summary by area and by spec level, the redacted target configuration, then every failure with
its rule, message, the full (masked) HTTP exchanges and a "reproduce with curl" line, every
SHOULD warning, and the table of all checks.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from registry_harness.redact import mask_text
from registry_harness.reports.exchanges import describe
from registry_harness.reports.model import FAILING, CheckResult, RunResult
from registry_harness.reports.text import COLUMNS, clients_line

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#1d2330;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #d8dde6;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d8dde6;padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f3f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.6em;overflow-x:auto;white-space:pre-wrap;
word-break:break-all;font-size:12.5px}
.badge{display:inline-block;border-radius:3px;padding:0 .45em;font-weight:600;font-size:.85em;color:#fff}
.pass{background:#2da44e}.fail{background:#cf222e}.error{background:#8250df}.skip{background:#9a6700}
.disabled{background:#6e7781}.warn{background:#bf8700}
.verdict{font-size:1.1em;padding:.2em .7em}
.check{border:1px solid #d8dde6;border-left:5px solid #cf222e;padding:.4em .9em;margin:1em 0;border-radius:4px}
.check.error{border-left-color:#8250df;background:none}.check h3{margin:.3em 0;font-size:1.05em;
word-break:break-all}.rule{color:#57606a}details{margin:.3em 0}summary{cursor:pointer;color:#0969da}
.muted{color:#57606a}
"""


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _counts_table(title: str, groups: dict[str, dict[str, int]], total: dict[str, int]) -> str:
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    rows = []
    for name, counts in [*groups.items(), ("total", total)]:
        cells = "".join(f'<td class="n">{counts.get(c, 0)}</td>' for c in COLUMNS)
        label = f"<b>{escape(name)}</b>" if name == "total" else escape(name)
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    return f"<table><tr><th>{escape(title)}</th>{head}</tr>{''.join(rows)}</table>"


def _failure(check: CheckResult) -> str:
    parts = [
        f'<div class="check {escape(check.status)}" id="{escape(check.id)}">',
        f"<h3>{_badge(check.status)} {escape(check.id)}</h3>",
    ]
    if check.rule:
        parts.append(f'<div class="rule">rule <b>{escape(check.rule)}</b> · {escape(check.level)} · '
                     f'{escape(check.area)} — {escape(check.text)}</div>')
    parts.append(f"<pre>{escape(check.message)}</pre>")
    if check.curl:
        parts.append(f"<div>Reproduce with curl:</div><pre>{escape(check.curl)}</pre>")
    if check.warnings:
        parts.append("<div>SHOULD warnings:</div><ul>" +
                     "".join(f"<li>{escape(w)}</li>" for w in check.warnings) + "</ul>")
    if check.exchanges:
        shown = len(check.exchanges)
        note = f" (of {check.exchanges_count})" if check.exchanges_count > shown else ""
        parts.append(f"<details open><summary>HTTP exchanges: {shown}{note}</summary>")
        for exchange in check.exchanges:
            parts.append(f"<pre>{escape(describe(exchange))}</pre>")
        parts.append("</details>")
    parts.append("</div>")
    return "\n".join(parts)


def render_html(run: RunResult, secrets: tuple[str | None, ...] = ()) -> str:
    counts = run.counts()
    verdict = "FAIL" if run.failed else "PASS"
    failures = [c for c in run.checks if c.status in FAILING]
    warned = [c for c in run.checks if c.warnings and c.status not in FAILING]
    target_rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_flat(v))}</td></tr>" for k, v in run.target.items()
    )
    extra_rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_flat(v))}</td></tr>" for k, v in run.extra.items()
        if k != "clients"  # shown as one line above the target
    )
    all_rows = "".join(
        "<tr>"
        f"<td>{_badge(c.status)}</td><td>{escape(c.id)}</td><td>{escape(c.area)}</td><td>{escape(c.rule)}</td>"
        f"<td>{escape(c.level)}</td><td>{escape(c.reason or (c.message.splitlines() or [''])[0])}"
        + "".join(f'<br><span class="badge warn">warn</span> {escape(w)}' for w in c.warnings)
        + f'</td><td class="n">{c.duration_s:.2f}</td></tr>'
        for c in run.checks
    )
    body = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(run.tool)} report — {verdict}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(run.tool)} <span class=\"badge verdict {'fail' if run.failed else 'pass'}\">{verdict}</span>"
        "</h1>",
        f'<div class="muted">started {escape(run.started)} · {run.duration_s:.1f} s · {counts["total"]} checks · '
        f'{counts["fail"]} failed · {counts["error"]} errors · {counts["warn"]} with warnings</div>',
        *([f'<p><b>clients:</b> {escape(clients_line(run.extra["clients"]))}</p>'] if run.extra.get("clients") else []),
        "<h2>Target</h2>",
        f"<table>{target_rows}{extra_rows}</table>",
        "<h2>Summary</h2>",
        _counts_table("area", run.grouped("area"), counts),
        _counts_table("spec level", run.grouped("level"), counts),
        f"<h2>Failures and errors ({len(failures)})</h2>",
        "\n".join(_failure(c) for c in failures) or '<p class="muted">none</p>',
        f"<h2>SHOULD warnings ({len(warned)})</h2>",
        "\n".join(_failure_warning(c) for c in warned) or '<p class="muted">none</p>',
        "<h2>All checks</h2>",
        "<table><tr><th>status</th><th>check</th><th>area</th><th>rule</th><th>level</th><th>reason / message</th>"
        f"<th>s</th></tr>{all_rows}</table>",
        "</body></html>",
    ]
    return mask_text("\n".join(body), secrets)


def _failure_warning(check: CheckResult) -> str:
    return _failure(check).replace('class="check pass"', 'class="check" style="border-left-color:#bf8700"', 1)


def _flat(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def write_html(run: RunResult, path: Path, secrets: tuple[str | None, ...] = ()) -> Path:
    path.write_text(render_html(run, secrets), encoding="utf-8")
    return path
