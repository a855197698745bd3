"""The API root, the version header, unknown paths and wrong methods."""

from __future__ import annotations

from tests.server.helpers import Client


def test_api_root_answers_200_with_an_empty_object(client: Client) -> None:
    response = client.get("/v2/", 200)
    assert response.json() == {}
    client.head("/v2/", 200)


def test_unknown_path_is_404_with_a_spec_body(client: Client) -> None:
    client.get("/v3/whatever", 404, "UNSUPPORTED")
    client.get("/v2/repo/unknown-endpoint/x", 404, "UNSUPPORTED")


def test_wrong_method_is_405_unsupported_with_allow(client: Client, repo: str) -> None:
    response = client.request("POST", f"/v2/{repo}/tags/list", 405, "UNSUPPORTED")
    assert response.headers["Allow"] == "GET"
    client.request("PATCH", f"/v2/{repo}/manifests/latest", 405, "UNSUPPORTED")


def test_errors_are_json(client: Client, repo: str) -> None:
    response = client.get(f"/v2/{repo}/tags/list", 404, "NAME_UNKNOWN")
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["errors"][0]["message"]
