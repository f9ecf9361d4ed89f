"""Fixtures of the client tests: the broadcast tests' real redis-server, for the resume tests."""

from __future__ import annotations

from tests.broadcast.conftest import broadcast_url, redis_server

__all__ = ["broadcast_url", "redis_server"]
