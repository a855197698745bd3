"""Base checks: the API version endpoint ``GET /v2/`` (end-1) and how it announces itself."""

from __future__ import annotations

from conformance.rules import rule, should
from registry_harness import spec
from registry_harness.auth import parse_challenges
from registry_harness.client import RegistryClient


@rule("end-1", "MUST", "base",
      "GET /v2/ answers 200 (the registry implements the API) or 401 with a usable WWW-Authenticate challenge")
def test_api_version_check(client: RegistryClient) -> None:
    response = client.ping(authenticate=False, expect=(200, 401))
    if response.status_code == 401:
        header = response.headers.get("WWW-Authenticate")
        assert header, "401 from GET /v2/ without a WWW-Authenticate header: clients cannot tell how to log in"
        challenges = parse_challenges(header)
        usable = [c for c in challenges if c.scheme in ("basic", "bearer")]
        assert usable, f"WWW-Authenticate {header!r} offers neither a Basic nor a Bearer challenge"
        bearer = next((c for c in usable if c.scheme == "bearer"), None)
        if bearer is not None:
            realm = bearer.realm or ""
            assert realm.startswith(("http://", "https://")), \
                f"Bearer challenge realm {realm!r} is not an absolute http(s) URL to ask for a token"


@rule("end-1", "MUST", "base",
      "with the configured credentials (or anonymously) GET /v2/ ends in 200 once the challenge is answered")
def test_api_version_check_authenticated(client: RegistryClient) -> None:
    response = client.ping()
    assert response.status_code == 200, client.explain(
        response, (200,), "GET /v2/ after answering the authentication challenge"
    ) + ("\n  (no credentials configured: set OCI_USERNAME/OCI_PASSWORD)" if not client.username else "")


@rule("end-1", "SHOULD", "base",
      'GET /v2/ answering 200 or 401 SHOULD carry "Docker-Distribution-API-Version: registry/2.0"')
def test_api_version_header(client: RegistryClient) -> None:
    response = client.ping(authenticate=False, expect=(200, 401))
    value = response.headers.get(spec.API_VERSION_HEADER)
    should(value is not None, f"GET /v2/ ({response.status_code}) has no {spec.API_VERSION_HEADER} header")
    if value is not None:
        should(value.strip() == spec.API_VERSION,
               f"{spec.API_VERSION_HEADER} is {value!r}, expected {spec.API_VERSION!r}")
