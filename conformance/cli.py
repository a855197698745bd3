"""``registry-conformance`` / ``python -m conformance``: the suite as a command with clear exit codes.

Exit codes: 0 every MUST check passed; 1 a check failed (or the harness itself errored);
2 configuration error: malformed or unreachable target, bad option, or no check selected.
Unknown arguments go to pytest unchanged (``-k``, ``-m``, ``-x``, ``-n 2``, ``-v``, node ids).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from conformance.session import (
    DEFAULT_RESULTS_DIR,
    ConfigurationError,
    EmbeddedServer,
    disabled_areas,
    new_run_id,
    preflight,
    resolve_target,
)

PROG = "registry-conformance"
CHECKS_DIR = Path(__file__).resolve().parent / "checks"
REPORT_FILES = ("results.json", "junit.xml", "report.html")
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Check a container registry against the OCI Distribution Spec / Docker Registry HTTP API V2.",
        epilog="Other arguments are passed to pytest (-k EXPR, -m AREA, -x, -n 2, -v, node ids). "
               "Exit codes: 0 pass, 1 failures, 2 configuration error or unreachable target.",
    )
    parser.add_argument("--target", help="host:port or http(s)://host:port (default TARGET / OCI_REGISTRY / "
                                         "OCI_ROOT_URL; none = the embedded reference server)")
    parser.add_argument("--tls", choices=("enabled", "insecure", "disabled"), help="default from OCI_TLS")
    parser.add_argument("--strict", action="store_true", help="SHOULD warnings count as failures")
    parser.add_argument("--judge", choices=("all", "oci"), default="all",
                        help="'oci' judges by the OCI documents alone: a rule only the Docker Registry HTTP "
                             "API V2 states becomes a warning (default: all documents)")
    parser.add_argument("--skip-cleanup", action="store_true", help="leave what the run pushed")
    parser.add_argument("--list", action="store_true", help="list the checks without running them")
    parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR),
                        help=f"report folder (default {DEFAULT_RESULTS_DIR}/)")
    parser.add_argument("--disable", action="append", default=[], metavar="AREA",
                        help="switch an area off (reported as disabled); repeatable, comma lists allowed")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="extra switch for the embedded reference server, e.g. --server-arg=--no-delete")
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
        "--results-dir", options.results_dir, "--run-id", run_id,
    ]
    if target:
        args += ["--target", target]
    if embedded:
        args.append("--embedded-target")
    if options.tls and not embedded:
        args += ["--tls", options.tls]
    if options.strict:
        args.append("--conformance-strict")
    if options.judge != "all":
        args += ["--judge", options.judge]
    if options.skip_cleanup:
        args.append("--skip-cleanup")
    if options.list:
        args += ["--list", "-p", "no:xdist"]
    for area in options.disable:
        args += ["--disable", area]
    args += list(extra)
    if not _has_explicit_paths(extra):
        args.append(str(CHECKS_DIR))
    return args


def _counts(results_dir: str) -> dict[str, int] | None:
    try:
        data = json.loads((Path(results_dir) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    counts = data.get("counts")
    return counts if isinstance(counts, dict) else None


def exit_code(pytest_status: int, counts: dict[str, int] | None) -> tuple[int, str | None]:
    """Map pytest's exit status (and the verdict counts) onto 0/1/2, with a note when useful."""
    if pytest_status == pytest.ExitCode.NO_TESTS_COLLECTED:
        return EXIT_CONFIG, "no checks selected: the -k/-m/path arguments matched nothing"
    if pytest_status == pytest.ExitCode.USAGE_ERROR:
        return EXIT_CONFIG, None
    if pytest_status == EXIT_CONFIG and counts is None:
        return EXIT_CONFIG, None  # pytest.exit(returncode=2) from the target fixture, already explained
    if pytest_status in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
        return EXIT_FAILED, "the run did not complete (interrupted, or a check module failed to load)"
    if counts is not None and (counts.get("fail", 0) or counts.get("error", 0)):
        return EXIT_FAILED, None
    if pytest_status == pytest.ExitCode.TESTS_FAILED:
        return EXIT_FAILED, None
    if counts is not None and counts.get("total", 0) and counts.get("pass", 0) == 0:
        return EXIT_OK, "note: no check passed (every selected check was skipped or disabled)"
    return EXIT_OK, None


def main(argv: Sequence[str] | None = None) -> int:
    options, extra = build_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    run_id = new_run_id()
    if options.list:
        return int(pytest.main(pytest_arguments(options, extra, options.target, False, run_id)))
    try:
        disabled_areas(options.disable)
        target = resolve_target(options.target, options.tls)
    except ConfigurationError as exc:
        return _fail(str(exc))
    server = None
    try:
        if target is None:
            server = EmbeddedServer(["--storage", "memory", *options.server_arg])
            target = server.start()
            target_text, embedded = target.base_url, True
        else:
            preflight(target)
            target_text, embedded = options.target, False
    except ConfigurationError as exc:
        if server is not None:
            server.stop()
        return _fail(str(exc))
    try:
        for name in REPORT_FILES:  # never leave a stale verdict behind a crashed run
            (Path(options.results_dir) / name).unlink(missing_ok=True)
        status = pytest.main(pytest_arguments(options, extra, target_text, embedded, run_id))
    finally:
        if server is not None:
            server.stop()
    code, note = exit_code(int(status), _counts(options.results_dir))
    if note:
        print(f"{PROG}: {note}", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
