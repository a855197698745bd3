"""The benchmark's results: one Figure per measured quantity, printed as a table and saved as JSON."""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

DISTRIBUTION_LABEL = "Distribution 2.8.2"
COLUMNS = ("figure", "reference", "baseline", "ratio", "goal", "met?", DISTRIBUTION_LABEL)


@dataclass
class Goal:
    """A goal on a ratio (``ratio_min``: reference/baseline at least ``value``) or an absolute
    ceiling on the reference's figure (``max``: below ``value``)."""

    kind: str
    value: float
    unit: str = ""

    @property
    def text(self) -> str:
        if self.kind == "ratio_min":
            return f">= {self.value:g}x"
        return f"< {self.value:g} {self.unit}".rstrip()

    def met(self, reference: float | None, ratio: float | None) -> bool | None:
        if self.kind == "ratio_min":
            return None if ratio is None else ratio >= self.value
        return None if reference is None else reference < self.value


@dataclass
class Figure:
    """One row: the reference server's figure, its baseline, the ratio, the goal, and Distribution's."""

    id: str
    title: str
    unit: str
    goal: Goal
    baseline_name: str | None = None
    higher_is_better: bool = True
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu_unit: str | None = None  # e.g. "ms per 100 MiB": server CPU per operation, robust to a busy machine
    cpu: dict[str, list[float]] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, who: str, value: float) -> None:
        """Record one sample for ``who`` (``reference``, ``baseline`` or ``distribution``)."""
        self.samples.setdefault(who, []).append(value)

    def add_cpu(self, who: str, value: float) -> None:
        """Record the server CPU one operation (or one request) of ``who`` cost."""
        self.cpu.setdefault(who, []).append(value)

    def cpu_value(self, who: str) -> float | None:
        values = self.cpu.get(who)
        return statistics.median(values) if values else None

    def value(self, who: str) -> float | None:
        """The median of ``who``'s samples, or None when it was not measured."""
        values = self.samples.get(who)
        return statistics.median(values) if values else None

    @property
    def reference(self) -> float | None:
        return self.value("reference")

    @property
    def baseline(self) -> float | None:
        return self.value("baseline")

    @property
    def distribution(self) -> float | None:
        return self.value("distribution")

    def ratio_of(self, who: str) -> float | None:
        """``who``'s figure over the baseline's (None when either is missing)."""
        mine, base = self.value(who), self.baseline
        if mine is None or not base:
            return None
        return mine / base if self.higher_is_better else base / mine

    @property
    def ratio(self) -> float | None:
        return self.ratio_of("reference")

    @property
    def met(self) -> bool | None:
        return self.goal.met(self.reference, self.ratio)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "figure": self.title,
            "unit": self.unit,
            "reference": _round(self.reference),
            "baseline": _round(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": _round(self.ratio, 3),
            "goal": {**asdict(self.goal), "text": self.goal.text},
            "met": self.met,
            "distribution": _round(self.distribution),
            "distribution_ratio": _round(self.ratio_of("distribution"), 3),
            "samples": {who: [_round(v) for v in values] for who, values in self.samples.items()},
            "cpu_unit": self.cpu_unit,
            "cpu": {who: _round(self.cpu_value(who), 3) for who in self.cpu},
            "details": self.details,
            "notes": self.notes,
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def row_cells(fig: Figure) -> list[str]:
    """The table cells of one figure, in COLUMNS order."""
    met = {True: "yes", False: "NO", None: "-"}[fig.met]
    dist = _num(fig.distribution)
    dist_ratio = fig.ratio_of("distribution")
    if fig.distribution is not None and dist_ratio is not None:
        dist += f" ({dist_ratio:.2f}x)"
    ratio = "-" if fig.ratio is None else f"{fig.ratio:.2f}x"
    return [f"{fig.title} [{fig.unit}]", _num(fig.reference), _num(fig.baseline), ratio, fig.goal.text, met, dist]


def render_table(figures: list[Figure]) -> str:
    """A plain-text table (also valid Markdown) of every figure, plus a legend of the baselines."""
    rows = [list(COLUMNS)] + [row_cells(fig) for fig in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    out = [line(rows[0]), "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2))
                                         for i, w in enumerate(widths)) + "|"]
    out += [line(row) for row in rows[1:]]
    legend = [f"  {fig.title}: baseline = {fig.baseline_name}" for fig in figures if fig.baseline_name]
    return "\n".join(out + ([""] + legend if legend else []))


CPU_COLUMNS = ("server CPU per operation", "reference", "baseline", "baseline/reference", DISTRIBUTION_LABEL)


def render_cpu_table(figures: list[Figure]) -> str:
    """Server CPU spent per operation (lower is better): a second view that a busy machine disturbs less."""
    rows = [list(CPU_COLUMNS)]
    for fig in figures:
        if not fig.cpu:
            continue
        ref, base, dist = (fig.cpu_value(who) for who in ("reference", "baseline", "distribution"))
        share = "-" if not ref or base is None else f"{base / ref:.2f}x"
        rows.append([f"{fig.title} [{fig.cpu_unit}]", _cpu(ref), _cpu(base), share, _cpu(dist)])
    if len(rows) == 1:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(CPU_COLUMNS))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                       for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")
        if n == 0:
            lines.append("|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2))
                                        for i, w in enumerate(widths)) + "|")
    return "\n".join(lines)


def _cpu(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def write_json(path: str | os.PathLike, figures: list[Figure], meta: dict[str, object]) -> Path:
    """Write ``{"meta": ..., "rows": [...]}`` to ``path`` (parents created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "rows": [fig.as_dict() for fig in figures]}
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, target)
    return target
