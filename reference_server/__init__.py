"""A compact, crash-safe reference registry (OCI Distribution Spec / Docker Registry HTTP API V2)
on aiohttp, with feature switches so a conformance suite can be checked against each variant."""

from reference_server.app import create_app
from reference_server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
