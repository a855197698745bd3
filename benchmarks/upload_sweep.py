"""``python -m benchmarks.upload_sweep [--sessions N]``: what the upload expiry sweep costs the event loop.

Opens N sessions (default 10,000) in filesystem storage, then prints, measured in one run:
the time listing them from the store takes (what a sweep walking ``storage.uploads()`` on the
event loop blocks it for), and the longest gap between two turns of a 1 ms ticker while the
real sweep (``uploads.expire_sessions``) expires every one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from reference_server.config import ServerConfig
from reference_server.context import RegistryContext
from reference_server.storage import FilesystemStorage
from reference_server.uploads import expire_sessions


async def _measure(sessions: int, root: str) -> dict[str, float]:
    storage = FilesystemStorage(root)
    ctx = RegistryContext(config=ServerConfig(root=root, upload_ttl=0.0), storage=storage)
    for number in range(sessions):
        ctx.sessions.add(await storage.upload_create(f"bench/repo-{number % 16}", "sha256"))
    started = time.perf_counter()
    listed = len(storage.uploads())
    listing = time.perf_counter() - started
    assert listed == sessions, listed

    gaps: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    expired = await expire_sessions(ctx)
    sweep = time.perf_counter() - started
    running = False
    await task
    assert expired == sessions, expired
    return {"listing_ms": listing * 1000, "sweep_s": sweep, "longest_gap_ms": max(gaps) * 1000,
            "ticks": len(gaps)}


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upload_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as root:
        figures = asyncio.run(_measure(args.sessions, root))
    print(f"sessions:                                {args.sessions}")
    print(f"listing them from the store (on a loop): {figures['listing_ms']:.0f} ms")
    print(f"expiry sweep, all expired:               {figures['sweep_s']:.1f} s, "
          f"longest event-loop gap {figures['longest_gap_ms']:.1f} ms ({figures['ticks']} ticks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
