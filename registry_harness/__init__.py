"""Shared core of registry-harness: the registry HTTP client with auth, target parsing,
protocol constants, image and artifact builders, and report writers.

Both ``conformance/`` and ``load/`` import from here, and so does ``reference_server/`` for
the protocol grammar, so every rule about names, digests and media types is written once.
"""

__version__ = "0.1.0"
