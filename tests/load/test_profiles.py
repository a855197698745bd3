"""Every profile runs for a few seconds against the reference server, correct and with results files."""

from __future__ import annotations

import csv
import json

import pytest

from load.recorder import HTTP_METHODS
from reference_server.launcher import start_server

BLOB_GET = "GET /v2/[name]/blobs/[digest]"
MANIFEST_GET = "GET /v2/[name]/manifests/[reference]"
MANIFEST_HEAD = "HEAD /v2/[name]/manifests/[reference]"
UPLOAD_POST = "POST /v2/[name]/blobs/uploads/"
UPLOAD_PUT = "PUT /v2/[name]/blobs/uploads/[uuid]"
UPLOAD_PATCH = "PATCH /v2/[name]/blobs/uploads/[uuid]"
MANIFEST_PUT = "PUT /v2/[name]/manifests/[reference]"

CASES = {
    "pull": ([], [MANIFEST_HEAD, MANIFEST_GET, BLOB_GET, "TTFB manifest", "TTFB config", "TTFB layer",
                  "pull image 1MiB"]),
    "push": (["--push-mode", "chunked", "--push-repo", "distinct", "--chunk-size", "256KiB"],
             [UPLOAD_POST, UPLOAD_PATCH, UPLOAD_PUT, MANIFEST_PUT, "push image 1MiB"]),
    "mixed": ([], [BLOB_GET, UPLOAD_PUT, MANIFEST_PUT, "pull image 1MiB", "push image 1MiB"]),
    "browse": (["--browse-repos", "4", "--browse-tags", "12", "--page-size", "5"],
               ["GET /v2/_catalog", "GET /v2/[name]/tags/list", "browse catalog", "browse tags"]),
    "herd": (["--herd-interval", "1"], [MANIFEST_GET, BLOB_GET, "pull image herd", "publish herd image"]),
    "resolve": (["--page-size", "5"], [MANIFEST_HEAD, MANIFEST_GET, "GET /v2/[name]/tags/list", "resolve image",
                                       "TTFB manifest"]),
}


@pytest.mark.parametrize("profile", list(CASES))
def test_profile_runs_clean_and_writes_results(profile, registry_url, run_load):
    extra, expected_entries = CASES[profile]
    run = run_load(profile, "--target", registry_url, "--users", "3", "--run-time", "3s", "--image-size", "1MiB",
                   *extra)

    assert run.returncode == 0, run.stderr[-3000:]
    details = run.details
    totals = details["totals"]
    assert totals["requests"] > 0
    assert totals["failures"] == 0 and totals["operation_failures"] == 0, details["errors"]
    assert details["profile"] == profile
    names = {e["name"] for e in details["entries"]}
    assert set(expected_entries) <= names
    # Sub-millisecond resolution: percentiles carry decimals, in ms (three: they agree with µs to 0.5) and µs.
    assert isinstance(totals["p50_ms"], float)
    assert totals["p50_us"] == pytest.approx(totals["p50_ms"] * 1000, abs=0.6)
    # Locust's own files, non-empty, grouped by endpoint template.
    with open(run.folder / "locust_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    http_entries = {name for name in expected_entries if name.split(" ", 1)[0] in HTTP_METHODS}
    assert http_entries <= set(rows)
    # Honest tables: Locust's rows and its "Aggregated" line count real HTTP requests only; whole
    # operations and times to first byte live in the harness's own table (details.json, the CLI).
    assert not (set(expected_entries) - http_entries) & set(rows)
    # (Locust writes its CSV a moment before the harness's last figures: a request or two may differ.)
    aggregated = int(rows["Aggregated"]["Request Count"])
    assert 0.95 * totals["requests"] - 5 <= aggregated <= totals["requests"], (aggregated, totals["requests"])
    assert (run.folder / "report.html").stat().st_size > 1000
    # Trend-tracker entries.
    bench = json.loads((run.folder / "summary.json").read_text())
    assert bench and all({"name", "unit", "value"} <= set(item) for item in bench)


def test_pull_counts_every_byte(registry_url, run_load):
    run = run_load("pull", "--target", registry_url, "--users", "2", "--run-time", "3s", "--image-size", "1MiB")

    assert run.returncode == 0, run.stderr[-3000:]
    blobs = run.entry(BLOB_GET)
    pulls = run.entry("pull image 1MiB")
    # Every pulled byte is counted: each whole pull moved at least its 1 MiB layer.
    assert blobs["bytes_received"] >= pulls["requests"] * 1024 * 1024
    assert pulls["bytes_received"] >= pulls["requests"] * 1024 * 1024
    assert run.details["totals"]["mb_per_s"] > 0


def test_step_shape_drives_the_run(registry_url, run_load):
    run = run_load("browse", "--target", registry_url, "--users", "4", "--run-time", "3s", "--shape", "step",
                   "--step-count", "3", "--browse-repos", "3", "--browse-tags", "5")

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.details["shape"] == "StepShape"
    assert run.details["totals"]["requests"] > 0


def test_token_traffic_shows_in_the_stats(run_load):
    with start_server(["--storage", "memory", "--auth", "token", "--token-ttl", "7"]) as server:
        run = run_load("pull", "--target", server.url, "--users", "2", "--run-time", "3s", "--image-size", "1MiB")

    assert run.returncode == 0, run.stderr[-3000:]
    tokens = run.entry("GET [token]")
    # Short-lived tokens are fetched again during the run, and each fetch is a timed, successful request.
    assert tokens["requests"] >= 2 and tokens["failures"] == 0
    assert run.details["totals"]["failures"] == 0
