"""Per-entry load statistics at sub-millisecond resolution, mergeable across Locust workers.

Every request event (HTTP requests, whole-image operations, time-to-first-byte entries) lands
here as well as in Locust's own stats; the JSON summary and the SLO gates are computed from it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from load.histogram import LatencyHistogram

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_ERROR_KINDS = 50


@dataclass
class EntryStats:
    """What one entry (request type + name) saw: latencies, failures and bytes."""

    request_type: str
    name: str
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    failures: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0

    @property
    def is_http(self) -> bool:
        return self.request_type in HTTP_METHODS

    def merge(self, other: EntryStats) -> None:
        self.latency.merge(other.latency)
        self.failures += other.failures
        self.bytes_received += other.bytes_received
        self.bytes_sent += other.bytes_sent

    def to_dict(self) -> dict:
        return {
            "request_type": self.request_type,
            "name": self.name,
            "latency": self.latency.to_dict(),
            "failures": self.failures,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
        }

    @classmethod
    def from_dict(cls, data: dict) -> EntryStats:
        return cls(
            data["request_type"], data["name"], LatencyHistogram.from_dict(data.get("latency") or {}),
            int(data.get("failures") or 0), int(data.get("bytes_received") or 0), int(data.get("bytes_sent") or 0),
        )


class Recorder:
    """All entries of one process (or, on the master, of every worker merged)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], EntryStats] = {}
        self.errors: Counter[str] = Counter()
        self.first_start: float | None = None
        self.last_end: float | None = None
        self.cpu: dict[str, dict[str, float]] = {}

    def record(self, request_type: str, name: str, response_time_ms: float, *, received: int = 0, sent: int = 0,
               error: str | None = None, end: float | None = None) -> None:
        """Add one event; ``error`` (one line) marks it as a failure; ``end`` is its wall-clock end time."""
        key = (request_type, name)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = EntryStats(request_type, name)
        entry.latency.add(response_time_ms)
        entry.bytes_received += max(received, 0)
        entry.bytes_sent += max(sent, 0)
        if error is not None:
            entry.failures += 1
            label = f"{request_type} {name}: {error}"[:300]
            if label in self.errors or len(self.errors) < MAX_ERROR_KINDS:
                self.errors[label] += 1
        if entry.is_http:
            end = time.time() if end is None else end
            start = end - response_time_ms / 1000.0
            self.first_start = start if self.first_start is None else min(self.first_start, start)
            self.last_end = end if self.last_end is None else max(self.last_end, end)

    def note_cpu(self, process: str, percent: float) -> None:
        """Add one CPU sample (percent of one core) of a load-generator process while the test runs."""
        seen = self.cpu.setdefault(process, {"max": 0.0, "sum": 0.0, "samples": 0})
        seen["max"] = max(seen["max"], percent)
        seen["sum"] += percent
        seen["samples"] += 1

    def note_cpu_seconds(self, process: str, seconds: float) -> None:
        """CPU seconds a load-generator process has used since the test started (its running total)."""
        seen = self.cpu.setdefault(process, {"max": 0.0, "sum": 0.0, "samples": 0})
        seen["cpu_s"] = max(seconds, 0.0)

    @property
    def window_s(self) -> float:
        """Seconds from the first HTTP request's start to the last one's end (0 when none)."""
        if self.first_start is None or self.last_end is None:
            return 0.0
        return max(self.last_end - self.first_start, 1e-9)

    def to_dict(self) -> dict:
        return {
            "entries": [e.to_dict() for e in self.entries.values()],
            "errors": dict(self.errors),
            "first_start": self.first_start,
            "last_end": self.last_end,
            "cpu": {process: dict(seen) for process, seen in self.cpu.items()},
        }

    def merge_dict(self, data: dict) -> None:
        """Fold a ``to_dict`` result (a worker's report) into this recorder."""
        for raw in data.get("entries") or []:
            other = EntryStats.from_dict(raw)
            key = (other.request_type, other.name)
            if key in self.entries:
                self.entries[key].merge(other)
            else:
                self.entries[key] = other
        for label, count in (data.get("errors") or {}).items():
            if label in self.errors or len(self.errors) < MAX_ERROR_KINDS:
                self.errors[label] += int(count)
        for attr, pick in (("first_start", min), ("last_end", max)):
            theirs = data.get(attr)
            if theirs is not None:
                mine = getattr(self, attr)
                setattr(self, attr, theirs if mine is None else pick(mine, theirs))
        for process, seen in (data.get("cpu") or {}).items():
            self.cpu[process] = dict(seen)  # workers report their running totals: the latest wins

    def drain(self) -> dict:
        """``to_dict`` of everything since the last drain, then start afresh (worker reports; CPU totals stay)."""
        data = self.to_dict()
        self.entries = {}
        self.errors = Counter()
        self.first_start = self.last_end = None
        return data
