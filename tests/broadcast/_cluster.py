"""A real Redis Cluster for tests: Debian's ``redis-server --cluster-enabled yes`` processes on
free loopback ports in a temp dir (no persistence), joined by ``redis-cli --cluster create``.

Importable on its own (no pytest needed) so that other test packages can use it::

    from tests.broadcast._cluster import LocalCluster

    with LocalCluster(tmp_path, masters=3, replicas=1) as cluster:
        url = cluster.url                      # "redis-cluster://127.0.0.1:<port>"
        cluster.masters()                      # the nodes that own slots now
        cluster.restart(node)                  # stop + start again (same node id, empty data)
        cluster.failover(node)                 # promote ``node``'s replica, wait until it owns

The fixtures ``redis_cluster`` (one per test session) and ``own_redis_cluster`` (one per test,
for tests that break it) are in ``conftest.py``. Everything is synchronous: a fixture starts the
cluster before the test's trio run.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ClusterNode",
    "LocalCluster",
    "RedisProcess",
    "cluster_tools_missing",
    "free_port",
    "stop_process",
]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
#: How long a node may be unreachable before the cluster calls it failed (milliseconds). Short,
#: so that failover tests take about a second; long enough for a loaded 2-core CI machine.
NODE_TIMEOUT_MS = 1500


def cluster_tools_missing() -> str | None:
    """Why a cluster cannot be started here (``None`` when it can)."""
    for tool in (REDIS_SERVER, REDIS_CLI):
        if not Path(tool).exists():
            return f"{Path(tool).name} is not installed (apt-get install redis-server)"
    version = subprocess.run(
        [REDIS_SERVER, "--version"], capture_output=True, text=True, check=False, timeout=10
    ).stdout
    major = version.partition(" v=")[2].partition(".")[0]
    if not major.isdigit() or int(major) < 7:
        return f"sharded pub/sub needs redis-server 7 or later, found {version.strip()!r}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` (SIGTERM, then SIGKILL after 5 s) and reap it."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _command(port: int, *words: str, timeout: float = 2.0) -> str:
    """Send one command with redis-cli and return its text reply (raises on failure)."""
    result = subprocess.run(
        [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), *words],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"redis-cli -p {port} {' '.join(words)}: {result.stderr.strip()}")
    return result.stdout


def _wait_for(what: str, predicate: object, timeout: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
            last_error = error
        time.sleep(0.05)
    detail = f" (last error: {last_error})" if last_error else ""
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}{detail}")


class RedisProcess:
    """One ``redis-server`` child process on a free port of 127.0.0.1, working in ``directory``,
    without persistence. `start` waits until it answers PING; `stop` ends it. The plain server
    of the broadcast tests (``conftest.RedisServer``) and each `ClusterNode` are one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} 127.0.0.1:{self.port} {state}>"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def server_options(self) -> list[str]:
        """Options of ``redis-server`` besides the port, address, directory and persistence."""
        return ["--loglevel", "warning"]

    def start(self, timeout: float = 10.0) -> None:
        """Start the process and wait until it answers PING (stopped again if it does not).

        Raises:
          RuntimeError: it exited, or did not answer within ``timeout`` seconds.
        """
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), *self.server_options()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_for(f"{self} to answer PING", self._answers_ping, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s); its directory (a node's
        nodes.conf) stays."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def kill(self) -> None:
        """Kill the process at once (SIGKILL): a crash."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=5)
        self.process = None

    def _answers_ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log_file = self.directory / "redis.log"
            log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class ClusterNode(RedisProcess):
    """One ``redis-server --cluster-enabled yes`` process; its identity survives a restart."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.bus_port = free_port()

    def server_options(self) -> list[str]:
        return ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--loglevel", "warning", "--logfile", "redis.log"]  # fmt: skip

    def command(self, *words: str) -> str:
        """One command through redis-cli; the reply as text."""
        return _command(self.port, *words)

    def info(self) -> dict[str, str]:
        """``CLUSTER INFO`` as a dict."""
        fields = {}
        for line in self.command("CLUSTER", "INFO").splitlines():
            key, sep, value = line.strip().partition(":")
            if sep:
                fields[key] = value
        return fields

    def node_id(self) -> str:
        return self.command("CLUSTER", "MYID").strip()

    def role(self) -> str:
        """``"master"`` or ``"slave"`` (first word of ``ROLE``)."""
        return self.command("ROLE").split()[0]


class LocalCluster:
    """``masters`` masters with ``replicas`` replicas each, on 127.0.0.1, in ``directory``.

    Use as a context manager (starts, then stops every node) or call `start`/`stop`.
    """

    def __init__(self, directory: Path, *, masters: int = 3, replicas: int = 0) -> None:
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.directory = directory
        self.nodes = [
            ClusterNode(directory / f"node{index}") for index in range(masters * (1 + replicas))
        ]
        self.replicas = replicas

    def __repr__(self) -> str:
        return f"<LocalCluster {self.url} nodes={len(self.nodes)}>"

    @property
    def url(self) -> str:
        """The broadcast URL with the first node as the seed."""
        return f"redis-cluster://{self.nodes[0].address}"

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        try:
            for node in self.nodes:
                node.start()
            result = subprocess.run(
                [REDIS_CLI, "--cluster", "create", *(node.address for node in self.nodes),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
            if result.returncode != 0 or "[OK] All 16384 slots covered" not in result.stdout:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{result.stdout}")
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until every running node says ``cluster_state:ok`` and knows every node, and
        every running replica's link to its master is up."""

        def healthy() -> bool:
            for node in self.nodes:
                if not node.running:
                    continue
                info = node.info()
                if info.get("cluster_state") != "ok":
                    return False
                if info.get("cluster_known_nodes") != str(len(self.nodes)):
                    return False
                if info.get("cluster_slots_assigned") != "16384":
                    return False
                if node.role() == "slave" and "master_link_status:up" not in node.command(
                    "INFO", "replication"
                ):
                    return False
            return True

        _wait_for(f"{self} to be healthy", healthy, timeout)

    def masters(self) -> list[ClusterNode]:
        """The running nodes that are masters now."""
        return [node for node in self.nodes if node.running and node.role() == "master"]

    def owner_of(self, key: str) -> ClusterNode:
        """The running master that owns ``key``'s slot now."""
        slot = self.slot_of(key)
        for node in self.masters():
            for line in node.command("CLUSTER", "NODES").splitlines():
                fields = line.split()
                if "myself" not in fields[2]:
                    continue
                for span in fields[8:]:
                    if span.startswith("["):  # a slot being migrated or imported
                        continue
                    first, _, last = span.partition("-")
                    if int(first) <= slot <= int(last or first):
                        return node
        raise LookupError(f"no running master owns slot {slot} of {key!r}")

    def slot_of(self, key: str) -> int:
        """The hash slot of ``key`` (asked of a running node)."""
        node = next(node for node in self.nodes if node.running)
        return int(node.command("CLUSTER", "KEYSLOT", key).strip())

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        """A running replica of ``master``."""
        master_id = master.node_id()
        for node in self.nodes:
            if node.running and node is not master:
                for line in node.command("CLUSTER", "NODES").splitlines():
                    fields = line.split()
                    if "myself" in fields[2] and fields[3] == master_id:
                        return node
        raise LookupError(f"{master} has no running replica")

    def restart(self, node: ClusterNode) -> None:
        """Stop ``node`` and start it again (same node id and slots; its data is gone)."""
        node.stop()
        node.start()
        self.wait_healthy()

    def failover(self, master: ClusterNode) -> ClusterNode:
        """Promote a replica of ``master`` (``CLUSTER FAILOVER``); returns the new master."""
        replica = self.replica_of(master)
        for _attempt in range(3):  # a manual failover gives up when the pair is not in sync
            replica.command("CLUSTER", "FAILOVER")
            try:
                _wait_for(f"{replica} to become a master", lambda: replica.role() == "master", 10)
                break
            except RuntimeError:
                continue
        else:
            raise RuntimeError(f"{replica} did not take over from {master}")
        self.wait_healthy()
        return replica

    def wait_for_state(self, state: str, timeout: float = 30.0) -> None:
        """Wait until every running node says ``cluster_state:<state>``."""
        _wait_for(
            f"cluster_state:{state}",
            lambda: all(
                node.info().get("cluster_state") == state for node in self.nodes if node.running
            ),
            timeout,
        )
