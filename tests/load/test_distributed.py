"""The same profile with a Locust master and two workers on loopback."""

from __future__ import annotations

import json
import subprocess
import sys

from registry_harness.processes import free_port
from tests.load.conftest import REPO_ROOT, RUN_TIMEOUT


def test_master_with_two_workers(registry_url, tmp_path):
    port = free_port()
    folder = tmp_path / "results"
    master = subprocess.Popen(
        [sys.executable, "-m", "load", "pull", "--target", registry_url, "--users", "4", "--run-time", "4s",
         "--image-size", "1MiB", "--master", "--expect-workers", "2", "--master-port", str(port), "--quiet",
         "--results-dir", str(folder)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    worker_command = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "load" / "profiles" / "pull.py"),
                      "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    workers = [subprocess.Popen(worker_command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        _, master_err = master.communicate(timeout=RUN_TIMEOUT)
        worker_codes = [w.wait(timeout=30) for w in workers]
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
                process.wait(10)

    assert master.returncode == 0, master_err[-3000:]
    assert worker_codes == [0, 0]
    details = json.loads((folder / "details.json").read_text())
    assert details["workers"] == 2
    assert details["totals"]["requests"] > 0 and details["totals"]["failures"] == 0
