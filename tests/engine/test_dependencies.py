"""The parts of hypercorn and websockets the engine relies on beyond their documented APIs.

hypercorn: ``TCPServer`` reads the stream it is given through ``receive_some`` and finds the
socket through ``stream.socket`` or ``stream.transport_stream.socket`` (so a replaying wrapper
can hand it a connection whose first bytes were already read); ``parse_socket_addr``; the
``Config`` fields read by the engine. websockets: ``ServerProtocol.recv_frame`` and
``current_size`` (overridden for close-in-fragment), ``close_rcvd_then_sent``, ``reader.eof``,
``handshake_exc``, and ``enable_server_permessage_deflate``.
"""

from __future__ import annotations

import inspect

import hypercorn
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.utils import parse_socket_addr
from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.protocol import Protocol
from websockets.server import ServerProtocol


def test_hypercorn_tcp_server_reads_and_finds_its_socket_as_the_replay_expects() -> None:
    source = inspect.getsource(TCPServer)
    assert "self.stream.receive_some(" in source
    assert "self.stream.transport_stream.socket" in source
    assert "self.stream.socket" in source
    assert hypercorn.__name__ == "hypercorn"


def test_hypercorn_config_fields_the_engine_reads() -> None:
    config = Config()
    for name in (
        "h11_max_incomplete_size",
        "keep_alive_timeout",
        "ssl_handshake_timeout",
        "server_names",
        "root_path",
        "websocket_max_message_size",
        "websocket_ping_interval",
        "read_timeout",
        "log",
    ):
        assert hasattr(config, name), name
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
