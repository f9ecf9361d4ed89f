"""The shared member table of presence: who tracks what in a channel, with expiry times.

One table per channel, where every process reads and writes it: in this process for
``memory://``, in Redis otherwise (``_presence_redis``). Every change gets a version from the
channel's counter, so that replicas can apply changes that reach them out of order (see
``_presence_replica``). One call, `PresenceStore.sync`, does everything at once (atomically on
Redis): add or refresh entries, delete entries, prune expired ones, and optionally read the
whole table.

Each entry is one tracking connection: ``ref`` (a random id of the `track` block), the key and
the JSON-able meta it announced, the version at which it joined, and an expiry time that its
process's heartbeats push forward.
"""

from __future__ import annotations

import heapq
import json
import secrets
from collections.abc import Sequence  # noqa: TC003 (attrs resolves the annotations)
from typing import TYPE_CHECKING, Any, Protocol, final

import attrs
import trio

if TYPE_CHECKING:
    from ._backend import Backend

__all__ = [
    "Member",
    "MemoryPresenceStore",
    "PresenceStore",
    "StoreReply",
    "StoreRequest",
    "Upsert",
    "encode_entry",
    "make_store",
]


@attrs.frozen
class Member:
    """One entry of the table: ``ref`` joined (or left) at ``version``."""

    ref: str
    version: int
    key: str
    meta: Any


@attrs.frozen
class Upsert:
    """Add ``ref`` (``payload`` is its ``[key, meta]`` JSON), or refresh it if present;
    ``rewrite`` also replaces a present entry's payload, at a new version (an update)."""

    ref: str
    ttl: float
    payload: str
    rewrite: bool = False


@attrs.frozen
class StoreRequest:
    """One `PresenceStore.sync`: entries to add or refresh (``upsert``), to refresh only if
    present (``refresh``: ``(ref, ttl)``), to delete (``remove``), and whether to read the
    whole table (``snapshot``)."""

    upsert: Sequence[Upsert] = ()
    refresh: Sequence[tuple[str, float]] = ()
    remove: Sequence[str] = ()
    snapshot: bool = False


@attrs.frozen
class StoreReply:
    """What one `PresenceStore.sync` changed, and the table if it was asked for.

    Attributes:
      epoch: the table's identity; a new one when the table was lost (a Redis restart).
      version: the channel's counter after the call.
      joins: entries this call added (re-adding a pruned entry counts).
      leaves: entries this call deleted or pruned, with the version of their removal.
      missing: refs that were only to be refreshed and are not in the table (pruned).
      snapshot: every entry of the table after the call (joins at their join version), when
        asked for.
    """

    epoch: str
    version: int
    joins: list[Member]
    leaves: list[Member]
    missing: list[str]
    snapshot: list[Member] | None


def encode_entry(key: str, meta: Any) -> str:
    """The ``[key, meta]`` JSON an entry stores.

    Raises:
      TypeError, ValueError: ``meta`` cannot be encoded as JSON.
    """
    return json.dumps([key, meta], separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode_entry(ref: str, version: int, payload: str) -> Member:
    key, meta = json.loads(payload)
    return Member(ref, version, key, meta)


class PresenceStore(Protocol):
    """The member table of every channel, shared by every process of a broadcast."""

    async def sync(self, channel: str, request: StoreRequest) -> StoreReply:
        """Apply ``request``'s changes, prune expired entries, read the table if asked.

        Raises:
          BroadcastUnavailable: the store cannot be reached; nothing is known about whether
            the changes were applied.
        """


@final
class MemoryPresenceStore:
    """The table in this process (``memory://``); expiry follows ``trio.current_time()``."""

    def __init__(self) -> None:
        self._tables: dict[str, _MemoryTable] = {}

    async def sync(self, channel: str, request: StoreRequest) -> StoreReply:
        await trio.lowlevel.checkpoint()
        table = self._tables.get(channel)
        if table is None:
            table = self._tables[channel] = _MemoryTable()
        now = trio.current_time()
        joins: list[Member] = []
        leaves: list[Member] = []
        missing: list[str] = []
        for item in request.upsert:
            if item.rewrite or item.ref not in table.members:
                table.version += 1
                member = decode_entry(item.ref, table.version, item.payload)
                table.members[item.ref] = member
                joins.append(member)
            table.expire(item.ref, now + item.ttl)
        for ref, ttl in request.refresh:
            if ref in table.members:
                table.expire(ref, now + ttl)
            else:
                missing.append(ref)
        expired = []
        while table.deadlines and table.deadlines[0][0] <= now:
            deadline, ref = heapq.heappop(table.deadlines)
            if table.expiry.get(ref) == deadline:  # not refreshed since
                expired.append(ref)
        for ref in [*request.remove, *expired]:
            gone = table.members.pop(ref, None)
            table.expiry.pop(ref, None)
            if gone is not None:
                table.version += 1
                leaves.append(attrs.evolve(gone, version=table.version))
        reply = StoreReply(
            table.epoch,
            table.version,
            joins,
            leaves,
            missing,
            list(table.members.values()) if request.snapshot else None,
        )
        if not table.members:
            del self._tables[channel]  # an empty channel costs nothing; versions restart
        return reply


@attrs.define
class _MemoryTable:
    members: dict[str, Member] = attrs.Factory(dict)
    expiry: dict[str, float] = attrs.Factory(dict)
    #: (deadline, ref), a min-heap; stale when ``expiry[ref]`` has moved on since
    deadlines: list[tuple[float, str]] = attrs.Factory(list)
    version: int = 0
    #: a new table (after the last member left) starts a new epoch: its versions restart
    epoch: str = attrs.Factory(lambda: secrets.token_hex(8))

    def expire(self, ref: str, deadline: float) -> None:
        self.expiry[ref] = deadline
        heapq.heappush(self.deadlines, (deadline, ref))


def make_store(backend: Backend) -> PresenceStore:
    """The presence store that lives where ``backend`` keeps its messages."""
    from ._memory import MemoryBackend

    if isinstance(backend, MemoryBackend):
        return MemoryPresenceStore()
    from ._presence_redis import RedisPresenceStore

    return RedisPresenceStore.for_backend(backend)
