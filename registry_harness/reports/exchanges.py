"""Render a recorded (already masked) exchange dict as readable text for the reports."""

from __future__ import annotations

from collections.abc import Mapping


def describe(exchange: Mapping[str, object]) -> str:
    """``> request`` / ``< response`` lines, headers and body previews of one exchange dict."""
    lines = [f"> {exchange.get('method')} {exchange.get('url')}"]
    lines += [f"> {k}: {v}" for k, v in exchange.get("request_headers") or []]  # type: ignore[union-attr]
    body = exchange.get("request_body")
    if body:
        lines += [">", *(f"> {line}" for line in str(body).splitlines())]
    if exchange.get("error"):
        lines.append(f"< (no response: {exchange['error']})")
    else:
        elapsed = exchange.get("elapsed_ms")
        lines.append(f"< HTTP {exchange.get('status')}" + (f"   ({elapsed} ms)" if elapsed is not None else ""))
        lines += [f"< {k}: {v}" for k, v in exchange.get("response_headers") or []]  # type: ignore[union-attr]
        body = exchange.get("response_body")
        if body:
            lines += ["<", *(f"< {line}" for line in str(body).splitlines())]
    return "\n".join(lines)
