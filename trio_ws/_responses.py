"""Tiny ASGI HTTP responses, mainly for refusing a WebSocket handshake.

``await websocket.send_denial_response(PlainTextResponse("go away", status_code=403))`` calls
``await response(scope, receive, send)``. Any ASGI response callable works there; these are
provided so that trio_ws apps do not need Starlette for it. They speak both the websocket
denial messages (``websocket.http.response.*``, the ASGI "Websocket Denial Response"
extension) and plain ``http.response.*``, chosen by ``scope["type"]``.

Only a complete body sent in one message is supported: no streaming, files or background
tasks.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from ._datastructures import Headers
from ._protocol import validate_status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._types import Receive, Scope, Send

__all__ = ["JSONResponse", "PlainTextResponse", "Response"]

_MESSAGE_PREFIXES = {"websocket": "websocket.", "http": ""}


def _check_status(status_code: object) -> int:
    try:
        return validate_status(status_code)
    except (TypeError, ValueError) as error:
        raise type(error)(f"status_code: {error}") from None


class Response:
    """An HTTP response whose whole body is known up front.

    Args:
      content: the body: ``bytes`` as they are, ``str`` encoded with `charset`,
        ``None`` for an empty body. Subclasses change this through `render`.
      status_code: the HTTP status, 100-599.
      headers: extra headers; names are case-insensitive and both names and values must be
        latin-1 text without CR/LF.
      media_type: the ``Content-Type`` to send, overriding the class default. A ``text/*``
        type gets ``; charset=utf-8`` appended unless it names a charset.

    ``content-length`` and ``content-type`` are added unless ``headers`` supplies them
    (``content-length`` is never added to 1xx, 204 or 304 responses).

    Attributes:
      status_code: the status, as given.
      body: the rendered body bytes.
      media_type: the media type in use, or ``None`` to send no ``content-type``.
      headers: the final headers, as `Headers`.
      raw_headers: the same, as the ASGI list of ``(bytes, bytes)`` pairs.

    Raises:
      TypeError: an argument has the wrong type (``content`` too, for this class).
      ValueError: the status is out of range, or a header name or value is not latin-1 or
        contains CR, LF or NUL.
    """

    #: The ``content-type`` used when the constructor gets no ``media_type``.
    media_type: str | None = None
    #: The encoding for ``str`` content and the charset named for ``text/*`` media types.
    charset: ClassVar[str] = "utf-8"

    status_code: int
    body: bytes
    headers: Headers

    def __init__(
        self,
        content: bytes | bytearray | memoryview | str | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = _check_status(status_code)
        if media_type is not None:
            if not isinstance(media_type, str):
                raise TypeError(f"media_type must be a str, not {type(media_type).__name__}")
            Headers({"content-type": media_type})  # the same checks as any header value
            self.media_type = media_type
        self.body = self.render(content)
        self.headers = self._build_headers(Headers(headers))

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into the body bytes (``bytes``, ``str`` or ``None`` here).

        Subclasses override this to accept other content; `JSONResponse` does.

        Raises:
          TypeError: ``content`` is not ``bytes``, ``bytearray``, ``memoryview``, ``str`` or
            ``None``.
        """
        if content is None:
            return b""
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, (bytes, bytearray, memoryview)):
            return bytes(content)
        raise TypeError(
            f"{type(self).__name__} content must be bytes, str or None, "
            f"not {type(content).__name__}"
        )

    def _build_headers(self, given: Headers) -> Headers:
        raw = given.raw
        no_body_allowed = self.status_code < 200 or self.status_code in (204, 304)
        if "content-length" not in given and not no_body_allowed:
            raw.append((b"content-length", str(len(self.body)).encode("ascii")))
        media_type = self.media_type
        if media_type is not None and "content-type" not in given:
            if media_type.startswith("text/") and "charset=" not in media_type.lower():
                media_type = f"{media_type}; charset={self.charset}"
            raw.append((b"content-type", media_type.encode("latin-1")))
        return Headers(raw=raw)

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as the ASGI list of ``(name, value)`` byte pairs (a new list)."""
        return self.headers.raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send this response as the ASGI messages for ``scope``.

        For a ``"websocket"`` scope (a handshake being denied) this sends
        ``websocket.http.response.start`` then one ``websocket.http.response.body``; for an
        ``"http"`` scope it sends ``http.response.start`` and ``http.response.body``. The body
        message has ``more_body=False``. ``receive`` is not used.

        Raises:
          ValueError: ``scope["type"]`` is neither ``"websocket"`` nor ``"http"``; nothing
            was sent.
          Exception: whatever ``send`` raises (for a WebSocket, the server may refuse the
            denial messages if it does not support the extension or the handshake has
            already been answered).

        Cancellation:
          Not atomic: this awaits ``send`` twice. If it is cancelled during the first send,
          the start message may or may not have reached the server, depending on the
          server's own guarantee (under hypercorn's trio worker, it did or did not, never
          half). If it is cancelled after the start message was sent but before the body
          was, the server holds a response that was started but never finished: it cannot
          be completed or replaced, and the server will abort the connection (the client
          sees the handshake or request fail) once the application returns.
        """
        scope_type = scope.get("type")
        prefix = _MESSAGE_PREFIXES.get(scope_type) if isinstance(scope_type, str) else None
        if prefix is None:
            raise ValueError(
                f"a Response can only answer a 'websocket' or 'http' scope, not {scope_type!r}"
            )
        await send(
            {
                "type": f"{prefix}http.response.start",
                "status": self.status_code,
                "headers": self.headers.raw,
            }
        )
        await send({"type": f"{prefix}http.response.body", "body": self.body, "more_body": False})

    def __repr__(self) -> str:
        """``Response(status_code=403, media_type='text/plain', 12 bytes)``."""
        return (
            f"{type(self).__name__}(status_code={self.status_code}, "
            f"media_type={self.media_type!r}, {len(self.body)} bytes)"
        )


class PlainTextResponse(Response):
    """A `Response` whose default media type is ``text/plain; charset=utf-8``."""

    media_type = "text/plain"


class JSONResponse(Response):
    """A `Response` whose content is any JSON-serialisable value.

    The body is compact UTF-8 JSON (no spaces, non-ASCII characters kept as they are), and
    the media type is ``application/json``. NaN and infinities are refused, as JSON has no
    spelling for them.

    Raises:
      TypeError: ``content`` is not JSON-serialisable.
      ValueError: ``content`` contains NaN or an infinity, or a circular reference.
    """

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type)

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` as compact UTF-8 JSON."""
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
