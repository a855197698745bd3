"""The REQUIRE_PEERS rule: a missing peer skips with a one-line reason, or fails the run when peers are required."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers.support import REQUIRE_ENV, peers_required, require_module, require_tool

ROOT = Path(__file__).resolve().parents[2]


def test_missing_tool_skips_with_its_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no-such-peer is not installed \(apt-get install pkg\)$"):
        require_tool("no-such-peer", "pkg")


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_missing_tool_fails_when_peers_are_required(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(REQUIRE_ENV, value)
    assert peers_required()
    with pytest.raises(pytest.fail.Exception, match="required peer missing"):
        require_tool("no-such-peer")
    with pytest.raises(pytest.fail.Exception, match=r"pip install no-such-dist"):
        require_module("no_such_module_here", "no-such-dist")


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_peers_are_optional_unless_asked_for(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(REQUIRE_ENV, value)
    assert not peers_required()


def run_without_tools(required: bool) -> subprocess.CompletedProcess:
    """Run the skopeo tests with an empty PATH, as on a machine where the peers were never installed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", REQUIRE_ENV))}
    env["PATH"] = str(ROOT / "no-tools-here")
    if required:
        env[REQUIRE_ENV] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:xdist", "tests/peers/test_skopeo.py"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)


def test_a_machine_without_peers_skips_and_ci_fails() -> None:
    relaxed = run_without_tools(required=False)
    assert relaxed.returncode == 0, relaxed.stdout[-2000:]
    reasons = [line for line in relaxed.stdout.splitlines() if line.startswith("SKIPPED")]
    assert reasons and all(line.endswith("skopeo is not installed (apt-get install skopeo)") for line in reasons)

    strict = run_without_tools(required=True)
    assert strict.returncode == 1, strict.stdout[-2000:]
    assert "required peer missing (REQUIRE_PEERS=1): skopeo is not installed" in strict.stdout
