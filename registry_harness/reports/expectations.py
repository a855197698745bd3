"""Known deviations: a file that says which checks a registry is expected to fail (or warn, or skip), and why.

A CI job that runs against a real registry cannot gate on "no failure" (every registry has a few
accepted deviations); it gates on "nothing new". The file (YAML or JSON) maps check ids to the
expected verdict, a reason and a link::

    registry: CNCF Distribution 2.8.2
    checks:
      test_pull.py::test_blob_range_unsatisfiable:
        status: fail
        reason: the 416 announces the blob's length as Content-Length
        link: docs/peers/distribution-2.8.md#unsatisfiable-range
      test_push.py::test_mount_without_from: skip      # shorthand: the status alone
      test_concurrency.py::test_racing_tag_moves:
        status: fail
        intermittent: true    # a race the registry loses only sometimes: a pass is not stale

Each check of a run then gets an ``expectation``: ``expected`` (the verdict is the one recorded),
``new`` (it fails and that was not expected) or ``stale`` (the recorded deviation no longer holds:
the check passes, or skips, where it was expected to fail). New and stale both fail the run, so
the file stays true.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from registry_harness.reports.model import FAILING, CheckResult, RunResult, verdict_of

EXPECTABLE = ("pass", "warn", "fail", "skip")
OUTCOMES = ("expected", "new", "stale")


class ExpectationsError(ValueError):
    """The expectations file cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class Expectation:
    """The recorded verdict of one check on one registry, with why and where it is explained."""

    status: str
    reason: str = ""
    link: str = ""
    intermittent: bool = False  # the deviation shows only on some runs (a race): a pass is expected too

    def allows(self, verdict: str) -> bool:
        """Whether ``verdict`` is what this record expects."""
        return verdict == self.status or (self.intermittent and verdict == "pass")

    def to_dict(self) -> dict[str, str | bool]:
        return {"status": self.status, "reason": self.reason, "link": self.link, "intermittent": self.intermittent}


@dataclass
class Expectations:
    """A loaded expectations file: check key (``test_x.py::name``) → Expectation."""

    path: str
    checks: dict[str, Expectation] = field(default_factory=dict)
    registry: str = ""


def check_key(check_id: str) -> str:
    """A check id without its folder (``conformance/checks/test_pull.py::x`` → ``test_pull.py::x``)."""
    path, sep, name = check_id.partition("::")
    return f"{Path(path).name}{sep}{name}"


def _parse(text: str, path: Path) -> object:
    if path.suffix.lower() == ".json":
        return json.loads(text)
    import yaml  # YAML is a superset of JSON: one parser serves both

    return yaml.safe_load(text)


def load_expectations(path: str | Path) -> Expectations:
    """Read and validate an expectations file; raise ExpectationsError (one line) when it is unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpectationsError(f"--expect {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = _parse(text, path)
    except Exception as exc:  # noqa: BLE001 - json.JSONDecodeError or yaml.YAMLError, told in one line
        raise ExpectationsError(f"--expect {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} "
                                f"({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(data, dict):
        raise ExpectationsError(f"--expect {path}: expected a mapping of check ids (under 'checks:')")
    entries = data.get("checks", data if "checks" not in data and "registry" not in data else None)
    if not isinstance(entries, dict):
        raise ExpectationsError(f"--expect {path}: 'checks' must map check ids to an expected status")
    result = Expectations(str(path), registry=str(data.get("registry") or ""))
    for key, value in entries.items():
        entry = {"status": value} if isinstance(value, str) else value
        if not isinstance(entry, dict) or entry.get("status") not in EXPECTABLE:
            raise ExpectationsError(f"--expect {path}: {key}: status must be one of {', '.join(EXPECTABLE)}")
        intermittent = entry.get("intermittent", False)
        if not isinstance(intermittent, bool) or (intermittent and entry["status"] not in ("fail", "warn")):
            raise ExpectationsError(f"--expect {path}: {key}: intermittent is true or false, and true only "
                                    "with status fail or warn")
        result.checks[check_key(str(key))] = Expectation(
            str(entry["status"]), str(entry.get("reason") or ""), str(entry.get("link") or ""), intermittent)
    return result


def judge(check: CheckResult, expected: Expectation | None, strict: bool = False) -> str:
    """The check's expectation outcome: ``expected``, ``new``, ``stale`` or "" (nothing to say)."""
    verdict = verdict_of(check)
    if expected is None:
        return "new" if check.status in FAILING else ""
    if expected.allows(verdict) or (strict and expected.status == "warn" and verdict == "fail"
                                      and check.level == "SHOULD"):
        return "expected" if verdict != "pass" else ""
    if check.status in FAILING:
        return "new"
    if expected.status != "pass" and check.status != "disabled":
        return "stale"  # recorded as failing / warning / skipping, and it no longer does
    return ""


def apply_expectations(run: RunResult, expectations: Expectations, strict: bool = False) -> None:
    """Mark every check of ``run`` with its recorded expectation and outcome; summarise in ``run.extra``."""
    seen: set[str] = set()
    for check in run.checks:
        key = check_key(check.id)
        expected = expectations.checks.get(key)
        seen.add(key)
        check.expected = expected.to_dict() if expected else {}
        check.expectation = judge(check, expected, strict)
    tally = {outcome: sum(1 for c in run.checks if c.expectation == outcome) for outcome in OUTCOMES}
    run.extra["expectations"] = {
        "file": expectations.path,
        "registry": expectations.registry,
        **tally,
        "not_in_run": sorted(set(expectations.checks) - seen),
    }
