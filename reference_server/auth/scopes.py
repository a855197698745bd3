"""Resource scopes of the token protocol (``repository:team/app:pull,push``) and what a request needs.

The grammar follows Docker's token scope document: ``type[(class)]:name:actions``, where the name
may itself contain a colon (a ``host:port/`` prefix), so the type ends at the first colon and the
actions start after the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry_harness import paths
from registry_harness.paths import Endpoint, RegistryPath
from registry_harness.spec import valid_name

PULL, PUSH, DELETE, ALL = "pull", "push", "delete", "*"
REPOSITORY_ACTIONS = frozenset({PULL, PUSH, DELETE})
CATALOG = ("registry", "catalog")


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


def needed_access(method: str, path: str | RegistryPath | None, query: dict[str, str]) -> Need:
    """The access a registry request needs, from its method and path (``/v2/`` needs none).

    ``path`` is split by ``registry_harness.paths`` (or given already split, as the router did),
    so the repository checked here is always the one the handler will touch.
    """
    parsed = paths.parse(path) if isinstance(path, str) else path
    if parsed is None or parsed.endpoint in (Endpoint.BASE, Endpoint.DISCOVER):
        return Need()
    if parsed.endpoint is Endpoint.CATALOG:
        return Need((Access(*CATALOG, frozenset({ALL})),))
    name = parsed.name
    if not valid_name(name):
        # No account can hold rights on a name the grammar forbids, and the handler answers
        # NAME_INVALID without touching any data: let the client learn its real mistake.
        return Need()
    return Need((Access("repository", name, frozenset(paths.required_actions(method, parsed.endpoint))),),
                _mount_source(method, parsed, query))


def _mount_source(method: str, parsed: RegistryPath, query: dict[str, str]) -> Access | None:
    source = query.get("from")
    if (method == "POST" and parsed.endpoint is Endpoint.UPLOAD_START and query.get("mount") and source
            and source != parsed.name and valid_name(source)):
        return Access("repository", source, frozenset({PULL}))
    return None


def covers(granted: frozenset[str], wanted: frozenset[str]) -> bool:
    """True when the granted actions include every wanted one (``*`` grants everything)."""
    return ALL in granted or wanted <= granted
