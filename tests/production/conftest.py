"""Fixtures of the production tests: a redis-server of the test's own (to stop and restart)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.broadcast.conftest import REDIS_SERVER, RedisServer

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (skipped where redis-server is not installed)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
