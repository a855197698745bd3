"""Resource scopes of the token protocol (``repository:team/app:pull,push``) and what a request needs.

The grammar follows Docker's token scope document: ``type[(class)]:name:actions``, where the name
may itself contain a colon (a ``host:port/`` prefix), so the type ends at the first colon and the
actions start after the last one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry_harness.spec import valid_name

PULL, PUSH, DELETE, ALL = "pull", "push", "delete", "*"
REPOSITORY_ACTIONS = frozenset({PULL, PUSH, DELETE})
CATALOG = ("registry", "catalog")
_REPO_PATH_RE = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>blobs|manifests|tags|referrers)(?:/|$)")


@dataclass(frozen=True)
class Access:
    """One resource scope: type, name and a set of actions (``*`` means every action)."""

    type: str
    name: str
    actions: frozenset[str]

    def scope(self) -> str:
        """The scope string, actions in a stable order (``pull,push,delete``)."""
        order = {PULL: 0, PUSH: 1, DELETE: 2}
        actions = ",".join(sorted(self.actions, key=lambda a: (order.get(a, 9), a)))
        return f"{self.type}:{self.name}:{actions}"

    def claim(self) -> dict[str, object]:
        """The entry of a token's ``access`` claim."""
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(text: str) -> list[Access]:
    """Parse one scope parameter (possibly several space-separated scopes); bad parts are skipped."""
    result = []
    for item in (text or "").split():
        rtype, sep, rest = item.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2 or not name:
            continue
        rtype = rtype.split("(", 1)[0]
        wanted = frozenset(a for a in actions.split(",") if a)
        if rtype and wanted:
            result.append(Access(rtype, name, wanted))
    return result


def merge(accesses: list[Access]) -> list[Access]:
    """Combine entries for the same resource into one, keeping first-seen order."""
    merged: dict[tuple[str, str], set[str]] = {}
    for access in accesses:
        merged.setdefault((access.type, access.name), set()).update(access.actions)
    return [Access(t, n, frozenset(a)) for (t, n), a in merged.items()]


@dataclass(frozen=True)
class Need:
    """What a request needs: the required scopes, plus a pull on a mount source that is optional.

    Without the optional pull the mount is not done and the request becomes a plain upload.
    """

    required: tuple[Access, ...] = ()
    mount_source: Access | None = None


def needed_access(method: str, path: str, query: dict[str, str]) -> Need:
    """The access a registry request needs, from its method and path (``/v2/`` needs none)."""
    if path.startswith("/v2/_catalog"):
        return Need((Access(*CATALOG, frozenset({ALL})),))
    match = _REPO_PATH_RE.match(path)
    if not match:
        return Need()
    name = match.group("name")
    if not valid_name(name):
        # No account can hold rights on a name the grammar forbids, and the handler answers
        # NAME_INVALID without touching any data: let the client learn its real mistake.
        return Need()
    if method in ("GET", "HEAD", "OPTIONS"):
        actions = frozenset({PULL})
    elif method == "DELETE" and match.group("kind") in ("blobs", "manifests") and "/uploads/" not in path:
        actions = frozenset({DELETE})
    else:
        actions = frozenset({PULL, PUSH})
    mount_source = None
    source = query.get("from")
    if method == "POST" and query.get("mount") and source and source != name and valid_name(source):
        mount_source = Access("repository", source, frozenset({PULL}))
    return Need((Access("repository", name, actions),), mount_source)


def covers(granted: frozenset[str], wanted: frozenset[str]) -> bool:
    """True when the granted actions include every wanted one (``*`` grants everything)."""
    return ALL in granted or wanted <= granted
