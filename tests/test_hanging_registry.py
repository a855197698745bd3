"""A registry that stops answering: the suite reports it and finishes, instead of hanging for hours.

The registry answers ``/v2/`` (so it passes the preflight) and then never answers anything else.
With a 1-second request timeout, the first three requests time out; after that the client stops
sending and every remaining check fails at once, saying the registry stopped answering.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from aiohttp import web

from reference_server.launcher import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
HANG_SECONDS = 20  # bounded: each stuck handler ends by itself


def hanging_registry() -> web.Application:
    async def base(request: web.Request) -> web.Response:
        return web.json_response({}, headers={"Docker-Distribution-API-Version": "registry/2.0"})

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(HANG_SECONDS)
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/v2/", base)
    app.router.add_route("*", "/{tail:.*}", hang)
    return app


def test_a_registry_that_stops_answering_fails_fast_with_a_reason(tmp_path):
    with serve_in_thread(hanging_registry()) as url:
        process = subprocess.run(
            [sys.executable, "-m", "conformance", "--target", url, "-m", "push", "--request-timeout", "1",
             "--skip-cleanup", "--results-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=240, cwd=ROOT, stdin=subprocess.DEVNULL,
        )
    assert process.returncode == 1, process.stdout[-2000:] + process.stderr[-2000:]
    checks = json.loads((tmp_path / "results.json").read_text())["checks"]
    ran = [c for c in checks if c["status"] not in ("disabled", "skip")]
    assert len(ran) > 5 and all(c["status"] == "fail" for c in ran), [(c["id"], c["status"]) for c in ran]
    reasons = [c.get("message") or "" for c in ran]
    timed_out = [r for r in reasons if "timed out" in r and "stopped answering" not in r]
    stopped = [r for r in reasons if "stopped answering" in r]
    assert 1 <= len(timed_out) <= 3, reasons
    assert len(stopped) == len(ran) - len(timed_out), reasons


def test_every_client_of_the_run_gives_up_together(tmp_path):
    """The auth area's anonymous client, the concurrency workers and the rate-limit probe are clients of
    their own, yet the stall is one: at most three requests wait their timeout in the whole run, and the
    base area runs first, so its GET /v2/ does not re-arm the count between areas."""
    with serve_in_thread(hanging_registry()) as url:
        process = subprocess.run(
            [sys.executable, "-m", "conformance", "--target", url, "-m", "auth or concurrency or hosted or base",
             "--request-timeout", "1", "--skip-cleanup", "--results-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=240, cwd=ROOT, stdin=subprocess.DEVNULL,
        )
    assert process.returncode == 1, process.stdout[-2000:] + process.stderr[-2000:]
    checks = json.loads((tmp_path / "results.json").read_text())["checks"]
    assert {c["status"] for c in checks if c["area"] == "base"} == {"pass"}
    waited = {(e["method"], e["url"]) for c in checks for e in c["exchanges"]
              if "timed out" in (e.get("error") or "") and "not sent" not in e["error"]}
    assert 1 <= len(waited) <= 3, waited  # a module fixture's request is shown in each of its checks: counted once
    areas = {c["area"] for c in checks if "stopped answering" in c["message"]}
    assert {"hosted", "concurrency"} <= areas, areas  # auth, the first area after base, did the waiting
