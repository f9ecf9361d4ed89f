"""Test helpers for trio_ws applications (and any ASGI websocket application).

`connect` runs an ASGI app in memory and yields a `WebSocketTestClient` wired to
it by trio memory channels: no threads, no sockets, deterministic under ``autojump_clock``::

    async def test_echo():
        with trio.fail_after(5):
            async with trio_ws.testing.connect(app, "/echo?x=1", subprotocols=["chat"]) as ws:
                await ws.send_text("hi")
                assert await ws.receive_text() == "hi"
        assert ws.close_code == 1000          # the client closed on exit
        assert ws.app_messages[0]["type"] == "websocket.accept"

What the emulated server does, as hypercorn 0.18 does unless noted:

- handshake: ``websocket.close`` before accept is HTTP 403, returning or raising before accept
  is HTTP 500, a denial response (``websocket.http.response.*``) is passed through; all raise
  `ConnectionRejected`. An accept with a subprotocol the client did not offer (which
  crashes hypercorn) raises `AppProtocolError` from ``connect``.
- the app's receive queue holds ``queue_size`` (10) messages; beyond that the client's sends
  block. The app's sends never block.
- the app closing (code, reason) is seen by the client after the messages sent before it;
  the app then gets ``websocket.disconnect`` with code 1000. Returning or raising without
  closing closes with 1011.
- the client closing delivers its code to the app (hypercorn would say 1006; the ASGI spec
  says the code), and its reason with spec 2.5. `WebSocketTestClient.drop` delivers 1006.
- spec "2.3" (hypercorn): ``websocket.receive`` has both ``bytes`` and ``text``; sends after
  the client left are dropped; a second ``receive()`` after the disconnect hangs. Spec "2.4"
  and "2.5": one key; sends after the client left raise `OSError`; a second ``receive()``
  raises `AppProtocolError`.
- illegal messages (send before accept, a second accept, unknown types, bad close codes)
  raise `AppProtocolError` into the app's ``send``.
"""

from __future__ import annotations

from ._client import WebSocketTestClient as WebSocketTestClient
from ._connect import connect as connect
from ._exceptions import AppProtocolError as AppProtocolError
from ._exceptions import ConnectionClosed as ConnectionClosed
from ._exceptions import ConnectionRejected as ConnectionRejected
from ._lifespan import LifespanApp as LifespanApp
from ._lifespan import LifespanError as LifespanError
from ._lifespan import LifespanNotSupported as LifespanNotSupported
from ._lifespan import LifespanShutdownFailed as LifespanShutdownFailed
from ._lifespan import LifespanStartupFailed as LifespanStartupFailed
from ._lifespan import lifespan as lifespan
from ._scope import SpecVersion as SpecVersion
from ._server import serve_app as serve_app

__all__ = [
    # in-memory client
    "connect",
    "WebSocketTestClient",
    "SpecVersion",
    # the application's lifespan
    "lifespan",
    "LifespanApp",
    # real servers
    "serve_app",
    # exceptions
    "ConnectionClosed",
    "ConnectionRejected",
    "AppProtocolError",
    "LifespanError",
    "LifespanStartupFailed",
    "LifespanShutdownFailed",
    "LifespanNotSupported",
]


def _fix_module_names() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith(f"{__name__}._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # type aliases
                pass


_fix_module_names()
