"""The server benchmark runs end to end in ``--quick`` mode: every figure is reported with positive
numbers beside its baseline, and nothing is left behind. No timing assertions: these machines are
shared and noisy; performance goals are judged by the benchmark itself, not here."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from registry_harness.peers import distribution_binary

ROOT = Path(__file__).resolve().parents[2]
RATIO_FIGURES = ("upload", "blob_get", "manifest_rps")
ALL_FIGURES = ("upload", "upload_rss", "blob_get", "manifest_rps")
TOOLS = ("wrk", "nginx", "curl")

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None and not Path("/usr/sbin", tool).exists() for tool in TOOLS),
    reason=f"the benchmark needs {', '.join(TOOLS)} (make peers)",
)


def bench(tmp_path: Path, *extra: str) -> subprocess.Popen:
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    argv = [sys.executable, "-m", "benchmarks.bench_server", "--quick", "--out", str(out), "--tmpdir", str(work),
            *extra]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(tmp_path: Path) -> list[str]:
    """Processes still running whose command line points into this test's directory."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(tmp_path) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:200]}")
    return found


def test_quick_run_reports_every_figure_beside_its_baseline(tmp_path: Path) -> None:
    process = bench(tmp_path)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]

    document = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {row["id"]: row for row in document["rows"]}
    assert tuple(rows) == ALL_FIGURES
    with_distribution = distribution_binary() is not None
    for figure in RATIO_FIGURES:
        row = rows[figure]
        assert row["reference"] > 0 and row["baseline"] > 0, row
        assert row["ratio"] == pytest.approx(row["reference"] / row["baseline"], rel=0.01)
        assert row["baseline_name"] and row["goal"]["kind"] == "ratio_min"
        assert row["met"] is (row["ratio"] >= row["goal"]["value"])
        assert len(row["samples"]["reference"]) == len(row["samples"]["baseline"]) >= 1
        assert row["cpu_unit"] and row["cpu"]["reference"] > 0 and row["cpu"]["baseline"] > 0, row
        if with_distribution:
            assert row["distribution"] > 0 and row["distribution_ratio"] > 0, row
    rss = rows["upload_rss"]
    assert rss["goal"] == {"kind": "max", "value": 50.0, "unit": "MB", "text": "< 50 MB"}
    assert rss["reference"] >= 0 and rss["met"] is (rss["reference"] < 50)
    assert rss["details"]["reference"]["rss_before_mb"] > 0
    assert rss["details"]["reference"]["rss_peak_mb"] >= rss["details"]["reference"]["rss_before_mb"]
    if with_distribution:
        assert rss["distribution"] >= 0 and rss["details"]["distribution"]["rss_peak_mb"] > 0
    assert document["meta"]["settings"]["wrk_seconds"] == 1 and document["meta"]["caveats"]

    header = stdout.splitlines()[0]
    for column in ("figure", "reference", "baseline", "ratio", "goal", "met?", "Distribution 2.8.2"):
        assert column in header
    for row in rows.values():
        assert row["figure"] in stdout
    assert "server CPU per operation" in stdout
    assert not list((tmp_path / "work").iterdir()), "temporary data left behind"
    assert not leftovers(tmp_path)


def test_interrupted_run_stops_its_servers_and_removes_its_data(tmp_path: Path) -> None:
    process = bench(tmp_path, "--no-distribution")
    deadline = time.monotonic() + 60
    assert process.stderr is not None
    seen = ""
    while "measuring" not in seen and time.monotonic() < deadline and process.poll() is None:
        seen += process.stderr.readline()
    assert "measuring" in seen, seen
    assert leftovers(tmp_path), "the reference server should be running under the test's directory"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert not leftovers(tmp_path)
    assert not list((tmp_path / "work").iterdir())
    assert not (tmp_path / "out" / "results.json").exists()
