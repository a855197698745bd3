"""Launchers for real peer registries on loopback (CNCF Distribution from Debian's docker-registry).

Used by the peer tests and by the side-by-side load bench: each launcher writes its own config
bound to 127.0.0.1, waits (bounded) until ``/v2/`` answers, and stops the process cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from registry_harness.processes import free_port, stop_process

DISTRIBUTION_BINARY = "docker-registry"
READY_TIMEOUT = 20.0


class PeerError(RuntimeError):
    """A peer registry could not be started (binary missing, did not become ready, …)."""


def distribution_binary() -> str | None:
    """Path of Debian's Distribution 2.x binary (``docker-registry``), or None when not installed."""
    return shutil.which(DISTRIBUTION_BINARY) or (
        "/usr/bin/docker-registry" if os.access("/usr/bin/docker-registry", os.X_OK) else None
    )


def _merge(base: dict, extra: Mapping) -> dict:
    """``base`` updated recursively with ``extra`` (nested mappings merged, other values replaced)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
    return base


def distribution_config(root: str | os.PathLike, port: int, schema1: bool = False,
                        extra_config: Mapping | None = None) -> dict:
    """The Distribution config: filesystem storage under ``root``, delete on, 127.0.0.1:``port``, no auth."""
    config: dict = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if schema1:
        config["compatibility"] = {"schema1": {"enabled": True}}
    return _merge(config, extra_config or {})


def wait_ready(url: str, timeout: float = READY_TIMEOUT, process: subprocess.Popen | None = None) -> None:
    """Poll ``url``/v2/ until it answers any HTTP status (200 or 401); raise PeerError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise PeerError(f"peer exited with status {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/v2/", timeout=2) as response:
                response.read()
                return
        except urllib.error.HTTPError as exc:
            if exc.code in (200, 401):
                return
            last = f"status {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise PeerError(f"{url} not ready after {timeout:.0f}s ({last})")


@contextlib.contextmanager
def start_distribution(tmpdir: str | os.PathLike, schema1: bool = False,
                       extra_config: Mapping | None = None,
                       ready_timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """Run Distribution 2.x (``docker-registry serve``) on a free 127.0.0.1 port; yield its base URL.

    Storage and config live under ``tmpdir`` (``distribution/``); the log goes to
    ``distribution/registry.log``. ``schema1=True`` accepts schema1 pushes
    (``compatibility.schema1.enabled``); ``extra_config`` is merged into the generated config.
    """
    binary = distribution_binary()
    if binary is None:
        raise PeerError("Distribution (docker-registry) is not installed: apt-get install docker-registry")
    workdir = Path(tmpdir) / "distribution"
    (workdir / "storage").mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = distribution_config(workdir / "storage", port, schema1, extra_config)
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
    log = open(workdir / "registry.log", "ab")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen([binary, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, ready_timeout, process)
        except PeerError as exc:
            tail = (workdir / "registry.log").read_text(errors="replace")[-2000:]
            raise PeerError(f"Distribution: {exc}\n{tail}") from exc
        yield url
    finally:
        stop_process(process)
        log.close()
