"""The parts of hypercorn and websockets the engine relies on beyond their documented APIs.

hypercorn: ``parse_socket_addr`` (the rest of what trio_ws uses of hypercorn is pinned by
``tests/integration/test_hypercorn_internals.py``). websockets: ``ServerProtocol.recv_frame`` and
``current_size`` (overridden for close-in-fragment), ``close_rcvd_then_sent``, ``reader.eof``,
``handshake_exc``, and ``enable_server_permessage_deflate``.
"""

from __future__ import annotations

import inspect

from hypercorn.utils import parse_socket_addr
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.protocol import Protocol
from websockets.server import ServerProtocol


def test_hypercorn_parse_socket_addr() -> None:
    assert parse_socket_addr(2, ("127.0.0.1", 80)) == ("127.0.0.1", 80)


def test_websockets_protocol_internals_the_engine_uses() -> None:
    protocol = ServerProtocol()
    assert protocol.current_size is None
    assert protocol.close_rcvd_then_sent is None
    assert protocol.reader.eof is False
    assert protocol.handshake_exc is None
    assert "current_size" in inspect.getsource(Protocol.recv_frame)
    factories = enable_server_permessage_deflate(None)
    assert [factory.name for factory in factories] == ["permessage-deflate"]
