"""Blob GET throughput, measured with curl writing to /dev/null: the same C client for every server.

curl reports its own transfer time (``%{time_total}``), so process start-up is not counted.
"""

from __future__ import annotations

import shutil
import subprocess

from benchmarks.processes import BenchError


def curl_binary() -> str:
    path = shutil.which("curl")
    if path is None:
        raise BenchError("curl is not installed")
    return path


def curl_get(url: str, expected_size: int, timeout: float = 60.0) -> float:
    """GET ``url`` into /dev/null; seconds of the transfer. BenchError unless 200 with ``expected_size`` bytes."""
    argv = [curl_binary(), "--silent", "--show-error", "--noproxy", "*", "--max-time", f"{timeout:.0f}",
            "--output", "/dev/null", "--write-out", "%{http_code} %{size_download} %{time_total}", url]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"curl GET {url} did not finish in {timeout:.0f}s") from exc
    try:
        status, size, seconds = done.stdout.split()
    except ValueError as exc:
        raise BenchError(f"curl GET {url} failed: {done.stderr.strip() or done.stdout.strip()}") from exc
    if status != "200" or int(size) != expected_size:
        raise BenchError(f"curl GET {url}: status {status}, {size} bytes (expected 200 and {expected_size})")
    return max(float(seconds), 1e-6)
