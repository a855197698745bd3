"""Every option of a conformance run, written once: the CLI's ``--help`` and the pytest plugin read this table.

Each row is one setting: the CLI flag users type, the pytest option it becomes (the CLI forwards
it), its help text and argparse-style details. Rows with ``cli=False`` are set by the CLI itself
and only exist on the pytest side; rows with ``plugin_flag=None`` are the CLI's own.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from conformance.guard import DEFAULT_CHECK_TIMEOUT, DEFAULT_RUN_TIMEOUT
from conformance.rules import JUDGES
from conformance.session import DEFAULT_RESULTS_DIR
from registry_harness.client import DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Option:
    """One setting of a run, as both the CLI and the pytest plugin know it."""

    flag: str  # the CLI's flag (also the plugin's unless plugin_flag says otherwise)
    dest: str  # the CLI's attribute; the plugin's is "conformance_" + dest
    help: str
    plugin_flag: str | None = ""  # "" = same as flag; None = the CLI's own option, never forwarded
    action: str | None = None
    choices: tuple[str, ...] | None = None
    type: Callable[[str], object] | None = None
    metavar: str | None = None
    default: object = None
    cli: bool = True  # False: set by the CLI itself, absent from its --help

    @property
    def pytest_flag(self) -> str | None:
        return self.flag if self.plugin_flag == "" else self.plugin_flag

    @property
    def plugin_dest(self) -> str:
        return f"conformance_{self.dest}"

    def kwargs(self) -> dict[str, object]:
        """The keyword arguments shared by ``argparse.add_argument`` and pytest's ``addoption``."""
        result: dict[str, object] = {"help": self.help}
        if self.action:
            result["action"] = self.action
        for key in ("choices", "type", "metavar"):
            if getattr(self, key) is not None:
                result[key] = getattr(self, key)
        if self.action == "store_true":
            result["default"] = False
        elif self.action == "append":
            result["default"] = []
        else:
            result["default"] = self.default
        return result


OPTIONS: tuple[Option, ...] = (
    Option("--target", "target", "registry under test, host:port or http(s)://host:port (default: TARGET / "
           "OCI_REGISTRY / OCI_ROOT_URL, else the embedded reference server)"),
    Option("--tls", "tls", "TLS mode: verified https, unverified https, or plain http (default from OCI_TLS)",
           choices=("enabled", "insecure", "disabled")),
    Option("--strict", "strict", "treat SHOULD warnings as failures", plugin_flag="--conformance-strict",
           action="store_true"),
    Option("--judge", "judge", "'oci' judges by the OCI documents alone: a rule only the Docker Registry HTTP "
           "API V2 states (a JSON error body, a Link on a partial tags page) becomes a warning (default 'all')",
           choices=JUDGES, default="all"),
    Option("--skip-cleanup", "skip_cleanup", "leave the repositories, manifests and blobs the run created",
           action="store_true"),
    Option("--list", "list", "list the checks (id, area, rule, level, text) without running them",
           action="store_true"),
    Option("--results-dir", "results_dir", "where results.json, junit.xml and report.html go "
           f"(default {DEFAULT_RESULTS_DIR}/)", metavar="DIR"),
    Option("--disable", "disable", "switch an area off (its checks are reported as disabled); repeatable, "
           "comma lists allowed", action="append", metavar="AREA"),
    Option("--request-timeout", "request_timeout", f"how long one request may wait for the registry (default "
           f"{DEFAULT_TIMEOUT:g}; also bounds reading its answer); after 3 timeouts in a row the registry counts "
           "as stopped and the remaining checks fail fast", type=float, metavar="SECONDS", default=DEFAULT_TIMEOUT),
    Option("--check-timeout", "check_timeout", f"time budget of one check (default {DEFAULT_CHECK_TIMEOUT:g}; "
           "0 = none): a check over it is stopped and fails", type=float, metavar="SECONDS",
           default=DEFAULT_CHECK_TIMEOUT),
    Option("--run-timeout", "run_timeout", f"time budget of the whole run (default {DEFAULT_RUN_TIMEOUT:g}; "
           "0 = none): checks not started by then are reported as not-run", type=float, metavar="SECONDS",
           default=DEFAULT_RUN_TIMEOUT),
    Option("--expect", "expect", "known deviations (YAML or JSON: check id -> expected status, reason, link): "
           "expected failures do not fail the run; a new failure, or an expected one that now passes, does",
           metavar="FILE"),
    Option("--server-arg", "server_arg", "extra switch for the embedded reference server, e.g. "
           "--server-arg=--no-delete or --server-arg=--auth=token (checks auth too)", plugin_flag=None,
           action="append", metavar="ARG"),
    Option("--run-id", "run_id", "id used in repository names (default: random)", cli=False),
    Option("--preflight-error", "preflight_error", "(set by the CLI) why nothing usable answers GET /v2/: no "
           "check runs, the reports say so", cli=False),
    Option("--embedded-target", "embedded", "(set by the CLI) the target is the embedded reference server",
           action="store_true", cli=False),
)


def add_to_parser(parser: argparse.ArgumentParser) -> None:
    """The CLI's options (those users type), with their help, from the table."""
    for option in OPTIONS:
        if option.cli:
            parser.add_argument(option.flag, dest=option.dest, **option.kwargs())  # type: ignore[arg-type]


def add_to_pytest(group) -> None:  # noqa: ANN001 - pytest's OptionGroup
    """The plugin's options, with the same help, from the table."""
    for option in OPTIONS:
        if option.pytest_flag:
            group.addoption(option.pytest_flag, dest=option.plugin_dest, **option.kwargs())


def forwarded(values: argparse.Namespace, skip: Iterable[str] = ()) -> list[str]:
    """The pytest arguments for the CLI options a user set (defaults are left to the plugin)."""
    args: list[str] = []
    for option in OPTIONS:
        if not option.cli or not option.pytest_flag or option.dest in skip:
            continue
        value = getattr(values, option.dest, None)
        if option.action == "store_true":
            args += [option.pytest_flag] if value else []
        elif option.action == "append":
            for item in value or []:
                args += [option.pytest_flag, str(item)]
        elif value is not None and value != option.default:
            args += [option.pytest_flag, str(value)]
    return args
