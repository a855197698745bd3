"""The platform hooks the upload path relies on are really there on Linux with glibc, so a
refactoring cannot lose them silently (the server would still work, only slower)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from reference_server.allocator import tune_allocator
from reference_server.storage import filesystem

glibc_linux = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                 reason="glibc on Linux only")


@glibc_linux
def test_malloc_thresholds_are_accepted() -> None:
    assert tune_allocator() is True


@glibc_linux
def test_upload_files_get_early_writeback(tmp_path: Path) -> None:
    assert filesystem._sync_file_range is not None
    path = tmp_path / "data"
    path.write_bytes(b"")
    sink = filesystem._FileSink(str(path))
    try:
        piece = os.urandom(1 << 20)
        for _ in range(filesystem.WRITEBACK_STEP // len(piece) + 1):
            sink.write(piece)
        assert sink._flushed == filesystem.WRITEBACK_STEP  # the hint went out after the step
        sink.truncate(3)
        assert sink._flushed == 3 and path.stat().st_size == 3
    finally:
        sink.close()
