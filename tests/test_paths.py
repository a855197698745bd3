"""The one path grammar: router, authorization and client scopes read every path the same way.

Property tests over valid repository names whose components may be the API's own words
(``blobs``, ``manifests``, ``tags``, ``referrers``, ``uploads``, ``list``): whatever the name, the
router serves the repository that authorization checks and that the client asks a token for.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_server import errors, routes
from reference_server.auth.scopes import needed_access
from registry_harness import paths, spec
from registry_harness.client import scope_for
from registry_harness.paths import Endpoint, RegistryPath

WORDS = ("blobs", "manifests", "tags", "referrers", "uploads", "list", "v2", "latest")
alnum = st.text("abcz019", min_size=1, max_size=4)
separators = st.sampled_from([".", "_", "__", "-", "--"])
component = st.one_of(st.sampled_from(WORDS), st.builds(
    lambda first, rest: first + "".join(sep + part for sep, part in rest),
    alnum, st.lists(st.tuples(separators, alnum), max_size=2)))
names = st.lists(component, min_size=1, max_size=6).map("/".join).filter(spec.valid_name)
digests = st.sampled_from(["sha256", "sha512"]).flatmap(
    lambda alg: st.text("0123456789abcdef", min_size=spec.DIGEST_HEX_LENGTHS[alg],
                        max_size=spec.DIGEST_HEX_LENGTHS[alg]).map(lambda hexpart: f"{alg}:{hexpart}"))
tags = st.one_of(st.sampled_from(WORDS), st.text("aZ09_.-", min_size=1, max_size=12).filter(spec.valid_tag))
upload_ids = st.uuids().map(str)

# endpoint -> (path template, reference strategy, methods the router serves)
SHAPES = {
    Endpoint.MANIFEST: ("/v2/{name}/manifests/{ref}", st.one_of(tags, digests), ("GET", "HEAD", "PUT", "DELETE")),
    Endpoint.BLOB: ("/v2/{name}/blobs/{ref}", digests, ("GET", "HEAD", "DELETE")),
    Endpoint.UPLOAD_START: ("/v2/{name}/blobs/uploads/", st.just(""), ("POST",)),
    Endpoint.UPLOAD: ("/v2/{name}/blobs/uploads/{ref}", upload_ids, ("GET", "PATCH", "PUT", "DELETE")),
    Endpoint.TAGS: ("/v2/{name}/tags/list", st.just(""), ("GET",)),
    Endpoint.REFERRERS: ("/v2/{name}/referrers/{ref}", digests, ("GET",)),
}


@st.composite
def requests_to(draw):
    endpoint = draw(st.sampled_from(sorted(SHAPES)))
    template, references, methods = SHAPES[endpoint]
    name, reference = draw(names), draw(references)
    return draw(st.sampled_from(methods)), template.format(name=name, ref=reference), endpoint, name, reference


@settings(max_examples=300, deadline=None, derandomize=True)
@given(requests_to())
def test_router_authorization_and_client_agree_on_the_repository(request):
    method, path, endpoint, name, reference = request
    assert paths.parse(path) == RegistryPath(endpoint, name, reference)

    parsed, handler = routes.route(method, path)
    assert parsed.name == name and handler is routes.ROUTES[endpoint][method]

    (needed,) = needed_access(method, path, {}).required
    assert needed.name == name
    actions = paths.required_actions(method, endpoint)
    assert needed.actions == frozenset(actions)
    assert scope_for(method, path) == f"repository:{name}:{','.join(actions)}"


segments = st.lists(st.one_of(st.sampled_from((*WORDS, "", "_catalog", "..", "UPPER")), component,
                              digests, upload_ids), min_size=0, max_size=8)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(segments, st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]))
def test_any_path_is_read_the_same_way_by_all_three(parts, method):
    """Arbitrary paths (invalid names, empty segments, trailing slashes): either no endpoint has
    that shape for anyone, or all three name the same repository."""
    path = "/v2/" + "/".join(parts)
    parsed = paths.parse(path)
    need = needed_access(method, path, {})
    scope = scope_for(method, path)
    if parsed is None:
        with pytest.raises(errors.RegistryError) as raised:
            routes.route(method, path)
        assert raised.value.status == 404
        assert need.required == () and scope is None
        return
    if parsed.endpoint in (Endpoint.BASE, Endpoint.CATALOG):
        assert scope in (None, "registry:catalog:*")
        return
    assert scope is not None and scope.rsplit(":", 1)[0] == f"repository:{parsed.name}"
    if spec.valid_name(parsed.name):
        assert [a.name for a in need.required] == [parsed.name]
    else:
        assert need.required == ()  # the router answers NAME_INVALID before any data is touched


@pytest.mark.parametrize(("path", "expected"), [
    ("/v2/", RegistryPath(Endpoint.BASE)),
    ("/v2/_catalog", RegistryPath(Endpoint.CATALOG)),
    ("/v2/team/allowed/blobs/private/manifests/latest",
     RegistryPath(Endpoint.MANIFEST, "team/allowed/blobs/private", "latest")),
    ("/v2/carol/app/tags/x/tags/list", RegistryPath(Endpoint.TAGS, "carol/app/tags/x")),
    ("/v2/carol/app/manifests/evil/blobs/uploads/", RegistryPath(Endpoint.UPLOAD_START, "carol/app/manifests/evil")),
    ("/v2/a/blobs/uploads", RegistryPath(Endpoint.UPLOAD_START, "a")),
    ("/v2/a/blobs/uploads/blobs/uploads/u1", RegistryPath(Endpoint.UPLOAD, "a/blobs/uploads", "u1")),
    ("/v2/a/referrers/b/referrers/sha256:x", RegistryPath(Endpoint.REFERRERS, "a/referrers/b", "sha256:x")),
    ("/v2/a/manifests/", None),
    ("/v2/a/tags/other", None),
    ("/v2/manifests/x", None),
    ("/v3/a/manifests/x", None),
])
def test_paths_are_read_from_their_end(path, expected):
    assert paths.parse(path) == expected


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_every_endpoint_has_a_route_and_a_template(endpoint):
    """A new endpoint family must be known to the router and to the reports' endpoint templates."""
    from registry_harness.exchange import _TEMPLATES

    assert endpoint in routes.ROUTES and endpoint in _TEMPLATES
