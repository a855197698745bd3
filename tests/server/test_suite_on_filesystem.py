"""The whole conformance suite passes against the reference server on filesystem storage.

Memory storage is what the suite's own tests run on (every check is run against the correct
memory-backed server by the control runs of tests/test_truthfulness.py); this run covers the
other store, the one ``python -m reference_server`` uses by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from reference_server.launcher import start_server

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 300


def test_whole_suite_passes_on_filesystem_storage(tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "PYTEST_"))}
    with start_server(["--root", str(tmp_path / "root")]) as server:
        run = subprocess.run([sys.executable, "-m", "conformance", "--target", server.url, "--results-dir",
                              str(results), "-p", "no:xdist"], cwd=ROOT, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT, env=env)
        log = server.stderr_text()
    output = run.stdout[-4000:] + run.stderr[-2000:]
    checks = json.loads((results / "results.json").read_text())["checks"]
    bad = [f"{c['id']}: {c['status']} {c['message'][:400]}" for c in checks if c["status"] in ("fail", "error")]
    assert not bad, "\n".join(bad)
    assert sum(c["status"] == "pass" for c in checks) > 100, output
    assert run.returncode == 0, output
    assert "Traceback" not in log, log[-4000:]
