"""The side-by-side bench alternates two registries and writes its table."""

from __future__ import annotations

import json

from reference_server.launcher import start_server
from tests.load.conftest import run_module


def test_bench_compares_two_registries(registry_url, tmp_path):
    with start_server(["--storage", "memory"]) as other:
        done = run_module("load.bench", ["--target-a", registry_url, "--target-b", other.url, "--label-a", "one",
                                         "--label-b", "two", "--profiles", "browse", "--rounds", "1", "--users", "2",
                                         "--run-time", "2s", "--results", str(tmp_path)])

    assert done.returncode == 0, done.stderr[-3000:]
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["side"], r["round"]) for r in bench["runs"]] == [("a", 1), ("b", 1)]
    rps = next(row for row in bench["rows"] if row["figure"] == "req/s")
    assert rps["a"] > 0 and rps["b"] > 0 and rps["ratio"] == round(rps["b"] / rps["a"], 3)
    assert "| browse | req/s |" in (tmp_path / "bench.md").read_text()
    assert "B/A" in done.stdout
    # The same comparison as a self-contained page: one bar chart per figure, inline SVG, nothing fetched.
    page = (tmp_path / "bench.html").read_text()
    assert page.count("<svg") >= 2 and "requests per second" in page and "p95 latency" in page
    assert "<rect" in page and "Caveats" in page and "one" in page and "two" in page
    assert not any(tag in page for tag in ("<script", "<link", "src=", "@import"))
