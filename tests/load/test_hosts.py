"""A distributed load run across hosts: the registry, the Locust master and two workers each in a
network namespace of its own, made by this test (veth pairs to a bridge inside a hub namespace,
addresses 10.251.0.x that exist only inside those namespaces). Proves the workers' figures merge
on the master, the gates apply to the merged figures, and every process stops by itself.

Skipped with a reason where namespaces cannot be made (not root, no ``ip``); with
``REQUIRE_PEERS=1`` that absence fails instead. Namespaces are deleted in a ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from registry_harness.processes import stop_process
from tests.load.conftest import REPO_ROOT
from tests.peers.support import missing_peer

SUBNET = "10.251.0"
HOSTS = {"registry": 2, "master": 3, "worker1": 4, "worker2": 5}
RUN_SECONDS = 6
BOUND = 150  # seconds within which master and workers must have ended on their own


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=check)


class Hosts:
    """The namespaces of one test: ``exec(host, argv)`` runs a command on a host."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.hub = f"rh-{tag}-hub"
        self.names = {host: f"rh-{tag}-{host}" for host in HOSTS}
        self.tag = tag

    def address(self, host: str) -> str:
        return f"{SUBNET}.{HOSTS[host]}"

    def create(self) -> None:
        ip("netns", "add", self.hub)
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "link", "set", "br0", "up")
        for index, (host, ns) in enumerate(self.names.items()):
            ip("netns", "add", ns)
            port = f"p{index}-{self.tag}"
            # Both ends are created inside the test's namespaces: nothing appears in the host's network.
            ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", self.hub)
            ip("-n", self.hub, "link", "set", port, "master", "br0")
            ip("-n", self.hub, "link", "set", port, "up")
            ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def delete(self) -> None:
        for ns in [*self.names.values(), self.hub]:
            ip("netns", "delete", ns, check=False)

    def popen(self, host: str, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.names[host], *argv], cwd=REPO_ROOT, text=True,
                                **kwargs)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing_peer("network namespaces need root and iproute2's ip")
    made = Hosts()
    try:
        made.create()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        made.delete()
        detail = exc.stderr.strip().splitlines()[0] if getattr(exc, "stderr", None) else str(exc)
        missing_peer(f"cannot create network namespaces here: {detail}")
    try:
        yield made
    finally:
        made.delete()


def wait_listening(process: subprocess.Popen, timeout: float = 30) -> str:
    """The registry's 'listening on URL' line (bounded)."""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("listening on "):
            return line.split()[-1]
        if process.poll() is not None:
            break
    raise AssertionError("the registry did not start in its namespace")


def test_master_and_two_workers_on_separate_hosts(hosts: Hosts, tmp_path) -> None:
    folder = tmp_path / "results"
    logs = {name: tmp_path / f"{name}.log" for name in ("worker1", "worker2")}
    registry_at = f"{hosts.address('registry')}:5000"
    started = []
    master_err = ""
    try:
        registry = hosts.popen("registry", [sys.executable, "-m", "reference_server", "--listen", registry_at,
                                            "--storage", "memory"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(registry)
        wait_listening(registry)
        master = hosts.popen("master", [
            sys.executable, "-m", "load", "pull", "--target", registry_at, "--tls", "disabled", "--allow-remote",
            "--master", "--master-bind-host", hosts.address("master"), "--master-port", "5557", "--expect-workers", "2",
            "--users", "4", "--run-time", f"{RUN_SECONDS}s", "--image-size", "1MiB", "--quiet",
            "--results-dir", str(folder),
            # Gates on the merged figures: two within reach, one out of reach, so the run must fail with 1.
            "--max-failure-ratio", "0", "--min-rps", "1", "--max-p95-ms", "0.001",
        ], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(master)
        workers = [hosts.popen(name, [sys.executable, "-m", "load", "pull", "--worker", "--master-host",
                                      hosts.address("master"), "--master-port", "5557",
                                      "--run-time", f"{RUN_SECONDS}s"],
                               stdout=subprocess.DEVNULL, stderr=logs[name].open("w"))
                   for name in ("worker1", "worker2")]
        started += workers
        deadline = time.monotonic() + BOUND
        _, master_err = master.communicate(timeout=BOUND)
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=max(deadline - time.monotonic(), 1))
        worker_codes = [w.poll() for w in workers]
    finally:
        alive = [p.args for p in started[1:] if p.poll() is None]
        for process in started:
            if process.poll() is None:
                stop_process(process)
    tails = "\n".join(f"{name}: {path.read_text()[-1500:]}" for name, path in logs.items())
    assert not alive, f"master or workers had to be stopped: they must end by themselves\n{master_err[-2000:]}\n{tails}"

    assert master.returncode == 1, master_err[-3000:]
    assert worker_codes == [0, 0], tails
    details = json.loads((folder / "details.json").read_text())
    assert details["target"] == f"http://{registry_at}"
    assert details["workers"] == 2
    per_worker = details["requests_per_worker"]
    totals = details["totals"]
    # Each worker's figures reached the master and add up to the totals the gates judged.
    assert len(per_worker) == 2 and all(count > 0 for count in per_worker.values()), per_worker
    assert sum(per_worker.values()) == totals["requests"] and totals["failures"] == 0
    assert sum(1 for label in details["generator_cpu"] if label.startswith("worker-")) == 2
    gates = {g["gate"]: g for g in details["gates"]}
    assert gates["max_failure_ratio"]["passed"] and gates["min_rps"]["passed"]
    assert gates["max_p95_ms"]["passed"] is False and gates["max_p95_ms"]["actual"] == totals["p95_ms"]
    assert "gate --max-p95-ms FAILED" in master_err
