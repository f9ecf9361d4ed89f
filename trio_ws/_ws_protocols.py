"""websockets' sans-I/O protocols as trio_ws drives them: ``ServerProtocol`` for the engine and
``ClientProtocol`` for the client, with one RFC 6455 case relaxed on both sides.

RFC 6455 §5.4 lets control frames arrive between the fragments of a message; a close frame
there ends the connection normally (Autobahn case 7.1.5, in its fuzzing client and its fuzzing
server, expects a clean 1000). websockets 17 answers it with 1002 ("incomplete fragmented
message"). The override drops the unfinished message before the close frame is processed, so
the close handshake completes with the peer's code. Relies on websockets' ``recv_frame`` and
``current_size`` (pinned by ``tests/engine/test_dependencies.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.server import ServerProtocol

if TYPE_CHECKING:
    from websockets.frames import Frame
    from websockets.protocol import Protocol

__all__ = ["ClientSideProtocol", "EngineProtocol"]

_CLOSE = Opcode.CLOSE


def _drop_unfinished_message_on_close(protocol: Protocol, frame: Frame) -> None:
    if frame.opcode is Opcode.CLOSE and protocol.current_size is not None:
        protocol.current_size = None  # the unfinished message is dropped, as on any close


class EngineProtocol(ServerProtocol):
    """``ServerProtocol`` that accepts a close frame in the middle of a fragmented message."""

    def recv_frame(self, frame: Frame) -> None:
        # (`_drop_unfinished_message_on_close` written out: this runs once per frame received)
        if frame.opcode is _CLOSE and self.current_size is not None:
            self.current_size = None
        ServerProtocol.recv_frame(self, frame)


class ClientSideProtocol(ClientProtocol):
    """``ClientProtocol`` that accepts a close frame in the middle of a fragmented message."""

    def recv_frame(self, frame: Frame) -> None:
        _drop_unfinished_message_on_close(self, frame)
        super().recv_frame(frame)
