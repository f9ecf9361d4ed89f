"""A close frame between the fragments of a message ends the connection normally (RFC 6455
§5.4; Autobahn's fuzzing server, case 7.1.5), on the client as on the engine."""

from __future__ import annotations

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from trio_ws._ws_protocols import ClientSideProtocol


def _fragment_then_close(protocol: ClientProtocol) -> None:
    protocol.receive_data(Frame(Opcode.TEXT, b"half a mes", fin=False).serialize(mask=False))
    close = Frame(Opcode.CLOSE, Close(1000, "bye").serialize())
    protocol.receive_data(close.serialize(mask=False))


def test_the_client_echoes_the_peers_close_code() -> None:
    protocol = ClientSideProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN)
    _fragment_then_close(protocol)
    assert protocol.close_rcvd is not None
    assert (protocol.close_rcvd.code, protocol.close_rcvd.reason) == (1000, "bye")
    assert protocol.close_sent is not None
    assert protocol.close_sent.code == 1000


def test_websockets_own_client_protocol_fails_the_connection_there() -> None:
    """The control: what the relaxation changes (if websockets changes, this says so)."""
    protocol = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN)
    _fragment_then_close(protocol)
    assert protocol.close_sent is not None
    assert protocol.close_sent.code == 1002
