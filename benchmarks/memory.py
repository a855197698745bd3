"""Resident memory of a server process, read from /proc: current RSS and its peak during a step.

The peak comes from two sources and the larger wins: the kernel's high-water mark (``VmHWM``,
reset through ``/proc/PID/clear_refs`` when we may write it) and a sampler thread reading
``VmRSS`` every few milliseconds (in case the reset is not allowed).
"""

from __future__ import annotations

import threading
from pathlib import Path

MB = 1_000_000
SAMPLE_INTERVAL = 0.005


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def vm_rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    return _status_kib(pid, "VmRSS") * 1024


def vm_hwm(pid: int) -> int:
    """Peak resident set size of ``pid`` in bytes (since start or the last reset)."""
    return _status_kib(pid, "VmHWM") * 1024


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak RSS of ``pid`` to its current RSS; False when not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakRss:
    """Context manager measuring the peak RSS of ``pid`` while the block runs.

    After the block: ``before`` (RSS at entry), ``peak`` (bytes) and ``growth`` (peak - before).
    """

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL) -> None:
        self.pid = pid
        self.interval = interval
        self.before = 0
        self.peak = 0
        self.hwm_reset = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        self.before = vm_rss(self.pid)
        self.peak = self.before
        self.hwm_reset = reset_peak(self.pid)
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.peak = max(self.peak, vm_rss(self.pid))
            except (OSError, KeyError):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            self.peak = max(self.peak, vm_rss(self.pid))
            if self.hwm_reset:
                self.peak = max(self.peak, vm_hwm(self.pid))
        except (OSError, KeyError):
            pass

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.before)
