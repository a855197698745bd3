"""Broken discovery: a tags list or catalog that breaks ordering, n (n=0 included), last, Link or NAME_UNKNOWN."""

from __future__ import annotations

import json

from aiohttp import web

from reference_server.errors import RegistryError
from tests.broken import Variant, on_error, rewrite


def is_tags_list(request: web.Request) -> bool:
    return request.method == "GET" and request.path.endswith("/tags/list")


def is_catalog(request: web.Request) -> bool:
    return request.method == "GET" and request.path == "/v2/_catalog"


def edit_json(response: web.StreamResponse, change) -> None:
    """Rewrite a JSON response body in place with ``change(value) -> value``."""
    if isinstance(response, web.Response) and response.status == 200 and response.body:
        response.body = json.dumps(change(json.loads(response.body))).encode()


def reverse_tags(request, response):
    edit_json(response, lambda value: {**value, "tags": list(reversed(value["tags"]))})


def drop_link(request, response):
    response.headers.pop("Link", None)


def link_on_n_zero(request, response):
    if request.query.get("n") == "0":
        response.headers["Link"] = f'<{request.path}?n=0&last=zzz>; rel="next"'


def repeat_last_repository(request, response):
    last = request.query.get("last")
    if last:
        edit_json(response, lambda value: {**value, "repositories": [last, *value["repositories"]]})


def ignoring(parameter: str, match):
    """A middleware that drops one query parameter before the registry sees the request."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if match(request) and parameter in request.query:
            kept = {k: v for k, v in request.query.items() if k != parameter}
            request = request.clone(rel_url=request.rel_url.with_query(kept))
        return await handler(request)

    return middleware


def is_catalog_n_zero(request: web.Request) -> bool:
    return is_catalog(request) and request.query.get("n") == "0"


def reverse_repositories(request, response):
    edit_json(response, lambda value: {**value, "repositories": list(reversed(value["repositories"]))})


@on_error
def unknown_repository_lists_empty(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """Answer 200 with no tags instead of 404 NAME_UNKNOWN."""
    if is_tags_list(request) and exc.code == "NAME_UNKNOWN":
        name = request.path.removeprefix("/v2/").removesuffix("/tags/list")
        return web.json_response({"name": name, "tags": []})


VARIANTS: list[Variant] = [
    Variant(
        name="tags-unsorted",
        description="the tags list comes back in reverse lexical order",
        select="test_tags_list_is_complete_and_in_lexical_order",
        must_fail=("test_tags_list_is_complete_and_in_lexical_order",),
        middleware=rewrite(is_tags_list, reverse_tags),
    ),
    Variant(
        name="tags-last-ignored",
        description="?last= is ignored: every page starts at the beginning",
        select="test_tags_list_last_is_exclusive",
        must_fail=("test_tags_list_last_is_exclusive",),
        middleware=ignoring("last", is_tags_list),
    ),
    Variant(
        name="tags-n-ignored",
        description="?n= is ignored: the whole list comes back",
        select="test_tags_list_n_limits_the_count",
        must_fail=("test_tags_list_n_limits_the_count",),
        middleware=ignoring("n", is_tags_list),
    ),
    Variant(
        name="tags-link-missing",
        description="no Link header although more tags remain",
        select="test_tags_list_link_pages_cover_every_tag_once",
        must_fail=("test_tags_list_link_pages_cover_every_tag_once",),
        middleware=rewrite(is_tags_list, drop_link),
    ),
    Variant(
        name="tags-link-on-n-zero",
        description="?n=0 answers with a Link header",
        select="test_tags_list_n_zero_is_empty_without_link",
        must_fail=("test_tags_list_n_zero_is_empty_without_link",),
        middleware=rewrite(is_tags_list, link_on_n_zero),
    ),
    Variant(
        name="tags-unknown-repository-200",
        description="the tags list of a repository that does not exist is 200 with no tags",
        select="test_tags_list_of_unknown_repository_is_name_unknown",
        must_fail=("test_tags_list_of_unknown_repository_is_name_unknown",),
        middleware=unknown_repository_lists_empty,
    ),
    Variant(
        name="catalog-repeats-across-pages",
        description="each catalog page repeats the previous page's last repository",
        select="test_catalog_link_pages_never_repeat or test_catalog_honours_n_and_last",
        must_fail=("test_catalog_link_pages_never_repeat", "test_catalog_honours_n_and_last"),
        middleware=rewrite(is_catalog, repeat_last_repository),
    ),
    Variant(
        name="catalog-last-ignored",
        description="_catalog ignores ?last=: every page starts at the first repository",
        select="test_catalog_honours_n_and_last",
        must_fail=("test_catalog_honours_n_and_last",),
        middleware=ignoring("last", is_catalog),
    ),
    Variant(
        name="catalog-unsorted",
        description="_catalog lists repositories in reverse lexical order",
        select="test_catalog_lists_pushed_repositories_in_order",
        must_fail=("test_catalog_lists_pushed_repositories_in_order",),
        middleware=rewrite(is_catalog, reverse_repositories),
    ),
    Variant(
        name="catalog-n-zero-unlimited",
        description="_catalog?n=0 is read as no limit (a falsy page size) and returns every repository",
        select="test_catalog_n_zero_is_empty",
        must_fail=("test_catalog_n_zero_is_empty",),
        middleware=ignoring("n", is_catalog_n_zero),
        strict=True,
    ),
]
