"""The emulated server's pure state machine, table by table (no event loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import trio_ws
from trio_ws import testing
from trio_ws.testing._server_protocol import (
    Accepted,
    AppClosed,
    DataSent,
    Phase,
    Rejected,
    ServerProtocol,
)

if TYPE_CHECKING:
    from trio_ws._types import Message

ACCEPT: Message = {"type": "websocket.accept"}
SEND: Message = {"type": "websocket.send", "text": "x"}
CLOSE: Message = {"type": "websocket.close"}
START: Message = {"type": "websocket.http.response.start", "status": 400}
BODY: Message = {"type": "websocket.http.response.body", "body": b"no"}
MORE: Message = {"type": "websocket.http.response.body", "body": b"n", "more_body": True}

# Messages that lead from HANDSHAKE to each phase.
PATHS: dict[Phase, list[Message]] = {
    Phase.HANDSHAKE: [],
    Phase.DENYING: [START],
    Phase.OPEN: [ACCEPT],
    Phase.APP_CLOSED: [ACCEPT, CLOSE],
    Phase.REJECTED: [CLOSE],
}

# (phase, message) -> the event it produces, or None when it is legal but silent.
LEGAL: dict[tuple[Phase, str], object] = {
    (Phase.HANDSHAKE, "accept"): Accepted(None, []),
    (Phase.HANDSHAKE, "close"): Rejected(403, [], b""),
    (Phase.HANDSHAKE, "start"): None,
    (Phase.DENYING, "body"): Rejected(400, [], b"no"),
    (Phase.DENYING, "more"): None,
    (Phase.OPEN, "send"): DataSent("x"),
    (Phase.OPEN, "close"): AppClosed(1000, ""),
    (Phase.APP_CLOSED, "close"): None,
}
MESSAGES = {"accept": ACCEPT, "send": SEND, "close": CLOSE, "start": START, "body": BODY}
MESSAGES["more"] = MORE


def protocol_in(phase: Phase) -> ServerProtocol:
    protocol = ServerProtocol(["chat"], denial_extension=True)
    for message in PATHS[phase]:
        protocol.handle(message)
    assert protocol.phase is phase
    return protocol


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("name", list(MESSAGES))
def test_every_message_in_every_phase(phase: Phase, name: str) -> None:
    """Legal pairs give their event; all other pairs raise and leave the phase unchanged."""
    protocol = protocol_in(phase)
    if (phase, name) in LEGAL:
        assert protocol.handle(MESSAGES[name]) == LEGAL[phase, name]
    else:
        with pytest.raises(testing.AppProtocolError):
            protocol.handle(MESSAGES[name])
        assert protocol.phase is phase


def test_app_protocol_error_is_a_local_protocol_error() -> None:
    """Code catching trio_ws's LocalProtocolError (or RuntimeError) catches it too."""
    assert issubclass(testing.AppProtocolError, trio_ws.LocalProtocolError)
    assert issubclass(testing.AppProtocolError, RuntimeError)
    # The in-memory client raises what trio_ws.connect raises (issue 17, requirement 8).
    assert issubclass(testing.ConnectionClosed, trio_ws.WebSocketDisconnect)


@pytest.mark.parametrize(
    ("code", "allowed"),
    [(999, False), (1000, True), (1003, True), (1004, False), (1005, False), (1006, False),
     (1007, True), (1014, True), (1015, False), (2999, False), (3000, True), (4999, True),
     (5000, False), (True, False)],
)  # fmt: skip
def test_close_codes_follow_rfc_6455(code: int, allowed: bool) -> None:
    """Only codes an endpoint may put in a close frame pass."""
    protocol = protocol_in(Phase.OPEN)
    message = {"type": "websocket.close", "code": code}
    if allowed:
        assert protocol.handle(message) == AppClosed(code, "")
    else:
        with pytest.raises(testing.AppProtocolError):
            protocol.handle(message)


def test_send_payloads_are_normalised() -> None:
    """bytearray and memoryview become bytes; bytes wins only when text is absent or None."""
    protocol = protocol_in(Phase.OPEN)
    assert protocol.handle({"type": "websocket.send", "bytes": bytearray(b"a")}) == DataSent(b"a")
    assert protocol.handle(
        {"type": "websocket.send", "bytes": memoryview(b"b"), "text": None}
    ) == DataSent(b"b")
