"""Fixtures for the in-memory client's own tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest
import trio

if TYPE_CHECKING:
    from trio_ws._types import Message, Receive, Scope, Send


@attrs.define
class HeldReader:
    """An app that accepts, then reads nothing until ``release`` is set, then records every
    message it receives in ``seen`` until the disconnect: a way to fill the server's queue."""

    release: trio.Event = attrs.field(factory=trio.Event)
    seen: list[Message] = attrs.field(factory=list)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await self.release.wait()
        while True:
            self.seen.append(await receive())
            if self.seen[-1]["type"] == "websocket.disconnect":
                return


@pytest.fixture
def held_reader() -> HeldReader:
    """A fresh :class:`HeldReader` per test."""
    return HeldReader()
