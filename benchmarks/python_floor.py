"""``python -m benchmarks.python_floor``: the least a Python client spends per request, measured as the
floor under the load generator's figures in ``make bench-load``.

``http URL``: N gevent greenlets (the load generator's concurrency model), each on a keep-alive connection
of its own, send one prebuilt request and read the answer by its Content-Length; only the status line is
looked at. ``blob URL``: as many greenlets read the blob, each on its connection, and hash every byte with
sha256, as a verifying client must; nothing else. No Locust, no client, no recording: whatever the
generator spends above these figures is the price of its checks and statistics, and a goal these figures
miss is out of any Python generator's reach on this machine. Prints one JSON line: requests, seconds, cpu_s, bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

RECV_SIZE = 64 * 1024
BLOB_BUFFER = 1024 * 1024  # larger reads, fewer hash calls: the best a loop here reached


class FloorError(Exception):
    """The server did not answer as the floor loop needs (200 with a Content-Length)."""


def _request(url: str, method: str, accept: str) -> tuple[tuple[str, int], bytes]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {accept}\r\nUser-Agent: floor\r\n\r\n"
    return (parts.hostname or "127.0.0.1", parts.port or 80), head.encode()


def _content_length(head: bytes) -> int:
    if not head.startswith(b"HTTP/1.1 200"):
        status_line = head.split(b"\r\n", 1)[0][:60]
        raise FloorError(f"answer {status_line!r}, not 200")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise FloorError("answer without Content-Length")


def http_floor(url: str, method: str, accept: str, connections: int, seconds: float) -> dict:
    """Requests answered in ``seconds`` by ``connections`` greenlets, and the CPU seconds they took."""
    import gevent
    from gevent import socket as gsocket

    address, request = _request(url, method, accept)
    counts: list[int] = []

    def loop(deadline: float) -> None:
        sock = gsocket.create_connection(address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        done, buffer = 0, b""
        while time.monotonic() < deadline:
            sock.sendall(request)
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                data = sock.recv(RECV_SIZE)
                if not data:
                    raise FloorError("connection closed")
                buffer += data
            length = 0 if method == "HEAD" else _content_length(buffer[:end])
            buffer = buffer[end + 4:]
            while len(buffer) < length:
                data = sock.recv(RECV_SIZE)
                if not data:
                    raise FloorError("connection closed inside a body")
                buffer += data
            buffer = buffer[length:]
            done += 1
        counts.append(done)
        sock.close()

    cpu, started = time.process_time(), time.monotonic()
    greenlets = [gevent.spawn(loop, started + seconds) for _ in range(connections)]
    gevent.joinall(greenlets, raise_error=True)
    return {"requests": sum(counts), "seconds": time.monotonic() - started, "cpu_s": time.process_time() - cpu,
            "bytes": 0}


def blob_floor(url: str, connections: int, repeats: int) -> dict:
    """``repeats`` whole-blob GETs on each of ``connections`` greenlets, every byte hashed; wall and CPU seconds."""
    import gevent
    from gevent import socket as gsocket

    address, request = _request(url, "GET", "*/*")
    moved: list[int] = []

    def loop() -> None:
        view = memoryview(bytearray(BLOB_BUFFER))
        with gsocket.create_connection(address) as sock:
            for _ in range(repeats):
                sock.sendall(request)
                pending = b""
                while (end := pending.find(b"\r\n\r\n")) < 0:
                    data = sock.recv(RECV_SIZE)
                    if not data:
                        raise FloorError("connection closed")
                    pending += data
                size = _content_length(pending[:end])
                digest = hashlib.sha256(pending[end + 4:])
                remaining = size - (len(pending) - end - 4)
                while remaining > 0:
                    n = sock.recv_into(view[:min(BLOB_BUFFER, remaining)])
                    if n == 0:
                        raise FloorError("connection closed inside the blob")
                    digest.update(view[:n])
                    remaining -= n
                digest.hexdigest()
                moved.append(size)

    cpu, started = time.process_time(), time.monotonic()
    gevent.joinall([gevent.spawn(loop) for _ in range(connections)], raise_error=True)
    return {"requests": len(moved), "seconds": time.monotonic() - started, "cpu_s": time.process_time() - cpu,
            "bytes": sum(moved)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python_floor", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("http", "blob"))
    parser.add_argument("url")
    parser.add_argument("--method", default="GET", choices=("GET", "HEAD"))
    parser.add_argument("--accept", default="*/*")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        if args.mode == "http":
            result = http_floor(args.url, args.method, args.accept, args.connections, args.seconds)
        else:
            result = blob_floor(args.url, args.connections, args.repeats)
    except (OSError, FloorError, ValueError) as exc:
        print(f"python_floor: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
