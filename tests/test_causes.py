"""Root causes first, as units: failures grouped by cause, the headline's order of precedence, the
probe's judgement of what a registry's /v2/ looks like, and the Link walk that stops at a repeat."""

from __future__ import annotations

import pytest
import requests

from registry_harness.client import PageTrail, UnexpectedResponse
from registry_harness.reports.causes import cause_of, causes, failures_line, headline
from registry_harness.reports.model import CheckResult, RunResult
from registry_harness.target import ProbeAnswer

HTML_404 = "<!DOCTYPE HTML><html><head><title>Error response</title></head><body><p>Error code: 404</p></body></html>"


def exchange(method: str, url: str, status: int | None, body: str = "", error: str | None = None) -> dict:
    return {"method": method, "url": url, "status": status, "response_body": body, "error": error}


def failed(check_id: str, cause: str, status: str = "fail") -> CheckResult:
    return CheckResult(id=check_id, name=check_id, status=status, message="m", cause=cause)


def test_the_same_page_for_different_requests_is_one_cause():
    a = cause_of(exchange("GET", "http://h:1/v2/conformance-ab12/x/manifests/t1", 404, HTML_404), "GET …")
    b = cause_of(exchange("PUT", "http://h:1/v2/conformance-ab12/y/blobs/uploads/u", 404, HTML_404), "PUT …")
    assert a == b == "answered 404 with an HTML page: Error response — Error code: 404"


def test_an_error_answer_is_its_request_shape_status_and_body_without_run_specific_parts():
    body = '{"errors":[{"code":"MANIFEST_UNKNOWN","detail":"sha256:' + "ab" * 32 + '"}]}'
    one = cause_of(exchange("GET", "http://h:1/v2/conformance-1/a/manifests/sha256:" + "cd" * 32, 404, body), "x")
    two = cause_of(exchange("GET", "http://h:1/v2/conformance-2/b/manifests/t", 404, body.replace("ab", "ef")), "y")
    assert one == two and one.startswith("GET /v2/[name]/manifests/[reference] answered 404")
    assert "sha256:[digest]" in one


def test_no_usable_answer_is_the_transport_error_whatever_was_asked():
    stopped = "GET http://h:1/v2/a/tags/list: not sent: the registry stopped answering (3 requests in a row timed out)"
    assert cause_of(exchange("GET", "http://h:1/v2/a/tags/list", None, error=stopped), "") == \
        cause_of(None, "registry misbehaved (RegistryError): POST http://h:1/v2/b/blobs/uploads/: not sent: the "
                       "registry stopped answering (3 requests in a row timed out)")


def test_a_success_answer_that_breaks_a_rule_is_caused_by_that_rule():
    cause = cause_of(exchange("GET", "http://h:1/v2/", 200, "{}"), "SHOULD not met: no API version header")
    assert cause == "GET /v2/ answered 200 — SHOULD not met: no API version header"


def test_causes_are_biggest_first_and_keep_every_verdict():
    checks = [failed("a", "x"), failed("b", "y"), failed("c", "y", "error"), CheckResult(id="d", name="d")]
    run = RunResult("t", {}, "now", 1.0, checks)
    found = causes(run)
    assert [c.text for c in found] == ["y", "x"] and [len(c.checks) for c in found] == [2, 1]
    assert [c.status for c in run.checks] == ["fail", "fail", "error", "pass"]
    assert failures_line(run) == "3 failures, 2 causes; the biggest (2 checks): y"


def test_the_headline_puts_the_root_cause_before_the_failures():
    run = RunResult("t", {}, "now", 1.0, [failed("a", "x")])
    assert headline(run) == "1 failure, 1 cause: x"
    run.extra["root_cause"] = "http://h/v2/ does not look like a registry: …"
    assert headline(run).startswith("http://h/v2/ does not look like a registry")
    assert headline(RunResult("t", {}, "now", 1.0, [CheckResult(id="p", name="p")])) == ""


@pytest.mark.parametrize(("answer", "registry"), [
    (ProbeAnswer("u", 200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}"), True),
    (ProbeAnswer("u", 200, {"Content-Type": "application/json"}, b"{}"), True),  # header missing: a SHOULD
    (ProbeAnswer("u", 401, {"WWW-Authenticate": 'Bearer realm="x"'}, b""), True),
    (ProbeAnswer("u", 404, {"Content-Type": "text/html"}, HTML_404.encode()), False),
    (ProbeAnswer("u", 200, {"Content-Type": "text/html"}, b"<!doctype html><form>login</form>"), False),
    (ProbeAnswer("u", 200, {}, b"hello"), False),
    (ProbeAnswer("u", 200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"[[[[", exceeded=True), False),
])
def test_what_a_registry_api_root_looks_like(answer: ProbeAnswer, registry: bool):
    assert (answer.not_a_registry() is None) is registry, answer.not_a_registry()


def page(url: str, body: bytes) -> requests.Response:
    response = requests.Response()
    response.url, response.status_code, response._content, response._content_consumed = url, 200, body, True
    return response


def test_a_link_walk_stops_at_the_first_loop_or_repeated_page():
    first = page("http://h/v2/_catalog?n=1", b'{"repositories": ["a"]}')
    trail = PageTrail(first)
    trail.follow("http://h/v2/_catalog?n=1&last=a", 1)
    trail.arrived(page("http://h/v2/_catalog?n=1&last=a", b'{"repositories": ["b"]}'), 2)
    with pytest.raises(UnexpectedResponse, match="loops back"):
        trail.follow("http://h/v2/_catalog?n=1", 2)
    trail.follow("http://h/v2/_catalog?n=1&last=b&page=3", 2)
    with pytest.raises(UnexpectedResponse, match="repeats page 2: the Link header does not advance"):
        trail.arrived(page("http://h/v2/_catalog?n=1&last=b&page=3", b'{"repositories": ["b"]}'), 3)
