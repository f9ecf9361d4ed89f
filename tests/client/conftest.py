"""Fixtures of the client tests: the broadcast tests' real redis-server and Redis Cluster, for
the resume tests (which run on every backend `broadcast_url` names)."""

from __future__ import annotations

from tests.broadcast.conftest import broadcast_url, redis_cluster, redis_server

__all__ = ["broadcast_url", "redis_cluster", "redis_server"]
