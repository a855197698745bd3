"""SLO gates: thresholds on a run's totals that decide its exit code.

The same evaluation runs twice: in Locust's ``quitting`` listener (setting the process exit code)
and in the CLI, which re-checks the written summary so a gate can never pass silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# option name → (key in the summary totals, "max" or "min", unit shown)
GATES = {
    "max_failure_ratio": ("failure_ratio", "max", ""),
    "max_p95_ms": ("p95_ms", "max", " ms"),
    "max_p99_ms": ("p99_ms", "max", " ms"),
    "min_rps": ("rps", "min", " req/s"),
    "min_mbps": ("mb_per_s", "min", " MB/s"),
}
DEFAULT_MAX_FAILURE_RATIO = 0.0


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict with the figures behind it."""

    gate: str
    threshold: float
    actual: float | None
    passed: bool

    @property
    def option(self) -> str:
        return "--" + self.gate.replace("_", "-")

    def line(self) -> str:
        """``gate --max-p95-ms failed: actual 12.345 ms > threshold 5 ms`` (or ``passed``)."""
        key, kind, unit = GATES[self.gate]
        actual = "n/a" if self.actual is None else _fmt(self.actual)
        relation = (">" if kind == "max" else "<") if not self.passed else ("<=" if kind == "max" else ">=")
        verdict = "passed" if self.passed else "FAILED"
        return f"gate {self.option} {verdict}: actual {actual}{unit} {relation} threshold {_fmt(self.threshold)}{unit}"

    def to_dict(self) -> dict:
        return {**asdict(self), "line": self.line()}


def thresholds_from(values: dict[str, object]) -> dict[str, float]:
    """The gates that are set, from an options mapping (None means not set)."""
    return {gate: float(values[gate]) for gate in GATES if values.get(gate) is not None}


def evaluate(totals: dict, thresholds: dict[str, float]) -> list[GateResult]:
    """Judge ``totals`` (the summary's totals) against each set threshold.

    A run without a single request fails every gate it has (nothing measured proves nothing).
    """
    results = []
    measured = bool(totals.get("requests"))
    for gate, threshold in thresholds.items():
        key, kind, _ = GATES[gate]
        actual = totals.get(key) if measured else None
        if actual is None:
            passed = False
        elif kind == "max":
            passed = float(actual) <= threshold
        else:
            passed = float(actual) >= threshold
        results.append(GateResult(gate, threshold, None if actual is None else float(actual), passed))
    return results


def _fmt(value: float) -> str:
    return f"{value:.6g}" if abs(value) < 1 else f"{value:.3f}".rstrip("0").rstrip(".")
