"""The load-generator benchmark runs end to end in ``--quick`` mode: every figure is reported for the
generator beside its tool (wrk, curl) with positive numbers and the ratio the goal is judged on, and
nothing is left behind. No timing assertions: the goals are judged by the benchmark, not here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.test_bench_smoke import ROOT, TOOLS, leftovers

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None and not Path("/usr/sbin", tool).exists() for tool in TOOLS),
    reason=f"the benchmark needs {', '.join(TOOLS)} (make peers)",
)
FIGURES = ("tags_list", "manifest_get", "manifest_head", "blob_get")


def test_quick_run_prints_every_figure_beside_its_tool(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_load", "--quick", "--out", str(out),
                           "--tmpdir", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    document = json.loads((out / "results.json").read_text())
    rows = {row["id"]: row for row in document["rows"]}
    assert tuple(rows) == FIGURES
    for figure in FIGURES:
        row = rows[figure]
        tool, generator = row["samples"]["tool"], row["samples"]["generator"]
        assert len(tool) == len(generator) == 1, row
        assert tool[0]["requests"] > 0 and generator[0]["requests"] > 0 and generator[0]["cpu_s"] > 0, row
        assert row["per_core"]["tool"] > 0 and row["per_core"]["generator"] > 0, row
        assert row["ratio"] > 0 and row["met"] is (row["ratio"] >= row["goal"]), row
        floor = row["samples"]["floor"]  # the Python loop that only moves bytes, measured beside them
        assert len(floor) == 1 and floor[0]["requests"] > 0 and floor[0]["cpu_s"] > 0, row
        assert row["floor_ratio"] > 0 and row["within_floor"] is (row["floor_ratio"] >= row["goal"]), row
    for figure in FIGURES[:3]:
        row = rows[figure]
        assert row["tool"].startswith("wrk") and row["goal"] == 0.5
        assert row["ratio"] == pytest.approx(row["per_core"]["generator"] / row["per_core"]["tool"], rel=0.01, abs=1e-3)
    blob = rows["blob_get"]
    assert blob["tool"] == "curl" and blob["goal"] == 0.9 and blob["samples"]["generator"][0]["bytes"] > 0
    assert blob["samples"]["floor"][0]["bytes"] == blob["samples"]["tool"][0]["bytes"]  # as many bytes as curl fetched
    assert document["meta"]["machine"]["load_average_before"] and document["meta"]["caveats"]

    header = done.stdout.splitlines()[0]
    for column in ("figure", "tool req/s", "gen req/s", "tool CPU µs/req", "gen CPU µs/req", "floor /core",
                   "floor ratio", "goal", "met?"):
        assert column in header
    for row in rows.values():
        assert row["title"] in done.stdout
    assert "load average" in done.stdout
    assert not list(work.iterdir()), "temporary data left behind"
    assert not leftovers(tmp_path)
