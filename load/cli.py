"""``python -m load PROFILE`` / ``registry-load``: run one load profile, bounded, and judge it.

Starts the embedded reference server when no target is given, checks the target answers
``/v2/``, runs Locust in a subprocess (headless by default, ``--web`` for the UI on 127.0.0.1),
then re-checks the SLO gates from the written summary. Exit codes: 0 every gate met, 1 a gate
failed (or the run broke), 2 a configuration error (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from load import seeding, slo, summary
from load.images import SIZE_CHOICES, parse_size
from load.recorder import HTTP_METHODS
from registry_harness.processes import free_port, stop_process
from registry_harness.target import TLS_MODES, Target, TargetError, parse_target, probe_answer, target_from_env

PROFILES = ("pull", "push", "mixed", "browse", "herd", "resolve")
SHAPES = ("step", "spike", "soak")
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_RUN_TIME = "30s"
MAX_RUN_SECONDS = 24 * 3600
SETUP_ALLOWANCE = 180.0  # seconds for Locust start, seeding and cleanup on top of the run time
STOP_GRACE = 15.0
_DURATION_RE = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$")


class ConfigError(ValueError):
    """A setting the run cannot start with; the message is one line."""


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``1h30m``, ``90`` → seconds; ConfigError unless 0 < value ≤ 24 h."""
    match = _DURATION_RE.match((text or "").strip().lower())
    if not text or not match or not any(match.groupdict().values()):
        raise ConfigError(f"run time {text!r} is not a duration like 30s, 5m or 1h30m")
    seconds = int(match.group("h") or 0) * 3600 + int(match.group("m") or 0) * 60 + float(match.group("s") or 0)
    if seconds <= 0:
        raise ConfigError("run time must be positive: every load run is bounded")
    if seconds > MAX_RUN_SECONDS:
        raise ConfigError(f"run time {text} exceeds the 24h bound")
    return seconds


@dataclass
class RunConfig:
    """One bounded load run."""

    profile: str
    target: Target | None = None
    users: int = 10
    spawn_rate: float | None = None
    run_time: float = 30.0
    processes: int | None = None
    master: bool = False
    master_bind_host: str = "127.0.0.1"
    expect_workers: int | None = None
    master_port: int | None = None
    web: bool = False
    web_port: int = 8089
    shape: str | None = None
    results: Path = Path("results/load")
    results_dir: Path | None = None
    profile_options: list[str] = field(default_factory=list)
    gates: dict[str, float] = field(default_factory=dict)
    allow_remote: bool = False
    cleanup: bool = True
    quiet: bool = False
    extra: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        if self.results_dir is not None:
            return self.results_dir
        return self.results / (self.profile if not self.shape else f"{self.profile}-{self.shape}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="registry-load",
        description="Run a bounded Locust load profile against a registry (or the embedded reference server).",
        epilog="Exit codes: 0 all gates met, 1 a gate failed or the run broke, 2 configuration error. "
               "Arguments after -- go to locust unchanged.",
    )
    parser.add_argument("profile", choices=PROFILES, help="workload")
    parser.add_argument("--target", help="registry host:port or URL (default TARGET/OCI_REGISTRY, else the "
                                         "embedded reference server)")
    parser.add_argument("--tls", choices=TLS_MODES, help="TLS mode (default: plain http on loopback)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a target that is not loopback")
    parser.add_argument("--users", "-u", type=int, default=10, help="concurrent users (default 10)")
    parser.add_argument("--spawn-rate", "-r", type=float, help="users started per second (default: all at once)")
    parser.add_argument("--run-time", "-t", default=DEFAULT_RUN_TIME, help="bounded run time (default 30s, max 24h)")
    parser.add_argument("--shape", choices=SHAPES, help="load shape instead of a constant user count")
    parser.add_argument("--processes", type=int,
                        help="load-generator processes on this machine (default: one per core, "
                             f"{os.cpu_count() or 1} here; 1 = a single process)")
    parser.add_argument("--master", action="store_true", help="run as Locust master; start workers yourself")
    parser.add_argument("--worker", action="store_true",
                        help="run as a Locust worker of a --master elsewhere (--master-host, --master-port); "
                             "it stops when the master ends the run, at the latest --run-time + 3 min")
    parser.add_argument("--master-host", default="127.0.0.1", help="with --worker: the master's address")
    parser.add_argument("--master-bind-host", default="127.0.0.1",
                        help="with --master: address workers connect to (default 127.0.0.1; 0.0.0.0 for "
                             "workers on other machines)")
    parser.add_argument("--expect-workers", type=int, help="with --master: wait for this many workers")
    parser.add_argument("--master-port", type=int, help="with --master / --worker: the port workers connect to "
                                                        "(default 5557)")
    parser.add_argument("--web", action="store_true", help="Locust web UI on 127.0.0.1 (still bounded)")
    parser.add_argument("--web-port", type=int, default=8089, help="web UI port (default 8089)")
    parser.add_argument("--results", default="results/load", help="results root (default results/load)")
    parser.add_argument("--results-dir", help="exact results folder (default RESULTS/PROFILE)")
    parser.add_argument("--quiet", action="store_true", help="only the final table")
    parser.add_argument("--no-cleanup", action="store_true", help="keep what the run pushed")
    group = parser.add_argument_group("profile options")
    group.add_argument("--image-size", choices=SIZE_CHOICES, help="1MiB, 10MiB, 100MiB or mixed (20/70/10)")
    group.add_argument("--push-mode", choices=("monolithic", "chunked"))
    group.add_argument("--push-repo", choices=("same", "distinct"))
    group.add_argument("--chunk-size", help="PATCH size for chunked pushes, e.g. 1MiB")
    group.add_argument("--herd-interval", type=float, help="seconds between herd waves (default 5)")
    group.add_argument("--browse-repos", type=int)
    group.add_argument("--browse-tags", type=int)
    group.add_argument("--page-size", type=int)
    group.add_argument("--repo-prefix", help="namespace of pushed repositories (default loadtest)")
    group.add_argument("--resolve-requests", help="resolve profile: which of head,get,tags to send (default all)")
    group.add_argument("--pre-seeded", action="store_true",
                       help="the target already holds the run's images (read-only mirror, static layout): push "
                            "nothing, delete nothing")
    group.add_argument("--step-count", type=int, help="step shape: number of steps")
    group.add_argument("--spike-baseline", type=int, help="spike shape: users outside the spike")
    group.add_argument("--spike-seconds", type=float, help="spike shape: spike length")
    group.add_argument("--soak-ramp", type=float, help="soak shape: ramp-up seconds")
    gates = parser.add_argument_group("SLO gates (any not met → exit 1)")
    gates.add_argument("--max-failure-ratio", type=float, default=slo.DEFAULT_MAX_FAILURE_RATIO,
                       help="failed/total HTTP requests allowed (default 0)")
    gates.add_argument("--max-p95-ms", type=float)
    gates.add_argument("--max-p99-ms", type=float)
    gates.add_argument("--min-rps", type=float)
    gates.add_argument("--min-mbps", type=float, help="MB/s (10^6 bytes) sent + received")
    return parser


_PASS_THROUGH = ("image_size", "push_mode", "push_repo", "chunk_size", "herd_interval", "browse_repos",
                 "browse_tags", "page_size", "repo_prefix", "step_count", "spike_baseline", "spike_seconds",
                 "soak_ramp", "resolve_requests")


def default_processes() -> int:
    """One load-generator process per core of this machine (a Python process drives about one core)."""
    return max(os.cpu_count() or 1, 1)


def config_from_args(args: argparse.Namespace, extra: Sequence[str] = ()) -> RunConfig:
    """Validate parsed arguments into a RunConfig; ConfigError / TargetError for bad ones."""
    if args.users < 1:
        raise ConfigError("--users must be at least 1")
    if args.processes is not None and args.processes < 1:
        raise ConfigError("--processes must be at least 1")
    if args.processes and args.master:
        raise ConfigError("--processes and --master exclude each other")
    if args.chunk_size:
        try:
            parse_size(args.chunk_size)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    target = None
    if args.tls:
        os.environ["OCI_TLS"] = args.tls
    target = target_from_env(target=args.target)
    if target is not None and not target.is_loopback() and not args.allow_remote:
        raise ConfigError(f"target {target.base_url} is not loopback: add --allow-remote to load it")
    options: list[str] = []
    for name in _PASS_THROUGH:
        value = getattr(args, name, None)
        if value is not None:
            options += [f"--{name.replace('_', '-')}", str(value)]
    if args.pre_seeded:
        options.append("--pre-seeded")
    processes = args.processes
    if processes is None and not args.master:
        processes = default_processes()
    return RunConfig(
        profile=args.profile, target=target, users=args.users, spawn_rate=args.spawn_rate,
        run_time=parse_duration(args.run_time), processes=processes, master=args.master,
        master_bind_host=args.master_bind_host,
        expect_workers=args.expect_workers, master_port=args.master_port, web=args.web, web_port=args.web_port,
        shape=args.shape, results=Path(args.results), results_dir=Path(args.results_dir) if args.results_dir else None,
        profile_options=options, gates=slo.thresholds_from(vars(args)), allow_remote=args.allow_remote,
        cleanup=not args.no_cleanup, quiet=args.quiet, extra=list(extra),
    )


def worker_command(profile: str, master_host: str, master_port: int | None) -> list[str]:
    """The locust command line of a worker for ``profile`` (settings and target come from the master)."""
    return [sys.executable, "-m", "locust", "-f", str(PACKAGE_DIR / "profiles" / f"{profile}.py"), "--worker",
            "--master-host", master_host, "--master-port", str(master_port or 5557)]


def run_worker(args: argparse.Namespace) -> int:
    """Run one worker until its master ends the run (bounded: run time plus the setup allowance)."""
    limit = parse_duration(args.run_time) + SETUP_ALLOWANCE
    process = subprocess.Popen(worker_command(args.profile, args.master_host, args.master_port))
    try:
        return process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        stop_process(process, STOP_GRACE)
        print(f"registry-load: worker still running after {limit:.0f}s: stopped", file=sys.stderr)
        return 1


def locust_command(config: RunConfig, url: str) -> list[str]:
    """The locust command line for ``config`` against ``url``."""
    files = str(PACKAGE_DIR / "profiles" / f"{config.profile}.py")
    if config.shape:
        files += "," + str(PACKAGE_DIR / "shapes" / f"{config.shape}.py")
    folder = config.folder
    command = [
        sys.executable, "-m", "locust", "-f", files, "--host", url,
        "-u", str(config.users), "-r", str(config.spawn_rate or config.users), "-t", f"{config.run_time:g}s",
        "--csv", str(folder / "locust"), "--html", str(folder / "report.html"),
        "--summary-dir", str(folder), "--profile-name", config.profile + (f"-{config.shape}" if config.shape else ""),
        "--stop-timeout", "2", *config.profile_options,
    ]
    for gate, threshold in config.gates.items():
        command += [f"--{gate.replace('_', '-')}", f"{threshold:g}"]
    if config.allow_remote:
        command.append("--allow-remote")
    if not config.cleanup:
        command.append("--no-cleanup")
    if config.web:
        command += ["--web-host", "127.0.0.1", "--web-port", str(config.web_port), "--autostart", "--autoquit", "2"]
    else:
        command += ["--headless"]
        if config.quiet:
            command.append("--only-summary")
    if config.processes and config.processes > 1:
        # A port of its own: Locust's default (5557) would let two runs on one machine swap workers.
        port = str(config.master_port or free_port())
        command += ["--processes", str(config.processes), "--master-bind-port", port, "--master-port", port]
    if config.master:
        command += ["--master", "--master-bind-host", config.master_bind_host]
        if config.master_port:
            command += ["--master-bind-port", str(config.master_port)]
        if config.expect_workers:
            command += ["--expect-workers", str(config.expect_workers), "--expect-workers-max-wait", "60"]
    return command + config.extra


@contextlib.contextmanager
def embedded_reference() -> Iterator[str]:
    """The reference server (memory storage) on a free loopback port, for runs without a target."""
    from reference_server.launcher import start_server

    with start_server(["--storage", "memory"]) as server:
        yield server.url


class Misbehaving(RuntimeError):
    """The target answers, but not as a registry: exit 1 (the registry failed), not 2 (configuration)."""


def preflight(target: Target) -> None:
    """ConfigError when nothing usable answers /v2/; Misbehaving when the answer is not a registry's."""
    try:
        answer = probe_answer(target)
    except TargetError as exc:
        raise ConfigError(str(exc)) from None
    cause = answer.not_a_registry()
    if cause is None and answer.status not in (200, 401):
        cause = f"{target.base_url}/v2/ answered {answer.status}: not a registry API root"
    if cause:
        raise Misbehaving(cause)


@dataclass
class RunResult:
    """How a run ended: the exit code, the details document and the gate verdicts re-checked."""

    exit_code: int
    details: dict | None
    gates: list[slo.GateResult]
    message: str = ""


def run(config: RunConfig, url: str, out=sys.stdout) -> RunResult:
    """Run locust for ``config`` against ``url`` (bounded), then re-check the gates from the summary."""
    folder = config.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("details.json", seeding.FAILURE_FILE):
        (folder / name).unlink(missing_ok=True)
    try:
        preflight(config.target if config.target and config.target.base_url == url else parse_target(url))
    except Misbehaving as exc:
        return RunResult(1, None, [], str(exc))
    command = locust_command(config, url)
    limit = config.run_time + SETUP_ALLOWANCE
    stdout = subprocess.DEVNULL if config.quiet else None
    process = subprocess.Popen(command, stdout=stdout, stderr=stdout if config.quiet else None)
    try:
        code = process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        stop_process(process, STOP_GRACE)  # SIGTERM first: Locust's quitting handler still writes its summary
        return RunResult(1, None, [], f"locust did not finish within {limit:.0f}s and was stopped"
                         + _stall_cause(folder))
    failed_seeding = seeding.read_failure(folder)
    if failed_seeding:
        return RunResult(1, None, [], f"seeding failed: {failed_seeding}")
    try:
        details = summary.read(folder)
    except (OSError, ValueError):
        if code == 2:
            return RunResult(2, None, [], "locust stopped on a configuration error (see above)")
        return RunResult(1, None, [], f"locust exited with {code} and wrote no summary in {folder}")
    if details.get("fatal"):
        return RunResult(2, details, [], str(details["fatal"]))
    gates = slo.evaluate(details["totals"], config.gates)
    failed = [g for g in gates if not g.passed]
    if failed:
        errors = details.get("errors") or {}
        cause = max(errors.items(), key=lambda kv: kv[1], default=None)  # the most frequent error names the cause
        note = f"; most frequent failure ({cause[1]}x): {cause[0]}" if cause else ""
        return RunResult(1, details, gates, "; ".join(g.line() for g in failed) + note)
    if code not in (0, None):
        return RunResult(1, details, gates, f"locust exited with {code}")
    return RunResult(0, details, gates)


def _stall_cause(folder: Path) -> str:
    """What the stopped run had seen: failed seeding, or its most frequent failure (request and reason)."""
    seeded = seeding.read_failure(folder)
    if seeded:
        return f"; seeding failed: {seeded}"
    try:
        errors = summary.read(folder).get("errors") or {}
    except (OSError, ValueError):
        return "; it wrote no summary (no request completed)"
    cause = max(errors.items(), key=lambda kv: kv[1], default=None)
    return f"; most frequent failure ({cause[1]}x): {cause[0]}" if cause else "; no request had failed"


TABLE_HEADER = ("type", "name", "reqs", "fails", "req/s", "MB/s", "p50 ms", "p95 ms", "p99 ms")


def _row(entry: dict, name: str | None = None) -> tuple[str, ...]:
    return (entry["type"], name or entry["name"], str(entry["requests"]), str(entry["failures"]),
            f"{entry['rps']:.1f}", f"{entry['mb_per_s']:.2f}", _ms(entry.get("p50_ms")), _ms(entry.get("p95_ms")),
            _ms(entry.get("p99_ms")))


def _aligned(rows: list[tuple[str, ...]], rule_before_last: bool) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells))
        if n == 0 or (rule_before_last and n == len(rows) - 2):
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(details: dict) -> str:
    """The run's figures as aligned text tables, ms with three decimals: HTTP requests with their total
    (real requests only), then whole operations and times to first byte in a table of their own."""
    http = [e for e in details["entries"] if e["type"] in HTTP_METHODS]
    other = [e for e in details["entries"] if e["type"] not in HTTP_METHODS]
    t = details["totals"]
    total = {"type": "HTTP", **t}
    text = _aligned([TABLE_HEADER, *(_row(e) for e in http), _row(total, "all requests")], True)
    if other:
        header = ("type", "operation", "count", "fails", "per s", "MB/s", "p50 ms", "p95 ms", "p99 ms")
        text += "\n\n" + _aligned([header, *(_row(e) for e in other)], False)
    return text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(config: RunConfig, result: RunResult, out=sys.stdout) -> None:
    """Print the table, the gates, the generator warning and where the files are."""
    details = result.details
    if details:
        print(f"\n{details.get('profile')} against {details.get('target')}: {details.get('users')} users, "
              f"{details.get('window_s')} s measured", file=out)
        print(format_table(details), file=out)
        for gate in result.gates:
            print(gate.line(), file=out)
        cpu = details.get("generator_cpu") or {}
        per_request = details["totals"].get("cpu_us_per_request")
        if per_request:
            print(f"load generator: {len(cpu)} process(es) (by default one worker per core, plus the master; "
                  f"--processes N to choose), {details['totals']['generator_cpu_s']} CPU s, {per_request:.1f} CPU µs "
                  f"per HTTP request ({1e6 / per_request:,.0f} req/s per generator core)", file=out)
        if details.get("generator_bound"):
            busiest = max(cpu.items(), key=lambda kv: kv[1]["mean"])
            print(f"warning: the load generator was the bottleneck ({busiest[0]} averaged {busiest[1]['mean']}% "
                  f"CPU): use --processes N or more workers before trusting these figures", file=out)
        print(f"results: {config.folder}/ (details.json, summary.json, locust_*.csv, report.html)", file=out)
    if result.message:
        print(f"registry-load: {result.message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        if args.master or args.processes:
            print("registry-load: --worker excludes --master and --processes", file=sys.stderr)
            return 2
        try:
            return run_worker(args)
        except ConfigError as exc:
            print(f"registry-load: {exc}", file=sys.stderr)
            return 2
    try:
        config = config_from_args(args, extra)
        with contextlib.ExitStack() as stack:
            if config.target is None:
                url = stack.enter_context(embedded_reference())
                print(f"registry-load: no target given, started the reference server at {url}", file=sys.stderr)
            else:
                url = config.target.base_url
            started = time.monotonic()
            result = run(config, url)
    except (ConfigError, TargetError) as exc:
        print(f"registry-load: {exc}", file=sys.stderr)
        return 2
    report(config, result)
    if result.exit_code == 0:
        print(f"registry-load: passed ({time.monotonic() - started:.0f}s)", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
