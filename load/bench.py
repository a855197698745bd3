"""``python -m load.bench``: the same short, bounded profiles against two registries, side by side.

Runs alternate A, B, A, B for every profile so that drift on a shared machine hits both; the table
gives each figure per registry (mean over rounds) and the ratio B/A. Without targets it starts
the reference server and, when Debian's ``docker-registry`` is installed, Distribution 2.8.2,
both on filesystem storage under a temporary folder. Writes ``results/load/bench.json``, ``.md`` and
``.html`` (bar charts of req/s, MB/s and p95 per profile, self-contained).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from load import bench_html, cli, summary
from registry_harness.peers import PeerError, distribution_binary, start_distribution
from registry_harness.target import TargetError, target_from_env

FIGURES = (("rps", "req/s", True), ("mb_per_s", "MB/s", True), ("p50_ms", "p50 ms", False),
           ("p95_ms", "p95 ms", False), ("p99_ms", "p99 ms", False), ("failures", "failures", False))


@dataclass(frozen=True)
class BenchProfile:
    """One line of the fixed bench set: a profile and its options."""

    key: str
    profile: str
    options: tuple[str, ...]


BENCH_SET = (
    BenchProfile("pull-1MiB", "pull", ("--image-size", "1MiB")),
    BenchProfile("pull-10MiB", "pull", ("--image-size", "10MiB")),
    BenchProfile("push-1MiB", "push", ("--image-size", "1MiB")),
    BenchProfile("push-10MiB-chunked", "push", ("--image-size", "10MiB", "--push-mode", "chunked")),
    BenchProfile("mixed-1MiB", "mixed", ("--image-size", "1MiB")),
    BenchProfile("browse", "browse", ()),
)
CAVEATS = (
    "Both registries, and the load generator, share this machine's cores: figures compare the two "
    "registries under identical conditions, they are not either registry's capacity.",
    "Runs alternate A, B, A, B per profile; each figure is the mean over rounds.",
    "A load generator above 90% CPU (marked *) measures itself as much as the registry.",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="registry-load-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--target-a", help="first registry (default: the reference server)")
    parser.add_argument("--target-b", help="second registry (default: Distribution 2.8.2 from docker-registry)")
    parser.add_argument("--label-a", help="name of A in the table")
    parser.add_argument("--label-b", help="name of B in the table")
    parser.add_argument("--profiles", help="comma-separated subset of: " + ", ".join(p.key for p in BENCH_SET))
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds per profile (default 2)")
    parser.add_argument("--users", type=int, default=8, help="users per run (default 8)")
    parser.add_argument("--run-time", default="5s", help="length of each run (default 5s)")
    parser.add_argument("--processes", type=int,
                        help="load-generator processes per run (default 1: short runs of a few users; raise it "
                             "when a run is marked * for a CPU-bound generator)")
    parser.add_argument("--results", default="results/load", help="results root (default results/load)")
    parser.add_argument("--allow-remote", action="store_true", help="allow targets that are not loopback")
    return parser


def select(keys: str | None) -> list[BenchProfile]:
    if not keys:
        return list(BENCH_SET)
    known = {p.key: p for p in BENCH_SET}
    chosen = []
    for key in (k.strip() for k in keys.split(",") if k.strip()):
        if key not in known:
            raise cli.ConfigError(f"unknown bench profile {key!r}; choose from {', '.join(known)}")
        chosen.append(known[key])
    return chosen


def mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def bench_rows(runs: list[dict], profiles: list[BenchProfile]) -> list[dict]:
    """One row per (profile, figure): mean of A, mean of B and B/A."""
    rows = []
    for bench in profiles:
        for key, label, bigger in FIGURES:
            values = {}
            rounds = {}
            hot = {}
            for side in ("a", "b"):
                mine = [r for r in runs if r["profile"] == bench.key and r["side"] == side and r.get("totals")]
                rounds[side] = [r["totals"].get(key) for r in mine]
                values[side] = mean(rounds[side])
                hot[side] = any(r.get("generator_bound") for r in mine)
            a, b = values["a"], values["b"]
            ratio = round(b / a, 3) if a not in (None, 0) and b is not None else None
            rows.append({"profile": bench.key, "figure": label, "a": a, "b": b, "ratio": ratio,
                         "a_rounds": rounds["a"], "b_rounds": rounds["b"],
                         "bigger_is_better": bigger, "generator_bound": hot})
    return rows


def _fmt(value: float | None, figure: str) -> str:
    if value is None:
        return "-"
    if figure == "failures":
        return f"{value:g}"
    return f"{value:.3f}" if figure.endswith("ms") else f"{value:.1f}"


def cells(rows: list[dict], label_a: str, label_b: str) -> list[tuple[str, ...]]:
    """The comparison as rows of cells, header first (text, Markdown and HTML tables are made from it)."""
    header = ("profile", "figure", label_a, label_b, "B/A")
    body = []
    for row in rows:
        mark = {side: "*" if row["generator_bound"][side] else "" for side in ("a", "b")}
        body.append((row["profile"], row["figure"], _fmt(row["a"], row["figure"]) + mark["a"],
                     _fmt(row["b"], row["figure"]) + mark["b"], "-" if row["ratio"] is None else f"{row['ratio']:.2f}"))
    return [header, *body]


def table(rows: list[dict], label_a: str, label_b: str, markdown: bool = False) -> str:
    """The comparison as text (aligned) or as a Markdown table."""
    header, *body = cells(rows, label_a, label_b)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 3) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@contextlib.contextmanager
def default_targets(tmp: str):
    """Reference server (filesystem storage) as A and Distribution 2.8.2 as B, both on loopback."""
    from reference_server.launcher import start_server

    if distribution_binary() is None:
        raise cli.ConfigError("no targets given and docker-registry (Distribution) is not installed: "
                              "pass --target-a and --target-b, or apt-get install docker-registry")
    root = Path(tmp) / "reference-root"
    root.mkdir(parents=True, exist_ok=True)
    with start_server(["--root", str(root)]) as reference, start_distribution(tmp) as distribution:
        yield reference.url, distribution


def run_bench(args: argparse.Namespace) -> int:
    profiles = select(args.profiles)
    if args.rounds < 1 or args.rounds > 10:
        raise cli.ConfigError("--rounds must be between 1 and 10")
    run_time = cli.parse_duration(args.run_time)
    if bool(args.target_a) != bool(args.target_b):
        raise cli.ConfigError("give both --target-a and --target-b, or neither (reference vs Distribution)")
    results = Path(args.results)
    with contextlib.ExitStack() as stack:
        if args.target_a:
            targets = {}
            for side, text in (("a", args.target_a), ("b", args.target_b)):
                target = target_from_env(target=text)
                if not target.is_loopback() and not args.allow_remote:
                    raise cli.ConfigError(f"target {target.base_url} is not loopback: add --allow-remote")
                targets[side] = target
            urls = {side: t.base_url for side, t in targets.items()}
            labels = {"a": args.label_a or "A", "b": args.label_b or "B"}
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="load-bench-"))
            a_url, b_url = stack.enter_context(default_targets(tmp))
            targets = {"a": target_from_env(target=a_url), "b": target_from_env(target=b_url)}
            urls = {"a": a_url, "b": b_url}
            labels = {"a": args.label_a or "reference", "b": args.label_b or "distribution-2.8.2"}
        print(f"bench: A = {labels['a']} ({urls['a']}), B = {labels['b']} ({urls['b']}); "
              f"{len(profiles)} profiles x {args.rounds} rounds x {run_time:g}s, {args.users} users", file=sys.stderr)
        runs = []
        broken = []
        started = time.monotonic()
        load_before = os.getloadavg()
        for bench in profiles:
            for round_no in range(1, args.rounds + 1):
                for side in ("a", "b"):
                    config = cli.RunConfig(
                        profile=bench.profile, target=targets[side], users=args.users, run_time=run_time,
                        processes=args.processes or 1,
                        results_dir=results / "bench" / bench.key / f"{side}-{round_no}",
                        profile_options=list(bench.options), allow_remote=args.allow_remote, quiet=True,
                        gates={"max_failure_ratio": 0.0},
                    )
                    # A stable run id: both registries and every round see the same repositories and content.
                    config = replace(config, profile_options=[*config.profile_options, "--profile-name", bench.key,
                                                              "--run-id", f"bench-{bench.key.lower()}"])
                    result = cli.run(config, urls[side])
                    details = result.details or {}
                    totals = details.get("totals")
                    runs.append({"profile": bench.key, "side": side, "round": round_no, "exit_code": result.exit_code,
                                 "totals": totals, "generator_bound": details.get("generator_bound", False),
                                 "generator_cpu": details.get("generator_cpu"), "message": result.message})
                    if result.exit_code != 0:
                        broken.append(f"{bench.key} {labels[side]} round {round_no}: {result.message}")
                    if totals:
                        print(f"  {bench.key:<20} {labels[side]:<20} round {round_no}: {totals['rps']:9.1f} req/s "
                              f"{totals['mb_per_s']:8.2f} MB/s  p95 {totals['p95_ms']} ms  failures "
                              f"{totals['failures']}", file=sys.stderr)
                    else:
                        print(f"  {bench.key:<20} {labels[side]:<20} round {round_no}: no result "
                              f"({result.message})", file=sys.stderr)
    rows = bench_rows(runs, profiles)
    document = {
        "targets": {side: {"label": labels[side], "url": urls[side]} for side in ("a", "b")},
        "settings": {"users": args.users, "run_time_s": run_time, "rounds": args.rounds,
                     "processes": args.processes or 1, "profiles": [p.key for p in profiles]},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "duration_s": round(time.monotonic() - started, 1),
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "caveats": list(CAVEATS),
        "rows": rows,
        "runs": runs,
        "broken": broken,
    }
    results.mkdir(parents=True, exist_ok=True)
    summary._dump(results / "bench.json", document)
    markdown = [f"# Load bench: {labels['a']} (A) vs {labels['b']} (B)", "",
                f"{args.users} users, {run_time:g} s per run, {args.rounds} rounds (A, B alternating), "
                f"{os.cpu_count()} CPUs shared by both registries and the load generator; load average "
                f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after. Per-round values: bench.json.", "",
                table(rows, labels["a"], labels["b"], markdown=True), "", *[f"- {c}" for c in CAVEATS]]
    (results / "bench.md").write_text("\n".join(markdown) + "\n")
    (results / "bench.html").write_text(bench_html.page(document, cells(rows, labels["a"], labels["b"])))
    print(table(rows, labels["a"], labels["b"]))
    print("\n".join(f"note: {c}" for c in CAVEATS))
    print(f"written: {results / 'bench.json'}, {results / 'bench.md'}, {results / 'bench.html'}")
    for line in broken:
        print(f"registry-load-bench: {line}", file=sys.stderr)
    return 1 if broken else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_bench(args)
    except (cli.ConfigError, TargetError, PeerError) as exc:
        print(f"registry-load-bench: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
