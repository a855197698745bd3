"""The conformance suite's verdict on CNCF Distribution 2.8.2 is pinned, check by check.

The suite runs as users run it (``python -m conformance --target 127.0.0.1:PORT``, a subprocess)
against Debian's ``docker-registry`` with a fresh filesystem store and deletion enabled, once with
the default config and once with ``compatibility.schema1.enabled``. Every check's verdict (pass,
warn, fail, skip, disabled) must equal the one recorded in the known-deviations file users get as
an example, ``fixtures/expectations/distribution-2.8.yaml`` (every check not listed there passes);
each fail and warn there is a real deviation of Distribution from the spec, and each skip a valid
"unsupported" answer, all explained with evidence in ``docs/peers/distribution-2.8.md``. The run
uses that file as users would (``--expect``) and must exit 0.
A new failure, or a known one disappearing, fails this test: a change in the suite's judgement
must be deliberate (a check added to the suite later is expected to pass until recorded). After
such a deliberate change, rewrite the file with ``UPDATE_DISTRIBUTION_VERDICT=1`` and review its diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_harness.reports.expectations import Expectation, load_expectations
from registry_harness.reports.expectations import check_key as expectation_key
from registry_harness.reports.model import verdict_of
from tests.peers.support import missing_peer, netloc

HERE = Path(__file__).resolve().parent
EXPECTED = HERE.parents[1] / "fixtures" / "expectations" / "distribution-2.8.yaml"
DEVIATIONS_DOC = HERE.parents[1] / "docs" / "peers" / "distribution-2.8.md"
UPDATE_ENV = "UPDATE_DISTRIBUTION_VERDICT"
SUITE_TIMEOUT = 240
VERDICTS = ("pass", "warn", "fail", "skip", "disabled")


def check_key(check: dict) -> str:
    """A stable id for a check: its test file name and function (with parameters), not its path."""
    return expectation_key(check["id"])


def recorded() -> dict[str, Expectation]:
    """The recorded verdict of every listed check (the example expectations file)."""
    return load_expectations(EXPECTED).checks


def run_suite(url: str, results_dir: Path) -> dict:
    """Run the conformance suite against ``url`` in a subprocess; return its results.json."""
    # the clients area depends on the machine's clients, not on the registry: tests/peers/test_clients_area.py
    cmd = [sys.executable, "-m", "conformance", "--target", netloc(url), "--results-dir", str(results_dir),
           "--expect", str(EXPECTED), "--disable", "clients"]
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OCI_", "PYTEST_", "TARGET"))}  # only the target given here counts
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=SUITE_TIMEOUT, env=env,
                            stdin=subprocess.DEVNULL, cwd=HERE.parents[1])
    assert result.returncode in (0, 1), (
        f"{' '.join(cmd)} exited with {result.returncode} (2 = configuration/connection error)\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    path = results_dir / "results.json"
    assert path.exists(), f"the suite wrote no {path}\n{result.stdout[-3000:]}"
    data = json.loads(path.read_text())
    data["returncode"], data["last_line"] = result.returncode, result.stdout.rstrip().splitlines()[-1]
    return data


@pytest.fixture(scope="module", params=[False, True], ids=["default-config", "schema1-compatibility"])
def distribution_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """results.json of one suite run against a fresh Distribution 2.8 (its own store, deletion on).

    Run twice: with the default config and with ``compatibility.schema1.enabled``; the verdict
    is the same (2.8 converts schema2 to schema1 on GET either way; the flag only admits schema1 PUTs).
    """
    from registry_harness.peers import distribution_binary, start_distribution

    if distribution_binary() is None:
        missing_peer("Distribution is not installed (apt-get install docker-registry)")
    workdir = tmp_path_factory.mktemp("distribution-verdict")
    with start_distribution(workdir, schema1=request.param) as url:
        yield run_suite(url, workdir / "results")


def test_verdict_on_distribution_is_the_recorded_one(distribution_results: dict) -> None:
    checks = distribution_results["checks"]
    # --disable clients: that area is judged in tests/peers/test_clients_area.py, not pinned here
    actual = {check_key(c): verdict_of(c) for c in checks if c["area"] != "clients"}
    errors = {check_key(c): c["message"][:1500] for c in checks if c["status"] == "error"}
    assert not errors, "the harness itself broke against Distribution:\n" + "\n".join(
        f"- {key}: {message}" for key, message in errors.items())

    if os.environ.get(UPDATE_ENV):
        rewrite_expectations(checks)
        pytest.fail(f"{EXPECTED.name} rewritten from this run ({UPDATE_ENV} is set): review its diff", pytrace=False)

    expected = recorded()
    by_key = {check_key(c): c for c in checks}
    changes = []
    for key, verdict in sorted(actual.items()):
        wanted = expected.get(key, Expectation("pass"))  # a check added to the suite later is expected to pass
        if not wanted.allows(verdict):
            check = by_key[key]
            detail = check.get("message") or "; ".join(check.get("warnings") or []) or check.get("reason") or ""
            changes.append(f"- {key}: expected {wanted.status}, got {verdict}\n    {detail[:600]}")
    for key in sorted(set(expected) - set(actual)):
        changes.append(f"- {key}: recorded as {expected[key].status}, but the suite no longer runs it")
    assert not changes, (
        "the suite's verdict on Distribution 2.8.2 changed:\n" + "\n".join(changes)
        + f"\nIf deliberate: rerun with {UPDATE_ENV}=1, review the diff, update {DEVIATIONS_DOC.name}."
    )
    # the same file as users' --expect: only expected deviations, so the run passes, and says why
    assert distribution_results["returncode"] == 0, distribution_results["last_line"]
    summary = distribution_results["expectations"]
    assert (summary["new"], summary["stale"], summary["not_in_run"]) == (0, 0, []), summary
    deviating = [key for key, entry in expected.items() if actual.get(key) == entry.status]
    assert summary["expected"] == len(deviating)  # an intermittent deviation that passed this time counts as a pass
    fails = sum(1 for key in deviating if expected[key].status == "fail")
    assert distribution_results["last_line"].startswith("PASS: ") and f"{fails} fail ({fails} expected)" in \
        distribution_results["last_line"], distribution_results["last_line"]


def rewrite_expectations(checks: list[dict]) -> None:
    """Record this run's verdicts in the expectations file, keeping the reasons and links already written."""
    known = load_expectations(EXPECTED).checks
    head = [line for line in EXPECTED.read_text().splitlines() if not line.startswith(" ")][:-1]
    order = {"fail": 0, "warn": 1, "skip": 2, "disabled": 3}

    def recorded_verdict(check: dict) -> str:  # an intermittent deviation stays recorded on a run it passed
        old, verdict = known.get(check_key(check)), verdict_of(check)
        return old.status if old and old.intermittent and old.allows(verdict) else verdict

    verdicts = [(check_key(c), recorded_verdict(c), c) for c in checks]
    entries = sorted((entry for entry in verdicts if entry[1] != "pass"),
                     key=lambda entry: (order.get(entry[1], 9), entry[0]))
    lines = [*head, "checks:"]
    for key, verdict, check in entries:
        old = known.get(key)
        reason = old.reason if old else (check.get("reason") or (check.get("message") or "").splitlines()[0])[:200]
        lines += [f"  {key}:", f"    status: {verdict}", f"    reason: {json.dumps(reason)}"]
        if old and old.intermittent:
            lines.append("    intermittent: true")
        if old and old.link:
            lines.append(f"    link: {old.link}")
    EXPECTED.write_text("\n".join(lines) + "\n")


def test_expected_file_names_only_real_verdicts_and_every_deviation_is_documented() -> None:
    expected = {key: entry.status for key, entry in recorded().items()}
    assert set(expected.values()) <= set(VERDICTS), "error is never an expected verdict: it is a harness bug"
    documented = DEVIATIONS_DOC.read_text()

    def explained(key: str) -> bool:
        file, name = key.split("::", 1)
        return f"{file}::{name}" in documented or f"`{file}::*`" in documented

    undocumented = [key for key, verdict in expected.items() if verdict != "pass" and not explained(key)]
    assert not undocumented, f"verdicts other than pass missing from {DEVIATIONS_DOC.name}: {undocumented}"
