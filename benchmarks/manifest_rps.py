"""Manifest GET by tag, requests per second, measured with Debian's wrk (``wrk -t2 -c32 -dNs``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from benchmarks.processes import BenchError

_RPS_RE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_TOTAL_RE = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON2XX_RE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    rps: float
    requests: int
    non_2xx: int
    socket_errors: int


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed (apt-get install wrk)")
    return path


def parse_wrk(output: str) -> WrkResult:
    """Read requests/s, the request count and the error counts from wrk's text output."""
    rps = _RPS_RE.search(output)
    total = _TOTAL_RE.search(output)
    if rps is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{output.strip()[-800:]}")
    non_2xx = _NON2XX_RE.search(output)
    sockets = _SOCKET_RE.search(output)
    return WrkResult(
        rps=float(rps.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def run_wrk(url: str, accept: str, seconds: int, threads: int = 2, connections: int = 32) -> WrkResult:
    """Run wrk against ``url`` with ``Accept``; BenchError when any request failed."""
    argv = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
            "-H", f"Accept: {accept}", url]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk against {url} did not stop after {seconds}s") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk against {url} failed: {done.stderr.strip() or done.stdout.strip()}")
    result = parse_wrk(done.stdout)
    if result.non_2xx or result.socket_errors or result.requests == 0:
        raise BenchError(f"wrk against {url}: {result.non_2xx} non-2xx answers, {result.socket_errors} "
                         f"socket errors in {result.requests} requests")
    return result
