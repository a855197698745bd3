"""Process plumbing for the benchmarks: bounded run time, background servers, finding a server's pid.

Every server the benchmark starts is stopped in a ``finally`` (also on Ctrl-C and SIGTERM), and
every step checks one overall deadline so a run never hangs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

from registry_harness.processes import stop_process

READY_TIMEOUT = 20.0


class BenchError(RuntimeError):
    """The benchmark cannot go on (a server did not start, a tool failed, time ran out)."""


class Deadline:
    """One overall time budget for a run; ``check`` raises BenchError once it is spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def check(self, step: str) -> None:
        if time.monotonic() >= self.end:
            raise BenchError(f"time budget of {self.seconds:.0f}s spent before {step}; raise --max-seconds")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the block runs, so cleanup code runs for both."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def background(argv: Sequence[str], log: Path, ready_line: str | None = None,
               timeout: float = READY_TIMEOUT, cwd: str | os.PathLike | None = None) -> Iterator[subprocess.Popen]:
    """Run ``argv`` with output to ``log``; with ``ready_line`` wait (bounded) until it prints a line
    starting with it. The process is stopped when the block ends, however it ends."""
    with open(log, "wb") as sink:
        process = subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=cwd)
    try:
        if ready_line is not None:
            wait_for_line(process, log, ready_line, timeout)
        yield process
    finally:
        stop_process(process)


def wait_for_line(process: subprocess.Popen, log: Path, prefix: str, timeout: float) -> str:
    """The first line of ``log`` starting with ``prefix``; BenchError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line
        if process.poll() is not None:
            raise BenchError(f"{process.args[0]} exited with {process.returncode}: {tail(log)}")
        time.sleep(0.05)
    raise BenchError(f"{process.args[0]} did not print {prefix!r} within {timeout:.0f}s: {tail(log)}")


def tail(path: Path, size: int = 1500) -> str:
    """The end of a log file, for error messages."""
    try:
        return path.read_text(errors="replace")[-size:].strip()
    except OSError:
        return "(no log)"


def listener_pid(port: int, host: str = "127.0.0.1") -> int:
    """The pid of our descendant process listening on ``host:port`` (the server whose memory we watch)."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            for conn in child.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return child.pid
    raise BenchError(f"no process of ours listens on {host}:{port}")


def port_of(url: str) -> int:
    """The port of ``http://host:port``."""
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants (nginx's worker), to the nanosecond:
    the sum of every thread's on-CPU time from /proc/PID/task/TID/schedstat."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for proc in procs:
        try:
            tasks = os.listdir(f"/proc/{proc.pid}/task")
        except OSError:
            continue
        for tid in tasks:
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(Path(f"/proc/{proc.pid}/task/{tid}/schedstat").read_text().split()[0]) / 1e9
    return total


def own_cpu_seconds() -> float:
    """CPU seconds used by this process (the in-process baseline runs here)."""
    return time.process_time()

