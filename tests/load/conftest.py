"""Fixtures for the load-profile tests: a reference server, and a runner for ``python -m load``.

Locust is never imported here: every load run is a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reference_server.launcher import start_server

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 150


@dataclass
class LoadRun:
    """A finished ``python -m load`` run: exit code, output and the files it wrote."""

    returncode: int
    stdout: str
    stderr: str
    folder: Path

    @property
    def details(self) -> dict:
        return json.loads((self.folder / "details.json").read_text())

    def entry(self, name: str) -> dict:
        matches = [e for e in self.details["entries"] if e["name"] == name]
        assert matches, f"no entry {name!r} in {[e['name'] for e in self.details['entries']]}"
        return matches[0]


@pytest.fixture(scope="session")
def registry_url() -> Iterator[str]:
    """The reference server on a loopback port (memory storage), shared by this session's tests."""
    with start_server(["--storage", "memory"]) as server:
        yield server.url


def run_module(module: str, args: list[str], timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)


@pytest.fixture
def run_load(tmp_path: Path) -> Callable[..., LoadRun]:
    """Run ``python -m load ARGS --results-dir TMP`` (quiet, bounded) and return what it left.

    One generator process unless the test asks for more (``--processes``): the default of one per core
    is covered by its own tests, and single-process runs stay cheap on a machine the tests share."""

    def run(*args: str) -> LoadRun:
        folder = tmp_path / "results"
        single = [] if "--processes" in args or "--master" in args else ["--processes", "1"]
        done = run_module("load", [*args, *single, "--quiet", "--results-dir", str(folder)])
        return LoadRun(done.returncode, done.stdout, done.stderr, folder)

    return run
