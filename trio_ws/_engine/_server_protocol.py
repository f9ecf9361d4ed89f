"""``EngineProtocol``: websockets' sans-I/O ``ServerProtocol``, with one RFC 6455 case relaxed.

RFC 6455 §5.4 lets control frames arrive between the fragments of a message; a close frame
there ends the connection normally (Autobahn case 7.1.5 expects a clean 1000). websockets 17
answers it with 1002 ("incomplete fragmented message"). The override drops the unfinished
message before the close frame is processed, so the close handshake completes with the
client's code. Relies on websockets' ``recv_frame`` and ``current_size`` (pinned by
``tests/engine/test_dependencies.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets.frames import Opcode
from websockets.server import ServerProtocol

if TYPE_CHECKING:
    from websockets.frames import Frame

__all__ = ["EngineProtocol"]


class EngineProtocol(ServerProtocol):
    """``ServerProtocol`` that accepts a close frame in the middle of a fragmented message."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE and self.current_size is not None:
            self.current_size = None  # the unfinished message is dropped, as on any close
        super().recv_frame(frame)
