"""A load profile authenticates like the suite: the pull profile against each auth mode over https."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 180


@pytest.mark.parametrize("mode", ["token", "htpasswd"])
def test_pull_profile_runs_against_auth_over_https(mode, request, users, tmp_path):
    server = request.getfixturevalue(f"{mode}_server")
    results = tmp_path / "load"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "TARGET", "PYTEST_"))}
    env.update(OCI_TLS="insecure", OCI_USERNAME="alice", OCI_PASSWORD=users.alice)
    cmd = [sys.executable, "-m", "load", "pull", "--target", server.url, "--run-time", "5s", "--users", "2",
           "--image-size", "1MiB", "--repo-prefix", "team", "--results-dir", str(results), "--quiet"]
    process = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, cwd=ROOT,
                             stdin=subprocess.DEVNULL)
    output = process.stdout[-3000:] + process.stderr[-3000:]
    assert process.returncode == 0, output
    details = json.loads((results / "details.json").read_text())
    entries = {entry["name"]: entry for entry in details["entries"]}
    token = entries.get("GET [token]")
    if mode == "token":
        assert token and token["requests"] >= 1 and token["failures"] == 0, \
            f"token traffic not counted: {sorted(entries)}"
        assert token["requests"] <= 4, "tokens are cached: about one fetch per user, not one per request"
    else:
        assert token is None, "Basic auth needs no token endpoint"
    pulls = [e for name, e in entries.items() if name.startswith("pull image")]
    assert pulls and sum(e["requests"] for e in pulls) > 0 and details["totals"]["failures"] == 0
    for path in [p for p in results.rglob("*") if p.is_file()]:
        assert users.alice.encode() not in path.read_bytes(), f"password written to {path}"
    assert users.alice not in output



def test_pull_profile_counts_rate_limits_without_failing(tmp_path):
    """Against ``--rate-limit``, 429 answers are waited out by the shared client and reported apart
    (``… [429 rate limited]``), never as failures."""
    from reference_server.launcher import start_server

    results = tmp_path / "load"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "TARGET", "PYTEST_"))}
    with start_server(["--storage", "memory", "--rate-limit", "8"]) as server:
        cmd = [sys.executable, "-m", "load", "pull", "--target", server.url, "--run-time", "4s", "--users", "2",
               "--image-size", "1MiB", "--processes", "1", "--results-dir", str(results), "--quiet"]
        process = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, cwd=ROOT,
                                 stdin=subprocess.DEVNULL)
    output = process.stdout[-3000:] + process.stderr[-3000:]
    assert process.returncode == 0, output
    details = json.loads((results / "details.json").read_text())
    limited = [e for e in details["entries"] if e["name"].endswith("[429 rate limited]")]
    assert limited and sum(e["requests"] for e in limited) >= 1, sorted(e["name"] for e in details["entries"])
    assert all(e["failures"] == 0 for e in limited)
    assert details["totals"]["failures"] == 0, output
