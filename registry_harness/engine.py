"""A private Docker engine for tests and local runs: ``dockerd`` with its own socket, data root, exec
root and pidfile under one short temporary folder, on the host network only.

It never touches the machine's own engine: no bridge, no iptables rules, no published ports, and
the socket path stays short (unix socket paths are limited to 107 bytes). Stopping it sends
SIGTERM to its PID (its process group after a bounded wait), then unmounts whatever it left under
its folder (deepest first) and removes the folder. ``python -m registry_harness.engine -- CMD``
runs CMD with ``DOCKER_HOST`` pointing at such an engine, e.g. ``make conformance``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SOCKET_NAME = "d.sock"
SOCKET_LIMIT = 107  # sun_path holds 108 bytes, the last one a NUL
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0  # dockerd waits up to 15 s for containers before it exits
COMMAND_TIMEOUT = 30.0
STORAGE_DRIVERS = ("overlay2", "vfs")  # vfs when the folder's filesystem cannot host overlay mounts
NEEDED = (("dockerd", "docker.io"), ("containerd", "containerd"), ("runc", "runc"))


class EngineError(RuntimeError):
    """The private engine could not be started; the message carries the daemon's log tail."""


@dataclass
class Engine:
    """A running private dockerd: where it listens and what it runs with."""

    root: Path
    process: subprocess.Popen
    storage_driver: str
    version: str

    @property
    def socket_path(self) -> Path:
        return self.root / SOCKET_NAME

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value of this engine."""
        return f"unix://{self.socket_path}"

    @property
    def env(self) -> dict[str, str]:
        """Environment entries that make docker clients (CLI, docker-py, docker-compose) use this engine."""
        return {"DOCKER_HOST": self.host}


def unavailable_reason() -> str | None:
    """Why a private engine cannot run on this machine (one line), or None when it can."""
    for binary, package in NEEDED:
        if shutil.which(binary) is None and not os.access(f"/usr/sbin/{binary}", os.X_OK):
            return f"{binary} is not installed (apt-get install {package})"
    if os.geteuid() != 0:
        return "a private Docker engine needs root (dockerd mounts its storage); run as root"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _log_tail(root: Path, limit: int = 3000) -> str:
    try:
        return (root / "dockerd.log").read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"


class _UnixConnection(http.client.HTTPConnection):
    """An HTTP connection over a unix socket (the engine API without any docker client library)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def api_get(socket_path: str | os.PathLike, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``path`` from the engine API at ``socket_path``; (status, body)."""
    connection = _UnixConnection(str(socket_path), timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _wait_ready(root: Path, process: subprocess.Popen, timeout: float) -> str:
    """Wait until ``/_ping`` answers OK; return the engine's version. Raise EngineError on exit or timeout."""
    import json

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineError(f"dockerd exited with status {process.returncode}:\n{_log_tail(root)}")
        if (root / SOCKET_NAME).exists():
            try:
                status, _ = api_get(root / SOCKET_NAME, "/_ping", timeout=2)
                if status == 200:
                    return json.loads(api_get(root / SOCKET_NAME, "/version", timeout=5)[1])["Version"]
                last = f"/_ping answered {status}"
            except (OSError, ValueError, KeyError) as exc:
                last = str(exc)
        time.sleep(0.1)
    raise EngineError(f"dockerd not ready after {timeout:.0f}s ({last}):\n{_log_tail(root)}")


def _launch(root: Path, driver: str) -> subprocess.Popen:
    for name in ("data", "x"):
        (root / name).mkdir(parents=True, exist_ok=True)
    log = open(root / "dockerd.log", "ab")  # noqa: SIM115 - the child holds it; closed right below
    try:
        return subprocess.Popen(
            [_binary("dockerd"), "-H", f"unix://{root / SOCKET_NAME}", "--data-root", str(root / "data"),
             "--exec-root", str(root / "x"), "--pidfile", str(root / "docker.pid"),
             "--storage-driver", driver, "--iptables=false", "--ip6tables=false", "--ip-masq=false",
             "--bridge=none", "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root, start_new_session=True,
        )
    finally:
        log.close()


def _short_root(parent: str | os.PathLike | None) -> Path:
    """A new folder whose socket path fits in a unix socket address (else one under /tmp)."""
    root = Path(tempfile.mkdtemp(prefix="rhd-", dir=parent))
    if len(str(root / SOCKET_NAME).encode()) > SOCKET_LIMIT:
        root.rmdir()
        root = Path(tempfile.mkdtemp(prefix="rhd-", dir="/tmp"))
    return root


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/self/mountinfo), deepest first."""
    prefix = str(root.resolve())
    points = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].encode().decode("unicode_escape")  # \040 for spaces and the like
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_all(root: str | os.PathLike) -> list[str]:
    """Unmount everything mounted under ``root``, deepest first (lazily when busy); return what remains."""
    root = Path(root)
    for point in _mounts_under(root):
        for args in (["umount", point], ["umount", "-l", point]):
            try:
                if subprocess.run(args, capture_output=True, timeout=COMMAND_TIMEOUT,
                                  stdin=subprocess.DEVNULL).returncode == 0:
                    break
            except (OSError, subprocess.TimeoutExpired):
                continue
    return _mounts_under(root)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the engine and the containerd it started share its session


def stop_engine(engine: Engine, timeout: float = STOP_TIMEOUT) -> None:
    """Stop the engine by its PID (SIGTERM, then SIGKILL of its process group), unmount, remove its folder."""
    _stop(engine.root, engine.process, timeout)


def _stop(root: Path, process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=timeout)
    # containerd (started by dockerd) exits with it; whatever stayed in the group goes now
    _signal_group(process, signal.SIGTERM)
    left = unmount_all(root)
    if left:
        raise EngineError(f"mounts left under {root} after stopping dockerd: {left}")
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def start_engine(parent: str | os.PathLike | None = None, drivers: Sequence[str] = STORAGE_DRIVERS,
                 ready_timeout: float = READY_TIMEOUT) -> Iterator[Engine]:
    """Start a private dockerd (first storage driver of ``drivers`` that works); stop it on exit.

    Raises EngineError (with the daemon's log) when no driver works or the engine is not ready in time.
    """
    reason = unavailable_reason()
    if reason:
        raise EngineError(reason)
    failures = []
    engine = None
    for driver in drivers:
        root = _short_root(parent)
        process = _launch(root, driver)
        try:
            engine = Engine(root, process, driver, _wait_ready(root, process, ready_timeout))
            break
        except EngineError as exc:
            failures.append(f"--storage-driver {driver}: {exc}")
            _stop(root, process, STOP_TIMEOUT)
        except BaseException:
            _stop(root, process, STOP_TIMEOUT)
            raise
    if engine is None:
        raise EngineError("the private Docker engine did not start:\n" + "\n".join(failures))
    try:
        yield engine
    finally:
        stop_engine(engine)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m registry_harness.engine [--dir DIR] -- CMD ...``: run CMD against a private engine."""
    parser = argparse.ArgumentParser(prog="python -m registry_harness.engine",
                                     description="Run a command with DOCKER_HOST set to a private Docker engine "
                                                 "(root only; host network, loopback registries).")
    parser.add_argument("--dir", default=None, help="parent folder of the engine's files (default: the temp folder)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run (after --)")
    options = parser.parse_args(argv)
    command = [c for c in options.command if c != "--"] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("give a command to run, e.g. -- make conformance")
    try:
        with start_engine(options.dir) as engine:
            print(f"private Docker engine {engine.version} ({engine.storage_driver}): DOCKER_HOST={engine.host}",
                  file=sys.stderr)
            return subprocess.call(command, env={**os.environ, **engine.env})
    except EngineError as exc:
        print(f"registry_harness.engine: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
