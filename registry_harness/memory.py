"""Keep the harness's address space small, so it runs under a tight ``ulimit -v`` (as CI gates often do).

glibc gives each new thread a malloc arena of its own and reserves 64 MiB of address space for it:
six worker threads reserve nearly 400 MiB they never use. Two arenas serve a GIL-bound program as well.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # glibc's mallopt parameter number for the arena cap
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (for threads started from now on); False where not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1
