"""The suite's terminal output is part of its interface: snapshot tests of a passing and a failing run.

Variable parts (ports, result paths, durations, deselected counts) are normalised. After a
deliberate change of the output, rerun with ``UPDATE_SNAPSHOTS=1`` and review the diff.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reference_server.__main__ import build_parser, config_from_args
from reference_server.app import create_app
from reference_server.launcher import serve_in_thread
from tests.broken.base import VARIANTS as BASE_VARIANTS

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
NORMALISE = (
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r" in \d+(\.\d+)?s"), " in Ns"),
    (re.compile(r"\d+ deselected"), "N deselected"),
    (re.compile(r"\d+ not selected"), "N not selected"),
)


def normalise(text: str, results: Path) -> str:
    text = text.replace(str(results), "RESULTS")
    for pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return text


def run_suite(url: str | None, results: Path, *args: str) -> tuple[int, str]:
    target = ["--target", url] if url else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "PYTEST_", "TARGET"))} | {"COLUMNS": "80"}
    process = subprocess.run(
        [sys.executable, "-m", "conformance", *target, "-m", "base", "--results-dir", str(results),
         "-p", "no:xdist", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
    )
    return process.returncode, normalise(process.stdout + process.stderr, results)


def assert_snapshot(name: str, output: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(output)
    expected = path.read_text()
    assert output == expected, f"output differs from {path.name} (UPDATE_SNAPSHOTS=1 to accept):\n{output}"


def test_passing_run_output(tmp_path: Path) -> None:
    code, output = run_suite(None, tmp_path)
    assert code == 0
    assert_snapshot("passing-base.txt", output)


@pytest.mark.parametrize("variant", [v for v in BASE_VARIANTS if v.name == "api-version-header-missing"],
                         ids=lambda v: v.name)
def test_failing_run_output_names_rule_reason_and_curl(variant, tmp_path: Path) -> None:
    args = build_parser().parse_args([*variant.server_args, "--storage", "memory"])
    with serve_in_thread(create_app(config_from_args(args), middlewares=[variant.middleware])) as url:
        code, output = run_suite(url, tmp_path, "--strict")
    assert code == 1
    assert_snapshot("failing-base-strict.txt", output)
