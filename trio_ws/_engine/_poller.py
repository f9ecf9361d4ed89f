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

import contextlib
import select
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ParkedReader", "ReadPoller", "notify_closing", "park_reader"]

_READABLE: Final = select.EPOLLIN
#: Events the poller takes from its ``epoll`` in one call (the rest come in the next pass).
_MAX_EVENTS: Final = 1024


class ParkedReader:
    """A reader to park: its socket's descriptor and what to call when it is readable.

    Made by the reader for each wait; it is also how the reader's wait is found again
    (`notify_closing`), even after its socket was closed.
    """

    __slots__ = ("error", "fd", "on_readable", "poller", "task")

    def __init__(self, fd: int, on_readable: Callable[[], bool]) -> None:
        self.fd = fd
        self.on_readable = on_readable
        #: The parked task and its poller, while parked.
        self.task: trio.lowlevel.Task | None = None
        self.poller: ReadPoller | None = None
        #: What the task raises when it wakes (``None``: it returns).
        self.error: BaseException | None = None

    def abort(self, _: object) -> trio.lowlevel.Abort:
        """Trio's abort function for the parked task (it is being cancelled)."""
        if self.poller is not None:
            self.poller.unregister(self)
        return trio.lowlevel.Abort.SUCCEEDED


class ReadPoller:
    """The parked readers of one Trio run (see the module docstring).

    Made by `park_reader` on first use; its task is a system task of the run, so it ends with
    the run.
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        #: File descriptor → the reader parked on it.
        self._parked: dict[int, ParkedReader] = {}
        self._closed = False

    @property
    def parked(self) -> int:
        """How many readers are parked."""
        return len(self._parked)

    async def park(self, reader: ParkedReader) -> bool:
        """Park the calling task until ``reader.on_readable()`` returns true (see the module
        docstring). Returns ``False`` at once, without waiting or checkpointing, if the socket
        cannot be parked here (the kernel refused the registration, or the run is ending):
        the caller then waits its own way.

        Raises:
          trio.ClosedResourceError: the socket was closed (`notify_closing`), or the run
            ended while it was parked.
          Exception: whatever ``on_readable`` raised.

        Cancellation: like ``trio.lowlevel.wait_readable``; nothing that ``on_readable``
        handled before is undone.
        """
        if self._closed:
            return False
        fd = reader.fd
        stale = self._parked.get(fd)
        if stale is not None:
            # That descriptor was closed behind our back and its number given to a new socket
            # (closing removes it from the epoll): its old reader's socket is gone.
            self.unregister(stale)
            _wake(stale, trio.ClosedResourceError("the socket was closed"))
        try:
            try:
                self._epoll.register(fd, _READABLE)
            except FileExistsError:  # (a registration this poller lost track of)
                self._epoll.modify(fd, _READABLE)
        except OSError:  # e.g. the kernel's limit of watched descriptors
            return False
        reader.task = trio.lowlevel.current_task()
        reader.poller = self
        self._parked[fd] = reader
        await trio.lowlevel.wait_task_rescheduled(reader.abort)
        error = reader.error
        if error is not None:
            reader.error = None  # no reference cycle through the traceback
            raise error
        return True

    def notify_closing(self, reader: ParkedReader) -> None:
        """``reader``'s socket is about to be closed (or was): if it is still parked, its task
        raises ``trio.ClosedResourceError``."""
        if self._parked.get(reader.fd) is reader:
            self.unregister(reader)
            _wake(reader, trio.ClosedResourceError("another task closed the socket"))

    def unregister(self, reader: ParkedReader) -> None:
        """Stop watching ``reader``'s socket (nothing if it is not parked)."""
        fd = reader.fd
        if self._parked.get(fd) is reader:
            del self._parked[fd]
            reader.poller = None
            # Closed already (and so out of the epoll), or never there: nothing to undo (and
            # the poller's task must not fail).
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

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
                    reader = parked.get(fd)
                    if reader is None:  # woken or cancelled earlier in this pass
                        continue
                    try:
                        wake = reader.on_readable()
                    except Exception as exc:  # the reader's own error: raised in its task
                        self.unregister(reader)
                        _wake(reader, exc)
                        continue
                    if wake and parked.get(fd) is reader:
                        self.unregister(reader)
                        _wake(reader)
        finally:
            self._closed = True
            for reader in list(parked.values()):
                self.unregister(reader)
                _wake(reader, trio.ClosedResourceError("the run is ending"))
            epoll.close()


def _wake(reader: ParkedReader, error: BaseException | None = None) -> None:
    reader.error = error
    task = reader.task
    reader.task = None
    assert task is not None
    trio.lowlevel.reschedule(task)


_POLLER: trio.lowlevel.RunVar[ReadPoller] = trio.lowlevel.RunVar("trio_ws_read_poller")


def _poller() -> ReadPoller:
    try:
        return _POLLER.get()
    except LookupError:
        poller = ReadPoller()
        _POLLER.set(poller)
        trio.lowlevel.spawn_system_task(poller.run, name="trio_ws read poller")
        return poller


async def park_reader(reader: ParkedReader) -> bool:
    """Park the calling task on this run's `ReadPoller` (`ReadPoller.park`); ``False`` if it
    could not be parked (nothing waited).

    Raises:
      trio.ClosedResourceError: the socket was closed (`notify_closing`).
      Exception: whatever ``on_readable`` raised.

    Cancellation: like ``trio.lowlevel.wait_readable``.
    """
    return await _poller().park(reader)


def notify_closing(reader: ParkedReader) -> None:
    """Wake ``reader`` if it is parked (`ReadPoller.notify_closing`)."""
    poller = reader.poller
    if poller is not None:
        poller.notify_closing(reader)
