"""Connections the server does not keep forever: idle keep-alive timeout, header-read timeout
(slowloris), a cap that closes idle connections to admit new ones, the open-file limit without
log floods, and malformed HTTP answered with a spec error and logged in one line."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from reference_server.launcher import ServerProcess, start_server

SECRET = "c2VjcmV0LXBhc3N3b3JkLXZhbHVl"  # base64 of a password: must never reach the log


@pytest.fixture(scope="module")
def quick_server() -> Iterator[ServerProcess]:
    """A server with one-second idle and header timeouts, logging at INFO."""
    args = ["--storage", "memory", "--keepalive-timeout", "1", "--header-timeout", "1", "--log-level", "INFO"]
    with start_server(args) as server:
        yield server


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.host_port.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes ``sock`` within ``within`` seconds (EOF or reset)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_idle_keepalive_connection_is_closed_after_the_timeout(quick_server):
    with contextlib.closing(connect(quick_server)) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock, within=5), "an idle keep-alive connection stayed open"
    with contextlib.closing(connect(quick_server)) as silent:  # never sends a byte
        assert closed_by_server(silent, within=5), "a silent connection stayed open"


def test_a_request_head_trickled_byte_by_byte_is_cut_off(quick_server):
    with contextlib.closing(connect(quick_server)) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n")
        started = time.monotonic()
        closed = False
        for byte in b"X-Slow: " + b"a" * 40:  # one byte every 0.2 s: 9.6 s to finish the head
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_server(sock, within=0.2):
                closed = True
                break
        assert closed, "the server waited for the whole trickled head"
        assert time.monotonic() - started < 6
    assert requests.get(f"{quick_server.url}/v2/", timeout=10).status_code == 200


def test_over_the_cap_the_least_recently_used_idle_connection_makes_room(tmp_path):
    with start_server(["--storage", "memory", "--max-connections", "4"]) as server:
        idle = [connect(server) for _ in range(4)]
        try:
            time.sleep(0.3)
            assert requests.get(f"{server.url}/v2/", timeout=10).status_code == 200
            assert closed_by_server(idle[0], within=5), "the oldest idle connection was kept over the cap"
            assert not closed_by_server(idle[-1], within=0.3), "a newer idle connection was closed first"
        finally:
            for sock in idle:
                sock.close()


def test_over_the_cap_with_every_connection_busy_a_newcomer_gets_503(tmp_path):
    with start_server(["--storage", "memory", "--max-connections", "1"]) as server:
        location = requests.post(f"{server.url}/v2/busy/blobs/uploads/", timeout=10).headers["Location"]
        path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
        with contextlib.closing(connect(server)) as busy:
            busy.sendall(f"PATCH {path} HTTP/1.1\r\nHost: registry\r\nContent-Length: 100\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n".encode() + b"x" * 10)
            time.sleep(0.5)  # the handler now waits for the rest of the body
            with contextlib.closing(connect(server)) as newcomer:
                answer = read_response(newcomer)
            assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
            assert b"Retry-After: 1" in answer and b'"code": "UNAVAILABLE"' in answer
            busy.sendall(b"x" * 90)
            assert read_response(busy).startswith(b"HTTP/1.1 202")


def test_v2_keeps_answering_with_more_idle_connections_than_open_files():
    with start_server(["--storage", "memory", "--log-level", "INFO"], open_files=128) as server:
        idle = []
        try:
            for _ in range(160):  # beyond the open-file limit itself
                idle.append(connect(server))
            for attempt in range(3):
                assert requests.get(f"{server.url}/v2/", timeout=10).status_code == 200, attempt
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        log = server.stderr_text()
    assert "Traceback" not in log, log[-3000:]
    assert len(log.splitlines()) < 20, log[-3000:]


@pytest.mark.parametrize("head", [
    f"GET /v2/ HTTP/1.1\r\nHost: registry\r\nAuthorization: Basic {SECRET}\x01\r\n\r\n",
    f"GET /v2/ HTTP/1.1\r\nHost: registry\r\nAuthoriz\x7fation: Basic {SECRET}\r\n\r\n",
    f"GET /v2/ HTTP/1.1\r\nHost: registry\r\nAuthorization: Basic {SECRET}\r\nX: {'y' * 9000}\r\n\r\n",
    f"GET /v2/{SECRET} HTTP/1.1 junk\r\n\r\n",
], ids=["control-char-in-value", "bad-char-in-name", "field-too-long", "bad-request-line"])
def test_malformed_http_gets_a_spec_400_and_one_log_line_without_header_values(quick_server, head):
    before = len(quick_server.stderr_text().splitlines())
    with contextlib.closing(connect(quick_server)) as sock:
        sock.sendall(head.encode("latin-1"))
        answer = read_response(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1].startswith(b"4"), answer[:300]
    body = rest.partition(b"\r\n\r\n")[2]
    assert body.startswith(b'{"errors": [{"code": "UNSUPPORTED"'), answer[:500]
    assert SECRET.encode() not in answer
    deadline = time.monotonic() + 5
    while len(quick_server.stderr_text().splitlines()) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    new_lines = quick_server.stderr_text().splitlines()[before:]
    assert len(new_lines) == 1, new_lines
    assert "malformed HTTP request from 127.0.0.1" in new_lines[0]
    assert SECRET not in new_lines[0] and "Basic" not in new_lines[0]
