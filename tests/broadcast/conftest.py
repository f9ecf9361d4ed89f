"""Fixtures of the broadcast tests: a real redis-server, and the backends to run every
behaviour test against (memory, and Redis when ``redis-server`` is installed)."""

from __future__ import annotations

import gc
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ._cluster import REDIS_SERVER, LocalCluster, RedisProcess, cluster_tools_missing

if TYPE_CHECKING:
    from collections.abc import Iterator


class RedisServer(RedisProcess):
    """A redis-server child process on 127.0.0.1, in a temp dir, without persistence."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *words: str) -> bytes:
        """Send one inline command and return the first reply chunk."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            return conn.recv(4096)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session (skips where it is not installed)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (for tests that stop or restart it)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["memory", "redis", "cluster"])
def broadcast_url(request: pytest.FixtureRequest) -> str:
    """The URL of each backend: every behaviour test runs on memory, one Redis and a real
    3-master Redis Cluster."""
    if request.param == "memory":
        return "memory://"
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One 3-master Redis Cluster for the session (skips where redis-server 7 is missing).

    Tests that share it must not break it; use `own_redis_cluster` to restart or fail over.
    """
    missing = cluster_tools_missing()
    if missing:
        pytest.skip(missing)
    with LocalCluster(tmp_path_factory.mktemp("redis-cluster"), masters=3) as cluster:
        yield cluster


@pytest.fixture
def own_redis_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A 3-master cluster with one replica each, of this test alone (to restart or fail over)."""
    missing = cluster_tools_missing()
    if missing:
        pytest.skip(missing)
    with LocalCluster(tmp_path / "cluster", masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def _collect_garbage() -> Iterator[None]:
    """Collect garbage after the test, so that what coredis leaks warns inside it."""
    yield
    gc.collect()
