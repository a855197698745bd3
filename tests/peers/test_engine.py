"""The private Docker engine: it answers on its own short socket, and stopping it (also when the code
using it fails) ends the daemon by its PID and leaves no mount, process or folder behind."""

from __future__ import annotations

import os

import pytest

from registry_harness import engine as engine_module
from registry_harness.engine import SOCKET_LIMIT, _mounts_under, api_get, start_engine, unavailable_reason
from tests.peers.support import missing_peer


def test_an_engine_that_fails_its_user_is_still_cleaned_up() -> None:
    reason = unavailable_reason()
    if reason:
        missing_peer(reason)
    with pytest.raises(RuntimeError, match="the test using it failed"), start_engine() as engine:
        assert len(str(engine.socket_path).encode()) <= SOCKET_LIMIT
        assert api_get(engine.socket_path, "/_ping")[0] == 200
        assert engine.storage_driver in ("overlay2", "vfs") and engine.version.startswith("20.10")
        root, pid = engine.root, engine.process.pid
        assert _mounts_under(root), "the engine mounted nothing under its folder"
        raise RuntimeError("the test using it failed")
    assert engine.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _mounts_under(root) == [] and not root.exists()


def test_without_root_or_binaries_the_reason_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module.os, "geteuid", lambda: 1000)
    reason = unavailable_reason()
    assert reason is not None and "\n" not in reason
    assert "root" in reason or "is not installed" in reason
    monkeypatch.setattr(engine_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(engine_module.os, "access", lambda path, mode: False)
    assert unavailable_reason() == "dockerd is not installed (apt-get install docker.io)"
