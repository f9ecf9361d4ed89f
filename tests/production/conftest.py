"""Fixtures of the production tests: the broadcast tests' own redis-server (to stop and restart)."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import pytest

from tests.broadcast.conftest import own_redis_server  # noqa: F401  (the fixture)

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def _collect_garbage() -> Iterator[None]:
    """Collect garbage at teardown, inside the test's warning filters (coredis' leak)."""
    yield
    gc.collect()
