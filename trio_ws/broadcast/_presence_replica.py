"""``Replica``: one process's copy of a channel's presence table, kept current from versions.

Changes reach a process from two places: the replies of its own store calls (at once) and the
diffs other processes publish on the channel's presence channel (later, and in no guaranteed
order across processes). Snapshots of the whole table arrive with every heartbeat. Each change
carries the version the store gave it, which makes applying them order-free:

* an entry is only replaced by a change with a higher version (a join, or a leave which then
  stays behind as a tombstone), so a late or repeated change is ignored;
* a snapshot at version ``V`` is authoritative for everything up to ``V``: entries it lacks
  whose last change is at most ``V`` have left, tombstones up to ``V`` are dropped, and
  ``V`` becomes the floor under which changes are ignored (they are in the snapshot already);
* a different epoch means the table was lost and started again (e.g. a Redis restart): the
  next snapshot replaces everything.

Applying returns the *effective* changes (who appeared, who disappeared), which become the
`PresenceDiff` of the local trackers; a repeated change yields nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._presence_store import Member

__all__ = ["Replica"]


def _changed(old: Member, new: Member) -> bool:
    """Whether ``new`` shows something else than ``old`` (an update), not just a new version."""
    return old.key != new.key or old.meta != new.meta


@attrs.define
class _Entry:
    version: int
    member: Member
    present: bool


@final
class Replica:
    """A channel's members as this process knows them."""

    __slots__ = ("_entries", "_epoch", "_floor")

    def __init__(self) -> None:
        self._epoch: str | None = None
        self._floor = 0
        self._entries: dict[str, _Entry] = {}

    @property
    def epoch(self) -> str | None:
        """The epoch of the table this copy follows (``None`` before the first snapshot)."""
        return self._epoch

    def members(self) -> dict[str, list[Any]]:
        """``{key: [meta, ...]}``: one meta per tracking connection, in join order."""
        present = sorted(
            (entry.member for entry in self._entries.values() if entry.present),
            key=lambda member: member.version,
        )
        listing: dict[str, list[Any]] = {}
        for member in present:
            listing.setdefault(member.key, []).append(member.meta)
        return listing

    def refs(self) -> set[str]:
        """The refs of the present entries."""
        return {ref for ref, entry in self._entries.items() if entry.present}

    def apply(
        self, epoch: str, joins: Iterable[Member], leaves: Iterable[Member]
    ) -> tuple[list[Member], list[Member]] | None:
        """Apply changes; the effective ``(joins, leaves)``, or ``None`` for another epoch.

        ``None`` asks the caller for a snapshot: the changes belong to a table this copy does
        not follow (yet).
        """
        if epoch != self._epoch:
            return None
        appeared: list[Member] = []
        gone: list[Member] = []
        for member, present in [*((m, True) for m in joins), *((m, False) for m in leaves)]:
            if member.version <= self._floor:
                continue
            entry = self._entries.get(member.ref)
            if entry is not None and entry.version >= member.version:
                continue
            self._entries[member.ref] = _Entry(member.version, member, present)
            if (
                entry is not None
                and entry.present
                and (not present or _changed(entry.member, member))
            ):
                gone.append(entry.member)  # a leave, or the old side of an update
            if present and (entry is None or not entry.present or _changed(entry.member, member)):
                appeared.append(member)
        return appeared, gone

    def apply_snapshot(
        self, epoch: str, version: int, members: Iterable[Member]
    ) -> tuple[list[Member], list[Member]]:
        """Make the table at ``version`` the truth; the effective ``(joins, leaves)``."""
        if epoch == self._epoch and version < self._floor:
            return [], []  # an older snapshot than one already applied
        fresh = epoch != self._epoch
        self._epoch = epoch
        listed = {member.ref: member for member in members}
        appeared: list[Member] = []
        gone: list[Member] = []
        for ref, known in list(self._entries.items()):
            if ref in listed:
                continue
            if fresh or known.version <= version:
                del self._entries[ref]
                if known.present:
                    gone.append(known.member)
        for ref, member in listed.items():
            entry = self._entries.get(ref)
            if entry is not None and not fresh and entry.version >= member.version:
                continue  # a newer change of this ref (e.g. its leave) is known already
            self._entries[ref] = _Entry(member.version, member, True)
            if entry is not None and entry.present and _changed(entry.member, member):
                gone.append(entry.member)  # updated meanwhile: the old side
            if entry is None or not entry.present or _changed(entry.member, member):
                appeared.append(member)
        self._floor = version
        return appeared, gone
