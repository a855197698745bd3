"""Whatever the registry does, the harness ends in bounded time and memory, writes its reports and
names the cause first.

Each hostile registry of tests/hostile.py meets the suite (and the load tool) in a subprocess
limited to a 512 MB address space. The suite must end within 60 s (on a shared machine, scaled by
its current run queue per core, at most 4x), write results.json, junit.xml and report.html, and
name the cause in the first line of its terminal summary and of every report.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.hostile import HOSTILE, Hostile, raw_server
from tests.hostile import hang_after_v2 as hang_after_v2_behaviour

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 512 * 1024 * 1024
QUIET_BOUND = 60.0  # seconds, on a machine that has its cores to itself


def time_factor() -> float:
    """How much slower than quiet this shared machine runs now (run queue per core, 1 to 4)."""
    return min(max(os.getloadavg()[0] / (os.cpu_count() or 1), 1.0), 4.0)


def bound(seconds: float = QUIET_BOUND) -> float:
    """``seconds`` as this machine can keep them right now (judged when the run has ended)."""
    return seconds * time_factor()
REQUEST_TIMEOUT = "2"  # keeps each fixture to seconds; the defaults (10 s) end every run within the bound too


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "PYTEST_", "TARGET"))} | {"COLUMNS": "200"}


def run_suite(url: str, results: Path, *args: str, timeout: float = 4 * QUIET_BOUND + 60,
              defaults: bool = False, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    quick = [] if defaults else ["--request-timeout", REQUEST_TIMEOUT]
    process = subprocess.run(
        [sys.executable, "-m", "conformance", "--target", url, *quick,
         "--results-dir", str(results), "-p", "no:xdist", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environment() | (env or {}),
        stdin=subprocess.DEVNULL, preexec_fn=limit_memory,
    )
    return process, time.monotonic() - started


def first_summary_line(stdout: str) -> str:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "registry conformance" in line and line.startswith("="))
    return lines[start + 1]


def names(cause: tuple[str, ...], text: str) -> bool:
    return any(phrase in text.lower() for phrase in cause)


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
def test_the_suite_ends_in_bounds_writes_its_reports_and_names_the_cause_first(hostile: Hostile, tmp_path: Path):
    with hostile.start() as url:
        process, elapsed = run_suite(url, tmp_path, *hostile.args)
    output = process.stdout + process.stderr
    assert elapsed < bound(), f"{hostile.name}: {elapsed:.0f}s\n{output[-3000:]}"
    assert "Traceback" not in output and "MemoryError" not in output, output[-5000:]
    assert process.returncode == (1 if hostile.reachable else 2), output[-3000:]
    assert {p.name for p in tmp_path.iterdir()} >= {"results.json", "junit.xml", "report.html"}

    first = first_summary_line(process.stdout)
    assert names(hostile.cause, first), f"{hostile.name}: first summary line does not name the cause: {first}"
    results = json.loads((tmp_path / "results.json").read_text())
    assert names(hostile.cause, results["headline"]), results["headline"]
    html = (tmp_path / "report.html").read_text()
    assert html.index('class="headline"') < html.index("<h2>"), "the report's first line is not the cause"
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    headline = next(p.get("value") for p in suite.iter("property") if p.get("name") == "headline")
    assert names(hostile.cause, headline)

    checks = results["checks"]
    assert checks and all(c["status"] for c in checks)
    if not hostile.reachable:  # nothing could run: every check says so, none pretends to a verdict
        assert {c["status"] for c in checks} == {"not-run"}, {c["status"] for c in checks}
        return
    for check in checks:  # a check whose request got no usable answer is never a pass, SHOULD or not
        if check["status"] == "pass":
            assert not any(e.get("error") for e in check["exchanges"]), check["id"]
    assert results["causes"] and sum(c["count"] for c in results["causes"]) == \
        sum(1 for c in checks if c["status"] in ("fail", "error"))


def test_a_server_that_is_not_a_registry_reads_as_one_fact_not_a_hundred(tmp_path: Path):
    """Python's http.server: the first line says it is not a registry, the failures come as a few causes,
    every check keeps its own verdict, and cleanup reports nothing (nothing was stored)."""
    hostile = next(h for h in HOSTILE if h.name == "not-a-registry")
    with hostile.start() as url:
        process, _ = run_suite(url, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["headline"].endswith("not 200 or 401, without a spec error body") or \
        "does not look like a registry" in results["headline"]
    failures = [c for c in results["checks"] if c["status"] == "fail"]
    assert len(failures) > 50 and len(results["causes"]) <= 5, [c["cause"] for c in results["causes"]]
    assert f"{len(failures)} failures, {len(results['causes'])} cause" in process.stdout
    base = {c["id"].rsplit("::", 1)[-1]: c["status"] for c in results["checks"] if c["area"] == "base"}
    assert base["test_api_version_check"] == "fail"  # grouping hides no verdict
    assert len(process.stdout.splitlines()) < 200, "a non-registry should not take hundreds of lines to explain"
    assert "could not be deleted" not in process.stdout
    assert results["cleanup"]["failed"] == 0


ASKED = threading.Event()  # set once a check's first request reached the stalled registry


def _stall_and_tell(request, sock, server) -> bool:
    if not request.path.startswith("/v2/?") and request.path not in ("/v2/", "/v2"):
        ASKED.set()
    return hang_after_v2_behaviour(request, sock, server)


@pytest.fixture
def stalled_registry():
    ASKED.clear()
    with raw_server(_stall_and_tell) as url:
        yield url


def test_with_the_default_budgets_a_stalled_registry_still_ends_within_the_bound(stalled_registry: str,
                                                                                   tmp_path: Path):
    """No option given: three default request timeouts (10 s each), then every check fails at once."""
    process, elapsed = run_suite(stalled_registry, tmp_path, defaults=True)
    assert elapsed < bound(), process.stdout[-2000:]
    assert process.returncode == 1 and "stopped answering" in first_summary_line(process.stdout)


def test_a_real_docker_engine_is_not_handed_a_stalled_registry(stalled_registry: str, docker_engine,
                                                                 tmp_path: Path):
    """The clients area with a running engine: docker's own timeouts are minutes, so a registry that
    answers /v2/ but nothing below it fails each client check within one request timeout."""
    process, elapsed = run_suite(stalled_registry, tmp_path, "-m", "clients", env=docker_engine.env)
    assert elapsed < bound(), process.stdout[-3000:]
    assert process.returncode == 1, process.stdout[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    checks = {c["id"].rsplit("::", 1)[-1]: c for c in results["checks"]}
    docker = checks["test_docker_push_pull_round_trip"]
    assert docker["status"] == "fail" and "docker not run" in docker["message"], docker["message"][:300]
    assert results["clients"]["docker"]["version"], results["clients"]  # the engine was there and was asked
    assert results["clients"]["docker"]["verdict"] == "fails"


def test_the_run_budget_ends_the_run_and_marks_the_rest_not_run(stalled_registry: str, tmp_path: Path):
    process, elapsed = run_suite(stalled_registry, tmp_path, "--request-timeout", "30", "--run-timeout", "3")
    assert elapsed < bound(20), process.stdout[-2000:]
    assert process.returncode == 1
    checks = json.loads((tmp_path / "results.json").read_text())["checks"]
    statuses = {c["status"] for c in checks}
    assert "not-run" in statuses, statuses
    cut = [c for c in checks if "run budget" in (c["message"] + c["reason"])]
    assert cut, [(c["id"], c["status"], c["message"][:80]) for c in checks][:5]


def test_a_check_over_its_budget_is_stopped_and_fails(stalled_registry: str, tmp_path: Path):
    process, elapsed = run_suite(stalled_registry, tmp_path, "--request-timeout", "30", "--check-timeout", "1",
                                 "-k", "test_blob_upload")
    assert elapsed < bound(30), process.stdout[-2000:]
    checks = json.loads((tmp_path / "results.json").read_text())["checks"]
    stopped = [c for c in checks if "longer than its budget of 1 s" in c["message"]]
    assert stopped and all(c["status"] == "fail" for c in stopped), [(c["id"], c["message"][:100]) for c in checks]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_and_ctrl_c_still_write_every_report(stalled_registry: str, tmp_path: Path, signum: int):
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance", "--target", stalled_registry, "--request-timeout", "30",
         "--results-dir", str(tmp_path), "-p", "no:xdist"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(),
        stdin=subprocess.DEVNULL, preexec_fn=limit_memory,
    )
    try:
        assert ASKED.wait(60), "the suite never reached its first check"
        time.sleep(0.5)  # the first check now waits on the stalled registry
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 1, stdout[-2000:] + stderr[-2000:]
    assert {p.name for p in tmp_path.iterdir()} >= {"results.json", "junit.xml", "report.html"}
    checks = json.loads((tmp_path / "results.json").read_text())["checks"]
    not_run = [c for c in checks if c["status"] == "not-run"]
    assert len(not_run) > 100 and all("interrupted" in c["reason"] for c in not_run)


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
def test_the_load_tool_ends_in_bounds_and_names_the_cause(hostile: Hostile, tmp_path: Path):
    with hostile.start() as url:
        started = time.monotonic()
        process = subprocess.run(
            [sys.executable, "-m", "load", "browse", "--target", url, "--users", "2", "--run-time", "5s",
             "--browse-repos", "2", "--browse-tags", "3", "--results-dir", str(tmp_path), "--quiet",
             "--", "--request-timeout", REQUEST_TIMEOUT],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env=environment(), stdin=subprocess.DEVNULL,
            preexec_fn=limit_memory,
        )
        elapsed = time.monotonic() - started
    output = process.stdout + process.stderr
    assert elapsed < bound(), f"{hostile.name}: {elapsed:.0f}s\n{output[-3000:]}"
    assert "MemoryError" not in output and "Traceback" not in output, output[-3000:]
    assert process.returncode == (1 if hostile.reachable else 2), output[-3000:]
    last = [line for line in process.stderr.splitlines() if line.startswith("registry-load:")]
    assert last and names(hostile.cause + ("status", "failed"), last[-1]), output[-3000:]
