"""``python -m benchmarks.security [--quick] [--out DIR]``: the reference server's security figures.

1. Server RSS growth while three 1 MB gzip forms (1 GB inflated) and one 1 MB plain form are
   posted to ``/auth/token`` at once (goal < 50 MB).
2. ``/v2/`` answered while 2,000 idle connections are open against a server whose open-file
   limit is 1024 (goal: every request answered, no traceback in the log).
3. A valid 2 MiB push while 16 clients send wrong passwords, beside the same push without them,
   in one run (goal: at most 3x slower). The failure limit is off for this figure, so the flood
   stays a bcrypt flood (many addresses guessing at once); the pool alone keeps storage I/O free.
4. Median answer time for an unknown user and for a known user with a wrong password (bcrypt
   cost 10 as ``htpasswd -B`` writes it; goal: within 10% of each other).

Every server runs on loopback and is stopped at the end; the run is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from benchmarks.memory import MB, PeakRss
from benchmarks.processes import BenchError, Deadline, sigterm_as_interrupt
from reference_server.auth.passwords import hash_password
from reference_server.launcher import ServerProcess, start_server
from registry_harness.builders import build_image
from registry_harness.client import RegistryClient
from registry_harness.target import parse_target

TIMEOUT = 10.0
FLOOD_ADDRESSES = [f"127.0.0.{10 + i}" for i in range(16)]


@dataclass
class Settings:
    idle_connections: int = 2000
    open_files: int = 1024
    pings: int = 20
    pushes: int = 5  # per phase: quiet, flood, quiet again
    flood_clients: int = 16
    timing_samples: int = 40
    bcrypt_cost: int = 10
    max_seconds: float = 150.0


QUICK = Settings(idle_connections=400, open_files=256, pings=5, pushes=1, flood_clients=4, timing_samples=6,
                 bcrypt_cost=8, max_seconds=90.0)


@dataclass
class Result:
    """One figure: its value, the goal and whether it is met, with the numbers behind it."""

    id: str
    title: str
    value: float
    unit: str
    goal: str
    met: bool
    details: dict[str, object] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[security] {message}", file=sys.stderr, flush=True)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def gzip_bomb(inflated_mib: int = 1024, members: int = 10) -> bytes:
    """About 1 MB of gzip that inflates to ``inflated_mib`` MiB of zeros (identical members)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    member = b"".join(compressor.compress(zeros) for _ in range(inflated_mib // members)) + compressor.flush()
    return member * members


# -- 1. token endpoint memory ---------------------------------------------------------------

def measure_token_rss(access_file: Path) -> Result:
    bomb = gzip_bomb()
    plain = b"grant_type=password&padding=" + b"0" * len(bomb)
    with start_server(["--storage", "memory", "--auth", f"token:{access_file}"]) as server:
        url = f"{server.url}/auth/token"
        statuses: list[int] = []

        def send(body: bytes, encoding: str | None) -> None:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if encoding:
                headers["Content-Encoding"] = encoding
            try:
                statuses.append(requests.post(url, data=body, headers=headers, timeout=TIMEOUT * 3).status_code)
            except requests.RequestException:
                statuses.append(0)  # the server may close before the whole body is sent

        requests.get(f"{server.url}/v2/", timeout=TIMEOUT)
        with PeakRss(server.pid) as peak:
            threads = [threading.Thread(target=send, args=(bomb, "gzip")) for _ in range(3)]
            threads.append(threading.Thread(target=send, args=(plain, None)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(TIMEOUT * 4)
            time.sleep(0.2)
    growth = peak.growth / MB
    return Result("token_gzip_rss", "server RSS growth: 3 x 1 MB gzip forms + 1 MB plain form to /auth/token",
                  round(growth, 1), "MB", "< 50 MB", growth < 50,
                  {"rss_before_mb": round(peak.before / MB, 1), "rss_peak_mb": round(peak.peak / MB, 1),
                   "gzip_bytes": len(bomb), "statuses": sorted(statuses)})


# -- 2. /v2/ with idle connections beyond the open-file limit -------------------------------

def raise_own_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise BenchError(f"need {needed} open files in the benchmark process; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def open_idle(server: ServerProcess, count: int, deadline: Deadline) -> list[socket.socket]:
    host, port = server.host_port.rsplit(":", 1)
    sockets = []
    for _ in range(count):
        deadline.check("opening idle connections")
        with contextlib.suppress(OSError):
            sockets.append(socket.create_connection((host, int(port)), timeout=2))
    return sockets


def closed_by_server(sockets: list[socket.socket]) -> int:
    closed = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def measure_idle_connections(settings: Settings, deadline: Deadline) -> Result:
    raise_own_file_limit(settings.idle_connections + 256)
    args = ["--storage", "memory", "--log-level", "INFO"]
    with start_server(args, open_files=settings.open_files) as server:
        started = time.monotonic()
        idle = open_idle(server, settings.idle_connections, deadline)
        opened_in = time.monotonic() - started
        answered, times = 0, []
        try:
            for _ in range(settings.pings):
                begin = time.perf_counter()
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{server.url}/v2/", timeout=TIMEOUT).status_code == 200:
                        answered += 1
                times.append(time.perf_counter() - begin)
            time.sleep(0.2)
            closed = closed_by_server(idle)
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        log_text = server.stderr_text()
    tracebacks = log_text.count("Traceback")
    return Result("v2_with_idle_connections",
                  f"/v2/ answered with {settings.idle_connections} idle connections open, "
                  f"open-file limit {settings.open_files}", answered, f"of {settings.pings}",
                  f"all {settings.pings}, no traceback", answered == settings.pings and tracebacks == 0,
                  {"idle_opened": len(idle), "opened_in_s": round(opened_in, 2),
                   "idle_closed_by_server": closed, "median_ms": round(statistics.median(times) * 1000, 1),
                   "max_ms": round(max(times) * 1000, 1), "log_bytes": len(log_text), "log_lines":
                   len(log_text.splitlines()), "tracebacks": tracebacks})


# -- 3. push during a wrong-password flood --------------------------------------------------

def flood(host: str, port: int, addresses: list[str], stop: object, counter: object) -> None:
    """Child process: one thread per address sending wrong passwords until ``stop`` is set."""

    def guess(address: str) -> None:
        headers = basic("alice", "wrong-password")
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT, source_address=(address, 0))
        while not stop.is_set():  # type: ignore[attr-defined]
            try:
                connection.request("GET", "/v2/", headers=headers)
                connection.getresponse().read()
                with counter.get_lock():  # type: ignore[attr-defined]
                    counter.value += 1  # type: ignore[attr-defined]
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT, source_address=(address, 0))
        connection.close()

    threads = [threading.Thread(target=guess, args=(a,), daemon=True) for a in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@contextlib.contextmanager
def wrong_password_flood(server: ServerProcess, clients: int) -> Iterator[object]:
    context = multiprocessing.get_context("spawn")
    stop, counter = context.Event(), context.Value("l", 0)
    host, port = server.host_port.rsplit(":", 1)
    process = context.Process(target=flood, args=(host, int(port), FLOOD_ADDRESSES[:clients], stop, counter),
                              daemon=True)
    process.start()
    try:
        ready = time.monotonic() + 20
        while counter.value < 2 * clients and time.monotonic() < ready and process.is_alive():
            time.sleep(0.05)  # every client has been answered twice: the flood is on
        if counter.value < 2 * clients:
            raise BenchError("the wrong-password flood did not start")
        yield counter
    finally:
        stop.set()
        process.join(TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join(TIMEOUT)


def timed_push(client: RegistryClient, number: int) -> float:
    image = build_image((2 << 20,), seed=number)
    begin = time.perf_counter()
    client.push_image(f"bench/flood-{number}", image, "latest")
    return time.perf_counter() - begin


def measure_push_during_flood(server: ServerProcess, password: str, settings: Settings, deadline: Deadline
                              ) -> Result:
    client = RegistryClient(parse_target(server.url), username="alice", password=password)
    timed_push(client, 0)  # warm up: the login is checked and remembered
    quiet, flooded = [], []
    for number in range(settings.pushes):
        deadline.check("quiet pushes")
        quiet.append(timed_push(client, 100 + number))
    with wrong_password_flood(server, settings.flood_clients) as counter:
        flood_start, count_start = time.monotonic(), counter.value  # type: ignore[attr-defined]
        for number in range(settings.pushes):
            deadline.check("pushes during the flood")
            flooded.append(timed_push(client, 200 + number))
        flood_rate = (counter.value - count_start) / (time.monotonic() - flood_start)  # type: ignore[attr-defined]
    for number in range(settings.pushes):
        deadline.check("quiet pushes after the flood")
        quiet.append(timed_push(client, 300 + number))
    ratio = statistics.median(flooded) / statistics.median(quiet)
    return Result("push_during_flood", f"2 MiB push during a flood of {settings.flood_clients} wrong-password "
                  "clients, beside the same push without it", round(ratio, 2), "x slower", "<= 3x", ratio <= 3,
                  {"quiet_ms": [round(t * 1000, 1) for t in quiet], "flood_ms": [round(t * 1000, 1) for t in flooded],
                   "flood_requests_per_s": round(flood_rate, 1)})


# -- 4. unknown user vs wrong password ------------------------------------------------------

def measure_login_timing(server: ServerProcess, settings: Settings) -> Result:
    host, port = server.host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    times: dict[str, list[float]] = {"unknown": [], "wrong": []}
    kinds = {"unknown": basic("nobody-here", "guess"), "wrong": basic("alice", "guess")}
    try:
        for sample in range(settings.timing_samples):
            for kind in sorted(kinds, reverse=sample % 2 == 1):  # alternate which goes first
                headers = kinds[kind]
                begin = time.perf_counter()
                connection.request("GET", "/v2/", headers=headers)
                response = connection.getresponse()
                response.read()
                times[kind].append(time.perf_counter() - begin)
                if response.status != 401:
                    raise BenchError(f"{kind} login answered {response.status}, expected 401")
    finally:
        connection.close()
    unknown, wrong = statistics.median(times["unknown"]), statistics.median(times["wrong"])
    difference = abs(unknown - wrong) / max(unknown, wrong) * 100
    return Result("unknown_vs_wrong_password", f"median answer: unknown user vs wrong password "
                  f"({settings.timing_samples} each, bcrypt cost {settings.bcrypt_cost})", round(difference, 1),
                  "% apart", "< 10%", difference < 10,
                  {"unknown_ms": round(unknown * 1000, 2), "wrong_ms": round(wrong * 1000, 2)})


# -- the run --------------------------------------------------------------------------------

def run(settings: Settings, workdir: Path) -> list[Result]:
    deadline = Deadline(settings.max_seconds)
    password = "alice-" + os.urandom(8).hex()
    access = workdir / "access.json"
    access.write_text(json.dumps({"users": {"alice": hash_password(password, 4)},
                                  "access": [{"account": "alice", "name": "*", "actions": ["*"]}]}))
    htpasswd = workdir / "users.htpasswd"
    htpasswd.write_text(f"alice:{hash_password(password, settings.bcrypt_cost)}\n")
    results = []
    log("measuring token endpoint memory")
    results.append(measure_token_rss(access))
    deadline.check("idle connections")
    log(f"measuring /v2/ with {settings.idle_connections} idle connections")
    results.append(measure_idle_connections(settings, deadline))
    deadline.check("the wrong-password flood")
    args = ["--root", str(workdir / "root"), "--auth", f"htpasswd:{htpasswd}", "--auth-failure-limit", "0"]
    with start_server(args) as server:
        log("measuring a push during a wrong-password flood")
        results.append(measure_push_during_flood(server, password, settings, deadline))
        deadline.check("login timing")
        log("measuring unknown-user and wrong-password answer times")
        results.append(measure_login_timing(server, settings))
    return results


def print_table(results: list[Result], meta: dict[str, object]) -> None:
    print(f"reference server security figures, {meta['date']}, load average {meta['load_average']}")
    print(f"{'figure':<28} {'value':>10} {'unit':<10} {'goal':<24} met?")
    for result in results:
        print(f"{result.id:<28} {result.value:>10g} {result.unit:<10} {result.goal:<24} "
              f"{'yes' if result.met else 'NO'}")
    for result in results:
        print(f"  {result.id}: {result.title}; {json.dumps(result.details)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.security", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer connections and samples (a smoke run)")
    parser.add_argument("--out", type=Path, help="also write results.json into this directory")
    parser.add_argument("--max-seconds", type=float, help="overall time budget")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.max_seconds:
        settings.max_seconds = args.max_seconds
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()), "cores": os.cpu_count(),
            "settings": asdict(settings), "quick": args.quick}
    workdir = Path(tempfile.mkdtemp(prefix="security-bench-"))
    try:
        with sigterm_as_interrupt():
            results = run(settings, workdir)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta["load_average_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_table(results, meta)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]},
                                                          indent=2))
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
