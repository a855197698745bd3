"""A mergeable latency histogram with ~1% relative resolution from 1 µs to hours.

Locust's own buckets are whole milliseconds below 100 ms, too coarse for loopback requests that
take 0.3 ms; this one keeps logarithmic buckets (bounded memory) and merges across workers.
"""

from __future__ import annotations

import math
from collections import Counter

GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)
PERCENTILES = (50, 90, 95, 99)


def bucket_of(value_us: float) -> int:
    """Bucket index of a latency in microseconds (values below 1 µs share bucket 0)."""
    if value_us <= 1.0:
        return 0
    return int(math.log(value_us) / _LOG_GROWTH) + 1


def bucket_value(index: int) -> float:
    """Representative latency (µs) of a bucket: the geometric middle of its bounds."""
    if index <= 0:
        return 1.0
    low = GROWTH ** (index - 1)
    return low * math.sqrt(GROWTH)


class LatencyHistogram:
    """Counts of latencies in log buckets, plus exact count, sum, min and max (all in µs)."""

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total_us = 0.0
        self.min_us: float | None = None
        self.max_us: float | None = None

    def add(self, value_ms: float) -> None:
        """Record one latency given in milliseconds (float, any resolution)."""
        value_us = max(value_ms, 0.0) * 1000.0
        self.buckets[bucket_of(value_us)] += 1
        self.count += 1
        self.total_us += value_us
        self.min_us = value_us if self.min_us is None else min(self.min_us, value_us)
        self.max_us = value_us if self.max_us is None else max(self.max_us, value_us)

    def merge(self, other: LatencyHistogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total_us += other.total_us
        for attr, pick in (("min_us", min), ("max_us", max)):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            if theirs is not None:
                setattr(self, attr, theirs if mine is None else pick(mine, theirs))

    def percentile_us(self, pct: float) -> float | None:
        """The latency (µs) below which ``pct`` percent of the samples fall; None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(self.count * pct / 100.0))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                value = bucket_value(index)
                return min(max(value, self.min_us or value), self.max_us or value)
        return self.max_us

    @property
    def mean_us(self) -> float | None:
        return self.total_us / self.count if self.count else None

    def to_dict(self) -> dict:
        """A JSON-safe form (sent from workers to the master)."""
        return {
            "buckets": {str(k): v for k, v in self.buckets.items()},
            "count": self.count,
            "total_us": self.total_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LatencyHistogram:
        hist = cls()
        hist.buckets.update({int(k): int(v) for k, v in (data.get("buckets") or {}).items()})
        hist.count = int(data.get("count") or 0)
        hist.total_us = float(data.get("total_us") or 0.0)
        hist.min_us = data.get("min_us")
        hist.max_us = data.get("max_us")
        return hist

    def summary(self) -> dict[str, float | int | None]:
        """count, mean, min, max and p50/p90/p95/p99 in ms (three decimals = µs resolution)."""
        out: dict[str, float | int | None] = {"count": self.count}
        for key, value in (("min", self.min_us), ("mean", self.mean_us), ("max", self.max_us)):
            out[f"{key}_ms"] = _ms(value)
        for pct in PERCENTILES:
            out[f"p{pct}_ms"] = _ms(self.percentile_us(pct))
        return out


def _ms(value_us: float | None) -> float | None:
    return None if value_us is None else round(value_us / 1000.0, 3)
