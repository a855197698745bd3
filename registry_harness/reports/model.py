"""The result model every report writer reads: one run, its checks, and their five-state verdicts.

Kept independent of pytest so any runner (the conformance plugin, a peer test, a future tool)
can fill it and reuse the JSON, JUnit, HTML and text writers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

STATUSES = ("pass", "fail", "skip", "disabled", "error", "not-run")
FAILING = frozenset({"fail", "error"})
NOT_RUN = "not-run"  # the run ended (budget, Ctrl-C, SIGTERM, unreachable target) before this check ran


@dataclass
class CheckResult:
    """One check's verdict with everything needed to understand (and reproduce) it."""

    id: str
    name: str
    area: str = ""
    rule: str = ""
    level: str = ""
    text: str = ""
    doc: str = ""  # the document the rule comes from (OCI 1.1, OCI main, Docker Registry HTTP API V2)
    status: str = "pass"
    reason: str = ""  # why it was skipped / disabled
    message: str = ""  # why it failed / errored (masked)
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    exchanges_count: int = 0
    exchanges: list[dict] = field(default_factory=list)  # masked Exchange.to_dict() entries
    curl: str = ""  # reproduce the failing request
    client: str = ""  # the real client (docker, skopeo, ...) a check of the clients area drove
    cause: str = ""  # what made it fail: request shape, status and body, or the transport error (causes.py)
    expected: dict[str, str] = field(default_factory=dict)  # the known deviation recorded for it (--expect)
    expectation: str = ""  # "expected", "new" (an unexpected failure) or "stale" (no longer as recorded)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def client_verdicts(checks: list[CheckResult], found: dict[str, dict]) -> dict[str, dict[str, object]]:
    """Per real client: its version and verdict, ``works`` (its checks passed; a valid "unsupported"
    skip allowed), ``fails`` (one failed or errored) or ``not tried`` (every check skipped; the reason).

    ``found`` maps each client name to what the run learnt about it: ``version`` and ``reason``.
    """
    verdicts: dict[str, dict[str, object]] = {}
    for name, info in found.items():
        mine = [c for c in checks if c.client == name]
        statuses = {c.status for c in mine}
        if statuses & FAILING:
            verdict = "fails"
        elif "pass" in statuses:
            verdict = "works"
        else:
            verdict = "not tried"
        if verdict == "fails":
            reason = next(((c.message.splitlines() or [""])[0] for c in mine if c.status in FAILING), "")
        else:
            reason = info.get("reason") or next((c.reason for c in mine if c.reason), "")
        verdicts[name] = {"version": info.get("version"), "verdict": verdict,
                          "reason": "" if verdict == "works" else reason,
                          "checks": {c.name: c.status for c in mine}}
    return verdicts


def verdict_of(check: CheckResult | dict) -> str:
    """One word per check: its status, or ``warn`` for a pass that carries SHOULD warnings."""
    status, warnings = (check.get("status", ""), check.get("warnings")) if isinstance(check, dict) \
        else (check.status, check.warnings)
    return "warn" if status == "pass" and warnings else status


@dataclass
class RunResult:
    """A whole run: what was tested (redacted), when, how long, and every check."""

    tool: str
    target: dict[str, object]
    started: str
    duration_s: float
    checks: list[CheckResult] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def counts(self, checks: list[CheckResult] | None = None) -> dict[str, int]:
        """Checks per status, plus ``warn``: passing checks that carry SHOULD warnings."""
        checks = self.checks if checks is None else checks
        counter = Counter(c.status for c in checks)
        result = {status: counter.get(status, 0) for status in STATUSES}
        result["warn"] = sum(1 for c in checks if c.warnings and c.status not in FAILING)
        result["total"] = len(checks)
        return result

    def grouped(self, key: str) -> dict[str, dict[str, int]]:
        """Counts per value of ``key`` (``area`` or ``level``), in first-seen order."""
        groups: dict[str, list[CheckResult]] = {}
        for check in self.checks:
            groups.setdefault(getattr(check, key) or "-", []).append(check)
        return {name: self.counts(items) for name, items in groups.items()}

    @property
    def failed(self) -> bool:
        """Any failure or error that is not a known deviation, or a known deviation that no longer holds."""
        return any((c.status in FAILING and c.expectation != "expected") or c.expectation == "stale"
                   or c.status == NOT_RUN for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when nothing (new) failed or errored, else 1 (configuration errors never get this far)."""
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, object]:
        return {
            "tool": self.tool,
            "target": self.target,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "by_area": self.grouped("area"),
            "by_level": self.grouped("level"),
            **self.extra,
            "checks": [c.to_dict() for c in self.checks],
        }
