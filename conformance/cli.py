"""``registry-conformance`` / ``python -m conformance``: the suite as a command with clear exit codes.

Exit codes: 0 every MUST check passed; 1 a check failed (or the harness itself errored);
2 configuration error: malformed or unreachable target, bad option, or no check selected.
Unknown arguments go to pytest unchanged (``-k``, ``-m``, ``-x``, ``-n 2``, ``-v``, node ids).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from conformance.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, MEANINGS, reader_gone
from conformance.options import add_to_parser, forwarded
from conformance.session import (
    DEFAULT_RESULTS_DIR,
    PREFLIGHT_TIMEOUT,
    ConfigurationError,
    EmbeddedServer,
    disabled_areas,
    new_run_id,
    preflight,
    resolve_target,
)
from registry_harness.reports.expectations import ExpectationsError, load_expectations

PROG = "registry-conformance"
CHECKS_DIR = Path(__file__).resolve().parent / "checks"
REPORT_FILES = ("results.json", "junit.xml", "report.html")
COMMANDS = {
    "compare": "conformance.compare",  # registry-conformance compare A/results.json B/results.json
    "matrix": "conformance.matrix",  # registry-conformance matrix host:port host:port ...
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check a container registry against the OCI Distribution Spec / Docker Registry HTTP API V2.\n\n"
                    "Other commands:\n"
                    f"  {PROG} compare A/results.json B/results.json   regressions, fixes and unchanged checks\n"
                    f"  {PROG} matrix TARGET|results.json ...          one compatibility matrix of several registries",
        epilog="Other arguments are passed to pytest (-k EXPR, -m AREA, -x, -n 2, -v, node ids).\n\nExit codes:\n"
               + "\n".join(f"  {code}  {meaning}" for code, meaning in MEANINGS.items()),
    )
    add_to_parser(parser)
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _has_explicit_paths(extra: Sequence[str]) -> bool:
    """True when pytest arguments already name what to collect (paths or node ids)."""
    takes_value = {"-k", "-m", "-n", "-p", "-o", "-c", "-W", "--tb", "-r", "--numprocesses", "--dist",
                   "--maxfail", "--junitxml", "--rootdir", "--deselect", "--ignore", "--durations"}
    skip = False
    for arg in extra:
        if skip:
            skip = False
            continue
        if arg in takes_value:
            skip = True
            continue
        if not arg.startswith("-") and ("::" in arg or Path(arg).exists()):
            return True
    return False


def pytest_arguments(options: argparse.Namespace, extra: Sequence[str], target: str | None,
                     embedded: bool, run_id: str) -> list[str]:
    """The pytest command line for a run (plugin, checks folder, our options, pass-through)."""
    args = [
        "-p", "no:registry_conformance", "-p", "conformance.plugin",  # our plugin exactly once
        "-p", "no:cacheprovider", "-p", "no:locust",  # locust's plugin would grab --host
        "-c", os.devnull, "--rootdir", str(CHECKS_DIR.parent.parent),
        "-q", "--tb=no", "-rN",  # the plugin prints each failure with its rule and a curl line
        "-W", "ignore::pytest.PytestAssertRewriteWarning",  # this process imported the harness already
        "--results-dir", options.results_dir or str(DEFAULT_RESULTS_DIR), "--run-id", run_id,
        *forwarded(options, skip=("target", "tls", "results_dir")),
    ]
    if target:
        args += ["--target", target]
    if embedded:
        args.append("--embedded-target")
    if options.tls and not embedded:
        args += ["--tls", options.tls]
    if options.list:
        args += ["-p", "no:xdist"]
    args += list(extra)
    if not _has_explicit_paths(extra):
        args.append(str(CHECKS_DIR))
    return args


def _results(results_dir: str) -> dict | None:
    """The run's results.json, or None when the run wrote none (it never started, or crashed)."""
    try:
        data = json.loads((Path(results_dir) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("counts"), dict) else None


def exit_code(pytest_status: int, results: dict | None) -> tuple[int, str | None]:
    """Map pytest's exit status (and the run's own verdict) onto 0/1/2, with a note when useful."""
    if pytest_status == pytest.ExitCode.NO_TESTS_COLLECTED:
        return EXIT_CONFIG, "no checks selected: the -k/-m/path arguments matched nothing"
    if pytest_status == pytest.ExitCode.USAGE_ERROR:
        return EXIT_CONFIG, None
    if pytest_status == EXIT_CONFIG and results is None:
        return EXIT_CONFIG, None  # pytest.exit(returncode=2) from the target fixture, already explained
    if pytest_status in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
        return EXIT_FAILED, "the run did not complete (interrupted, or a check module failed to load)"
    if results is None:
        return (EXIT_FAILED, "the run wrote no results.json") if pytest_status else (EXIT_OK, None)
    # the harness's verdict (failures, errors, and with --expect: new failures and stale expectations)
    return (EXIT_FAILED if results.get("exit_code") else EXIT_OK), None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in COMMANDS:
            return importlib.import_module(COMMANDS[args[0]]).main(args[1:])
        return run(args)
    except BrokenPipeError:
        reader_gone()
        return EXIT_OK


def run(argv: Sequence[str]) -> int:
    """One conformance run: validate the settings, start or probe the target, run the suite."""
    options, extra = build_parser().parse_known_args(list(argv))
    run_id = new_run_id()
    if options.list:
        return int(pytest.main(pytest_arguments(options, extra, options.target, False, run_id)))
    results_dir = options.results_dir or str(DEFAULT_RESULTS_DIR)
    try:
        disabled_areas(options.disable)
        target = resolve_target(options.target, options.tls)
        if options.expect:
            load_expectations(options.expect)
    except (ConfigurationError, ExpectationsError) as exc:
        return _fail(str(exc))
    server = None
    unreachable = ""
    try:
        if target is None:
            server = EmbeddedServer(["--storage", "memory", *options.server_arg])
            target = server.start()
            target_text, embedded = target.base_url, True
        else:
            target_text, embedded = options.target, False
            preflight(target, min(options.request_timeout or PREFLIGHT_TIMEOUT, PREFLIGHT_TIMEOUT))
    except ConfigurationError as exc:
        if server is not None:
            server.stop()
            return _fail(str(exc))
        # nothing usable answers: the reports are still written, every check marked not-run, cause first
        unreachable = str(exc)
        extra = [*extra, "-p", "no:xdist", "--preflight-error", unreachable]
    try:
        for name in REPORT_FILES:  # never leave a stale verdict behind a crashed run
            (Path(results_dir) / name).unlink(missing_ok=True)
        status = pytest.main(pytest_arguments(options, extra, target_text, embedded, run_id))
    finally:
        if server is not None:
            server.stop()
    if unreachable:
        return _fail(unreachable)
    code, note = exit_code(int(status), _results(results_dir))
    if note:
        print(f"{PROG}: {note}", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
