"""Each assertion keeps its own level: an unmet SHOULD is a warning (never "unsupported"), and a rule
only the Docker Registry HTTP API V2 states is a warning when the run judges by OCI alone.

The same broken registries the truthfulness test fails under ``--strict`` (Range ignored) or by
default (error bodies that are not JSON) run here without ``--strict`` / with ``--judge oci``:
their checks must pass carrying a warning that names the rule, and the run exits 0.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.broken import Variant
from tests.broken.suite_rules import ERROR_BODY_NOT_JSON, RANGE_CHECKS, RANGE_IGNORED
from tests.test_truthfulness import run_suite

CASES = {
    "unmet-should-is-a-warning": (dataclasses.replace(RANGE_IGNORED, strict=False), RANGE_CHECKS, "SHOULD"),
    "docker-rule-judged-by-oci": (dataclasses.replace(ERROR_BODY_NOT_JSON, args=("--judge", "oci")),
                                  ERROR_BODY_NOT_JSON.must_fail, "Docker Registry HTTP API V2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rule_below_must_is_a_warning(case: str, tmp_path: Path) -> None:
    variant, names, phrase = CASES[case]
    assert isinstance(variant, Variant)
    code, results, output = run_suite(variant, tmp_path, with_middleware=True)
    checks = results["checks"]
    for wanted in names:
        matching = [c for c in checks if wanted in c["id"]]
        assert matching, f"{case}: no check matches {wanted!r}\n{output}"
        for check in matching:
            assert check["status"] == "pass", f"{check['id']}: {check['status']} {check['reason'] or check['message']}"
            assert any(phrase in w for w in check["warnings"]), f"{check['id']} carries no warning naming {phrase!r}"
    assert code == 0, f"{case}: exit code {code}, expected 0 (warnings are not failures)\n{output}"
