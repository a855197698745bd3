"""Who may do what: users and per-repository rules from a small access file (JSON or YAML).

    {"users": {"alice": "$2b$10$...", "bob": {"password": "$2y$05$..."}},
     "htpasswd": "more-users.htpasswd",
     "access": [
       {"account": "alice", "name": "team/*", "actions": ["pull", "push"]},
       {"account": "*", "name": "public/*", "actions": ["pull"]},
       {"account": "anonymous", "name": "public/*", "actions": ["pull"]},
       {"account": "alice", "type": "registry", "name": "catalog", "actions": ["*"]}]}

``account`` is a user name, ``*`` (any signed-in user) or ``anonymous`` (everyone, signed in or
not); ``name`` is a glob over repository names (``*`` also crosses ``/``); ``type`` defaults to
``repository``; the action ``*`` grants every action. Rules add up; nothing is allowed otherwise.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path

from reference_server.auth.passwords import BCRYPT_PREFIXES, PasswordFileError, read_htpasswd
from reference_server.auth.scopes import ALL, Access

ANONYMOUS = "anonymous"
ANY_USER = "*"


@dataclass(frozen=True)
class Rule:
    """One grant: ``account`` may do ``actions`` on resources of ``type`` whose name matches ``name``."""

    account: str
    name: str
    actions: frozenset[str]
    type: str = "repository"

    def applies(self, account: str, rtype: str, name: str) -> bool:
        if self.type != rtype or not fnmatch.fnmatchcase(name, self.name):
            return False
        if self.account == ANONYMOUS:
            return True
        if self.account == ANY_USER:
            return bool(account)
        return bool(account) and self.account == account


@dataclass
class Policy:
    """Users (bcrypt hashes) and the rules that grant them access."""

    users: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)

    def allowed(self, account: str, rtype: str, name: str) -> frozenset[str]:
        """Every action ``account`` ('' for anonymous) may do on the resource."""
        actions: set[str] = set()
        for rule in self.rules:
            if rule.applies(account, rtype, name):
                actions |= rule.actions
        return frozenset(actions)

    def grant(self, account: str, wanted: Access) -> Access | None:
        """The part of ``wanted`` the account may have, or None when nothing is allowed."""
        allowed = self.allowed(account, wanted.type, wanted.name)
        granted = wanted.actions if ALL in allowed else wanted.actions & allowed
        return Access(wanted.type, wanted.name, frozenset(granted)) if granted else None


def open_policy() -> Policy:
    """The policy of ``--auth token`` without a file: anyone, even anonymous, may do everything."""
    return Policy(rules=[
        Rule(ANONYMOUS, "*", frozenset({ALL})),
        Rule(ANONYMOUS, "catalog", frozenset({ALL}), type="registry"),
    ])


def load_policy(path: str | Path) -> Policy:
    """Read an access file (JSON, or YAML when PyYAML is installed and the name ends in .yml/.yaml)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PasswordFileError(f"cannot read access file {path}: {exc.strerror}") from exc
    if path.suffix in (".yml", ".yaml"):
        try:
            import yaml
        except ImportError as exc:
            raise PasswordFileError("YAML access files need PyYAML; use JSON instead") from exc
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PasswordFileError(f"access file {path} is not valid JSON: {exc}") from exc
    return policy_from_dict(data, base=path.parent)


def policy_from_dict(data: object, base: Path = Path(".")) -> Policy:
    """Build a Policy from the access file's parsed content (see the module docstring)."""
    if not isinstance(data, dict):
        raise PasswordFileError("access file must hold an object with 'users' and 'access'")
    users: dict[str, str] = {}
    if data.get("htpasswd"):
        users.update(read_htpasswd(base / str(data["htpasswd"])))
    for user, entry in (data.get("users") or {}).items():
        hashed = entry.get("password") if isinstance(entry, dict) else entry
        if not isinstance(hashed, str) or not hashed.startswith(BCRYPT_PREFIXES):
            raise PasswordFileError(f"user {user!r}: password must be a bcrypt hash")
        users[str(user)] = hashed
    rules = []
    for number, entry in enumerate(data.get("access") or [], 1):
        if not isinstance(entry, dict) or "account" not in entry or "name" not in entry:
            raise PasswordFileError(f"access rule {number}: needs 'account', 'name' and 'actions'")
        actions = entry.get("actions") or []
        if isinstance(actions, str):
            actions = [a for a in actions.split(",") if a]
        rules.append(Rule(str(entry["account"]), str(entry["name"]), frozenset(str(a) for a in actions),
                          str(entry.get("type") or "repository")))
    return Policy(users, rules)
