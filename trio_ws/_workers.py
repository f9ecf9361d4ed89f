"""``python -m trio_ws --workers N``: N server processes behind one port.

How it works (the way hypercorn's ``-w`` shares a port on Linux):

* The parent (this module, no trio loop) binds the port with ``SO_REUSEPORT`` and keeps that
  socket without listening on it: it reserves the port (and picks it, for ``--port 0``).
* It starts N workers, each ``python -m trio_ws APP --port <that port> ...`` with the same
  options, in a session of its own (a terminal's Ctrl-C reaches only the parent). A worker
  sees ``TRIO_WS_WORKERS=N`` in its environment, so its hypercorn config has ``workers=N``
  and it binds with ``SO_REUSEPORT`` too; the kernel spreads new connections across the
  listening workers. Each worker is a complete ``trio_ws.serve`` with its own trio loop.
* Once every worker prints its URL, the parent prints it once.
* Each worker also sees ``TRIO_WS_WORKER_INDEX`` (0 to N-1; a replacement gets the index of
  the worker it replaces), so that ``--metrics-port P`` serves worker i's metrics on P+i.
* SIGTERM or SIGINT: the parent sends SIGTERM to every worker, which shuts down gracefully
  (open websockets get their close frame, connections get ``--graceful-timeout``); a second
  signal is passed on too (the workers then stop at once). Workers still alive
  ``graceful-timeout + 5`` seconds later are killed.
* The operator reads one "shutting down" line (and one "second signal" line), from the
  parent: a worker (``TRIO_WS_WORKERS`` set) does not repeat them. What only a worker knows
  is still said, once, by the parent: which worker exited, was replaced or had to be killed.
* A worker that exits on its own is reported on stderr and replaced. A worker that dies
  within `CRASH_WINDOW` seconds of its start `MAX_QUICK_CRASHES` times in a row
  (a broken app, a port taken) stops the whole server with exit status 1.
* If the parent itself dies (even by SIGKILL), Linux sends each worker SIGTERM
  (``PR_SET_PDEATHSIG``), so workers never outlive it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

__all__ = ["ENV_WORKERS", "ENV_WORKER_INDEX", "run_workers", "strip_options", "worker_count",
           "worker_index"]  # fmt: skip

#: Set in each worker's environment to the number of workers (so that it binds with
#: SO_REUSEPORT, as hypercorn does for ``workers > 1``).
ENV_WORKERS = "TRIO_WS_WORKERS"
#: Set in each worker's environment to its index, 0 to N-1 (kept by its replacements).
ENV_WORKER_INDEX = "TRIO_WS_WORKER_INDEX"
#: Seconds after its start within which a worker's death counts as a crash at startup.
CRASH_WINDOW = 2.0
#: How many such crashes in a row stop the server.
MAX_QUICK_CRASHES = 3
#: The most seconds a worker may take to start listening.
START_TIMEOUT = 30.0


_PR_SET_PDEATHSIG = 1
#: The parent's lines go where a single server's go (``python -m trio_ws`` configures it).
logger = logging.getLogger("trio_ws")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """In a new worker (Linux): get SIGTERM when the parent dies, so no worker is orphaned."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def worker_count() -> int:
    """The number of sibling workers this process is one of (1 when not a worker)."""
    try:
        return max(1, int(os.environ.get(ENV_WORKERS, "1")))
    except ValueError:
        return 1


def worker_index() -> int:
    """This worker's index among its siblings (0 when not a worker)."""
    try:
        return max(0, int(os.environ.get(ENV_WORKER_INDEX, "0")))
    except ValueError:
        return 0


def _reserve_port(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class _Supervisor:
    def __init__(
        self, argv: Sequence[str], workers: int, grace: float, shutdown_close_code: int
    ) -> None:
        self.argv = list(argv)
        self.workers = workers
        self.grace = grace
        self.shutdown_close_code = shutdown_close_code
        self.signals = 0
        #: The first signal's number, and how many signals have been logged.
        self.first_signal: int | None = None
        self.logged_signals = 0
        self.processes: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self.indexes: dict[int, int] = {}
        self.quick_crashes = 0
        self.signalled: set[int] = set()

    def spawn(self, index: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, ENV_WORKERS: str(self.workers), ENV_WORKER_INDEX: str(index)}
        process = subprocess.Popen(
            [sys.executable, "-m", "trio_ws", *self.argv],
            env=env,
            stdout=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.processes[process.pid] = (process, time.monotonic())
        self.indexes[process.pid] = index
        return process

    def wait_listening(self, process: subprocess.Popen[bytes]) -> str:
        """The first URL the worker prints; raises RuntimeError if it exits or is too slow."""
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and not self.signals:
                if selector.select(timeout=0.2):
                    line = process.stdout.readline().decode().strip()
                    if line:
                        return line
                    break  # EOF: the worker exited
                if process.poll() is not None:
                    break
        try:  # it closed its output: give it a moment to exit, to report its status
            status = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        raise RuntimeError(f"worker {process.pid} did not start (exit status {status})")

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Logged later, by `log_signals` in the main flow: not from inside a signal handler.
        self.signals += 1
        if self.first_signal is None:
            self.first_signal = signum
        for pid, (process, _) in self.processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                self.signalled.add(pid)

    def log_signals(self) -> None:
        """The one "shutting down" line for the whole server, and the "second signal" line."""
        if self.signals and not self.logged_signals and self.first_signal is not None:
            logger.info(
                "trio_ws: shutting down (%s): %d workers closing open websockets with %d, "
                "connections get %.1f s; signal again to stop at once",
                signal.Signals(self.first_signal).name,
                self.workers,
                self.shutdown_close_code,
                self.grace,
            )
            self.logged_signals = 1
        if self.signals > 1 and self.logged_signals == 1:
            logger.info("trio_ws: second signal: stopping at once")
            self.logged_signals = 2

    def stop_all(self) -> None:
        for pid, (process, _) in self.processes.items():
            if process.poll() is None and pid not in self.signalled:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + 5
        for process, _ in self.processes.values():
            while process.poll() is None:
                self.log_signals()
                left = deadline - time.monotonic()
                if left <= 0:
                    print(f"trio_ws: worker {process.pid} did not stop in time; killing it",
                          file=sys.stderr, flush=True)  # fmt: skip
                    process.kill()
                    process.wait()
                    break
                try:
                    process.wait(timeout=min(0.2, left))
                except subprocess.TimeoutExpired:
                    continue
        self.log_signals()
        for process, _ in self.processes.values():
            if process.stdout is not None:
                process.stdout.close()

    def replace_dead(self) -> bool:
        """Replace workers that exited; ``False`` when they crash at startup repeatedly."""
        for pid, (process, started) in list(self.processes.items()):
            status = process.poll()
            if status is None or self.signals:
                continue
            del self.processes[pid]
            if process.stdout is not None:
                process.stdout.close()
            quick = time.monotonic() - started < CRASH_WINDOW
            self.quick_crashes = self.quick_crashes + 1 if quick else 0
            print(f"trio_ws: worker {pid} exited with status {status}", file=sys.stderr,
                  flush=True)  # fmt: skip
            if self.quick_crashes >= MAX_QUICK_CRASHES:
                print(f"trio_ws: workers keep dying at startup ({self.quick_crashes} in a "
                      "row); stopping the server", file=sys.stderr, flush=True)  # fmt: skip
                return False
            replacement = self.spawn(self.indexes.pop(pid, 0))
            try:
                self.wait_listening(replacement)
            except RuntimeError as error:
                print(f"trio_ws: {error}", file=sys.stderr, flush=True)
                continue  # reported; the next round counts it as a quick crash
            print(f"trio_ws: worker {pid} replaced by worker {replacement.pid}",
                  file=sys.stderr, flush=True)  # fmt: skip
        return True


def strip_options(argv: Sequence[str], *names: str) -> list[str]:
    """``argv`` without the options ``names`` (``--name value`` or ``--name=value``)."""
    result: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in names:
            skip = True
        elif not word.startswith(tuple(f"{name}=" for name in names)):
            result.append(word)
    return result


def run_workers(
    argv: Sequence[str],
    *,
    host: str,
    port: int,
    workers: int,
    graceful_timeout: float,
    shutdown_close_code: int = 1001,
) -> int:
    """Run ``workers`` copies of ``python -m trio_ws *argv`` on one port; return an exit status.

    ``argv`` is the command line without ``--workers`` and ``--port``. Prints the URL once
    every worker listens. Blocks until SIGTERM/SIGINT (status 0) or until workers keep dying
    at startup (status 1). The first signal is logged once ("shutting down", naming
    ``shutdown_close_code`` and ``graceful_timeout``), the second too, on the ``trio_ws``
    logger.
    """
    reserved = _reserve_port(host, port)
    chosen = reserved.getsockname()[1]
    supervisor = _Supervisor(
        [*argv, "--port", str(chosen)], workers, graceful_timeout, shutdown_close_code
    )
    previous = {
        signum: signal.signal(signum, supervisor.on_signal)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    status = 0
    try:
        try:
            urls = [supervisor.wait_listening(supervisor.spawn(index)) for index in range(workers)]
        except RuntimeError as error:
            print(f"trio_ws: {error}; stopping", file=sys.stderr, flush=True)
            return 1
        if not supervisor.signals:
            print(urls[0], flush=True)
        while not supervisor.signals:
            if not supervisor.replace_dead():
                status = 1
                break
            time.sleep(0.2)
    finally:
        supervisor.stop_all()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reserved.close()
    return status
