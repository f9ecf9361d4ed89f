"""Fixtures of the production tests: the broadcast tests' own redis-server (to stop and restart)."""

from __future__ import annotations

from tests.broadcast.conftest import own_redis_server  # noqa: F401  (the fixture)
