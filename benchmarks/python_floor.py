"""``python -m benchmarks.python_floor``: the least a Locust-driven Python client can spend, measured as the
floor under the load generator's figures in ``make bench-load``.

``http URL``: N Locust users (the generator's engine), each on a keep-alive connection of its own and in
one task that never returns, send one prebuilt request after another, read each answer by its
Content-Length and record it in Locust's statistics; only the status line is looked at (``--bare``:
plain greenlets, no Locust at all). ``sha256``: the bytes of a blob, already in memory, hashed as a
verifying client must, with nothing received. Whatever the generator spends above these figures is the
price of its checks, its client and its own statistics; a goal these figures miss is out of reach of any
generator built on Locust (http) or that verifies every byte (sha256) on this machine. Prints one JSON
line: requests, seconds, cpu_s, bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

RECV_SIZE = 64 * 1024
HASH_CHUNK = 1024 * 1024  # what a streaming client hands hashlib at a time


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


class _Connection:
    """One keep-alive connection that sends the prebuilt request and reads one answer per call."""

    def __init__(self, address: tuple[str, int], request: bytes, head_only: bool) -> None:
        from gevent import socket as gsocket

        self.sock = gsocket.create_connection(address, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request, self.head_only, self.buffer = request, head_only, b""

    def exchange(self) -> int:
        """Send the request, read its answer; the answer's length."""
        sock, buffer = self.sock, self.buffer
        sock.sendall(self.request)
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            data = sock.recv(RECV_SIZE)
            if not data:
                raise FloorError("connection closed")
            buffer += data
        length = 0 if self.head_only else _content_length(buffer[:end])
        buffer = buffer[end + 4:]
        while len(buffer) < length:
            data = sock.recv(RECV_SIZE)
            if not data:
                raise FloorError("connection closed inside a body")
            buffer += data
        self.buffer = buffer[length:]
        return length


def bare_floor(url: str, method: str, accept: str, connections: int, seconds: float) -> dict:
    """Requests answered in ``seconds`` by ``connections`` plain greenlets, and the CPU seconds they took."""
    import gevent

    address, request = _request(url, method, accept)
    counts: list[int] = []

    def loop(deadline: float) -> None:
        connection, done = _Connection(address, request, method == "HEAD"), 0
        while time.monotonic() < deadline:
            connection.exchange()
            done += 1
        counts.append(done)
        connection.sock.close()

    cpu, started = time.process_time(), time.monotonic()
    gevent.joinall([gevent.spawn(loop, started + seconds) for _ in range(connections)], raise_error=True)
    return {"requests": sum(counts), "seconds": time.monotonic() - started, "cpu_s": time.process_time() - cpu,
            "bytes": 0}


def locust_floor(url: str, method: str, accept: str, users: int, seconds: float) -> dict:
    """Requests answered in ``seconds`` by ``users`` Locust users, each recorded in Locust's statistics."""
    import gevent
    from locust import User, constant, task
    from locust.env import Environment

    address, request = _request(url, method, accept)
    name, failures = urlsplit(url).path, []

    class Floor(User):
        wait_time = constant(0)

        def on_start(self) -> None:
            self.connection = _Connection(address, request, method == "HEAD")
            self.fire = self.environment.events.request.fire

        @task
        def requests(self) -> None:
            # one task runs every request, so Locust's task loop costs nothing per request: the best
            # case for any design on Locust, which still records each request in its statistics
            exchange, fire, clock = self.connection.exchange, self.fire, time.perf_counter
            while True:
                started = clock()
                try:
                    length = exchange()
                except (OSError, FloorError) as exc:
                    failures.append(exc)
                    raise gevent.GreenletExit from None
                fire(request_type=method, name=name, response_time=(clock() - started) * 1000,
                     response_length=length, exception=None, context={})

    environment = Environment(user_classes=[Floor])
    runner = environment.create_local_runner()
    cpu, started = time.process_time(), time.monotonic()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    total = environment.stats.total.num_requests
    elapsed, used = time.monotonic() - started, time.process_time() - cpu
    runner.quit()
    if failures:
        raise FloorError(str(failures[0]))
    return {"requests": total, "seconds": elapsed, "cpu_s": used, "bytes": 0}


def sha256_floor(megabytes: int, repeats: int) -> dict:
    """Hash ``megabytes`` MiB of bytes already in memory, ``repeats`` times, in 1 MiB pieces."""
    piece = memoryview(os.urandom(HASH_CHUNK))
    cpu, started = time.process_time(), time.monotonic()
    for _ in range(repeats):
        digest = hashlib.sha256()
        for _ in range(megabytes):
            digest.update(piece)
        digest.hexdigest()
    return {"requests": repeats, "seconds": time.monotonic() - started, "cpu_s": time.process_time() - cpu,
            "bytes": repeats * megabytes * HASH_CHUNK}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python_floor", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("http", "sha256"))
    parser.add_argument("url", nargs="?", help="http: the URL to ask")
    parser.add_argument("--method", default="GET", choices=("GET", "HEAD"))
    parser.add_argument("--accept", default="*/*")
    parser.add_argument("--connections", type=int, default=16, help="http: users, one connection each")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bare", action="store_true", help="http: plain greenlets, no Locust")
    parser.add_argument("--megabytes", type=int, default=100, help="sha256: MiB hashed per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.mode == "http" and not args.url:
        parser.error("http needs a URL")
    try:
        if args.mode == "sha256":
            result = sha256_floor(args.megabytes, args.repeats)
        else:
            floor = bare_floor if args.bare else locust_floor
            result = floor(args.url, args.method, args.accept, args.connections, args.seconds)
    except (OSError, FloorError, ValueError) as exc:
        print(f"python_floor: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
