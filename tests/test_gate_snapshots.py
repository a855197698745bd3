"""Snapshots of what a CI user reads: skip reasons with their hint, known deviations met and
no longer met, and ``compare`` between two runs. Same rules as tests/test_cli_snapshots.py:
variable parts are normalised; ``UPDATE_SNAPSHOTS=1`` rewrites them after a deliberate change.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from reference_server.__main__ import build_parser, config_from_args
from reference_server.app import create_app
from reference_server.launcher import serve_in_thread
from tests.broken.base import VARIANTS as BASE_VARIANTS
from tests.test_cli_snapshots import ROOT, assert_snapshot, normalise, run_suite

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
BROKEN = next(v for v in BASE_VARIANTS if v.name == "api-version-header-missing")


def expectations_file(folder: Path, status: str) -> Path:
    path = folder / "expected.yaml"
    path.write_text("registry: a registry without the API version header\nchecks:\n"
                    "  test_base.py::test_api_version_header:\n"
                    f"    status: {status}\n    reason: no Docker-Distribution-API-Version header\n"
                    "    link: https://example.test/issues/1\n")
    return path


def serve_broken():  # noqa: ANN201 - the launcher's context manager
    args = build_parser().parse_args([*BROKEN.server_args, "--storage", "memory"])
    return serve_in_thread(create_app(config_from_args(args), middlewares=[BROKEN.middleware]))


def test_skips_are_grouped_with_their_reason_and_the_auth_hint(tmp_path: Path) -> None:
    code, output = run_suite(None, tmp_path, "-m", "base or auth", "--disable", "base")
    assert code == 0
    assert "registry does not require authentication" in output and "--server-arg=--auth=token" in output
    assert output.splitlines()[-1].startswith("PASS: 28 checks: 0 pass, 0 fail, 0 warn, 25 skip, 3 disabled")
    assert_snapshot("skipped-and-why.txt", output)


def test_expected_failure_passes_the_gate_and_says_so(tmp_path: Path) -> None:
    expect = expectations_file(tmp_path, "fail")
    with serve_broken() as url:
        code, output = run_suite(url, tmp_path / "r", "--strict", "--expect", str(expect))
    assert code == 0, output
    assert_snapshot("expected-failure.txt", output.replace(str(tmp_path), "TMP"))


def test_expected_failure_that_now_passes_fails_the_gate(tmp_path: Path) -> None:
    expect = expectations_file(tmp_path, "fail")
    code, output = run_suite(None, tmp_path / "r", "--expect", str(expect))
    assert code == 1, output
    assert_snapshot("expected-failure-now-passes.txt", output.replace(str(tmp_path), "TMP"))


def test_compare_names_regressions_and_fixes(tmp_path: Path) -> None:
    code, _ = run_suite(None, tmp_path / "a", "--strict")
    assert code == 0
    with serve_broken() as url:
        code, _ = run_suite(url, tmp_path / "b", "--strict")
    assert code == 1
    result = subprocess.run([sys.executable, "-m", "conformance", "compare", str(tmp_path / "a" / "results.json"),
                             str(tmp_path / "b" / "results.json"), "--html", str(tmp_path / "compare.html")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr  # a regression
    output = TIMESTAMP.sub("TIME", normalise(result.stdout + result.stderr, tmp_path))
    assert_snapshot("compare-regression.txt", output)
    html = (tmp_path / "compare.html").read_text()
    assert "regression (1)" in html and "test_base.py::test_api_version_header" in html
    back = subprocess.run([sys.executable, "-m", "conformance", "compare", str(tmp_path / "b" / "results.json"),
                           str(tmp_path / "a" / "results.json"), "--html", str(tmp_path / "back.html")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert back.returncode == 0 and "fixes (1):" in back.stdout, back.stdout
