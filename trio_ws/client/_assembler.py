"""``MessageAssembler``: websockets' data frames in, whole ASGI ``websocket.receive`` messages out.

websockets' sans-I/O protocol hands over frames, not messages: a fragmented message arrives as
a first frame and continuation frames. This object joins them, decoding text incrementally so that
invalid UTF-8 is found in the frame where it appears (websockets does not check it), and does
no I/O. Written for the client; it depends only on ``websockets.frames``, so
the engine could drive the same object (see the client's report: a shared piece that belongs
one layer down).
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING, Any, Final

from websockets.frames import Opcode

if TYPE_CHECKING:
    from websockets.frames import Frame

    from .._types import Message

__all__ = ["MessageAssembler"]

_TEXT: Final = Opcode.TEXT


class MessageAssembler:
    """Joins the data frames of one connection into ASGI messages."""

    __slots__ = ("_chunks", "_decoder")

    def __init__(self) -> None:
        self._chunks: list[Any] | None = None  # the message being assembled
        self._decoder: codecs.IncrementalDecoder | None = None  # for a text message

    def frame(self, frame: Frame) -> Message | None:
        """Take one data frame (text, binary or continuation); return a complete message.

        Returns ``None`` while a fragmented message is still incomplete.

        Raises:
          UnicodeDecodeError: a text message is not valid UTF-8 (the caller fails the
            connection with 1007); the unfinished message is dropped.
        """
        try:
            return self._frame(frame)
        except UnicodeDecodeError:
            self.reset()
            raise

    def _frame(self, frame: Frame) -> Message | None:
        chunks = self._chunks
        if chunks is None:
            if frame.fin:
                if frame.opcode is _TEXT:
                    return {"type": "websocket.receive", "text": bytes(frame.data).decode()}
                return {"type": "websocket.receive", "bytes": bytes(frame.data)}
            if frame.opcode is _TEXT:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
                self._chunks = [self._decoder.decode(frame.data)]
            else:
                self._decoder = None
                self._chunks = [bytes(frame.data)]
            return None
        decoder = self._decoder
        fin = frame.fin
        chunks.append(bytes(frame.data) if decoder is None else decoder.decode(frame.data, fin))
        if not fin:
            return None
        self._chunks = None
        if decoder is not None:
            return {"type": "websocket.receive", "text": "".join(chunks)}
        return {"type": "websocket.receive", "bytes": b"".join(chunks)}

    def reset(self) -> None:
        """Drop an unfinished message (the connection ended in the middle of it)."""
        self._chunks = None
        self._decoder = None
