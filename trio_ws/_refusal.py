"""Why a handshake was refused, told by the application layer to whoever serves it.

A server that wants to know (`trio_ws.serve`, for its access log and metrics) puts an empty
dict under ``scope["extensions"]["trio_ws.refusal"]``; a guard that refuses writes
``{"guard": ..., "detail": ...}`` into it. Servers without the extension get nothing, and the
application layer never imports the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._types import Scope

__all__ = ["REFUSAL_EXTENSION", "note_refusal"]

#: The scope extension a server provides to learn why a handshake was refused.
REFUSAL_EXTENSION: Final = "trio_ws.refusal"


def note_refusal(scope: Scope, guard: str, detail: str) -> None:
    """Tell the server (if it asked) that ``guard`` refused this handshake, and why.

    ``guard`` is one of ``"origin"``, ``"authenticate"``, ``"subprotocol"``, ``"limits"``.
    The first note wins: a later one (the fallback of a guard that already explained) is
    ignored.
    """
    note = (scope.get("extensions") or {}).get(REFUSAL_EXTENSION)
    if isinstance(note, dict) and not note:
        note["guard"] = guard
        note["detail"] = detail
