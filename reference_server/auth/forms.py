"""The token endpoint's form body, read within bounds: identity encoding only, at most
``FORM_LIMIT`` bytes read in chunks, urlencoded or multipart fields as UTF-8 text.

Anything else is a ``FormError`` naming the status and spec code to answer with, never a 500.
"""

from __future__ import annotations

import asyncio
import urllib.parse

from aiohttp import MultipartReader, StreamReader, web
from aiohttp.base_protocol import BaseProtocol
from multidict import CIMultiDict

FORM_LIMIT = 64 * 1024  # bytes: a password grant is a few hundred
MAX_FIELDS = 64
READ_CHUNK = 16 * 1024
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class FormError(Exception):
    """A form the endpoint refuses: HTTP status, spec error code and a message for the client."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def read_body(request: web.Request, limit: int = FORM_LIMIT) -> bytes:
    """The request body, refused (415) when it has a Content-Encoding and (413) beyond ``limit``."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise FormError(415, "UNSUPPORTED", f"Content-Encoding {encoding[:40]!r} is not accepted; send the form as is")
    declared = request.content_length
    if declared is not None and declared > limit:
        raise FormError(413, "SIZE_INVALID", f"form larger than {limit} bytes")
    body = bytearray()
    while True:
        chunk = await request.content.read(READ_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise FormError(413, "SIZE_INVALID", f"form larger than {limit} bytes")


def _urlencoded(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormError(400, "UNSUPPORTED", "form is not percent-encoded ASCII") from exc
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError as exc:
        raise FormError(400, "UNSUPPORTED", "form field is not UTF-8") from exc
    except ValueError as exc:
        raise FormError(400, "UNSUPPORTED", f"more than {MAX_FIELDS} form fields") from exc
    return dict(pairs)


async def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    loop = asyncio.get_running_loop()
    stream = StreamReader(BaseProtocol(loop), READ_CHUNK, loop=loop)
    stream.feed_data(body)
    stream.feed_eof()
    fields: dict[str, str] = {}
    try:
        reader = MultipartReader(CIMultiDict({"Content-Type": content_type}), stream)
        async for part in reader:
            if isinstance(part, MultipartReader) or not part.name or len(fields) >= MAX_FIELDS:
                raise ValueError("expected named form fields")
            fields[part.name] = (await part.read(decode=False)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError(400, "UNSUPPORTED", "form field is not UTF-8") from exc
    except Exception as exc:  # noqa: BLE001 - any parser failure on this bounded buffer is the client's
        raise FormError(400, "UNSUPPORTED", "malformed multipart form") from exc
    return fields


async def read_form(request: web.Request, limit: int = FORM_LIMIT) -> dict[str, str]:
    """The form fields of a POST (the last value of a repeated field wins)."""
    body = await read_body(request, limit)
    content_type = request.headers.get("Content-Type", "")
    if request.content_type == MULTIPART:
        return await _multipart(content_type, body)
    if request.content_type in (URLENCODED, "application/octet-stream", ""):
        return _urlencoded(body)
    raise FormError(415, "UNSUPPORTED", f"form must be {URLENCODED} or {MULTIPART}")
