"""The suite as a CI gate on first contact: make keeps the tool's exit code visible, a bad TARGET is
one line, a closed pipe is no crash, --help shows every option, set-up prints no warning, known
deviations are listed as such in results.json, junit.xml and report.html, and several registries
become one matrix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.exit_codes import MEANINGS
from conformance.options import OPTIONS
from reference_server.__main__ import build_parser, config_from_args
from reference_server.app import create_app
from reference_server.launcher import serve_in_thread
from registry_harness.processes import free_port
from registry_harness.reports.compare import Column, clients_verdict, render_matrix_markdown
from tests.broken.base import VARIANTS as BASE_VARIANTS

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180
BROKEN = next(v for v in BASE_VARIANTS if v.name == "api-version-header-missing")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OCI_", "PYTEST_", "TARGET", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"))}
    return env | extra


def run(cmd: list[str] | str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          env=clean_env(), shell=isinstance(cmd, str), **kwargs)  # type: ignore[arg-type]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return run(["make", "--no-print-directory", *args])


def serve_broken():  # noqa: ANN201 - the launcher's context manager
    args = build_parser().parse_args([*BROKEN.server_args, "--storage", "memory"])
    return serve_in_thread(create_app(config_from_args(args), middlewares=[BROKEN.middleware]))


def last_line(text: str) -> str:
    return text.rstrip().splitlines()[-1]


def test_make_conformance_ends_with_the_tools_exit_code(tmp_path: Path) -> None:
    passing = make("conformance", f"ARGS=-m base --results-dir {tmp_path / 'a'}")
    assert last_line(passing.stdout) == f"registry-conformance exit code 0: {MEANINGS[0]}"
    assert passing.returncode == 0
    with serve_broken() as url:
        failing = make("conformance", f"TARGET={url}", f"ARGS=-m base --strict --results-dir {tmp_path / 'b'}")
    assert last_line(failing.stdout) == f"registry-conformance exit code 1: {MEANINGS[1]}"
    assert failing.returncode != 0  # make says 2 for any failure; the line above keeps the 1
    unreachable = make("conformance", f"TARGET=127.0.0.1:{free_port()}")
    assert last_line(unreachable.stdout) == f"registry-conformance exit code 2: {MEANINGS[2]}"


def test_target_with_spaces_is_one_invalid_value() -> None:
    result = make("conformance", "TARGET=not a host")
    assert last_line(result.stdout).startswith("registry-conformance exit code 2")
    lines = [line for line in result.stderr.splitlines() if not line.startswith("make:")]
    assert lines == ["registry-conformance: error: target 'not a host' is not host:port or http(s)://host:port"]
    assert "https://not" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_list_into_a_closed_pipe_is_quiet() -> None:
    for _ in range(2):  # the pipe closes at a different moment each time
        result = run(f"{sys.executable} -m conformance --list | head -n 2; exit ${{PIPESTATUS[0]}}",
                     executable="/bin/bash")
        assert result.stderr == "", result.stderr
        assert result.returncode == 0
        assert len(result.stdout.splitlines()) == 2


def test_help_shows_every_option_from_the_one_table() -> None:
    cli_help = run([sys.executable, "-m", "conformance", "--help"]).stdout
    for option in OPTIONS:
        if option.cli:
            assert option.flag in cli_help, f"{option.flag} missing from --help"
    assert "--request-timeout SECONDS" in cli_help and "--expect FILE" in cli_help
    for code, meaning in MEANINGS.items():
        assert f"{code}  {meaning}" in cli_help
    plugin_help = run([sys.executable, "-m", "pytest", "-p", "no:locust", "-p", "no:registry_conformance",
                       "-p", "conformance.plugin", "--help"]).stdout
    section = plugin_help.split("registry conformance:", 1)[1].split("\n\n", 1)[0]
    flags = {line.split()[0].rstrip(",=") .split("=")[0] for line in section.splitlines()
             if line.startswith("  --")}
    assert flags == {o.pytest_flag for o in OPTIONS if o.pytest_flag}, "every plugin option comes from the table"


def test_setup_prints_no_warning(tmp_path: Path) -> None:
    """make setup into a fresh venv (the project alone, its dependencies left out to stay fast)."""
    result = make("setup", f"VENV={tmp_path / 'venv'}", "SETUP_SPEC=.", "PIP_ARGS=--no-deps")
    assert result.returncode == 0, result.stdout + result.stderr
    echoed = ("python3 -m venv ", "PYTHONWARNINGS=", "touch ")  # make's echo of the recipe itself
    said = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith(echoed)]
    assert said == [], "set-up printed more than its commands:\n" + "\n".join(said)
    assert (tmp_path / "venv" / ".installed").exists()


def test_known_deviations_are_listed_in_every_report(tmp_path: Path) -> None:
    expect = tmp_path / "expected.json"
    expect.write_text(json.dumps({"registry": "broken", "checks": {
        "test_base.py::test_api_version_header": {"status": "fail", "reason": "no version header", "link": "#1"},
        "test_base.py::test_api_version_check": {"status": "fail", "reason": "fixed since"},
    }}))
    with serve_broken() as url:
        result = run([sys.executable, "-m", "conformance", "--target", url, "-m", "base", "--strict",
                      "--expect", str(expect), "--results-dir", str(tmp_path / "r")])
    assert result.returncode == 1, result.stdout  # test_api_version_check now passes: the file is stale
    assert "STALE conformance/checks/test_base.py::test_api_version_check" in result.stdout
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    by_name = {c["id"].rsplit("::", 1)[-1]: c for c in data["checks"]}
    assert by_name["test_api_version_header"]["expectation"] == "expected"
    assert by_name["test_api_version_header"]["expected"]["reason"] == "no version header"
    assert by_name["test_api_version_check"]["expectation"] == "stale"
    assert data["expectations"]["expected"] == 1 and data["expectations"]["stale"] == 1 and data["exit_code"] == 1
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "r" / "junit.xml").getroot().iter("testcase")}
    skipped = cases["test_api_version_header"].find("skipped")
    assert skipped is not None and skipped.get("type") == "expected-fail" and "no version header" in skipped.get(
        "message", "")
    stale = cases["test_api_version_check"].find("failure")
    assert stale is not None and stale.get("type") == "known-deviation-no-longer-holds"
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Known deviation (expected fail): no version header" in html and "no longer as recorded" in html


def test_an_intermittent_deviation_may_pass_or_fail_without_going_stale(tmp_path: Path) -> None:
    """A race the registry loses only sometimes: recorded as an intermittent fail, either verdict is expected."""
    expect = tmp_path / "expected.yaml"
    expect.write_text("checks:\n"
                      "  test_base.py::test_api_version_header: {status: fail, intermittent: true, reason: lost}\n"
                      "  test_base.py::test_api_version_check: {status: fail, intermittent: true, reason: won}\n")
    with serve_broken() as url:  # breaks the version header, not the version check
        result = run([sys.executable, "-m", "conformance", "--target", url, "-m", "base", "--strict",
                      "--expect", str(expect), "--results-dir", str(tmp_path / "r")])
    assert result.returncode == 0, result.stdout
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    by_name = {c["id"].rsplit("::", 1)[-1]: c for c in data["checks"]}
    assert by_name["test_api_version_header"]["status"] == "fail"
    assert by_name["test_api_version_header"]["expectation"] == "expected"
    assert by_name["test_api_version_check"]["status"] == "pass"
    assert by_name["test_api_version_check"]["expectation"] == ""  # passed this time: nothing to say, not stale
    assert (data["expectations"]["expected"], data["expectations"]["stale"]) == (1, 0)


@pytest.mark.parametrize(("content", "phrase"), [
    ("checks: [1, 2]", "'checks' must map check ids"),
    ("checks:\n  test_base.py::x: {status: skip, intermittent: true}\n", "true only with status fail or warn"),
    ("checks:\n  test_base.py::x: maybe\n", "status must be one of"),
    ("checks: {a: [", "not valid YAML"),
])
def test_unusable_expectations_file_is_one_line(content: str, phrase: str, tmp_path: Path) -> None:
    path = tmp_path / "expected.yaml"
    path.write_text(content)
    result = run([sys.executable, "-m", "conformance", "--expect", str(path), "--results-dir", str(tmp_path)])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and phrase in lines[0] and str(path) in lines[0], result.stderr


def test_compare_of_an_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "conformance", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_matrix_runs_each_registry_and_writes_one_table(tmp_path: Path) -> None:
    folder = tmp_path / "matrix"
    with serve_broken() as url:
        result = run([sys.executable, "-m", "conformance", "matrix", "reference=embedded", f"broken={url}",
                      f"gone=127.0.0.1:{free_port()}", "--results-dir", str(folder), "--", "-m", "base", "--strict"])
    assert result.returncode == 2, result.stdout + result.stderr  # "gone" could not be run, and the matrix says so
    markdown = (folder / "matrix.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| check |"))
    assert header == "| check | area | reference | broken | gone |"
    row = next((line for line in markdown.splitlines() if "test_api_version_header" in line), None)
    assert row is not None, markdown + result.stdout + result.stderr
    assert row == "| `test_base.py::test_api_version_header` | base | pass | **fail** | – |"
    assert "not run:" in markdown and "unreachable" in markdown
    html = (folder / "matrix.html").read_text()
    assert "background:#fff8e5" in html and "test_api_version_header" in html
    assert (folder / "reference" / "results.json").exists() and (folder / "broken" / "junit.xml").exists()
    assert "2 of 3 registries compared; not run: gone" in result.stdout


def test_matrix_shows_the_clients_verdict_where_results_hold_one() -> None:
    with_clients = {"target": {"url": "http://a"}, "counts": {"pass": 3}, "checks": [],
                    "by_area": {"clients": {"pass": 4, "fail": 1, "error": 0, "total": 5}}}
    without = {"target": {"url": "http://b"}, "counts": {"pass": 3}, "checks": [], "by_area": {}}
    assert clients_verdict(with_clients) == "fail (4/5 pass)"
    assert clients_verdict(without) == "–"
    markdown = render_matrix_markdown([Column("a", with_clients), Column("b", without)])
    assert "| clients | fail (4/5 pass) | – |" in markdown
