"""Test helpers for trio_ws applications (and any ASGI websocket application)."""

from __future__ import annotations

from ._server import serve_app as serve_app

__all__: list[str] = []
__all__ += ["serve_app"]
