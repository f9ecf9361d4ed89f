"""``park_reader``: a long wait for a socket to be readable, without a wake-up per arrival.

A task waiting in ``trio.lowlevel.wait_readable`` is woken for every arrival, and each wait
costs an ``epoll_ctl`` (Trio registers one shot at a time) and new wait objects. For a
connection at rest that is wrong twice over: the only arrivals are the answers to the
server's keepalive pings, and each woke the application's task only for it to unwind its
wait, read the pong and park again (about twenty new objects per pong, which feed the
garbage collector's full collections).

Here one `ReadPoller` per Trio run keeps an ``epoll`` of its own, with a registration per
parked reader for as long as it stays parked, and one system task that waits for that
``epoll``'s descriptor with ``wait_readable``. When a parked socket is readable, the poller
calls the reader's ``on_readable`` (a plain call, in the poller's task): it reads and handles
what arrived itself (a pong is read, parsed and counted there) and says whether the parked
task must wake. A parked task is rescheduled directly: one poller step serves every socket
that became readable in the same pass.

What a parked reader may rely on:

* its task is woken only when ``on_readable`` returns true, raises (the exception is raised
  in the parked task), or the socket is closed through `notify_closing` (it then raises
  ``trio.ClosedResourceError``, as ``wait_readable`` does);
* cancellation: a parked task is cancelled like any Trio wait: its registration is removed
  at once, and nothing ``on_readable`` already handled is undone;
* ``on_readable`` is never called after the task was woken or cancelled.
"""

from __future__ import annotations

import errno
import select
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ReadPoller", "notify_closing", "park_reader"]

_READABLE: Final = select.EPOLLIN
#: Events the poller takes from its ``epoll`` in one call (the rest come in the next pass).
_MAX_EVENTS: Final = 1024


class _Parked:
    """A parked reader: its task and what to call when its socket is readable."""

    __slots__ = ("error", "on_readable", "task")

    def __init__(self, task: trio.lowlevel.Task, on_readable: Callable[[], bool]) -> None:
        self.task = task
        self.on_readable = on_readable
        #: What the task raises when it wakes (``None``: it returns).
        self.error: BaseException | None = None


class ReadPoller:
    """The parked readers of one Trio run (see the module docstring).

    Made by `park_reader` on first use; its task is a system task of the run, so it ends with
    the run.
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        #: File descriptor → the reader parked on it.
        self._parked: dict[int, _Parked] = {}
        self._closed = False

    @property
    def parked(self) -> int:
        """How many readers are parked."""
        return len(self._parked)

    async def park(self, fd: int, on_readable: Callable[[], bool]) -> None:
        """Park the calling task until ``on_readable()`` returns true (see the module docstring).

        Raises:
          trio.ClosedResourceError: the socket was closed (`notify_closing`), or the run is
            ending.
          Exception: whatever ``on_readable`` raised.

        Cancellation: like ``trio.lowlevel.wait_readable``; nothing that ``on_readable``
        handled before is undone.
        """
        if self._closed:
            raise trio.ClosedResourceError("the run's read poller has ended")
        stale = self._parked.pop(fd, None)
        if stale is not None:
            # That descriptor was closed behind our back and its number given to a new socket
            # (closing removes it from the epoll): its old reader's socket is gone.
            _wake(stale, trio.ClosedResourceError("the socket was closed"))
        try:
            self._epoll.register(fd, _READABLE)
        except FileExistsError:
            self._epoll.modify(fd, _READABLE)
        entry = _Parked(trio.lowlevel.current_task(), on_readable)
        self._parked[fd] = entry

        def abort(_: object) -> trio.lowlevel.Abort:
            self._unregister(fd, entry)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        if entry.error is not None:
            try:
                raise entry.error
            finally:
                entry.error = None  # no reference cycle through the traceback

    def notify_closing(self, fd: int, on_readable: Callable[[], bool]) -> None:
        """The socket ``fd`` is about to be closed (or was): the reader parked on it with
        ``on_readable`` (if it still is) raises ``trio.ClosedResourceError``."""
        entry = self._parked.get(fd)
        if entry is not None and entry.on_readable == on_readable:
            self._unregister(fd, entry)
            _wake(entry, trio.ClosedResourceError("another task closed the socket"))

    def _unregister(self, fd: int, entry: _Parked) -> None:
        if self._parked.get(fd) is entry:
            del self._parked[fd]
            try:
                self._epoll.unregister(fd)
            except OSError as exc:  # closed already (and so out of the epoll)
                if exc.errno not in (errno.EBADF, errno.ENOENT):
                    raise

    async def run(self) -> None:
        """Serve the parked readers until the run ends.

        Cancellation: the only way it ends; readers still parked then raise
        ``trio.ClosedResourceError``.
        """
        epoll = self._epoll
        parked = self._parked
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                for fd, _events in epoll.poll(0, _MAX_EVENTS):
                    entry = parked.get(fd)
                    if entry is None:  # woken or cancelled earlier in this pass
                        continue
                    try:
                        wake = entry.on_readable()
                    except Exception as exc:  # the reader's own error: raised in its task
                        self._unregister(fd, entry)
                        _wake(entry, exc)
                        continue
                    if wake and parked.get(fd) is entry:
                        self._unregister(fd, entry)
                        _wake(entry)
        finally:
            self._closed = True
            for fd, entry in list(parked.items()):
                self._unregister(fd, entry)
                _wake(entry, trio.ClosedResourceError("the run is ending"))
            epoll.close()


def _wake(entry: _Parked, error: BaseException | None = None) -> None:
    entry.error = error
    trio.lowlevel.reschedule(entry.task)


_POLLER: trio.lowlevel.RunVar[ReadPoller] = trio.lowlevel.RunVar("trio_ws_read_poller")


def _poller() -> ReadPoller:
    try:
        return _POLLER.get()
    except LookupError:
        poller = ReadPoller()
        _POLLER.set(poller)
        trio.lowlevel.spawn_system_task(poller.run, name="trio_ws read poller")
        return poller


async def park_reader(fd: int, on_readable: Callable[[], bool]) -> None:
    """Park the calling task on this run's `ReadPoller` (`ReadPoller.park`).

    Raises:
      trio.ClosedResourceError: the socket was closed (`notify_closing`).
      Exception: whatever ``on_readable`` raised.

    Cancellation: like ``trio.lowlevel.wait_readable``.
    """
    await _poller().park(fd, on_readable)


def notify_closing(fd: int, on_readable: Callable[[], bool]) -> None:
    """Wake the reader parked on ``fd`` with ``on_readable`` (`ReadPoller.notify_closing`)."""
    try:
        poller = _POLLER.get()
    except LookupError:
        return
    poller.notify_closing(fd, on_readable)
