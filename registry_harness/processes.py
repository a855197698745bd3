"""Local process plumbing shared by the peer launchers, the load runner, the benchmarks and tests:
a free loopback port to hand a child process, and a bounded stop (terminate, then kill)."""

from __future__ import annotations

import socket
import subprocess

STOP_TIMEOUT = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the child binds it a moment later; nothing listens on it yet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> int:
    """Terminate ``process``, waiting at most ``timeout`` seconds before killing it; return its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    return process.returncode
