"""``python -m benchmarks.bench_load`` (``make bench-load``): the load generator measured side by side
with wrk (small requests) and curl (whole blobs), against the same endpoints of the same bare fast
server, in one run, alternating tool and generator round by round.

The server is nginx serving the run's seeded images as static files laid out as registry paths
(manifests with their media type and ``Docker-Content-Digest``, blobs with theirs, tags lists), so
it answers faster than either client and the client is the limit. With two or more cores nginx is
pinned to one core and every client to another (taskset); the generator runs as one process
(``--processes 1``) with every check on: statuses, digest headers, manifest and blob digests.

Figures: requests per second and CPU µs per request of each client, and the ratio generator/tool
per generator core (10^6 / CPU µs per request, so a busy machine shifts both alike); for blobs
MB/s with one core each, and CPU per MB. Exit codes: 0 measured, 1 a goal missed with
``--strict``, 2 the benchmark could not run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.baselines import start_nginx
from benchmarks.download import curl_binary
from benchmarks.manifest_rps import parse_wrk, wrk_binary
from benchmarks.processes import BenchError, Deadline, sigterm_as_interrupt
from registry_harness.client import RegistryClient
from registry_harness.processes import stop_process
from registry_harness.target import parse_target

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = "benchload"
PREFIX = "loadtest"
DEFAULT_OUT = Path("results/bench-load")
MB = 1_000_000
MIB = 1024 * 1024
SMALL_GOAL = 0.5
BLOB_GOAL = 0.9
SMALL = (  # (figure id, title, resolve step, method)
    ("tags_list", "GET tags list (?n=10)", "tags", "GET"),
    ("manifest_get", "GET manifest by tag", "get", "GET"),
    # wrk cannot frame answers to HEAD (it waits for the Content-Length bytes): its GET of the same manifest
    # stands in, which costs it a little more than a HEAD would.
    ("manifest_head", "HEAD manifest by tag (wrk: GET)", "head", "GET"),
)
CAVEATS = (
    "Per-core figures divide requests by the CPU seconds each client used (generator: every process, from "
    "test start to stop; wrk/curl: the whole process): they hold up better than wall-clock rates on a busy "
    "machine, but a core shared with other jobs slows every client through caches and scheduling.",
    "The generator checks every answer (status, Docker-Content-Digest, manifest digest, every blob byte "
    "hashed) and records each request twice (Locust's stats and the harness's µs histogram); wrk and curl "
    "check nothing. The comparison is the cost of that work, per request, on the same server.",
    "nginx serves static files: it is the fast server both clients are measured against, not a registry.",
)


@dataclass
class Settings:
    """Lengths and repetitions of one run (``--quick`` shrinks them for the smoke test)."""

    seconds: int = 5
    rounds: int = 3
    users: int = 16
    blob_label: str = "100MiB"
    blob_users: int = 2
    curl_repeats: int = 5
    max_seconds: float = 600.0


QUICK = Settings(seconds=1, rounds=1, users=8, blob_label="10MiB", blob_users=2, curl_repeats=2, max_seconds=240.0)


@dataclass
class Sample:
    """One measured run of one client: what it did, in how long, for how much CPU."""

    requests: int
    seconds: float
    cpu_s: float
    bytes: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float | None:
        return self.cpu_s / self.requests * 1e6 if self.requests and self.cpu_s else None

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_mb_ms(self) -> float | None:
        return self.cpu_s * 1000 / (self.bytes / MB) if self.bytes and self.cpu_s else None


@dataclass
class Row:
    """One figure: the tool's and the generator's samples, the ratio and the goal."""

    id: str
    title: str
    tool: str
    kind: str  # "small" (ratio of req/s per core) or "blob" (ratio of MB/s with one core each)
    goal: float
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {"tool": [], "generator": [], "floor": []})
    bottleneck_warned: bool = False

    def median(self, who: str, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples[who]]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    @property
    def per_core(self) -> dict[str, float | None]:
        """req/s per core (small) or MB per CPU second (blob) of each client and of the Python floor."""
        out = {}
        for who in ("tool", "generator", "floor"):
            if self.kind == "small":
                cpu_us = self.median(who, "cpu_us")
                out[who] = 1e6 / cpu_us if cpu_us else None
            else:
                ms = self.median(who, "cpu_per_mb_ms")
                out[who] = 1000 / ms if ms else None
        return out

    def ratio_of(self, who: str) -> float | None:
        """The goal's ratio for ``who`` against the tool: req/s per core (small), MB/s with one core each (blob)."""
        if self.kind == "small":
            core = self.per_core
            return core[who] / core["tool"] if core[who] and core["tool"] else None
        tool, mine = self.median("tool", "mb_per_s"), self.median(who, "mb_per_s")
        return mine / tool if tool and mine else None

    @property
    def ratio(self) -> float | None:
        return self.ratio_of("generator")

    @property
    def floor_ratio(self) -> float | None:
        """The floor's ratio (Locust moving bytes; sha256 alone for blobs): the generator cannot do better."""
        return self.ratio_of("floor")

    @property
    def wall_ratio(self) -> float | None:
        attr = "rate" if self.kind == "small" else "mb_per_s"
        tool, mine = self.median("tool", attr), self.median("generator", attr)
        return mine / tool if tool and mine else None

    def to_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "tool": self.tool, "kind": self.kind, "goal": self.goal,
            "ratio": _round(self.ratio, 3), "wall_ratio": _round(self.wall_ratio, 3),
            "met": None if self.ratio is None else self.ratio >= self.goal,
            "floor_ratio": _round(self.floor_ratio, 3),
            "within_floor": None if self.floor_ratio is None else self.floor_ratio >= self.goal,
            "per_core": {k: _round(v, 1) for k, v in self.per_core.items()},
            "samples": {who: [{**asdict(s), "rate": round(s.rate, 1), "cpu_us": _round(s.cpu_us, 1),
                               "mb_per_s": round(s.mb_per_s, 1)} for s in samples]
                        for who, samples in self.samples.items()},
            "generator_bottleneck_warned": self.bottleneck_warned,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- cores and the static registry ------------------------------------------------------------------

def pick_cores() -> tuple[list[str], list[str], str]:
    """(taskset prefix for the server, for the clients, a note): separate cores when there are two."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    taskset = subprocess.run(["sh", "-c", "command -v taskset"], capture_output=True, text=True).stdout.strip()
    if len(cpus) < 2 or not taskset:
        return [], [], "not pinned (needs two cores and taskset): server and clients share the CPU"
    server, client = cpus[0], cpus[1]
    return ([taskset, "-c", str(server)], [taskset, "-c", str(client)],
            f"nginx pinned to CPU {server}, every client to CPU {client}")


def registry_layout(root: Path, images: Sequence[object]) -> tuple[str, str]:
    """Write ``images`` (load.images.SeededImage) under ``root`` as registry paths; the nginx ``http``
    and ``server`` snippets that give each answer a registry's headers."""
    v2 = root / "v2"
    v2.mkdir(parents=True, exist_ok=True)
    (v2 / "index.json").write_text("{}")
    digests = []
    media_types = set()
    for seeded in images:
        repo = v2 / seeded.repo  # type: ignore[attr-defined]
        image = seeded.image  # type: ignore[attr-defined]
        (repo / "manifests").mkdir(parents=True, exist_ok=True)
        (repo / "blobs").mkdir(parents=True, exist_ok=True)
        (repo / "tags").mkdir(parents=True, exist_ok=True)
        for reference in (seeded.tag, image.digest):  # type: ignore[attr-defined]
            (repo / "manifests" / reference).write_bytes(image.manifest)
            digests.append((f"/v2/{seeded.repo}/manifests/{reference}", image.digest))  # type: ignore[attr-defined]
        for blob in image.blobs:
            (repo / "blobs" / blob.digest).write_bytes(blob.data)
        (repo / "tags" / "list").write_text(json.dumps({"name": seeded.repo, "tags": [seeded.tag]}))  # type: ignore[attr-defined]
        media_types.add(image.media_type)
    if len(media_types) != 1:
        raise BenchError("the static layout serves one manifest media type")
    entries = "".join(f'    "{uri}" "{digest}";\n' for uri, digest in digests)
    http_extra = (f"  map_hash_bucket_size 256;\n  map $uri $manifest_digest {{\n    default \"\";\n{entries}  }}\n"
                  "  etag off;\n")
    api = '      add_header Docker-Distribution-API-Version "registry/2.0" always;\n'
    server_extra = (
        "    default_type application/octet-stream;\n"
        f"    location = /v2/ {{\n      default_type application/json;\n{api}"
        "      try_files /v2/index.json =404;\n    }\n"
        f"    location ~ ^/v2/.+/manifests/[^/]+$ {{\n      default_type {media_types.pop()};\n{api}"
        "      add_header Docker-Content-Digest $manifest_digest always;\n    }\n"
        f"    location ~ \"^/v2/.+/blobs/(?<blob_digest>sha256:[0-9a-f]{{64}})$\" {{\n{api}"
        "      add_header Docker-Content-Digest $blob_digest always;\n    }\n"
        f"    location ~ ^/v2/.+/tags/list$ {{\n      default_type application/json;\n{api}    }}\n"
    )
    return http_extra, server_extra


def check_layout(url: str, images: Sequence[object]) -> None:
    """Every endpoint the clients use answers like a registry (the shared client, digests verified)."""
    client = RegistryClient(parse_target(url), timeout=30)
    client.ping(expect=200)
    for seeded in images:
        image = seeded.image  # type: ignore[attr-defined]
        head = client.get_manifest(seeded.repo, seeded.tag, accept=image.media_type, method="HEAD",  # type: ignore[attr-defined]
                                   expect=200)
        if head.headers.get("Docker-Content-Digest") != image.digest:
            raise BenchError(f"static layout: manifest HEAD answers digest {head.headers.get('Docker-Content-Digest')}")
        for blob in image.blobs:
            if len(blob.data) <= 16 * 1024 * 1024:
                client.pull_verified(seeded.repo, blob.digest)  # type: ignore[attr-defined]
        client.tags_list(seeded.repo, n=10, expect=200)  # type: ignore[attr-defined]


# -- the clients ------------------------------------------------------------------------------------

def run_measured(argv: Sequence[str], timeout: float) -> tuple[str, str, int, float]:
    """Run ``argv``; (stdout, stderr, exit code, CPU seconds of the process and its children)."""
    process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        stop_process(process)
        raise BenchError(f"{Path(argv[0]).name if argv else '?'} did not finish within {timeout:.0f}s") from exc
    return stdout, stderr, process.returncode, _children_cpu()


_CPU_SEEN = [0.0]


def _children_cpu() -> float:
    """CPU seconds used by children reaped since the previous call."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    used, _CPU_SEEN[0] = total - _CPU_SEEN[0], total
    return used


def wrk_sample(url: str, method: str, accept: str, seconds: int, connections: int, pin: list[str],
               workdir: Path) -> Sample:
    """``wrk -t1 -cN`` on one core: requests, seconds and CPU seconds; BenchError on any failed request."""
    script = workdir / f"wrk-{method.lower()}.lua"
    script.write_text(f'wrk.method = "{method}"\n')
    argv = [*pin, wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script),
            "-H", f"Accept: {accept}", url]
    _children_cpu()
    stdout, stderr, code, cpu = run_measured(argv, seconds + 30)
    if code != 0:
        raise BenchError(f"wrk failed: {stderr.strip() or stdout.strip()}")
    result = parse_wrk(stdout)
    if result.non_2xx or result.socket_errors or not result.requests:
        raise BenchError(f"wrk {method} {url}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
    return Sample(result.requests, result.requests / result.rps if result.rps else float(seconds), cpu)


def curl_sample(url: str, size: int, repeats: int, pin: list[str]) -> Sample:
    """``repeats`` sequential curl GETs of a blob into /dev/null on one core (curl's own transfer time)."""
    seconds = 0.0
    _children_cpu()
    cpu = 0.0
    for _ in range(repeats):
        argv = [*pin, curl_binary(), "--silent", "--show-error", "--noproxy", "*", "--max-time", "120",
                "--output", "/dev/null", "--write-out", "%{http_code} %{size_download} %{time_total}", url]
        stdout, stderr, code, used = run_measured(argv, 130)
        cpu += used
        try:
            status, got, took = stdout.split()
        except ValueError:
            raise BenchError(f"curl GET {url} failed: {stderr.strip() or stdout.strip()}") from None
        if status != "200" or int(got) != size:
            raise BenchError(f"curl GET {url}: status {status}, {got} bytes (expected 200 and {size})")
        seconds += float(took)
    return Sample(repeats, seconds, cpu, size * repeats)


def floor_sample(mode: str, url: str | None, pin: list[str], *options: str) -> Sample:
    """One run of ``benchmarks.python_floor`` (Locust moving bytes, or sha256 alone) on the clients' core."""
    argv = [*pin, sys.executable, "-m", "benchmarks.python_floor", mode, *([url] if url else []), *options]
    stdout, stderr, code, _ = run_measured(argv, 120)
    if code != 0:
        raise BenchError(f"python floor ({mode}): {stderr.strip() or stdout.strip()}")
    figures = json.loads(stdout)
    return Sample(figures["requests"], figures["seconds"], figures["cpu_s"], figures["bytes"])


def generator_sample(url: str, profile: str, options: list[str], users: int, seconds: int, pin: list[str],
                     folder: Path, row: Row) -> Sample:
    """One bounded ``python -m load`` run as a single pinned process; its requests, window and CPU seconds."""
    argv = [*pin, sys.executable, "-m", "load", profile, "--target", url, "--processes", "1", "--users", str(users),
            "--run-time", f"{seconds}s", "--pre-seeded", "--repo-prefix", PREFIX, "--results-dir", str(folder),
            "--quiet", *options, "--", "--run-id", RUN_ID]
    stdout, stderr, code, _ = run_measured(argv, seconds + 120)
    if code != 0:
        raise BenchError(f"load generator ({profile}) exited with {code}: {stderr.strip()[-600:]}")
    details = json.loads((folder / "details.json").read_text())
    totals = details["totals"]
    if totals["failures"] or totals["operation_failures"] or not totals["requests"]:
        raise BenchError(f"load generator ({profile}): {totals['failures']} failed requests: {details['errors']}")
    row.bottleneck_warned = row.bottleneck_warned or bool(details.get("generator_bound"))
    received = totals["bytes_received"]
    return Sample(totals["requests"], details["window_s"], totals["generator_cpu_s"], received)


# -- the run ---------------------------------------------------------------------------------------

def measure(settings: Settings, out: Path, workdir: Path) -> dict:
    from load.images import IMAGE_SIZES, seeded_image  # the same images the load profiles derive

    deadline = Deadline(settings.max_seconds)
    small_image = seeded_image(RUN_ID, "1MiB", PREFIX)
    blob_image = seeded_image(RUN_ID, settings.blob_label, PREFIX)
    docroot = workdir / "docroot"
    http_extra, server_extra = registry_layout(docroot, [small_image, blob_image])
    server_pin, client_pin, pin_note = pick_cores()
    log(f"bench-load: {pin_note}; {settings.rounds} rounds of {settings.seconds}s")
    rows = [Row(fid, title, f"wrk -t1 -c{settings.users}", "small", SMALL_GOAL) for fid, title, _, _ in SMALL]
    layer = blob_image.image.blobs[-1]
    blob_row = Row("blob_get", f"whole-blob pull {settings.blob_label}, every byte hashed", "curl", "blob", BLOB_GOAL)
    load_before = os.getloadavg()
    started = time.monotonic()
    with start_nginx(docroot, workdir, http_extra=http_extra, server_extra=server_extra, pin=server_pin) as url:
        check_layout(url, [small_image, blob_image])
        accept = small_image.image.media_type
        repo = small_image.repo
        urls = {"tags": f"{url}/v2/{repo}/tags/list?n=10", "get": f"{url}/v2/{repo}/manifests/{small_image.tag}",
                "head": f"{url}/v2/{repo}/manifests/{small_image.tag}"}
        log("measuring")
        for round_no in range(1, settings.rounds + 1):
            for row, (_, _, step, method) in zip(rows, SMALL, strict=True):
                deadline.check(f"{row.id} round {round_no}")
                tool = wrk_sample(urls[step], method, accept, settings.seconds, settings.users, client_pin, workdir)
                row.samples["tool"].append(tool)
                mine = generator_sample(url, "resolve", ["--resolve-requests", step, "--image-size", "1MiB",
                                                         "--page-size", "10"], settings.users, settings.seconds,
                                        client_pin, workdir / f"{row.id}-{round_no}", row)
                row.samples["generator"].append(mine)
                floor = floor_sample("http", urls[step], client_pin, "--method", "HEAD" if step == "head" else "GET",
                                     "--accept", accept, "--connections", str(settings.users),
                                     "--seconds", str(settings.seconds))
                row.samples["floor"].append(floor)
                log(f"  {row.id:<14} round {round_no}: wrk {tool.rate:8.0f} req/s {tool.cpu_us:6.1f} µs/req | "
                    f"generator {mine.rate:8.0f} req/s {mine.cpu_us or 0:6.1f} µs/req | "
                    f"floor {floor.rate:8.0f} req/s {floor.cpu_us or 0:6.1f} µs/req")
            deadline.check(f"blob round {round_no}")
            size = IMAGE_SIZES[settings.blob_label]
            tool = curl_sample(f"{url}/v2/{blob_image.repo}/blobs/{layer.digest}", len(layer.data),
                               settings.curl_repeats, client_pin)
            blob_row.samples["tool"].append(tool)
            seconds = max(settings.seconds, 3) if size > 16 * 1024 * 1024 else settings.seconds
            mine = generator_sample(url, "pull", ["--image-size", settings.blob_label], settings.blob_users,
                                    seconds, client_pin, workdir / f"blob-{round_no}", blob_row)
            blob_row.samples["generator"].append(mine)
            floor = floor_sample("sha256", None, client_pin, "--megabytes", str(max(1, len(layer.data) // MIB)),
                                 "--repeats", str(settings.curl_repeats))
            blob_row.samples["floor"].append(floor)
            log(f"  {'blob_get':<14} round {round_no}: curl {tool.mb_per_s:8.0f} MB/s | generator "
                f"{mine.mb_per_s:8.0f} MB/s | floor {floor.mb_per_s:8.0f} MB/s")
    rows.append(blob_row)
    return {
        "meta": {
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(time.monotonic() - started, 1),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_before": [round(x, 2) for x in load_before],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()]},
            "pinning": pin_note,
            "settings": asdict(settings),
            "caveats": list(CAVEATS),
        },
        "rows": [r.to_dict() for r in rows],
    }


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(document: dict) -> str:
    """The printed table: each figure's tool and generator side by side, the ratio and the goal."""
    header = ("figure", "tool", "tool req/s", "gen req/s", "tool CPU µs/req", "gen CPU µs/req",
              "tool /core", "gen /core", "floor /core", "ratio", "floor ratio", "goal", "met?")
    lines = [header]
    for row in document["rows"]:
        tool, gen = row["samples"]["tool"], row["samples"]["generator"]

        def med(samples: list[dict], key: str) -> float | None:
            values = [s[key] for s in samples if s[key] is not None]
            return statistics.median(values) if values else None

        if row["kind"] == "small":
            cells = (_num(med(tool, "rate")), _num(med(gen, "rate")), _num(med(tool, "cpu_us"), 1),
                     _num(med(gen, "cpu_us"), 1), _num(row["per_core"]["tool"]), _num(row["per_core"]["generator"]),
                     _num(row["per_core"]["floor"]))
        else:
            cells = (_num(med(tool, "mb_per_s")) + " MB/s", _num(med(gen, "mb_per_s")) + " MB/s", "-", "-",
                     *(_num(row["per_core"][who]) + " MB/s" for who in ("tool", "generator", "floor")))
        met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
        if row["met"] is False and row["within_floor"] is False:
            met += " (beyond floor)"
        mark = "*" if row["generator_bottleneck_warned"] else ""
        lines.append((row["title"], row["tool"], *cells, _num(row["ratio"], 2) + mark,
                      _num(row["floor_ratio"], 2), f">= {row['goal']:g}x", met))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths,
                                                                                                    strict=True)))
            for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    meta = document["meta"]
    load = meta["machine"]
    text += [
        "",
        "ratio: small requests = generator req/s per core / wrk's (per core = 10^6 / CPU µs per request); "
        "blobs = generator MB/s / curl's, one core each. /core for blobs = MB per CPU second.",
        "floor: benchmarks/python_floor.py on the same core. Small requests: as many Locust users, one "
        "connection each, moving bytes (status line read, nothing checked, each request in Locust's stats). "
        "Blobs: sha256 alone over the blob's bytes already in memory, nothing received (MB per CPU second). "
        "'beyond floor': the goal is above the floor, so no generator on Locust (small) or verifying every "
        "byte (blobs) meets it on this machine; the generator's cost above the floor is its client, checks "
        "and statistics.",
        f"{meta['pinning']}; load average {load['load_average_before'][0]:.2f} before, "
        f"{load['load_average_after'][0]:.2f} after; {meta['generated_at']}; * = the generator warned it was "
        "CPU-bound (expected: on one pinned core the generator is the limit by design).",
    ]
    text += [f"note: {c}" for c in meta["caveats"]]
    return "\n".join(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench-load", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round, small blob (smoke test)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3)")
    parser.add_argument("--seconds", type=int, help="length of each client run (default 5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default results/bench-load)")
    parser.add_argument("--tmpdir", help="where the static registry and runs live (default a temporary folder)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.rounds:
        settings.rounds = max(1, min(args.rounds, 10))
    if args.seconds:
        settings.seconds = max(1, min(args.seconds, 60))
    try:
        with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="bench-load-", dir=args.tmpdir) as tmp:
            document = measure(settings, args.out, Path(tmp))
    except KeyboardInterrupt:
        log("bench-load: interrupted; servers stopped, temporary data removed")
        return 130
    except BenchError as exc:
        log(f"bench-load: {str(exc).splitlines()[0] if str(exc) else exc!r}")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    print(render(document))
    print(f"written: {args.out / 'results.json'}")
    missed = [r["id"] for r in document["rows"] if r["met"] is False]
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
