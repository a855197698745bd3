"""The ``make bench`` comparison as one self-contained HTML page: bar charts of req/s, MB/s and p95 per
profile for A and B (inline SVG, no external assets), the per-round figures and the caveats."""

from __future__ import annotations

import html
from collections.abc import Sequence

CHARTS = (("req/s", "requests per second (higher is better)"), ("MB/s", "MB/s, 10^6 bytes (higher is better)"),
          ("p95 ms", "p95 latency in ms (lower is better)"))
COLORS = {"a": "#3b6ea8", "b": "#d9822b"}
BAR_H = 14
GAP = 10
LABEL_W = 170
PLOT_W = 420


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"


def bar_chart(rows: Sequence[dict], figure: str, title: str, labels: dict[str, str]) -> str:
    """One horizontal bar chart (SVG) of ``figure`` for every profile: a bar for A, one for B."""
    chosen = [r for r in rows if r["figure"] == figure and (r["a"] is not None or r["b"] is not None)]
    if not chosen:
        return ""
    top = max(max(r["a"] or 0, r["b"] or 0) for r in chosen) or 1.0
    group = 2 * BAR_H + GAP
    height = 30 + len(chosen) * group + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + PLOT_W + 110}" height="{height}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    y = 30
    for row in chosen:
        parts.append(f'<text x="0" y="{y + BAR_H + 4}" font-size="12">{html.escape(row["profile"])}</text>')
        for offset, side in ((0, "a"), (BAR_H, "b")):
            value = row[side]
            width = 0 if value is None else max(1.0, PLOT_W * value / top)
            mark = " *" if row["generator_bound"][side] else ""
            parts.append(f'<rect x="{LABEL_W}" y="{y + offset}" width="{width:.1f}" height="{BAR_H - 2}" '
                         f'fill="{COLORS[side]}"><title>{html.escape(labels[side])}: {_fmt(value)}</title></rect>')
            parts.append(f'<text x="{LABEL_W + width + 4:.1f}" y="{y + offset + BAR_H - 3}" font-size="11">'
                         f'{_fmt(value)}{mark}</text>')
        y += group
    legend_y = y + 8
    for n, side in enumerate(("a", "b")):
        x = LABEL_W + n * 200
        parts.append(f'<rect x="{x}" y="{legend_y}" width="12" height="12" fill="{COLORS[side]}"/>')
        parts.append(f'<text x="{x + 16}" y="{legend_y + 11}" font-size="12">{html.escape(labels[side])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def page(document: dict, table_markdown_rows: Sequence[Sequence[str]]) -> str:
    """The whole page for a bench.json ``document``; ``table_markdown_rows`` is the table as cells."""
    labels = {side: document["targets"][side]["label"] for side in ("a", "b")}
    machine = document["machine"]
    settings = document["settings"]
    charts = "\n".join(bar_chart(document["rows"], figure, title, labels) for figure, title in CHARTS)
    header, *body = table_markdown_rows
    table = "<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr></thead><tbody>"
    table += "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    table += "</tbody></table>"
    caveats = "".join(f"<li>{html.escape(c)}</li>" for c in document["caveats"])
    broken = "".join(f"<li>{html.escape(b)}</li>" for b in document.get("broken") or [])
    title = f"Load bench: {labels['a']} (A) vs {labels['b']} (B)"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:62em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child,td:nth-child(2){{text-align:left}}
svg{{display:block;margin:1.5em 0}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>A = {html.escape(labels['a'])} ({html.escape(document['targets']['a']['url'])}),
B = {html.escape(labels['b'])} ({html.escape(document['targets']['b']['url'])}).
{settings['users']} users, {settings['run_time_s']:g} s per run, {settings['rounds']} rounds (A, B alternating),
{machine['cpus']} CPUs; load average {machine['load_average_before'][0]:.2f} before,
{machine['load_average_after'][0]:.2f} after; {html.escape(document['generated_at'])}.
Bars are means over rounds; * marks a run whose load generator was CPU-bound.</p>
{charts}
<h2>Figures</h2>{table}
<h2>Caveats</h2><ul>{caveats}</ul>
{"<h2>Runs that failed</h2><ul>" + broken + "</ul>" if broken else ""}
</body></html>
"""
