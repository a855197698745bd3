"""The baselines the reference server is compared with: nginx serving a file, a bare aiohttp handler,
and hashing plus writing the same bytes in-process.

Run as ``python -m benchmarks.baselines --listen 127.0.0.1:0 --body FILE --headers FILE`` to serve
the bare aiohttp handler (it prints ``listening on http://127.0.0.1:PORT`` when ready).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from aiohttp import web

from benchmarks.processes import BenchError, background, tail
from registry_harness.processes import free_port

READY_TIMEOUT = 20.0


# -- in-process: hash and write the same bytes to the same disk ---------------------------------

def hash_and_write(chunks: Iterable[bytes], path: str | os.PathLike) -> str:
    """sha256 every chunk while writing it to ``path``, then fsync: the floor cost of storing an upload."""
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        for chunk in chunks:
            hasher.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    return f"sha256:{hasher.hexdigest()}"


# -- nginx serving a directory with sendfile -----------------------------------------------------

def nginx_binary() -> str | None:
    """Path of Debian's nginx, or None."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def nginx_config(docroot: str | os.PathLike, port: int, prefix: str | os.PathLike, http_extra: str = "",
                 server_extra: str = "") -> str:
    """An nginx config: one worker, sendfile on, 127.0.0.1:``port``, every path and temp file under ``prefix``;
    ``http_extra`` / ``server_extra`` are added to the http and server blocks (maps, locations)."""
    prefix = Path(prefix)
    temp = prefix / "temp"
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, nginx would otherwise drop to nobody
    temps = "\n".join(f"  {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                        "uwsgi", "scgi"))
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} error;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        "  access_log off;\n"
        "  sendfile on;\n"
        "  tcp_nopush on;\n"
        "  keepalive_requests 1000000;\n"
        f"{temps}\n{http_extra}"
        f"  server {{\n    listen 127.0.0.1:{port};\n    root {docroot};\n{server_extra}  }}\n"
        "}\n"
    )


@contextlib.contextmanager
def start_nginx(docroot: str | os.PathLike, workdir: str | os.PathLike,
                timeout: float = READY_TIMEOUT, http_extra: str = "", server_extra: str = "",
                pin: Sequence[str] = ()) -> Iterator[str]:
    """Serve ``docroot`` with nginx on a free loopback port; yield ``http://127.0.0.1:PORT``.
    ``pin`` prefixes the command (``taskset -c 0``) to keep nginx on chosen cores."""
    binary = nginx_binary()
    if binary is None:
        raise BenchError("nginx is not installed (apt-get install nginx-light)")
    prefix = Path(workdir) / "nginx"
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(docroot, port, prefix, http_extra, server_extra))
    argv = [*pin, binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"), "-g", "daemon off;"]
    with background(argv, prefix / "stdout.log") as process:
        url = f"http://127.0.0.1:{port}"
        wait_port(port, timeout, process, prefix / "error.log")
        yield url


def wait_port(port: int, timeout: float, process: object = None, log: Path | None = None) -> None:
    """Wait (bounded) until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:  # type: ignore[attr-defined]
            raise BenchError(f"server exited before listening on port {port}: {tail(log) if log else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


# -- the bare aiohttp handler ----------------------------------------------------------------------

def bare_app(body: bytes, headers: Mapping[str, str]) -> web.Application:
    """An aiohttp app answering every GET with ``body`` and ``headers``: the floor for a manifest GET."""
    fixed = dict(headers)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=fixed)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


@contextlib.contextmanager
def start_bare_aiohttp(body: bytes, headers: Mapping[str, str], workdir: str | os.PathLike,
                       timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """Run the bare handler in its own process (as the reference server runs); yield its base URL."""
    directory = Path(workdir) / "bare-aiohttp"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "body").write_bytes(body)
    (directory / "headers.json").write_text(json.dumps(dict(headers)))
    argv = [sys.executable, "-m", "benchmarks.baselines", "--listen", "127.0.0.1:0",
            "--body", str(directory / "body"), "--headers", str(directory / "headers.json")]
    root = Path(__file__).resolve().parent.parent
    with background(argv, directory / "stdout.log", ready_line="listening on ", timeout=timeout, cwd=root):
        line = next(line for line in (directory / "stdout.log").read_text().splitlines()
                    if line.startswith("listening on "))
        yield line.split()[-1]


async def _serve(host: str, port: int, app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"listening on http://{host}:{bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bare aiohttp handler serving fixed bytes (benchmark baseline).")
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (loopback only)")
    parser.add_argument("--body", required=True, help="file with the response body")
    parser.add_argument("--headers", required=True, help="JSON file with the response headers")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    app = bare_app(Path(args.body).read_bytes(), json.loads(Path(args.headers).read_text()))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(host, int(port), app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
