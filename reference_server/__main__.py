"""Command line: ``python -m reference_server --listen 127.0.0.1:5000 --root DIR [switches]``.

The first line of stdout is ``listening on http(s)://HOST:PORT`` (flushed), also when
``--listen 127.0.0.1:0`` lets the system choose the port.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import ssl
import sys
from pathlib import Path

from reference_server.allocator import tune_allocator
from reference_server.app import create_app
from reference_server.auth import settings as auth_settings
from reference_server.config import (
    DEFAULT_MAX_MANIFEST_BYTES,
    DEFAULT_MAX_UPLOADS,
    DEFAULT_MAX_UPLOADS_PER_REPO,
    DEFAULT_UPLOAD_TTL,
    ServerConfig,
)
from reference_server.connections import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    ConnectionLimits,
    serve_app,
)
from reference_server.hosted import DEFAULT_BLOB_HOST


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's options (feature switches map one to one onto ServerConfig)."""
    parser = argparse.ArgumentParser(prog="reference-registry", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 5000),
                        help="HOST:PORT to bind (default 127.0.0.1:5000; port 0 picks a free one)")
    parser.add_argument("--root", type=Path, default=Path("./data"), help="filesystem storage root")
    parser.add_argument("--storage", choices=("filesystem", "memory"), default="filesystem")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate: serve https")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.add_argument("--no-delete", action="store_true", help="DELETE answers 405 UNSUPPORTED")
    parser.add_argument("--read-only", action="store_true", help="every write answers 405 UNSUPPORTED")
    parser.add_argument("--no-referrers", action="store_true", help="referrers API 404, no OCI-Subject")
    parser.add_argument("--no-catalog", action="store_true", help="_catalog answers 404")
    parser.add_argument("--schema1-compat", action="store_true",
                        help="rewrite schema2 as signed schema1 for clients not accepting schema2")
    parser.add_argument("--max-manifest-bytes", type=int, default=DEFAULT_MAX_MANIFEST_BYTES)
    parser.add_argument("--chunk-min-length", type=int, default=None,
                        help="advertise OCI-Chunk-Min-Length on upload POST answers")
    parser.add_argument("--upload-ttl", type=float, default=DEFAULT_UPLOAD_TTL,
                        help="seconds of inactivity before an upload session expires")
    parser.add_argument("--max-uploads", type=int, default=DEFAULT_MAX_UPLOADS, metavar="N",
                        help=f"open upload sessions in total; more are 429 (default {DEFAULT_MAX_UPLOADS}, 0: no cap)")
    parser.add_argument("--max-uploads-per-repo", type=int, default=DEFAULT_MAX_UPLOADS_PER_REPO, metavar="N",
                        help="open upload sessions per repository; more are 429 "
                             f"(default {DEFAULT_MAX_UPLOADS_PER_REPO}, 0: no cap)")
    parser.add_argument("--max-connections", type=int, default=None, metavar="N",
                        help="open connections kept; at the cap the least recently used idle one is closed "
                             "(default: the open-file limit less a reserve of 1/8, at least 256)")
    parser.add_argument("--keepalive-timeout", type=float, default=DEFAULT_KEEPALIVE_TIMEOUT, metavar="SECONDS",
                        help=f"close a connection idle this long (default {DEFAULT_KEEPALIVE_TIMEOUT:g})")
    parser.add_argument("--header-timeout", type=float, default=DEFAULT_HEADER_TIMEOUT, metavar="SECONDS",
                        help="close a connection whose request head is not complete this long after its "
                             f"first byte, or whose TLS handshake takes longer (default {DEFAULT_HEADER_TIMEOUT:g})")
    parser.add_argument("--redirect-blobs", nargs="?", const=DEFAULT_BLOB_HOST, default=None, metavar="HOST",
                        help="answer blob GET/HEAD with 307 to presigned URLs on a second listener on HOST "
                             f"(default {DEFAULT_BLOB_HOST}), as object storage behind a hosted registry")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="N",
                        help="allow N requests per second per client address; beyond: 429 TOOMANYREQUESTS "
                             "with Retry-After")
    auth_settings.add_arguments(parser)  # --auth htpasswd:FILE | token[:ACCESSFILE], --token-ttl
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def limits_from_args(args: argparse.Namespace) -> ConnectionLimits:
    """Map parsed options onto the connection limits."""
    if args.max_connections is not None and args.max_connections < 1:
        raise argparse.ArgumentTypeError("--max-connections must be at least 1")
    if args.keepalive_timeout <= 0 or args.header_timeout <= 0:
        raise argparse.ArgumentTypeError("--keepalive-timeout and --header-timeout must be positive")
    return ConnectionLimits(args.max_connections, args.keepalive_timeout, args.header_timeout)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Map parsed options onto a ServerConfig."""
    return ServerConfig(
        root=args.root,
        storage=args.storage,
        delete_enabled=not args.no_delete,
        read_only=args.read_only,
        referrers_enabled=not args.no_referrers,
        catalog_enabled=not args.no_catalog,
        schema1_compat=args.schema1_compat,
        max_manifest_bytes=args.max_manifest_bytes,
        chunk_min_length=args.chunk_min_length,
        upload_ttl=args.upload_ttl,
        max_uploads=args.max_uploads,
        max_uploads_per_repo=args.max_uploads_per_repo,
        auth=auth_settings.from_arguments(args),
        redirect_blobs=args.redirect_blobs,
        rate_limit=args.rate_limit if args.rate_limit and args.rate_limit > 0 else None,
    )


async def serve(args: argparse.Namespace) -> None:
    """Bind, announce the address on stdout, serve until SIGTERM/SIGINT."""
    app = create_app(config_from_args(args))
    host, port = args.listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    access_log = logging.getLogger("aiohttp.access") if args.access_log else None
    runner, _ = await serve_app(app, sock, limits_from_args(args), ssl_context=ssl_context, access_log=access_log)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    print(f"listening on {'https' if ssl_context else 'http'}://{shown}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``reference-registry`` and ``python -m reference_server``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.access_log:
        logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("--tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        limits_from_args(args)
    except argparse.ArgumentTypeError as exc:
        print(exc, file=sys.stderr)
        return 2
    tune_allocator()
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except auth_settings.PasswordFileError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
