"""``python -m benchmarks.bench_server``: the reference server's performance figures, each measured
side by side with its baseline (and with Distribution 2.8.2) in one run, alternating A, B, A, B.

Prints a table (figure | reference | baseline | ratio | goal | met? | Distribution 2.8.2) and
writes ``results/bench-server/results.json``. Exit codes: 0 measured, 1 a goal was missed and
``--strict`` was given, 2 the benchmark could not run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import requests

from benchmarks import upload
from benchmarks.baselines import start_bare_aiohttp, start_nginx
from benchmarks.download import curl_get
from benchmarks.manifest_rps import run_wrk
from benchmarks.memory import MB
from benchmarks.processes import (
    BenchError,
    Deadline,
    listener_pid,
    own_cpu_seconds,
    port_of,
    sigterm_as_interrupt,
    tree_cpu_seconds,
)
from benchmarks.report import DISTRIBUTION_LABEL, Figure, Goal, render_cpu_table, render_table, write_json
from registry_harness import spec
from registry_harness.builders import build_image
from registry_harness.client import RegistryClient
from registry_harness.peers import distribution_binary, start_distribution
from registry_harness.target import parse_target

MIB = 1 << 20
REPO = "bench/server"
TAG = "bench"
ACCEPT = spec.OCI_MANIFEST
DEFAULT_OUT = Path("results/bench-server")
# Headers a server adds on its own; the bare handler gets every other header of the real answer.
_OWN_HEADERS = {"date", "server", "content-length", "connection", "keep-alive", "transfer-encoding"}


@dataclass
class Settings:
    """Sizes, repetitions and durations of one run (``--quick`` shrinks them for the smoke test)."""

    upload_mib: int = 100
    rss_mib: int = 1024
    get_mib: int = 100
    upload_rounds: int = 5
    get_rounds: int = 7
    rps_rounds: int = 3
    wrk_seconds: int = 5
    wrk_threads: int = 2
    wrk_connections: int = 32
    distribution: bool = True
    max_seconds: float = 900.0


QUICK = Settings(upload_mib=8, rss_mib=32, get_mib=8, upload_rounds=1, get_rounds=2, rps_rounds=1,
                 wrk_seconds=1, max_seconds=240.0)


@dataclass
class Server:
    """A registry under measurement: its label, base URL, a client, and the pid of its process."""

    label: str
    url: str
    client: RegistryClient
    pid: int


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the servers ----------------------------------------------------------------------------------

@contextlib.contextmanager
def reference_server(workdir: Path, extra_args: list[str]) -> Iterator[Server]:
    """The reference server as users run it: its own process, filesystem storage under ``workdir``."""
    from reference_server.launcher import start_server  # imported late: only this function needs it

    root = workdir / "reference-root"
    root.mkdir()
    args = ["--listen", "127.0.0.1:0", "--root", str(root), *extra_args]
    with start_server(args) as process:
        yield _server("reference", process.url, process.pid)


@contextlib.contextmanager
def distribution_server(workdir: Path) -> Iterator[Server]:
    with start_distribution(workdir) as url:
        yield _server("distribution", url)


def _server(label: str, url: str, pid: int | None = None) -> Server:
    client = RegistryClient(parse_target(url), timeout=120.0)
    client.ping(expect=200)
    return Server(label, url, client, pid or listener_pid(port_of(url)))


def warm_up(server: Server) -> None:
    """One small push and pull, so lazy imports and first-use allocations happen before measuring."""
    digest = server.client.push_blob(REPO, os.urandom(64 * 1024), "monolithic")
    server.client.pull_verified(REPO, digest)
    upload.delete_blob_quietly(server.client, REPO, digest)


# -- the figures ----------------------------------------------------------------------------------

def measure_upload(servers: list[Server], settings: Settings, scratch: Path, deadline: Deadline) -> Figure:
    """Figure 1a: a streamed monolithic PUT of ``upload_mib`` vs hashing and writing in-process."""
    size = settings.upload_mib * MIB
    fig = Figure("upload", f"Upload {settings.upload_mib} MiB, monolithic PUT streamed", "MB/s",
                 Goal("ratio_min", 0.7), "sha256 + write + fsync of the same bytes, in-process, same disk")
    fig.cpu_unit = f"ms per {settings.upload_mib} MiB"
    for round_no in range(settings.upload_rounds):
        for who in ["reference", "baseline"] + [s.label for s in servers if s.label != "reference"]:
            deadline.check(f"upload round {round_no + 1}")
            body = upload.StreamedBody(size)
            body.digest  # noqa: B018 - hashed before the clock starts
            if who == "baseline":
                cpu_before = own_cpu_seconds()
                seconds = upload.write_in_process(body, scratch)
                cpu = own_cpu_seconds() - cpu_before
            else:
                server = next(s for s in servers if s.label == who)
                cpu_before = tree_cpu_seconds(server.pid)
                seconds = upload.push_streamed(server.client, REPO, body)
                cpu = tree_cpu_seconds(server.pid) - cpu_before
                upload.delete_blob_quietly(server.client, REPO, body.digest)
            fig.add(who, size / seconds / MB)
            fig.add_cpu(who, cpu * 1000)
            log(f"  upload round {round_no + 1}: {who:12s} {size / seconds / MB:8.0f} MB/s")
    return fig


def measure_rss(servers: list[Server], settings: Settings, deadline: Deadline) -> Figure:
    """Figure 1b: how much the server's resident memory grows while a large blob streams in."""
    size = settings.rss_mib * MIB
    fig = Figure("upload_rss", f"Server RSS growth during a {_size_text(settings.rss_mib)} streamed push", "MB",
                 Goal("max", 50.0, "MB"), None, higher_is_better=False)
    for server in servers:
        deadline.check(f"RSS push to {server.label}")
        body = upload.StreamedBody(size)
        watch = upload.rss_during_push(server.client, REPO, body, server.pid)
        upload.delete_blob_quietly(server.client, REPO, body.digest)
        fig.add(server.label, watch.growth / MB)
        fig.details[server.label] = {"rss_before_mb": round(watch.before / MB, 1),
                                     "rss_peak_mb": round(watch.peak / MB, 1),
                                     "kernel_peak_reset": watch.hwm_reset}
        log(f"  RSS {server.label:12s} before {watch.before / MB:6.1f} MB, peak {watch.peak / MB:6.1f} MB, "
            f"growth {watch.growth / MB:6.1f} MB")
    return fig


def _find_file(root: Path, name: str) -> Path | None:
    for directory, _dirs, files in os.walk(root):
        if name in files:
            return Path(directory) / name
    return None


def measure_blob_get(servers: list[Server], settings: Settings, workdir: Path, deadline: Deadline) -> Figure:
    """Figure 2: GET of a ``get_mib`` blob vs nginx (sendfile) serving the very file the reference stored."""
    size = settings.get_mib * MIB
    fig = Figure("blob_get", f"Blob GET {settings.get_mib} MiB (curl, median)", "MB/s", Goal("ratio_min", 0.8),
                 "nginx 1.22, sendfile on, 1 worker, serving the same file")
    fig.cpu_unit = f"ms per {settings.get_mib} MiB"
    body = upload.StreamedBody(size)
    urls: dict[str, str] = {}
    pids = {s.label: s.pid for s in servers}
    for server in servers:
        upload.push_streamed(server.client, REPO, body)
        _verify_blob(server.client, body.digest, size)
        urls[server.label] = f"{server.url}/v2/{REPO}/blobs/{body.digest}"
    hex_part = body.digest.split(":", 1)[1]
    stored = _find_file(workdir / "reference-root", hex_part)
    with contextlib.ExitStack() as stack:
        if stored is None:  # memory storage: give nginx its own copy of the same bytes
            docroot = workdir / "nginx-docroot"
            docroot.mkdir(exist_ok=True)
            stored = docroot / hex_part
            with open(stored, "wb") as handle:
                for piece in body:
                    handle.write(piece)
            fig.notes.append("the reference server keeps blobs in memory; nginx serves a copy on disk")
        nginx_url = stack.enter_context(start_nginx(stored.parent, workdir))
        pids["baseline"] = listener_pid(port_of(nginx_url))
        urls["baseline"] = f"{nginx_url}/{stored.name}"
        curl_get(urls["baseline"], size)  # warm the page cache and nginx
        order = ["reference", "baseline"] + [s.label for s in servers if s.label != "reference"]
        for round_no in range(settings.get_rounds):
            for who in order:
                deadline.check(f"blob GET round {round_no + 1}")
                cpu_before = tree_cpu_seconds(pids[who])
                fig.add(who, size / curl_get(urls[who], size) / MB)
                fig.add_cpu(who, (tree_cpu_seconds(pids[who]) - cpu_before) * 1000)
            log("  blob GET round {}: {}".format(
                round_no + 1, ", ".join(f"{who} {fig.samples[who][-1]:.0f}" for who in order)))
    return fig


def _verify_blob(client: RegistryClient, digest: str, size: int) -> None:
    """Check once, outside the timing, that the server returns exactly the blob's bytes."""
    import hashlib

    response = client.get_blob(REPO, digest, expect=200, stream=True)
    hasher, count = hashlib.sha256(), 0
    for chunk in response.iter_content(MIB):
        hasher.update(chunk)
        count += len(chunk)
    if count != size or f"sha256:{hasher.hexdigest()}" != digest:
        raise BenchError(f"{client.base_url} served {count} bytes that do not hash to {digest}")


def measure_manifest_rps(servers: list[Server], settings: Settings, workdir: Path, deadline: Deadline) -> Figure:
    """Figure 3: manifest GET by tag with wrk vs a bare aiohttp handler returning the same bytes and headers."""
    fig = Figure("manifest_rps", f"Manifest GET by tag (wrk -t{settings.wrk_threads} -c{settings.wrk_connections} "
                 f"-d{settings.wrk_seconds}s)", "req/s", Goal("ratio_min", 0.5),
                 "bare aiohttp handler returning the same bytes and headers")
    fig.cpu_unit = "us per request"
    image = build_image((512,), seed=7)
    urls: dict[str, str] = {}
    pids = {s.label: s.pid for s in servers}
    for server in servers:
        server.client.push_image(REPO, image, TAG)
        urls[server.label] = f"{server.url}/v2/{REPO}/manifests/{TAG}"
    reference = next(s for s in servers if s.label == "reference")
    answer = reference.client.get_manifest(REPO, TAG, accept=ACCEPT, expect=200)
    if answer.content != image.manifest:
        raise BenchError("the reference server did not return the manifest byte for byte")
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in _OWN_HEADERS}
    fig.details["headers"] = headers
    with start_bare_aiohttp(answer.content, headers, workdir) as bare_url:
        urls["baseline"] = f"{bare_url}/v2/{REPO}/manifests/{TAG}"
        pids["baseline"] = listener_pid(port_of(bare_url))
        check = requests.get(urls["baseline"], headers={"Accept": ACCEPT}, timeout=10)
        if check.content != image.manifest:
            raise BenchError("the bare aiohttp baseline did not return the manifest")
        order = ["reference", "baseline"] + [s.label for s in servers if s.label != "reference"]
        for round_no in range(settings.rps_rounds):
            for who in order:
                deadline.check(f"manifest round {round_no + 1}")
                cpu_before = tree_cpu_seconds(pids[who])
                result = run_wrk(urls[who], ACCEPT, settings.wrk_seconds, settings.wrk_threads,
                                 settings.wrk_connections)
                fig.add(who, result.rps)
                fig.add_cpu(who, (tree_cpu_seconds(pids[who]) - cpu_before) * 1e6 / result.requests)
            log("  manifest GET round {}: {}".format(
                round_no + 1, ", ".join(f"{who} {fig.samples[who][-1]:.0f}" for who in order)))
    return fig


def _size_text(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib >= 1024 and mib % 1024 == 0 else f"{mib} MiB"


# -- the run --------------------------------------------------------------------------------------

CAVEATS = [
    "Client and server share the same 2 cores (loopback): every figure includes the client's own CPU use, "
    "and other work on the machine adds noise. Ratios measured in one run are what to compare.",
    "Measurements alternate (reference, baseline, Distribution, reference, ...) and the median is reported.",
    "Blob GETs come from the page cache (each blob is read once before timing); uploads end with fsync.",
    "MB = 10^6 bytes; sizes in MiB are 2^20 bytes.",
    "Server CPU per operation is the on-CPU time of the server's threads (schedstat); it is much less "
    "disturbed by other load than throughput. The in-process baseline counts this process's CPU.",
]


def run(settings: Settings, out_dir: Path, server_args: list[str], tmp_parent: str | None = None) -> list[Figure]:
    """Start every server, measure every figure, print the table and write results.json."""
    deadline = Deadline(settings.max_seconds)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    if load_before[0] > (os.cpu_count() or 1) / 2:
        log(f"note: the machine is busy (load average {load_before[0]:.1f}); figures will be noisier than usual")
    figures: list[Figure] = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-server-", dir=tmp_parent)))
        servers = [stack.enter_context(reference_server(workdir, server_args))]
        if settings.distribution:
            if distribution_binary() is None:
                log("Distribution (docker-registry) is not installed: its column stays empty")
            else:
                servers.append(stack.enter_context(distribution_server(workdir)))
        for server in servers:
            warm_up(server)
        scratch = workdir / "in-process"
        scratch.mkdir()
        steps: list[tuple[str, Callable[[], Figure]]] = [
            ("upload", lambda: measure_upload(servers, settings, scratch, deadline)),
            ("upload RSS", lambda: measure_rss(servers, settings, deadline)),
            ("blob GET", lambda: measure_blob_get(servers, settings, workdir, deadline)),
            ("manifest GET", lambda: measure_manifest_rps(servers, settings, workdir, deadline)),
        ]
        for name, step in steps:
            log(f"measuring {name} ...")
            deadline.check(name)
            figures.append(step())
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "host": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                 "aiohttp": aiohttp.__version__},
        "load_average": {"start": [round(x, 2) for x in load_before],
                         "end": [round(x, 2) for x in os.getloadavg()]},
        "settings": asdict(settings),
        "reference_args": server_args,
        "distribution": DISTRIBUTION_LABEL if any(s.label == "distribution" for s in servers) else None,
        "caveats": CAVEATS,
    }
    path = write_json(out_dir / "results.json", figures, meta)
    print(render_table(figures))
    print()
    cpu_table = render_cpu_table(figures)
    if cpu_table:
        print(cpu_table)
        print()
    for caveat in CAVEATS:
        print(f"note: {caveat}")
    print(f"results: {path}")
    return figures


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1-second wrk runs (smoke test)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default %(default)s)")
    parser.add_argument("--no-distribution", action="store_true", help="skip the Distribution 2.8.2 column")
    parser.add_argument("--upload-mib", type=int, help="size of the timed upload (default 100)")
    parser.add_argument("--rss-mib", type=int, help="size of the push during which RSS is watched (default 1024)")
    parser.add_argument("--get-mib", type=int, help="size of the blob GET (default 100)")
    parser.add_argument("--rounds", type=int, help="rounds of every alternating measurement")
    parser.add_argument("--wrk-seconds", type=int, help="duration of each wrk run (default 5)")
    parser.add_argument("--max-seconds", type=float, help="time budget of the whole run (default 900)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for the reference server (repeatable), e.g. --server-arg=--storage=memory")
    parser.add_argument("--tmpdir", help="where the temporary data goes (default: the system temp dir)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    settings = Settings(**asdict(QUICK)) if args.quick else Settings()
    for name in ("upload_mib", "rss_mib", "get_mib", "wrk_seconds", "max_seconds"):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    if args.rounds is not None:
        settings.upload_rounds = settings.get_rounds = settings.rps_rounds = max(1, args.rounds)
    settings.distribution = not args.no_distribution
    for name in ("upload_mib", "rss_mib", "get_mib", "wrk_seconds"):
        if getattr(settings, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args, settings


def main(argv: list[str] | None = None) -> int:
    args, settings = parse_args(argv)
    began = time.monotonic()
    try:
        with sigterm_as_interrupt():
            figures = run(settings, args.out, args.server_arg, args.tmpdir)
    except KeyboardInterrupt:
        log("interrupted: servers stopped, temporary data removed")
        return 130
    except (BenchError, OSError) as exc:
        log(f"benchmark failed: {exc}")
        return 2
    except Exception as exc:  # noqa: BLE001 - a registry answering wrongly ends the run with its message
        log(f"benchmark failed: {type(exc).__name__}: {exc}")
        return 2
    log(f"done in {time.monotonic() - began:.0f}s")
    missed = [fig.id for fig in figures if fig.met is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
