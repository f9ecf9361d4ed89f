"""Test helpers for trio_ws applications (and any ASGI websocket application)."""

from __future__ import annotations

__all__: list[str] = []
