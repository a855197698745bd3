"""The upload-sweep benchmark runs end to end on a few sessions and prints both figures (no timing
assertions: the figures are read on a quiet machine)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_small_run_prints_the_listing_and_the_sweep_figures() -> None:
    process = subprocess.run([sys.executable, "-m", "benchmarks.upload_sweep", "--sessions", "60"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-3000:]
    assert re.search(r"sessions:\s+60\n", process.stdout), process.stdout
    assert re.search(r"listing them from the store \(on a loop\):\s+\d+ ms", process.stdout), process.stdout
    assert re.search(r"longest event-loop gap \d+\.\d ms \(\d+ ticks\)", process.stdout), process.stdout
