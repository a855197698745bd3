"""Allocator settings for the server process: keep large body buffers on the heap.

An upload arrives as 256 KiB pieces, each copied by the socket read and again by aiohttp's HTTP
parser. glibc serves blocks that size with fresh ``mmap`` regions and returns the heap's free top
to the kernel eagerly, so every piece costs page faults and the kernel zeroing new pages (about a
third of the event loop's CPU for an upload). Fixed thresholds let freed pieces be reused instead;
the trim threshold bounds how much free memory the heap keeps.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20  # blocks at least this large still get their own mapping
TRIM_THRESHOLD = 16 << 20  # free heap kept before it is returned to the kernel


def tune_allocator() -> bool:
    """Apply the thresholds through glibc's ``mallopt``; False (and no change) on other C libraries."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("allocator thresholds %s", "set" if done else "unchanged")
    return done
