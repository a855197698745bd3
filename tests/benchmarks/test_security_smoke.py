"""The security benchmark runs end to end in ``--quick`` mode and reports every figure with its
numbers. No timing assertions: the goals are judged by the benchmark on a quiet machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("token_gzip_rss", "v2_with_idle_connections", "push_during_flood", "unknown_vs_wrong_password")


def test_quick_run_prints_and_saves_every_figure(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "benchmarks.security", "--quick", "--out", str(tmp_path)]
    process = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert process.returncode in (0, 1), process.stderr[-3000:]  # 1: a goal missed on a busy machine

    document = json.loads((tmp_path / "results.json").read_text())
    results = {r["id"]: r for r in document["results"]}
    assert tuple(results) == FIGURES
    assert process.returncode == (0 if all(r["met"] for r in results.values()) else 1)
    assert document["meta"]["date"] and document["meta"]["load_average"] and document["meta"]["quick"]

    rss = results["token_gzip_rss"]["details"]
    assert rss["rss_peak_mb"] >= rss["rss_before_mb"] > 0
    assert rss["statuses"] == [413, 415, 415, 415], "the forms must be refused, not inflated"
    idle = results["v2_with_idle_connections"]
    assert idle["details"]["idle_opened"] > document["meta"]["settings"]["open_files"]
    assert idle["details"]["idle_closed_by_server"] > 0
    flood = results["push_during_flood"]
    assert flood["value"] > 0 and flood["details"]["flood_requests_per_s"] > 0
    assert flood["details"]["quiet_ms"] and flood["details"]["flood_ms"]
    timing = results["unknown_vs_wrong_password"]["details"]
    assert timing["unknown_ms"] > 0 and timing["wrong_ms"] > 0

    header = process.stdout.splitlines()[1]
    for column in ("figure", "value", "goal", "met?"):
        assert column in header
    for figure in FIGURES:
        assert figure in process.stdout
