"""Run-wide settings of a conformance run: which target, which switches, and is it reachable.

Shared by the pytest plugin and the CLI so both resolve ``--target``/``TARGET``/``OCI_*`` the
same way, and so the CLI can reject an unusable target with one line before pytest starts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from registry_harness.reports.expectations import Expectations
from registry_harness.target import Target, TargetError, probe, short_cause, target_from_env

DEFAULT_RESULTS_DIR = Path("results") / "conformance"
PREFLIGHT_TIMEOUT = 10.0

# OCI conformance-suite switches (value 0/false/no/off) and the areas each one turns off.
ENV_AREA_SWITCHES: dict[str, tuple[str, ...]] = {
    "OCI_TEST_PULL": ("pull",),
    "OCI_TEST_PUSH": ("push",),
    "OCI_TEST_CONTENT_DISCOVERY": ("discovery", "referrers"),
    "OCI_TEST_CONTENT_MANAGEMENT": ("management",),
}
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigurationError(RuntimeError):
    """The run cannot start (bad target, unreachable registry, bad option); message is one line."""


@dataclass
class Settings:
    """What every check may need to know about the run (the ``settings`` fixture)."""

    target: Target | None = None
    strict: bool = False
    judge: str = "all"  # "oci": rules of the Docker document alone are warnings
    skip_cleanup: bool = False
    results_dir: Path = DEFAULT_RESULTS_DIR
    disabled: dict[str, str] = field(default_factory=dict)  # area -> why it is switched off
    run_id: str = ""
    embedded: bool = False  # the target is the embedded reference server
    expectations: Expectations | None = None  # known deviations (--expect FILE)

    def redacted(self) -> dict[str, object]:
        """The run configuration as echoed in reports: no secret ever appears."""
        return {
            "target": self.target.redacted() if self.target else None,
            "embedded_reference_server": self.embedded,
            "strict": self.strict,
            "judge": self.judge,
            "skip_cleanup": self.skip_cleanup,
            "disabled_areas": dict(self.disabled),
            "run_id": self.run_id,
            **({"expectations": self.expectations.path} if self.expectations else {}),
        }


def new_run_id() -> str:
    """A short random id that makes this run's repository names unique."""
    return secrets.token_hex(4)


def resolve_target(option: str | None, tls: str | None, env: Mapping[str, str] | None = None) -> Target | None:
    """The target from ``--target``/``--tls`` or the environment; None means "no target given".

    Raises ConfigurationError (one line) for a malformed target or TLS mode.
    """
    env = dict(os.environ if env is None else env)
    if tls:
        env["OCI_TLS"] = tls
    try:
        return target_from_env(env, target=option or None)
    except TargetError as exc:
        raise ConfigurationError(str(exc)) from None


def disabled_areas(options: Iterable[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Areas switched off by ``--disable AREA`` (comma lists allowed) and by OCI_TEST_* = 0/false."""
    from conformance.rules import AREAS

    env = os.environ if env is None else env
    result: dict[str, str] = {}
    for option in options:
        for area in filter(None, (a.strip() for a in option.split(","))):
            if area not in AREAS:
                raise ConfigurationError(f"--disable {area!r}: unknown area; choose from {', '.join(AREAS)}")
            result[area] = f"--disable {area}"
    for variable, areas in ENV_AREA_SWITCHES.items():
        if (env.get(variable) or "").strip().lower() in _FALSE:
            for area in areas:
                result.setdefault(area, f"{variable}={env[variable]}")
    return result


def preflight(target: Target, timeout: float = PREFLIGHT_TIMEOUT) -> int:
    """GET /v2/ once; return the status. Any HTTP answer counts as reachable (401 included).

    Raises ConfigurationError with one line when nothing usable answers (refused, TLS, timeout).
    """
    try:
        return probe(target, timeout)
    except TargetError as exc:
        raise ConfigurationError(str(exc)) from None


class EmbeddedServer:
    """The reference registry started for a run that names no target (memory storage, loopback)."""

    def __init__(self, args: Iterable[str] = ("--storage", "memory")) -> None:
        self.args = list(args)
        self.process = None

    def start(self) -> Target:
        try:
            from reference_server.launcher import start_server
        except ImportError as exc:
            raise ConfigurationError(
                f"no target given and the embedded reference server is unavailable ({exc}); "
                "set TARGET=host:port"
            ) from None
        try:
            self.process = start_server(self.args)
        except Exception as exc:  # noqa: BLE001 - any startup failure is a configuration error
            raise ConfigurationError(f"the embedded reference server did not start: {short_cause(exc)}") from None
        try:
            return resolve_target(self.process.url, None, env={})  # type: ignore[return-value]
        except ConfigurationError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


