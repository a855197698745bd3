"""The pytest plugin of the conformance suite: options, five-state verdicts, reports.

Loaded through the ``pytest11`` entry point (or ``-p conformance.plugin``). It stays inert in
pytest runs that collect no conformance checks: the target is resolved, and the embedded server
started, only when a check first asks for the ``target`` fixture.

Verdicts: **pass**; **fail** (a MUST broken: AssertionError, UnexpectedResponse, or registry
misbehaviour such as a reset connection or invalid JSON); **skip** (``unsupported(...)``);
**disabled** (area switched off); **error** (any other exception: a defect of the harness).
Each assertion carries its own level: a SHOULD not met (``should``) is a warning on a passing
check, a failure under ``--strict``; a plain assertion fails whatever the check's level. With
``--judge oci`` a rule only the Docker document states is a warning (``docker_rule``, and any
failure of a check whose rule is Docker's alone).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from conformance import rules
from conformance.fixtures import CLEANUP_KEY, settings_of
from conformance.recording import recorder_of
from conformance.session import DEFAULT_RESULTS_DIR, ConfigurationError, disabled_areas, new_run_id, resolve_target
from registry_harness.client import RegistryError, UnexpectedResponse
from registry_harness.redact import mask_text, mask_url
from registry_harness.reports import CheckResult, RunResult, client_verdicts, clients_line, summary_table, write_all

pytest_plugins = ["conformance.fixtures"]

TOOL = "registry-conformance"
# Exceptions that mean "the registry broke a rule" rather than "the harness broke".
REGISTRY_FAULTS = (AssertionError, RegistryError, requests.RequestException, json.JSONDecodeError)
MESSAGE_LIMIT = 8000

_WARNINGS_KEY = pytest.StashKey[rules.Warnings]()
_STATE_KEY = pytest.StashKey["RunState"]()


class RunState:
    """Controller-side collection of verdicts (fed by every phase report, also under xdist)."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self.t0 = time.monotonic()
        self.checks: dict[str, CheckResult] = {}
        self.paths: dict[str, Path] = {}
        self.cleanup: dict[str, int] | None = None
        self.config_error: str | None = None
        self.clients: dict[str, dict] = {}  # real client name -> {"version", "reason"} (clients area)

    def absorb(self, nodeid: str, info: dict) -> None:
        """Merge one phase's verdict into the check's result (setup → call → teardown)."""
        check = self.checks.get(nodeid)
        if check is None:
            check = CheckResult(id=nodeid, name=info["name"], area=info["area"], rule=info["rule"],
                                level=info["level"], text=info["text"], doc=info.get("doc", ""), status="")
            self.checks[nodeid] = check
        check.duration_s += info.get("duration", 0.0)
        if info.get("client"):
            check.client = info["client"]["name"]
            self.clients[check.client] = {k: v for k, v in info["client"].items() if k != "name"}
        status = info.get("status")
        phase = info["phase"]
        if status is None:
            return
        if phase == "teardown" and check.status in ("skip", "disabled", "fail", "error"):
            return
        if phase == "teardown" and status in ("fail", "error"):
            status = "error"  # a check that passed but could not be torn down: harness trouble
        check.status = status
        check.reason = info.get("reason", "")
        check.message = info.get("message", "")
        check.warnings = list(info.get("warnings", []))
        check.exchanges = list(info.get("exchanges", []))
        check.exchanges_count = info.get("exchanges_count", 0)
        check.curl = info.get("curl", "")

    def result(self, settings) -> RunResult:
        order = {area: i for i, area in enumerate(rules.AREAS)}
        checks = sorted((c for c in self.checks.values() if c.status), key=lambda c: order.get(c.area, len(order)))
        extra: dict[str, object] = {}
        if self.cleanup is not None:
            extra["cleanup"] = self.cleanup
        if self.clients:
            extra["clients"] = client_verdicts(checks, self.clients)
        config = settings.redacted()
        target = dict(config.pop("target") or {"url": "(embedded reference server)"})
        target.update(config)
        return RunResult(TOOL, target, self.started.isoformat(timespec="seconds"),
                         time.monotonic() - self.t0, checks, extra)


# -- options and configuration -----------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("registry-conformance", "registry conformance")
    group.addoption("--target", dest="conformance_target", default=None,
                    help="registry under test, host:port or http(s)://host:port "
                         "(default: TARGET / OCI_REGISTRY / OCI_ROOT_URL, else the embedded reference server)")
    group.addoption("--tls", dest="conformance_tls", default=None, choices=("enabled", "insecure", "disabled"),
                    help="TLS mode: verified https, unverified https, or plain http (default from OCI_TLS)")
    group.addoption("--conformance-strict", dest="conformance_strict", action="store_true", default=False,
                    help="treat SHOULD warnings as failures (pytest's own --strict does the same)")
    group.addoption("--judge", dest="conformance_judge", default="all", choices=rules.JUDGES,
                    help="'oci': judge by the OCI documents alone; a rule only the Docker Registry HTTP API V2 "
                         "states is then a warning (default 'all')")
    group.addoption("--skip-cleanup", dest="conformance_skip_cleanup", action="store_true", default=False,
                    help="leave the repositories, manifests and blobs the run created")
    group.addoption("--list", dest="conformance_list", action="store_true", default=False,
                    help="list the checks (id, area, rule, level, text) without running them")
    group.addoption("--results-dir", dest="conformance_results_dir", default=None,
                    help=f"where junit.xml, report.html and results.json go (default {DEFAULT_RESULTS_DIR}/)")
    group.addoption("--disable", dest="conformance_disable", action="append", default=[], metavar="AREA",
                    help="switch an area off (its checks are reported as disabled); repeatable")
    group.addoption("--request-timeout", dest="conformance_request_timeout", type=float, default=30.0,
                    metavar="SECONDS", help="how long one request may take (default 30); after "
                    "3 timeouts in a row the registry counts as stopped and the remaining checks fail fast")
    group.addoption("--run-id", dest="conformance_run_id", default=None,
                    help="id used in repository names (default: random)")
    group.addoption("--embedded-target", dest="conformance_embedded", action="store_true", default=False,
                    help="(set by the CLI) the target is the embedded reference server")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(rule): the spec rule a conformance check enforces")
    for area in rules.AREAS:
        config.addinivalue_line("markers", f"{area}: conformance checks of the {area} area")
    state = RunState()
    config.stash[_STATE_KEY] = state
    settings = settings_of(config)
    workerinput = getattr(config, "workerinput", None)
    settings.run_id = (workerinput or {}).get("conformance_run_id") or config.option.conformance_run_id \
        or new_run_id()
    settings.strict = bool(config.option.conformance_strict or getattr(config.option, "strict", False))
    settings.judge = config.option.conformance_judge
    settings.skip_cleanup = config.option.conformance_skip_cleanup
    settings.results_dir = Path(config.option.conformance_results_dir or DEFAULT_RESULTS_DIR)
    settings.embedded = config.option.conformance_embedded
    try:
        settings.disabled = disabled_areas(config.option.conformance_disable)
        settings.target = resolve_target(config.option.conformance_target, config.option.conformance_tls)
    except ConfigurationError as exc:
        # reported when a check first needs the target, so unrelated pytest runs are not affected
        state.config_error = str(exc)
    config.pluginmanager.register(_Reporter(config, state), "registry-conformance-reporter")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "registry-conformance-xdist")


class _XdistHooks:
    """Hand the run id to xdist workers so every worker names repositories the same way."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:  # noqa: ANN001 - xdist's WorkerController
        node.workerinput["conformance_run_id"] = settings_of(node.config).run_id


def _is_check(item: pytest.Item) -> bool:
    return item.get_closest_marker("rule") is not None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[_STATE_KEY]
    checks = [item for item in items if _is_check(item)]
    if checks and state.config_error:
        raise pytest.UsageError(state.config_error)
    disabled = settings_of(config).disabled
    for item in checks:
        area = item.get_closest_marker("rule").args[0].area
        if area in disabled:
            item.add_marker(pytest.mark.skip(
                reason=f"{rules.DISABLED_PREFIX}area {area!r} switched off ({disabled[area]})"))


def check_listing(items: list[pytest.Item]) -> list[tuple[str, str, str, str, str, str]]:
    """(check id, area, rule id, level, text, document) for every collected check."""
    rows = []
    for item in items:
        marker = item.get_closest_marker("rule")
        if marker is not None:
            rule = marker.args[0]
            rows.append((item.nodeid, rule.area, rule.id, rule.level, rule.text, rule.doc))
    return rows


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.conformance_list:
        return
    rows = check_listing(session.items)
    writer = session.config.get_terminal_writer()
    writer.line()
    for nodeid, area, rule_id, level, text, doc in rows:
        writer.line(f"{nodeid}\t{area}\t{rule_id}\t{level}\t{text}\t{doc}")
    writer.line(f"{len(rows)} checks")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    if session.config.option.conformance_list:
        return True  # listed, not run
    return None


# -- verdicts ------------------------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if _is_check(item):
        recorder_of(item.config).begin(item.nodeid)
        settings = settings_of(item.config)
        item.stash[_WARNINGS_KEY] = rules.begin_check(settings.strict, settings.judge)
    try:
        return (yield)
    finally:
        recorder_of(item.config).end()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    marker = item.get_closest_marker("rule")
    if marker is None:
        return report
    rule = marker.args[0]
    settings = settings_of(item.config)
    secrets = (settings.target.password,) if settings.target else ()
    info: dict[str, object] = {
        "phase": call.when, "name": item.name, "area": rule.area, "rule": rule.id, "level": rule.level,
        "text": rule.text, "doc": rule.doc, "duration": report.duration, "status": None,
        "client": next((value for key, value in item.user_properties if key == "client"), None),
    }
    warnings = item.stash[_WARNINGS_KEY].messages if _WARNINGS_KEY in item.stash else []
    if report.skipped:
        reason = _skip_reason(report)
        if reason.startswith(rules.DISABLED_PREFIX):
            info.update(status="disabled", reason=reason.removeprefix(rules.DISABLED_PREFIX))
        else:
            info.update(status="skip", reason=reason.removeprefix(rules.UNSUPPORTED_PREFIX))
    elif report.failed and _refused_write(call) is not None:
        # a read-only registry (or mirror) validly refused the write this check needed: not a failure
        reason = _refused_write(call)
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 0, f"Skipped: {rules.UNSUPPORTED_PREFIX}{reason}")
        info.update(status="skip", reason=reason)
    elif report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        status = "fail" if exc is None or isinstance(exc, REGISTRY_FAULTS + (pytest.fail.Exception,)) else "error"
        message = _message(exc, report, status)
        if status == "fail" and rule.doc == rules.DOCKER and settings.judge == "oci" and call.when == "call":
            # judged by OCI alone, a rule only the Docker document states is a warning, not a failure
            warnings = [*warnings, f"{message}\n({rules.DOCKER} rule; --judge oci: warning)"]
            report.outcome = "passed"
            report.longrepr = None
            info.update(status="pass")
        else:
            info.update(status=status, message=mask_text(message, secrets)[:MESSAGE_LIMIT])
            info["curl"] = _curl_for(exc, recorder_of(item.config).exchanges, secrets)
    elif call.when == "call":
        info["status"] = "pass"
    if call.when == "call" or info["status"] in ("fail", "error", "skip", "disabled"):
        info["warnings"] = [mask_text(w, secrets) for w in warnings]
        exchanges = recorder_of(item.config).exchanges
        info["exchanges_count"] = len(exchanges)
        if info["status"] in ("fail", "error") or warnings:
            info["exchanges"] = [e.to_dict(secrets) for e in exchanges]
    report.conformance = info
    return report


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _refused_write(call: pytest.CallInfo) -> str | None:
    """Why the exception of ``call`` is a valid refusal of a write (405 / 400 UNSUPPORTED), or None."""
    exc = call.excinfo.value if call.excinfo is not None else None
    response = getattr(exc, "response", None) if isinstance(exc, UnexpectedResponse) else None
    if response is None or response.request is None or response.request.method not in WRITE_METHODS:
        return None
    reason = rules.write_refused(response)
    if reason is None:
        return None
    return f"{reason} to {response.request.method} {mask_url(response.request.url or '')}; this check needs that write"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    return text.removeprefix("Skipped: ")


def _message(exc: BaseException | None, report: pytest.TestReport, status: str) -> str:
    if exc is None:
        return report.longreprtext[-MESSAGE_LIMIT:]
    if status == "error":
        # a harness defect: keep the traceback tail so it can be fixed
        return f"harness error {type(exc).__name__}: {exc}\n\n{report.longreprtext[-4000:]}"
    text = str(exc).strip()
    if isinstance(exc, AssertionError) and not isinstance(exc, UnexpectedResponse):
        # keep the check's own explanation; drop pytest's "assert …" introspection that follows it
        lines = text.splitlines()
        cut = next((i for i, line in enumerate(lines) if i > 0 and line.startswith("assert ")), len(lines))
        text = "\n".join(lines[:cut]).rstrip()
    if isinstance(exc, RegistryError | requests.RequestException | json.JSONDecodeError):
        text = f"registry misbehaved ({type(exc).__name__}): {text}"
    return text or f"{type(exc).__name__} (no message)"


def _curl_for(exc: BaseException | None, exchanges: list, secrets: tuple[str | None, ...]) -> str:
    """The reproduce line of the exchange that failed (the one named by the error, else the last)."""
    if not exchanges:
        return ""
    chosen = exchanges[-1]
    response = getattr(exc, "response", None) if isinstance(exc, UnexpectedResponse) else None
    if response is not None and response.request is not None:
        wanted = (response.request.method, mask_url(response.request.url or ""))
        for exchange in reversed(exchanges):
            if (exchange.method, mask_url(exchange.url)) == wanted:
                chosen = exchange
                break
    return mask_text(chosen.curl(), secrets)


# -- reports -------------------------------------------------------------------------------------

def _wants_reports(config: pytest.Config, state: RunState) -> bool:
    if getattr(config, "workerinput", None) is not None or config.option.conformance_list:
        return False
    return bool(state.checks) or config.option.conformance_results_dir is not None


class _Reporter:
    """Collects every check's phase reports (also those xdist workers send) and writes the reports."""

    def __init__(self, config: pytest.Config, state: RunState) -> None:
        self.config = config
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info = getattr(report, "conformance", None)
        if info is not None:
            self.state.absorb(report.nodeid, info)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config, state = self.config, self.state
        if CLEANUP_KEY in config.stash:
            state.cleanup = dict(config.stash[CLEANUP_KEY].report)
        if not _wants_reports(config, state):
            return
        settings = settings_of(config)
        secrets = (settings.target.password,) if settings.target else ()
        try:
            state.paths = write_all(state.result(settings), settings.results_dir, secrets)
        except OSError as exc:
            state.config_error = f"could not write reports to {settings.results_dir}: {exc}"

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int) -> None:  # noqa: ANN001
        config, state = self.config, self.state
        if not _wants_reports(config, state):
            return
        settings = settings_of(config)
        run = state.result(settings)
        tr = terminalreporter
        tr.section("registry conformance")
        where = " [embedded reference server]" if settings.embedded else ""
        tr.write_line(f"target: {run.target.get('url')}{where}  (tls {run.target.get('tls', '-')}, "
                      f"{'strict: SHOULD = failure' if settings.strict else 'SHOULD = warning'})")
        for check in run.checks:
            if check.status in ("fail", "error"):
                tr.write_line("")
                tr.write_line(f"{check.status.upper()} {check.id}", red=True, bold=True)
                tr.write_line(f"  rule {check.rule} ({check.level}, {check.area}): {check.text}")
                if check.doc and check.doc != rules.OCI_1_1:
                    tr.write_line(f"  from: {check.doc}")
                for line in check.message.splitlines()[:12]:
                    tr.write_line(f"  {line}")
                if check.curl:
                    tr.write_line(f"  reproduce: {check.curl}")
        warned = [c for c in run.checks if c.warnings and c.status not in ("fail", "error")]
        if warned:
            tr.write_line("")
            for check in warned:
                for warning in check.warnings:
                    first = warning.splitlines()[0] if warning else ""
                    tr.write_line(f"WARN {check.id}: {first}", yellow=True)
        unchecked = [c for c in run.checks if c.status == "disabled" and c.reason.startswith(rules.UNCHECKED_PREFIX)]
        if unchecked:
            tr.write_line("")
            for check in unchecked:
                tr.write_line(f"UNCHECKED {check.id}: {check.reason.removeprefix(rules.UNCHECKED_PREFIX)}",
                              yellow=True)
        tr.write_line("")
        for line in summary_table(run).splitlines():
            tr.write_line(line)
        if run.extra.get("clients"):
            tr.write_line(f"clients: {clients_line(run.extra['clients'])}")
        if state.cleanup and state.cleanup.get("failed"):
            tr.write_line(f"cleanup: {state.cleanup['failed']} objects could not be deleted", yellow=True)
        for kind, path in state.paths.items():
            tr.write_line(f"{kind:>5}: {path}")
        if state.config_error:
            tr.write_line(state.config_error, red=True)
