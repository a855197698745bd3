"""JSON Schemas of registry responses (error body, tags list, catalog, OCI manifest and index).

The schema files live in ``fixtures/schemas/*.json`` (found through registry_harness.data, so
an installed package finds them too); ``validate`` and ``error_codes`` turn a violation into one readable
AssertionError, so a check that uses them fails (rather than errors) on a broken registry.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from registry_harness import spec
from registry_harness.data import read_json

NAMES = ("error", "tags-list", "catalog", "descriptor", "oci-index", "oci-manifest")
URN_PREFIX = "urn:registry-harness:schema:"
MAX_PROBLEMS = 5


class SchemaViolation(AssertionError):
    """A registry answer that breaks its schema (or is not JSON at all); the message says where."""


@cache
def load(name: str) -> dict[str, Any]:
    """The schema called ``name`` (one of NAMES) as a dict."""
    if name not in NAMES:
        raise KeyError(f"unknown schema {name!r}; choose one of {', '.join(NAMES)}")
    schema = read_json("schemas", f"{name}.json")
    if name == "error":
        codes = set(schema["properties"]["errors"]["items"]["properties"]["code"]["enum"])
        if codes != set(spec.ERROR_CODES):
            raise RuntimeError("error.json code enum differs from registry_harness.spec.ERROR_CODES; update one")
    return schema


@cache
def _registry() -> Registry:
    resources = [(URN_PREFIX + name, Resource.from_contents(load(name))) for name in NAMES]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for schema ``name`` that resolves references between the schema files."""
    return Draft202012Validator(load(name), registry=_registry())


def problems(name: str, instance: object) -> list[str]:
    """Readable violations of schema ``name`` by ``instance`` (empty when it is valid)."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"at {_where(e.absolute_path)}: {_shorten(e.message)}" for e in errors]


def validate(name: str, instance: object, what: str = "") -> None:
    """Raise SchemaViolation naming the first few violations when ``instance`` breaks schema ``name``."""
    found = problems(name, instance)
    if not found:
        return
    head = f"{what + ': ' if what else ''}body does not match the {name} schema"
    lines = [head, *(f"  {p}" for p in found[:MAX_PROBLEMS])]
    if len(found) > MAX_PROBLEMS:
        lines.append(f"  … {len(found) - MAX_PROBLEMS} more")
    lines.append(f"  body: {_shorten(json.dumps(instance), 600)}")
    raise SchemaViolation("\n".join(lines))


def parse_json(body: bytes | str, what: str = "") -> Any:
    """Decode a JSON body or raise SchemaViolation showing the start of what came instead."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
    try:
        return json.loads(text)
    except ValueError as exc:
        shown = _shorten(text, 300) if text else "(empty body)"
        raise SchemaViolation(f"{what + ': ' if what else ''}body is not JSON ({exc.msg}): {shown}") from None


def check(name: str, body: bytes | str, what: str = "") -> Any:
    """Parse a JSON body, validate it against schema ``name`` and return the parsed value."""
    value = parse_json(body, what)
    validate(name, value, what)
    return value


def error_codes(body: bytes | str, what: str = "") -> list[str]:
    """The codes of a registry error body, after checking it is JSON in the error schema's shape."""
    value = check("error", body, what)
    return [entry["code"] for entry in value["errors"]]


def _where(path: object) -> str:
    parts = list(path)  # type: ignore[call-overload]
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expect_error(
    explain: Any,
    response: Any,
    statuses: int | tuple[int, ...],
    codes: tuple[str, ...] | str,
    what: str = "",
    *,
    require_json: bool = True,
) -> list[str]:
    """Judge a 4xx answer: its status is one of ``statuses`` (never 5xx), its body is the JSON error
    envelope (when ``require_json``, or whenever it is JSON) and one of its codes is in ``codes``.

    ``explain`` is ``RegistryClient.explain`` (request line, status and body for the message).
    Returns the codes found (empty for an accepted non-JSON body). Raises AssertionError.
    """
    allowed_status = (statuses,) if isinstance(statuses, int) else tuple(statuses)
    allowed_codes = (codes,) if isinstance(codes, str) else tuple(codes)
    label = what or "error answer"
    if response.status_code >= 500:
        raise AssertionError(explain(response, allowed_status, f"{label}: server error on a client mistake"))
    if response.status_code not in allowed_status:
        raise AssertionError(explain(response, allowed_status, label))
    body = response.content or b""
    content_type = (response.headers.get("Content-Type") or "").lower()
    looks_json = "json" in content_type or body.lstrip()[:1] in (b"{", b"[")
    if not require_json and not looks_json:
        return []
    if response.request is not None and response.request.method == "HEAD":
        return []
    found = error_codes(body, f"{label} ({response.request.method} {response.status_code})")
    if not any(code in allowed_codes for code in found):
        raise AssertionError(
            explain(response, allowed_status, label)
            + f"\n  error code {', '.join(found)} does not fit; expected {' or '.join(allowed_codes)}"
        )
    return found
