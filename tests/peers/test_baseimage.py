"""The local base image's recipe: it comes from the mirror the host's apt uses, and its cache key changes
with every input (so a changed recipe or CA bundle never reuses a stale tarball)."""

from __future__ import annotations

from pathlib import Path

from registry_harness import baseimage


def test_the_mirror_is_the_one_the_hosts_apt_sources_name(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n")
    assert baseimage.host_mirror("bookworm", tmp_path) == "http://mirror.invalid/debian"
    assert baseimage.host_mirror("bookworm-security", tmp_path) == "http://mirror.invalid/debian-security"
    assert baseimage.host_mirror("trixie", tmp_path) is None

    one_line = tmp_path / "one-line"
    one_line.mkdir()
    (one_line / "sources.list").write_text("# comment\ndeb [arch=amd64] http://other.invalid/d bookworm main\n"
                                           "deb http://local.invalid/debian bookworm main contrib\n")
    assert baseimage.host_mirror("bookworm", one_line) == "http://local.invalid/debian"


def test_the_cache_key_follows_every_input(monkeypatch) -> None:
    key = baseimage.cache_key("bookworm", "http://mirror.invalid/debian")
    assert key == baseimage.cache_key("bookworm", "http://mirror.invalid/debian") and len(key) == 16
    assert key != baseimage.cache_key("trixie", "http://mirror.invalid/debian")
    assert key != baseimage.cache_key("bookworm", None)
    monkeypatch.setattr(baseimage, "RECIPE", baseimage.RECIPE + 1)
    assert key != baseimage.cache_key("bookworm", "http://mirror.invalid/debian")
    monkeypatch.setattr(baseimage, "PACKAGES", (*baseimage.PACKAGES, "curl"))
    assert baseimage.cache_key("bookworm", "http://mirror.invalid/debian") != key
