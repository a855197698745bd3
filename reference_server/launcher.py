"""Start the reference registry for tests and tools.

``start_server(args)`` runs ``python -m reference_server`` in a subprocess on a free loopback
port; ``serve_in_thread(app)`` runs any aiohttp app (for instance the registry wrapped in a
deliberately broken middleware) on a free loopback port in a background thread, with the same
connection handling as the server's command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from aiohttp import web

from reference_server.connections import serve_app
from registry_harness.processes import stop_process

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class ServerStartError(RuntimeError):
    """The server did not announce its address in time, or exited first."""


class ServerProcess:
    """A running ``python -m reference_server`` subprocess and the URL it listens on."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, stderr_path: str) -> None:
        self.process = process
        self.url = url.rstrip("/")
        self.host_port = self.url.split("://", 1)[1]
        self._stderr_path = stderr_path

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.process.pid

    def stderr_text(self) -> str:
        """Everything the server wrote to stderr so far (logs, tracebacks)."""
        with open(self._stderr_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait (SIGKILL after ``timeout``); return the exit code."""
        code = stop_process(self.process, timeout)
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL, the way a crash would end it, and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)
        self._close()

    def _close(self) -> None:
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self._stderr_path)


def _read_first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    fd = process.stdout.fileno()
    try:
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise ServerStartError(f"no address announced within {timeout:.0f}s")
            chunk = os.read(fd, 1)
            if not chunk:
                raise ServerStartError(f"server exited with {process.wait(STOP_TIMEOUT)} before listening")
            line += chunk
    finally:
        selector.close()
    return line.decode().strip()


def _open_file_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return apply


def start_server(args: Sequence[str], env: Mapping[str, str] | None = None,
                 timeout: float = STARTUP_TIMEOUT, open_files: int | None = None) -> ServerProcess:
    """Run ``python -m reference_server ARGS --listen 127.0.0.1:0`` and wait for its address;
    ``open_files`` sets the server's open-file limit (soft and hard).

    Raises ServerStartError (with the server's stderr) when it exits or stays silent.
    """
    command = [sys.executable, "-m", "reference_server", *args]
    if "--listen" not in args:
        command += ["--listen", "127.0.0.1:0"]
    fd, stderr_path = tempfile.mkstemp(prefix="reference-registry-", suffix=".log")
    with os.fdopen(fd, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr,
                                   env=dict(env) if env is not None else None,
                                   preexec_fn=_open_file_limit(open_files) if open_files else None)
    try:
        line = _read_first_line(process, timeout)
        if not line.startswith("listening on "):
            raise ServerStartError(f"unexpected first line: {line!r}")
    except ServerStartError as exc:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
        with open(stderr_path, encoding="utf-8", errors="replace") as handle:
            log = handle.read()
        os.unlink(stderr_path)
        raise ServerStartError(f"{exc}\ncommand: {' '.join(command)}\nstderr:\n{log[-4000:]}") from None
    return ServerProcess(process, line.removeprefix("listening on "), stderr_path)


@contextlib.contextmanager
def serve_in_thread(app: web.Application, host: str = "127.0.0.1",
                    timeout: float = STARTUP_TIMEOUT) -> Iterator[str]:
    """Serve ``app`` on a free port of ``host`` in a background thread; yield its base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def start() -> web.AppRunner:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, 0))
        runner, _ = await serve_app(app, sock)
        state["url"] = f"http://{host}:{sock.getsockname()[1]}"
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            state["runner"] = loop.run_until_complete(start())
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            state["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(state["runner"].cleanup())  # type: ignore[union-attr]
        loop.close()

    thread = threading.Thread(target=run, name="registry-app", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise ServerStartError(f"app did not start within {timeout:.0f}s")
    if "error" in state:
        raise ServerStartError(f"app failed to start: {state['error']!r}")
    try:
        yield str(state["url"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
