"""Locust glue shared by every profile: options, the base user, seeding, stats, gates and the summary.

Importing this module registers the event listeners, so a profile file only defines its user
class. Roles: the local or master runner seeds test images at ``init`` (before Locust's run-time
clock starts, so seeding never eats into the measured time) and, at ``quitting``,
judges the SLO gates, writes the summary and cleans up; workers only report their measurements
(``report_to_master``) and delete what their own users pushed.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import psutil
from locust import User, constant, events
from locust.rpc import Message
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from load import seeding, slo, summary
from load.images import SIZE_CHOICES, parse_size, pick_size, seeded_image, size_labels
from load.measure import Measure, MeasuredSession
from load.recorder import HTTP_METHODS, Recorder
from load.workloads import RESOLVE_STEPS, Pushed, pull_image
from registry_harness.client import RegistryClient
from registry_harness.target import Target, TargetError, target_from_env

log = logging.getLogger("registry-harness.load")
REPORT_KEY = "registry_harness"
CPU_SAMPLE_SECONDS = 2.0
CPU_WARN_PERCENT = 90.0
CPU_WARN_SAMPLES = 3
DEFAULT_RESULTS = "results/load"
FINAL_REPORT_WAIT = 15.0

RECORDER = Recorder()
_USER_IDS = itertools.count()


class LoadFailure(Exception):
    """A failed request or operation as Locust's stats show it (the message says what was wrong)."""


@dataclass(frozen=True)
class Settings:
    """The custom options a profile reads (same on master and workers: Locust forwards them)."""

    run_id: str
    repo_prefix: str
    image_size: str
    push_mode: str
    push_repo: str
    chunk_size: int | None
    herd_interval: float
    browse_repos: int
    browse_tags: int
    page_size: int
    request_timeout: float
    cleanup: bool
    pre_seeded: bool = False
    resolve_requests: tuple[str, ...] = RESOLVE_STEPS

    @property
    def size_labels(self) -> list[str]:
        return size_labels(self.image_size)

    @classmethod
    def from_options(cls, options: object) -> Settings:
        chunk = getattr(options, "chunk_size", "") or ""
        return cls(
            run_id=options.run_id,
            repo_prefix=options.repo_prefix.strip("/"),
            image_size=options.image_size,
            push_mode=options.push_mode,
            push_repo=options.push_repo,
            chunk_size=parse_size(chunk) if chunk else None,
            herd_interval=float(options.herd_interval),
            browse_repos=int(options.browse_repos),
            browse_tags=int(options.browse_tags),
            page_size=int(options.page_size),
            request_timeout=float(options.request_timeout),
            cleanup=not options.no_cleanup,
            pre_seeded=bool(getattr(options, "pre_seeded", False)),
            resolve_requests=parse_resolve_requests(getattr(options, "resolve_requests", "") or ""),
        )


def parse_resolve_requests(text: str) -> tuple[str, ...]:
    """``head,get,tags`` → the resolve profile's steps in their fixed order; ValueError for unknown ones."""
    chosen = {part.strip() for part in text.split(",") if part.strip()} or set(RESOLVE_STEPS)
    unknown = chosen - set(RESOLVE_STEPS)
    if unknown:
        raise ValueError(f"--resolve-requests: unknown {', '.join(sorted(unknown))}; choose from "
                         f"{', '.join(RESOLVE_STEPS)}")
    return tuple(step for step in RESOLVE_STEPS if step in chosen)


@dataclass
class RunState:
    """What this process knows about the run: target, settings, what it pushed, a fatal error."""

    target: Target | None = None
    settings: Settings | None = None
    pushed: list[Pushed] = field(default_factory=list)
    fatal: str | None = None
    catalog_supported: bool = True
    greenlets: list = field(default_factory=list)
    workers: set[str] = field(default_factory=set)
    cpu_started: float | None = None
    stopped: bool = False
    final_reports: set[str] = field(default_factory=set)
    per_worker: dict[str, int] = field(default_factory=dict)  # HTTP requests each worker reported

    def record(self, item: Pushed) -> None:
        self.pushed.append(item)


STATE = RunState()


# -- options -------------------------------------------------------------------------------------

@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    """The harness's own options (shown in ``--help`` and in the web UI)."""
    add = parser.add_argument
    add("--image-size", choices=SIZE_CHOICES, default="10MiB",
        help="image size for pull/push/mixed/herd: 1MiB, 10MiB, 100MiB or mixed (20/70/10)")
    add("--push-mode", choices=("monolithic", "chunked"), default="monolithic", help="upload mode of pushes")
    add("--push-repo", choices=("same", "distinct"), default="same",
        help="push every image into the same repository or each into a new one")
    add("--chunk-size", default="", help="PATCH size of chunked pushes (e.g. 1MiB; default a third of the layer)")
    add("--run-id", default=secrets.token_hex(4), help="names this run's repositories (default random)")
    add("--repo-prefix", default="loadtest", help="repository namespace of everything the run pushes")
    add("--herd-interval", type=float, default=5.0, help="seconds between herd waves")
    add("--browse-repos", type=int, default=12, help="repositories seeded for the browse profile")
    add("--browse-tags", type=int, default=25, help="tags per seeded repository (browse)")
    add("--page-size", type=int, default=10, help="n= page size for catalog and tags list (browse)")
    add("--request-timeout", type=float, default=60.0, help="seconds before a request counts as failed")
    add("--no-cleanup", action="store_true", default=False, help="keep what the run pushed")
    add("--pre-seeded", action="store_true", default=False,
        help="the target already holds what the profile reads (a read-only mirror, a static layout): push nothing")
    add("--resolve-requests", default="head,get,tags", help="resolve profile: which of head,get,tags each user sends")
    add("--allow-remote", action="store_true", default=False, help="allow a target that is not loopback")
    add("--summary-dir", default="", help="where details.json / summary.json go (default results/load/<profile>)")
    add("--profile-name", default="", help="label of the run in the summary (default the profile)")
    add("--max-failure-ratio", type=float, default=slo.DEFAULT_MAX_FAILURE_RATIO,
        help="gate: highest allowed failed/total HTTP requests (default 0: any failure fails the run)")
    add("--max-p95-ms", type=float, default=None, help="gate: highest allowed p95 latency of HTTP requests (ms)")
    add("--max-p99-ms", type=float, default=None, help="gate: highest allowed p99 latency of HTTP requests (ms)")
    add("--min-rps", type=float, default=None, help="gate: lowest allowed HTTP requests per second")
    add("--min-mbps", type=float, default=None, help="gate: lowest allowed MB/s (10^6 bytes) sent + received")


# -- the base user -------------------------------------------------------------------------------

class RegistryUser(User):
    """A user talking to the registry through the shared client over a MeasuredSession.

    Every HTTP request is reported with its endpoint template as name (body download included,
    sub-millisecond resolution); whole operations and times to first byte as their own entries.
    """

    abstract = True
    profile = "registry"
    wait_time = constant(0)

    def __init__(self, environment) -> None:
        super().__init__(environment)
        configure(environment)
        self.settings: Settings = STATE.settings  # type: ignore[assignment]
        self.session = MeasuredSession(self.emit)
        self.client = RegistryClient(STATE.target, self.session, timeout=self.settings.request_timeout)
        self.client.on_token = self._on_token
        self.measure = Measure(self.session, self.emit)
        self.user_id = f"{os.getpid()}-{next(_USER_IDS)}"
        self.rng = random.Random()
        self.count = 0

    def emit(self, request_type: str, name: str, response_time: float, received: int = 0, sent: int = 0,
             error: str | None = None) -> None:
        """Report one HTTP request to Locust (and so to the high-resolution recorder); whole operations
        and times to first byte go to the recorder only, so Locust's tables and "Aggregated" row count
        real HTTP requests and nothing else."""
        if request_type not in HTTP_METHODS:
            RECORDER.record(request_type, name, response_time, received=received, sent=sent, error=error)
            return
        self.environment.events.request.fire(
            request_type=request_type, name=name, response_time=response_time, response_length=received,
            response=None, context={"sent": sent}, exception=LoadFailure(error) if error else None,
        )

    def _on_token(self, result, elapsed_ms: float) -> None:
        self.session.relabel("GET [token]")
        if result.token is None:
            self.session.settle(f"token endpoint answered {result.status} without a token")

    @classmethod
    def seed(cls, client: RegistryClient, settings: Settings) -> list[Pushed]:
        """Push what this profile reads (master/local only); what was pushed."""
        return []

    @classmethod
    def prepare(cls, settings: Settings) -> None:
        """Compute what every process needs to know (digests of seeded images) without pushing."""

    @classmethod
    def started(cls, environment, client: RegistryClient, settings: Settings) -> None:
        """Hook after seeding on master/local (the herd publisher starts here)."""


class SeededPullUser(RegistryUser):
    """A user pulling the images seeded at test start, one per ``--image-size`` label (pull and mixed profiles).

    Abstract, so Locust never runs it by itself; a profile adds the tasks and calls ``pull_one``.
    """

    abstract = True

    @classmethod
    def seed(cls, client: RegistryClient, settings: Settings) -> list[Pushed]:
        return seeding.seed_pull_images(client, settings.run_id, settings.repo_prefix,
                                        size_labels(settings.image_size))

    @classmethod
    def prepare(cls, settings: Settings) -> None:
        for label in size_labels(settings.image_size):
            seeded_image(settings.run_id, label, settings.repo_prefix)

    def pull_one(self) -> None:
        """One whole-image pull (manifest HEAD and GET, config, layers, every byte verified) of a drawn size."""
        label = pick_size(self.settings.image_size, self.rng)
        pull_image(self.client, self.measure, seeded_image(self.settings.run_id, label, self.settings.repo_prefix))


# -- configuration and roles ---------------------------------------------------------------------

def is_worker(environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def configure(environment) -> None:
    """Parse the target (``--host``) and settings once per process; a bad one is a fatal error."""
    if STATE.settings is not None:
        return
    options = environment.parsed_options
    STATE.settings = Settings.from_options(options)
    target = target_from_env(target=environment.host) if environment.host else None
    if target is None:
        raise TargetError("no target: pass --host http://host:port")
    if not target.is_loopback() and not options.allow_remote:
        raise TargetError(f"target {target.base_url} is not loopback: add --allow-remote to load it")
    STATE.target = target


def _profile_classes(environment) -> list[type[RegistryUser]]:
    return [cls for cls in environment.user_classes if issubclass(cls, RegistryUser)]


def profile_name(environment) -> str:
    options = environment.parsed_options
    if getattr(options, "profile_name", ""):
        return options.profile_name
    names = sorted({cls.profile for cls in _profile_classes(environment)})
    return "+".join(names) or "registry"


def fatal(environment, message: str) -> None:
    """Stop the run as a configuration error (exit code 2) with a one-line reason."""
    if STATE.fatal is None:
        STATE.fatal = message
        log.error("%s", message)
        environment.process_exit_code = 2
        if environment.runner is not None:
            gevent.spawn(environment.runner.quit)


def plain_client() -> RegistryClient:
    """An unmeasured client for seeding and cleanup."""
    return RegistryClient(STATE.target, timeout=STATE.settings.request_timeout if STATE.settings else 60.0)


@events.init.add_listener
def _on_init(environment, **_kw) -> None:
    """Validate the target and seed (master/local), before Locust's run-time clock starts."""
    gevent.spawn(_sample_cpu, environment)
    if is_worker(environment):
        _prepare_early(environment)
        return
    if isinstance(environment.runner, MasterRunner):
        # Locust's master quits half a second after telling workers to quit, and a worker's last report
        # often comes later: before quitting, the master stops the workers and waits for their final figures.
        runner = environment.runner
        quit_now = runner.quit

        def graceful_quit() -> None:
            _collect_final_reports(environment)
            quit_now()

        runner.quit = graceful_quit
    try:
        configure(environment)
    except (TargetError, ValueError) as exc:
        sys.stderr.write(f"registry-load: {exc}\n")
        sys.exit(2)
    _seed(environment)


def _seed(environment) -> None:
    """Push what the profiles read; a failure ends the process (exit 1) naming status, reason and request."""
    settings = STATE.settings
    client = plain_client()
    started = time.monotonic()
    try:
        for cls in _profile_classes(environment):
            if not settings.pre_seeded:
                STATE.pushed.extend(cls.seed(client, settings))
            cls.prepare(settings)
    except Exception as exc:  # noqa: BLE001 - any seeding failure ends the run: the registry misbehaved
        cause = seeding.failure_cause(exc)
        sys.stderr.write(f"registry-load: seeding failed: {cause}\n")
        seeding.write_failure(results_dir(environment), cause)
        _cleanup()
        sys.exit(1)
    log.info("seeded %d images in %.1fs (run id %s)", len(STATE.pushed), time.monotonic() - started,
             settings.run_id)


@events.test_start.add_listener
def _on_test_start(environment, **_kw) -> None:
    RECORDER.__init__()
    STATE.cpu_started = cpu_seconds()
    STATE.stopped = False
    STATE.final_reports.clear()
    STATE.per_worker.clear()
    try:
        configure(environment)
    except (TargetError, ValueError) as exc:
        fatal(environment, f"configuration: {exc}")
        return
    settings = STATE.settings
    classes = _profile_classes(environment)
    if is_worker(environment):
        for cls in classes:
            cls.prepare(settings)
        return
    for cls in classes:
        cls.started(environment, plain_client(), settings)


@events.test_stopping.add_listener
def _on_test_stopping(environment, **_kw) -> None:
    for greenlet in STATE.greenlets:
        greenlet.kill(block=False)
    STATE.greenlets.clear()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, exception=None, context=None, **_kw) -> None:
    sent = (context or {}).get("sent", 0) if isinstance(context, dict) else 0
    RECORDER.record(request_type, name, float(response_time or 0.0), received=int(response_length or 0),
                    sent=int(sent or 0), error=None if exception is None else str(exception))


@events.reset_stats.add_listener
def _on_reset_stats(**_kw) -> None:
    RECORDER.__init__()


@events.report_to_master.add_listener
def _on_report_to_master(client_id, data, **_kw) -> None:
    data[REPORT_KEY] = {**RECORDER.drain(), "final": STATE.stopped}


@events.worker_report.add_listener
def _on_worker_report(client_id, data, **_kw) -> None:
    STATE.workers.add(client_id)
    report = data.get(REPORT_KEY) or {}
    RECORDER.merge_dict(report)
    STATE.per_worker[client_id] = STATE.per_worker.get(client_id, 0) + sum(
        int((entry.get("latency") or {}).get("count") or 0) for entry in report.get("entries") or []
        if entry.get("request_type") in HTTP_METHODS)
    if report.get("final"):
        STATE.final_reports.add(client_id)


def process_label(environment) -> str:
    """``worker-PID``, ``master-PID`` or ``local-PID``: how the summary names this generator process."""
    role = "worker" if is_worker(environment) else "master" if isinstance(environment.runner, MasterRunner) else "local"
    return f"{role}-{os.getpid()}"


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used so far."""
    return time.process_time()


def _note_cpu_seconds(environment) -> None:
    if STATE.cpu_started is not None:
        RECORDER.note_cpu_seconds(process_label(environment), cpu_seconds() - STATE.cpu_started)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kw) -> None:
    _note_cpu_seconds(environment)
    if is_worker(environment) and not STATE.stopped:
        STATE.stopped = True
        send = getattr(environment.runner, "_send_stats", None)
        if send is not None:
            send()  # the final report, at once: the master waits for it (bounded) before judging


def _prepare_early(environment) -> None:
    """A worker forked by ``--processes`` has the run's options already: compute the seeded images now,
    before the run-time clock starts (remote workers learn the settings with their first spawn message)."""
    options = environment.parsed_options
    if not getattr(options, "run_id", None) or not environment.host:
        return
    try:
        configure(environment)
        for cls in _profile_classes(environment):
            cls.prepare(STATE.settings)
    except (TargetError, ValueError):
        STATE.settings = STATE.target = None  # judged again, with the master's settings, at test start


def _collect_final_reports(environment) -> None:
    """Tell every worker to quit and wait (bounded) for each one's final report before the master quits.

    "quit" rather than "stop": a worker that stops says so first and the master forgets it, dropping
    the report that follows; a worker that quits sends its last report while still known.
    """
    runner = environment.runner
    if runner.state not in (STATE_RUNNING, STATE_SPAWNING):
        return
    workers = [client.id for client in runner.clients.all]
    log.info("stopping %d workers and collecting their final figures", len(workers))
    for worker in workers:
        runner.server.send_to_client(Message("quit", None, worker))
    deadline = time.monotonic() + FINAL_REPORT_WAIT
    while time.monotonic() < deadline and not set(workers) <= STATE.final_reports:
        gevent.sleep(0.1)
    missing = set(workers) - STATE.final_reports
    if missing:
        log.warning("no final report from %d worker(s) after %.0fs: their last figures may be missing",
                    len(missing), FINAL_REPORT_WAIT)


def _sample_cpu(environment) -> None:
    """Sample this process's CPU while users run; warn once when it stays above 90% of a core."""
    process = psutil.Process()
    label = process_label(environment)
    process.cpu_percent(None)
    hot = 0
    warned = False
    while True:
        gevent.sleep(CPU_SAMPLE_SECONDS)
        percent = process.cpu_percent(None)
        runner = environment.runner
        if runner is None or runner.state not in (STATE_RUNNING, STATE_SPAWNING):
            continue
        _note_cpu_seconds(environment)
        if isinstance(runner, MasterRunner):
            RECORDER.note_cpu(label, percent)
            continue
        RECORDER.note_cpu(label, percent)
        hot = hot + 1 if percent > CPU_WARN_PERCENT else 0
        if hot >= CPU_WARN_SAMPLES and not warned:
            warned = True
            log.warning("load generator %s at %.0f%% CPU: it, not the registry, may be the limit; "
                        "add --processes N or more workers", label, percent)


# -- the end -------------------------------------------------------------------------------------

def results_dir(environment) -> Path:
    options = environment.parsed_options
    folder = getattr(options, "summary_dir", "") or f"{DEFAULT_RESULTS}/{profile_name(environment)}"
    return Path(folder)


def run_context(environment) -> dict:
    """What the summary says about the run itself (never a credential)."""
    options = environment.parsed_options
    settings = STATE.settings
    return {
        "profile": profile_name(environment),
        "target": STATE.target.base_url if STATE.target else environment.host,
        "run_id": settings.run_id if settings else None,
        "users": getattr(options, "num_users", None),
        "spawn_rate": getattr(options, "spawn_rate", None),
        "run_time_s": getattr(options, "run_time", None),
        "shape": type(environment.shape_class).__name__ if environment.shape_class else None,
        "workers": len(STATE.workers),
        "requests_per_worker": dict(sorted(STATE.per_worker.items())),
        "settings": {
            "image_size": settings.image_size, "push_mode": settings.push_mode, "push_repo": settings.push_repo,
            "chunk_size": settings.chunk_size, "herd_interval": settings.herd_interval,
            "browse_repos": settings.browse_repos, "browse_tags": settings.browse_tags,
            "page_size": settings.page_size,
        } if settings else {},
        "fatal": STATE.fatal,
    }


@events.quitting.add_listener
def _on_quitting(environment, **_kw) -> None:
    for greenlet in STATE.greenlets:
        greenlet.kill(block=False)
    if not is_worker(environment):
        _judge_and_write(environment)
    _cleanup()


def _judge_and_write(environment) -> None:
    details = summary.build(RECORDER, run_context(environment))
    thresholds = slo.thresholds_from(vars(environment.parsed_options))
    results = slo.evaluate(details["totals"], thresholds)
    details["gates"] = [r.to_dict() for r in results]
    path = summary.write(details, results_dir(environment))
    totals = details["totals"]
    log.info("registry-harness: %d requests, %d failed, %.1f req/s, %.2f MB/s, p50 %s ms, p95 %s ms, p99 %s ms",
             totals["requests"], totals["failures"], totals["rps"], totals["mb_per_s"],
             totals["p50_ms"], totals["p95_ms"], totals["p99_ms"])
    for result in results:
        (log.info if result.passed else log.error)("%s", result.line())
    if details["generator_bound"]:
        log.warning("the load generator was CPU-bound (see generator_cpu in %s): add --processes N or workers",
                    path)
    log.info("summary written to %s", path)
    if STATE.fatal:
        environment.process_exit_code = 2
    else:
        environment.process_exit_code = 0 if all(r.passed for r in results) else 1


def _cleanup() -> None:
    if not STATE.pushed or STATE.target is None or (STATE.settings and not STATE.settings.cleanup):
        return
    pushed, STATE.pushed = STATE.pushed, []
    done, failed = seeding.cleanup(plain_client(), pushed)
    log.info("cleanup: %d deletions, %d failed", done, failed)
