"""Pagination shared by the tags list, the catalog and the referrers index (``n`` and ``last``)."""

from __future__ import annotations

from bisect import bisect_right
from urllib.parse import urlencode

from aiohttp import web

from reference_server import errors


def page_size(request: web.Request) -> int | None:
    """The ``n`` query parameter as a non-negative int, None when absent; PAGINATION_NUMBER_INVALID else
    (ASCII digits only: ``str.isdigit`` also accepts digits such as ``²`` that ``int`` refuses)."""
    raw = request.query.get("n")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise errors.pagination_number_invalid(raw[:32])
    return int(raw)


def paginate(items: list[str], request: web.Request, path: str,
             extra: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Slice sorted ``items`` after ``last`` (exclusive) to at most ``n``; add a Link when more remain."""
    size = page_size(request)
    last = request.query.get("last")
    start = bisect_right(items, last) if last else 0
    if size is None:
        return items[start:], {}
    page = items[start:start + size]
    headers: dict[str, str] = {}
    if size > 0 and start + size < len(items):
        query = urlencode({**(extra or {}), "n": size, "last": page[-1]})
        headers["Link"] = f'<{path}?{query}>; rel="next"'
    return page, headers
