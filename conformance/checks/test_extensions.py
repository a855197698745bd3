"""Extension discovery (OCI distribution-spec ``extensions/_oci.md``): ``GET /v2/_oci/ext/discover``
lists the extensions a registry serves. Optional: a registry without it answers 404 (unsupported)."""

from __future__ import annotations

from conformance.rules import rule, unsupported
from conformance.steps import is_json
from registry_harness.client import RegistryClient

DISCOVER = "/v2/_oci/ext/discover"


@rule("ext-discover", "MAY", "discovery",
      'GET /v2/_oci/ext/discover answers 200 with JSON {"extensions": [...]}, each entry naming the extension '
      "(name, url)", doc="OCI main")
def test_extension_discovery(client: RegistryClient) -> None:
    response = client.request("GET", DISCOVER)
    if response.status_code in (404, 405):
        unsupported(f"no extension discovery ({response.status_code})")
    client.check(response, 200, "GET /v2/_oci/ext/discover")
    assert is_json(response), client.explain(response, (200,), "extension discovery") + \
        f"\n  Content-Type {response.headers.get('Content-Type')!r} is not application/json"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("extensions"), list), \
        f'extension discovery answered {str(body)[:300]}, not an object with an "extensions" list'
    for number, entry in enumerate(body["extensions"], 1):
        assert isinstance(entry, dict), f"extension {number} is {entry!r}, not an object"
        name, url = entry.get("name"), entry.get("url")
        assert isinstance(name, str) and name, f"extension {number} has no name: {entry}"
        assert isinstance(url, str) and url, f"extension {name!r} has no url to its documentation: {entry}"
        endpoints = entry.get("endpoints", [])
        assert isinstance(endpoints, list) and all(isinstance(e, str) for e in endpoints), \
            f"extension {name!r}: endpoints {endpoints!r} is not a list of strings"
