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

from conformance import guard, rules
from conformance.exit_codes import reader_gone
from conformance.fixtures import CLEANUP_KEY, CLIENT_KEY, settings_of
from conformance.options import add_to_pytest
from conformance.recording import recorder_of
from conformance.session import (
    DEFAULT_RESULTS_DIR,
    PREFLIGHT_TIMEOUT,
    ConfigurationError,
    disabled_areas,
    new_run_id,
    resolve_target,
)
from registry_harness import memory
from registry_harness.client import RegistryError, UnexpectedResponse
from registry_harness.redact import mask_text, mask_url
from registry_harness.reports import CheckResult, RunResult, client_verdicts, clients_line, summary_table, write_all
from registry_harness.reports.causes import cause_of, causes, failures_line, headline
from registry_harness.reports.expectations import (
    ExpectationsError,
    apply_expectations,
    check_key,
    load_expectations,
)
from registry_harness.reports.model import verdict_of
from registry_harness.reports.text import skipped_block, summary_line
from registry_harness.target import TargetError, probe_answer

pytest_plugins = ["conformance.fixtures"]

TOOL = "registry-conformance"
# Exceptions that mean "the registry broke a rule" rather than "the harness broke".
REGISTRY_FAULTS = (AssertionError, RegistryError, requests.RequestException, json.JSONDecodeError)
MESSAGE_LIMIT = 8000

_WARNINGS_KEY = pytest.StashKey[rules.Warnings]()
_STATE_KEY = pytest.StashKey["RunState"]()
_BUDGET_KEY = pytest.StashKey[guard.Budget]()


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
        self.planned: dict[str, dict] = {}  # every selected check, so those that never ran are reported
        self.root_cause: str = ""  # unreachable, or /v2/ not a registry's: the first line of every summary
        self.unreachable: str = ""  # nothing usable answers /v2/: no check runs
        self.stopped: str = ""  # why the run ended early (Ctrl-C, SIGTERM)
        self.sigterm_taken = False
        self.foreign = False  # tests other than conformance checks ran in this session

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
        check.cause = info.get("cause", "")

    def mark_not_run(self, reason: str) -> None:
        """Every planned check without a verdict becomes ``not-run`` with ``reason``."""
        for nodeid, info in self.planned.items():
            check = self.checks.get(nodeid)
            if check is None or not check.status:
                check = check or CheckResult(id=nodeid, name=info["name"], area=info["area"], rule=info["rule"],
                                             level=info["level"], text=info["text"], status="")
                check.status, check.reason = guard.NOT_RUN, reason
                self.checks[nodeid] = check

    def result(self, settings) -> RunResult:
        order = {area: i for i, area in enumerate(rules.AREAS)}
        checks = sorted((c for c in self.checks.values() if c.status), key=lambda c: order.get(c.area, len(order)))
        extra: dict[str, object] = {}
        if self.cleanup is not None:
            extra["cleanup"] = self.cleanup
        if self.clients:
            extra["clients"] = client_verdicts(checks, self.clients)
        if self.root_cause:
            extra["root_cause"] = self.root_cause
        config = settings.redacted()
        target = dict(config.pop("target") or {"url": "(embedded reference server)"})
        target.update(config)
        run = RunResult(TOOL, target, self.started.isoformat(timespec="seconds"),
                        time.monotonic() - self.t0, checks, extra)
        if settings.expectations is not None:
            apply_expectations(run, settings.expectations, settings.strict)
        return run


# -- options and configuration -----------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    add_to_pytest(parser.getgroup("registry-conformance", "registry conformance"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(rule): the spec rule a conformance check enforces")
    memory.limit_malloc_arenas()  # the concurrency area's threads fit a 512 MB address space
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
        if config.option.conformance_expect:
            settings.expectations = load_expectations(config.option.conformance_expect)
    except (ConfigurationError, ExpectationsError) as exc:
        # reported when a check first needs the target, so unrelated pytest runs are not affected
        state.config_error = str(exc)
    config.pluginmanager.register(_Reporter(config, state), "registry-conformance-reporter")
    started = (workerinput or {}).get("conformance_started")
    config.stash[_BUDGET_KEY] = guard.Budget(config.option.conformance_check_timeout,
                                             config.option.conformance_run_timeout, started)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "registry-conformance-xdist")


class _XdistHooks:
    """Hand the run id to xdist workers so every worker names repositories the same way."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:  # noqa: ANN001 - xdist's WorkerController
        node.workerinput["conformance_run_id"] = settings_of(node.config).run_id
        node.workerinput["conformance_started"] = node.config.stash[_BUDGET_KEY].started

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids: list[str]) -> None:  # noqa: ANN001
        """The controller never collects: learn the planned checks from the first worker's ids."""
        state = node.config.stash[_STATE_KEY]
        for nodeid in ids:
            if nodeid.startswith("conformance/checks/") or "/checks/test_" in nodeid:
                state.planned.setdefault(nodeid, _planned_from_id(nodeid))
        _take_sigterm(node.config, state)


def _is_check(item: pytest.Item) -> bool:
    return item.get_closest_marker("rule") is not None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[_STATE_KEY]
    checks = [item for item in items if _is_check(item)]
    if checks and state.config_error:
        raise pytest.UsageError(state.config_error)
    _in_area_order(items)
    disabled = settings_of(config).disabled
    for item in checks:
        area = item.get_closest_marker("rule").args[0].area
        if area in disabled:
            item.add_marker(pytest.mark.skip(
                reason=f"{rules.DISABLED_PREFIX}area {area!r} switched off ({disabled[area]})"))


def _in_area_order(items: list[pytest.Item]) -> None:
    """Run modules in the order of their areas, as the report shows them: base first, so a registry
    that stalls below ``/v2/`` is given up on after the first few timeouts, not re-armed by a later
    ``GET /v2/`` between every area. Each module's checks stay together and in their own order."""
    rank = {area: number for number, area in enumerate(rules.AREAS)}
    first: dict[str, int] = {}
    for item in items:
        if _is_check(item):
            module = item.nodeid.split("::", 1)[0]
            area = item.get_closest_marker("rule").args[0].area
            first[module] = min(first.get(module, len(rank)), rank.get(area, len(rank)))
    items.sort(key=lambda item: first.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: modules stay whole


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
    state = session.config.stash[_STATE_KEY]
    for item in session.items:  # after deselection: what this run means to run
        if _is_check(item):
            rule = item.get_closest_marker("rule").args[0]
            state.planned[item.nodeid] = {"name": item.name, "area": rule.area, "rule": rule.id,
                                          "level": rule.level, "text": rule.text}
    _take_sigterm(session.config, state)
    if not session.config.option.conformance_list:
        return
    rows = check_listing(session.items)
    writer = session.config.get_terminal_writer()
    try:
        writer.line()
        for nodeid, area, rule_id, level, text, doc in rows:
            writer.line(f"{nodeid}\t{area}\t{rule_id}\t{level}\t{text}\t{doc}")
        writer.line(f"{len(rows)} checks")
        writer.flush()
    except BrokenPipeError:  # `--list | head`: the reader has all it wanted
        reader_gone()


def pytest_internalerror(excinfo: pytest.ExceptionInfo) -> bool | None:
    """A closed stdout (``| head``) is no defect of the harness: no traceback, the reports are still written."""
    if isinstance(excinfo.value, BrokenPipeError):
        reader_gone()
        return True
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    if session.config.option.conformance_list:
        return True  # listed, not run
    state = session.config.stash[_STATE_KEY]
    controller = getattr(session.config, "workerinput", None) is None
    if controller and (state.planned or session.config.option.conformance_target):
        _preflight(session.config, state)
        if state.unreachable:
            state.mark_not_run(f"the registry is unreachable: {state.unreachable}")
            session.testsfailed = len(state.planned)
            return True  # nothing can run; the reports say so
    return None


def _preflight(config: pytest.Config, state: RunState) -> None:
    """GET /v2/ once, bounded: unreachable stops the run; an answer unlike a registry's becomes its headline."""
    settings = settings_of(config)
    if settings.target is None or settings.embedded:
        return
    if config.option.conformance_preflight_error:  # the CLI probed already
        state.unreachable = state.root_cause = config.option.conformance_preflight_error
        return
    timeout = min(config.option.conformance_request_timeout or PREFLIGHT_TIMEOUT, PREFLIGHT_TIMEOUT)
    try:
        answer = probe_answer(settings.target, timeout)
    except TargetError as exc:
        state.unreachable = state.root_cause = str(exc)
        return
    state.root_cause = answer.not_a_registry() or ""


def _take_sigterm(config: pytest.Config, state: RunState) -> None:
    """In a process that runs checks (not a worker), SIGTERM stops the run like Ctrl-C: reports still written."""
    if state.planned and not state.sigterm_taken and getattr(config, "workerinput", None) is None:
        state.sigterm_taken = True
        config.add_cleanup(guard.handle_sigterm())


def _planned_from_id(nodeid: str) -> dict:
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    return {"name": nodeid.rsplit("::", 1)[-1], "area": module if module in rules.AREAS else "", "rule": "",
            "level": "", "text": ""}


# -- verdicts ------------------------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    budget = item.config.stash[_BUDGET_KEY]
    if _is_check(item):
        recorder_of(item.config).begin(item.nodeid)
        settings = settings_of(item.config)
        item.stash[_WARNINGS_KEY] = rules.begin_check(settings.strict, settings.judge)
        budget.arm()
    try:
        return (yield)
    finally:
        budget.disarm()
        recorder_of(item.config).end()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    budget = item.config.stash[_BUDGET_KEY]
    if _is_check(item) and budget.exhausted:
        budget.disarm()
        pytest.skip(guard.NOT_RUN_PREFIX + budget.not_run_reason())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    item.config.stash[_BUDGET_KEY].disarm()  # teardown (and the run's cleanup) has budgets of its own


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
    if call.when == "call":
        item.config.stash[_BUDGET_KEY].disarm()
    exc = call.excinfo.value if call.excinfo is not None else None
    unanswered = _unanswered(recorder_of(item.config).exchanges) if call.when == "call" else None
    if report.skipped:
        reason = _skip_reason(report)
        if reason.startswith(guard.NOT_RUN_PREFIX):
            info.update(status=guard.NOT_RUN, reason=reason.removeprefix(guard.NOT_RUN_PREFIX))
        elif reason.startswith(rules.DISABLED_PREFIX):
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
        faults = REGISTRY_FAULTS + (pytest.fail.Exception, guard.BudgetExceeded)
        status = "fail" if exc is None or isinstance(exc, faults) else "error"
        message = _message(exc, report, status)
        no_answer = isinstance(exc, RegistryError | requests.RequestException | guard.BudgetExceeded)
        if isinstance(exc, guard.BudgetExceeded) and CLIENT_KEY in item.config.stash:
            item.config.stash[CLIENT_KEY].stall.unusable()  # stopped waiting: as good as a timeout
        if status == "fail" and rule.doc == rules.DOCKER and settings.judge == "oci" and call.when == "call" \
                and not no_answer:  # a request without an answer is never a pass, whatever the document
            # judged by OCI alone, a rule only the Docker document states is a warning, not a failure
            warnings = [*warnings, f"{message}\n({rules.DOCKER} rule; --judge oci: warning)"]
            report.outcome = "passed"
            report.longrepr = None
            info.update(status="pass")
        else:
            info.update(status=status, message=mask_text(message, secrets)[:MESSAGE_LIMIT])
            info["curl"] = _curl_for(exc, recorder_of(item.config).exchanges, secrets)
    elif call.when == "call" and unanswered is not None:
        # it would pass, but one of its requests got no usable answer: what it checked is unknown
        message = f"a request of this check got no usable answer: {unanswered.method} " \
                  f"{mask_url(unanswered.url)}: {unanswered.error}"
        report.outcome = "failed"
        report.longrepr = message
        info.update(status="fail", message=mask_text(message, secrets)[:MESSAGE_LIMIT],
                    curl=mask_text(unanswered.curl(), secrets))
    elif call.when == "call":
        info["status"] = "pass"
    if call.when == "call" or info["status"] in ("fail", "error", "skip", "disabled"):
        info["warnings"] = [mask_text(w, secrets) for w in warnings]
        exchanges = recorder_of(item.config).exchanges
        info["exchanges_count"] = len(exchanges)
        if info["status"] in ("fail", "error") or warnings:
            info["exchanges"] = [e.to_dict(secrets) for e in exchanges]
        if info["status"] in ("fail", "error"):
            failing = _failing_exchange(exc, exchanges) if unanswered is None or exc is not None else unanswered
            info["cause"] = cause_of(failing.to_dict(secrets) if failing else None, str(info.get("message", "")))
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


def _failing_exchange(exc: BaseException | None, exchanges: list):  # noqa: ANN202 - Exchange | None
    """The exchange that failed: the one named by the error, else the last without an answer, else the last."""
    if not exchanges:
        return None
    response = getattr(exc, "response", None) if isinstance(exc, UnexpectedResponse) else None
    if response is not None and response.request is not None:
        wanted = (response.request.method, mask_url(response.request.url or ""))
        for exchange in reversed(exchanges):
            if (exchange.method, mask_url(exchange.url)) == wanted:
                return exchange
    if isinstance(exc, RegistryError | requests.RequestException):
        return next((e for e in reversed(exchanges) if e.error), exchanges[-1])
    return exchanges[-1]


def _unanswered(exchanges: list):  # noqa: ANN202 - Exchange | None
    """The first exchange of a check that got no usable answer (transport error, too large, too slow)."""
    return next((e for e in exchanges if e.error), None)


def _curl_for(exc: BaseException | None, exchanges: list, secrets: tuple[str | None, ...]) -> str:
    """The reproduce line of the exchange that failed (the one named by the error, else the last)."""
    chosen = _failing_exchange(exc, exchanges)
    return mask_text(chosen.curl(), secrets) if chosen is not None else ""


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
        else:
            self.state.foreign = True  # a test that is no check ran too: pytest's own count stays

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config, state = self.config, self.state
        if CLEANUP_KEY in config.stash:
            state.cleanup = dict(config.stash[CLEANUP_KEY].report)
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            state.stopped = state.stopped or "the run was interrupted (Ctrl-C or SIGTERM)"
        if getattr(config, "workerinput", None) is None:
            state.mark_not_run(state.stopped or "the run ended before this check ran")
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
        first = headline(run)
        if first:  # the root cause, before anything else
            tr.write_line(first, red=True, bold=True)
        where = " [embedded reference server]" if settings.embedded else ""
        tr.write_line(f"target: {run.target.get('url')}{where}  (tls {run.target.get('tls', '-')}, "
                      f"{'strict: SHOULD = failure' if settings.strict else 'SHOULD = warning'})")
        expect_file = settings.expectations.path if settings.expectations else None
        _write_failures(tr, run, expect_file)
        warned = [c for c in run.checks if c.warnings and c.status not in ("fail", "error")
                  and c.expectation != "expected"]
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
        _write_expectations(tr, run, expect_file)
        hint = ("the embedded server runs without auth; --server-arg=--auth=token checks auth against it"
                if settings.embedded else "point the suite at a registry that requires a login (USERNAME=.. "
                "PASSWORD=..) to check auth")
        hints = {rules.NO_AUTH: hint}
        block = skipped_block(run, hints)
        if block:
            tr.write_line("")
            for line in block:
                tr.write_line(line)
        tr.write_line("")
        for line in summary_table(run).splitlines():
            tr.write_line(line)
        if run.extra.get("clients"):
            tr.write_line(f"clients: {clients_line(run.extra['clients'])}")
        if state.cleanup and state.cleanup.get("failed"):
            tr.write_line(f"cleanup: {state.cleanup['failed']} objects this run created could not be deleted",
                          yellow=True)
        if state.cleanup and state.cleanup.get("left"):
            tr.write_line(f"cleanup: stopped ({state.cleanup.get('skipped_reason')}); {state.cleanup['left']} "
                          "objects were not looked up, some may remain", yellow=True)
        for kind, path in state.paths.items():
            tr.write_line(f"{kind:>5}: {path}")
        if state.config_error:
            tr.write_line(state.config_error, red=True)
        counts = run.counts()
        if counts["total"] and not counts["pass"]:
            tr.write_line("note: no check passed (every selected check was skipped or disabled)", yellow=True)
        if not state.foreign:
            # the harness's own count is the last line, in place of pytest's (which counts failed
            # setups as "errors" and disabled checks as "skipped", contradicting the table above)
            line = summary_line(run, len(tr.stats.get("deselected", [])))
            tr.summary_stats = lambda: tr.write_line(line, red=run.failed, green=not run.failed, bold=True)


SHOWN_PER_CAUSE = 10


def _write_failures(tr, run: RunResult, expect_file: str | None) -> None:  # noqa: ANN001
    """Failures grouped by cause, the biggest first: the cause, one example in full (rule, message,
    curl), then every other check of that cause on one line each (all of them are in the reports)."""
    found = causes(run)
    if not found:
        return
    if len(found) > 1 or len(found[0].checks) > 1:
        tr.write_line("")
        tr.write_line(failures_line(run).split(";", 1)[0].split(":", 1)[0] + ", biggest first:", bold=True)
    for number, cause in enumerate(found, 1):
        tr.write_line("")
        if len(found) > 1 or len(cause.checks) > 1:
            tr.write_line(f"cause {number} ({len(cause.checks)} check{'s' if len(cause.checks) > 1 else ''}): "
                          f"{cause.text}", red=True)
        check = cause.example
        tr.write_line(f"{check.status.upper()} {check.id}", red=True, bold=True)
        tr.write_line(f"  rule {check.rule} ({check.level}, {check.area}): {check.text}")
        if expect_file:
            tr.write_line(f"  new: not a known deviation in {expect_file}")
        for line in check.message.splitlines()[:12]:
            tr.write_line(f"  {line}")
        if check.curl:
            tr.write_line(f"  reproduce: {check.curl}")
        others = cause.checks[1:]
        for other in others[:SHOWN_PER_CAUSE]:
            tr.write_line(f"{other.status.upper()} {other.id}  (rule {other.rule}, {other.level})", red=True)
        if len(others) > SHOWN_PER_CAUSE:
            tr.write_line(f"  … and {len(others) - SHOWN_PER_CAUSE} more of this cause (every check is in the "
                          "reports)")


def _write_expectations(tr, run: RunResult, expect_file: str | None) -> None:  # noqa: ANN001
    """Known deviations met (a line per expected failure or warning; skips are counted, and grouped
    under "skipped, and why") and those that no longer hold, which fail the run."""
    expected = [c for c in run.checks if c.expectation == "expected"]
    stale = [c for c in run.checks if c.expectation == "stale"]
    if not expect_file or not (expected or stale):
        return
    kinds: dict[str, int] = {}
    for check in expected:
        kinds[verdict_of(check)] = kinds.get(verdict_of(check), 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in kinds.items())
    tr.write_line("")
    tr.write_line(f"known deviations ({expect_file}): {len(expected)} as expected"
                  + (f" ({tally})" if tally else "") + f", {len(stale)} no longer hold")
    for check in expected:
        if verdict_of(check) != "skip":
            reason = check.expected.get("reason", "")
            tr.write_line(f"  expected {verdict_of(check):<5} {check_key(check.id)}: {reason}")
    for check in stale:
        tr.write_line(f"STALE {check.id}: recorded as {check.expected['status']}, now {verdict_of(check)}; "
                      f"update {expect_file}", red=True, bold=True)
