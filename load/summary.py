"""The JSON summary of a load run: details for people and the CLI, flat lists for trend trackers.

Files written into the results folder:
- ``details.json``: totals, every entry with p50/p90/p95/p99 in ms (µs resolution), bytes, errors,
  generator CPU and the gates' verdicts;
- ``summary.json``: ``[{"name", "unit", "value", "extra"}]`` entries (github-action-benchmark's
  custom format), plus ``summary-smaller.json`` / ``summary-bigger.json`` split by direction
  for its ``customSmallerIsBetter`` / ``customBiggerIsBetter`` tools.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from load.histogram import PERCENTILES, LatencyHistogram
from load.recorder import EntryStats, Recorder

CPU_BOUND_PERCENT = 90.0
MB = 1_000_000


def _latency(hist: LatencyHistogram) -> dict:
    out = hist.summary()
    for pct in PERCENTILES:
        value = hist.percentile_us(pct)
        out[f"p{pct}_us"] = None if value is None else round(value, 1)
    return out


def _entry(entry: EntryStats, window: float) -> dict:
    count = entry.latency.count
    moved = entry.bytes_received + entry.bytes_sent
    return {
        "type": entry.request_type,
        "name": entry.name,
        "requests": count,
        "failures": entry.failures,
        "failure_ratio": round(entry.failures / count, 6) if count else 0.0,
        "rps": round(count / window, 3) if window else 0.0,
        "bytes_received": entry.bytes_received,
        "bytes_sent": entry.bytes_sent,
        "mb_per_s": round(moved / MB / window, 3) if window else 0.0,
        **_latency(entry.latency),
    }


def generator_cpu(recorder: Recorder) -> dict[str, dict[str, float]]:
    """Per load-generator process: mean and max CPU (percent of one core) while the test ran."""
    out = {}
    for process, seen in sorted(recorder.cpu.items()):
        samples = int(seen.get("samples") or 0)
        out[process] = {
            "mean": round(seen["sum"] / samples, 1) if samples else 0.0,
            "max": round(float(seen.get("max") or 0.0), 1),
            "samples": samples,
            "cpu_s": round(float(seen.get("cpu_s") or 0.0), 3),
        }
    return out


def build(recorder: Recorder, context: dict) -> dict:
    """The details document: ``context`` (profile, target, users, settings…) plus the measured figures."""
    window = recorder.window_s
    http = [e for e in recorder.entries.values() if e.is_http]
    merged = LatencyHistogram()
    for entry in http:
        merged.merge(entry.latency)
    requests = merged.count
    failures = sum(e.failures for e in http)
    received = sum(e.bytes_received for e in http)
    sent = sum(e.bytes_sent for e in http)
    totals = {
        "requests": requests,
        "failures": failures,
        "failure_ratio": round(failures / requests, 6) if requests else 0.0,
        "operation_failures": sum(e.failures for e in recorder.entries.values() if not e.is_http),
        "rps": round(requests / window, 3) if window else 0.0,
        "bytes_received": received,
        "bytes_sent": sent,
        "mb_per_s": round((received + sent) / MB / window, 3) if window else 0.0,
        **_latency(merged),
    }
    cpu = generator_cpu(recorder)
    cpu_s = sum(p["cpu_s"] for p in cpu.values())
    totals["generator_cpu_s"] = round(cpu_s, 3)
    # What one request costs the generator (all its processes, master included): 10^6 / this = req/s per core.
    totals["cpu_us_per_request"] = round(cpu_s / requests * 1e6, 1) if requests and cpu_s else None
    ordered = sorted(recorder.entries.values(), key=lambda e: (not e.is_http, e.request_type, e.name))
    return {
        **context,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "window_s": round(window, 3),
        "totals": totals,
        "entries": [_entry(e, window) for e in ordered],
        "errors": dict(recorder.errors.most_common()),
        "generator_cpu": cpu,
        "generator_bound": any(p["mean"] > CPU_BOUND_PERCENT for p in cpu.values()),
    }


def benchmark_entries(details: dict) -> list[dict]:
    """github-action-benchmark custom entries (``direction`` says which tool each belongs to)."""
    profile = details.get("profile", "load")
    totals = details["totals"]
    extra = f"target {details.get('target', '?')}, {details.get('users', '?')} users, {details.get('window_s')} s"
    out = [
        _bench(f"{profile}: requests per second", "req/s", totals["rps"], "bigger", extra),
        _bench(f"{profile}: throughput", "MB/s", totals["mb_per_s"], "bigger", extra),
        _bench(f"{profile}: failure ratio", "ratio", totals["failure_ratio"], "smaller", extra),
    ]
    for pct in (50, 95, 99):
        out.append(_bench(f"{profile}: p{pct} latency", "ms", totals.get(f"p{pct}_ms"), "smaller", extra))
    for entry in details["entries"]:
        label = f"{profile}: {entry['name']}"
        for pct in (50, 95, 99):
            out.append(_bench(f"{label} p{pct}", "ms", entry.get(f"p{pct}_ms"), "smaller", extra))
        if entry["type"] not in ("TTFB",):
            out.append(_bench(f"{label} rate", "per s", entry["rps"], "bigger", extra))
    return [item for item in out if item["value"] is not None]


def _bench(name: str, unit: str, value: float | None, direction: str, extra: str) -> dict:
    return {"name": name, "unit": unit, "value": value, "direction": direction, "extra": extra}


def write(details: dict, folder: str | Path) -> Path:
    """Write details.json, summary.json and the two direction-split lists; return details.json's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = benchmark_entries(details)
    _dump(folder / "details.json", details)
    _dump(folder / "summary.json", entries)
    for direction in ("smaller", "bigger"):
        _dump(folder / f"summary-{direction}.json",
              [{k: v for k, v in e.items() if k != "direction"} for e in entries if e["direction"] == direction])
    return folder / "details.json"


def read(folder: str | Path) -> dict:
    """The details.json of a results folder."""
    return json.loads((Path(folder) / "details.json").read_text())


def _dump(path: Path, value: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    tmp.replace(path)
