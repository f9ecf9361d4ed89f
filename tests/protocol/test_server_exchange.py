"""The server side of the ASGI exchange, one pure machine, state by state (no event loop).

The engine of trio_ws.serve and the in-memory emulator both drive `ServerExchange`; what is
proved here holds for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import trio_ws
from trio_ws import testing
from trio_ws._server_exchange import (
    Accepted,
    AppClosed,
    ClientGone,
    DataSent,
    InvalidAccept,
    Rejected,
    ServerExchange,
    ServerState,
)

if TYPE_CHECKING:
    from trio_ws._types import Message

ACCEPT: Message = {"type": "websocket.accept"}
SEND: Message = {"type": "websocket.send", "text": "x"}
CLOSE: Message = {"type": "websocket.close"}
START: Message = {"type": "websocket.http.response.start", "status": 400}
BODY: Message = {"type": "websocket.http.response.body", "body": b"no"}
MORE: Message = {"type": "websocket.http.response.body", "body": b"n", "more_body": True}
MESSAGES = {"accept": ACCEPT, "send": SEND, "close": CLOSE, "start": START, "body": BODY}
MESSAGES["more"] = MORE

# How each state is reached from HANDSHAKE.
PATHS: dict[ServerState, list[Message]] = {
    ServerState.HANDSHAKE: [],
    ServerState.RESPONSE: [START],
    ServerState.OPEN: [ACCEPT],
    ServerState.APP_CLOSED: [ACCEPT, CLOSE],
    ServerState.REFUSED: [CLOSE],
}

# (state, message) -> (event, state after); every pair not listed raises and changes nothing.
LEGAL: dict[tuple[ServerState, str], tuple[object, ServerState]] = {
    (ServerState.HANDSHAKE, "accept"): (Accepted(None, []), ServerState.OPEN),
    (ServerState.HANDSHAKE, "close"): (Rejected(403, [], b""), ServerState.REFUSED),
    (ServerState.HANDSHAKE, "start"): (None, ServerState.RESPONSE),
    (ServerState.RESPONSE, "body"): (Rejected(400, [], b"no"), ServerState.REFUSED),
    (ServerState.RESPONSE, "more"): (None, ServerState.RESPONSE),
    (ServerState.OPEN, "send"): (DataSent("x"), ServerState.OPEN),
    (ServerState.OPEN, "close"): (AppClosed(1000, ""), ServerState.APP_CLOSED),
    (ServerState.APP_CLOSED, "close"): (None, ServerState.APP_CLOSED),
    (ServerState.SERVER_CLOSED, "send"): (None, ServerState.SERVER_CLOSED),
    (ServerState.SERVER_CLOSED, "close"): (None, ServerState.SERVER_CLOSED),
}


def machine_in(state: ServerState) -> ServerExchange:
    machine = ServerExchange(("chat",), denial_supported=True)
    if state is ServerState.SERVER_CLOSED:
        machine.app_sends(dict(ACCEPT))
        assert machine.server_closes(1001, "server shutdown") == AppClosed(1001, "server shutdown")
    for message in PATHS.get(state, []):
        machine.app_sends(dict(message))
    assert machine.state is state
    return machine


@pytest.mark.parametrize("state", list(ServerState))
@pytest.mark.parametrize("name", list(MESSAGES))
def test_every_message_in_every_state(state: ServerState, name: str) -> None:
    """Legal pairs give their event and state; all others raise and leave the state as it was."""
    machine = machine_in(state)
    if (state, name) in LEGAL:
        event, after = LEGAL[state, name]
        assert machine.app_sends(dict(MESSAGES[name])) == event
        assert machine.state is after
    else:
        with pytest.raises(trio_ws.LocalProtocolError):
            machine.app_sends(dict(MESSAGES[name]))
        assert machine.state is state


@pytest.mark.parametrize(
    "message",
    [{"type": "websocket.nope"}, {"text": "no type"}, ["websocket.send"], None],
)
def test_unknown_messages_are_refused_in_every_state(message: Any) -> None:
    for state in ServerState:
        machine = machine_in(state)
        with pytest.raises(trio_ws.LocalProtocolError, match="ASGI"):
            machine.app_sends(message)


def test_denial_messages_need_the_extension() -> None:
    """Without websocket.http.response a denial is refused, before any state is looked at."""
    machine = ServerExchange((), denial_supported=False)
    with pytest.raises(trio_ws.LocalProtocolError, match="does not support"):
        machine.app_sends(dict(START))
    assert machine.state is ServerState.HANDSHAKE
    scoped = ServerExchange.for_scope(["chat"], {"websocket.http.response": {}})
    assert scoped.denial_supported
    assert scoped.offered_subprotocols == ("chat",)


def test_a_denial_body_in_chunks_is_one_response() -> None:
    machine = ServerExchange((), denial_supported=True)
    start = {"type": "websocket.http.response.start", "status": 401, "headers": [(b"a", b"b")]}
    assert machine.app_sends(start) is None
    assert (
        machine.app_sends({"type": "websocket.http.response.body", "body": b"x", "more_body": True})
        is None
    )
    assert machine.app_sends(
        {"type": "websocket.http.response.body", "body": bytearray(b"y")}
    ) == Rejected(401, [(b"a", b"b")], b"xy")


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ({"type": "websocket.accept", "subprotocol": "v2"}, 400),
        ({"type": "websocket.accept", "subprotocol": 7}, 400),
        ({"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"chat")]}, 500),
        ({"type": "websocket.accept", "headers": [(b"x", b"a\r\nb")]}, 500),
    ],
)
def test_an_accept_the_client_cannot_be_sent_refuses_the_handshake(
    accept: Message, status: int
) -> None:
    """The client gets the error's response (400 for a subprotocol it did not offer, 500 for
    headers the server cannot send), and nothing more is legal afterwards."""
    machine = ServerExchange(("chat",), denial_supported=True)
    with pytest.raises(InvalidAccept) as info:
        machine.app_sends(accept)
    assert info.value.response.status_code == status
    assert machine.state is ServerState.REFUSED
    assert not machine.accepted
    with pytest.raises(trio_ws.LocalProtocolError):
        machine.app_sends(dict(ACCEPT))


def test_an_accept_names_an_offered_subprotocol_and_its_headers() -> None:
    machine = ServerExchange(("chat", "v2"), denial_supported=False)
    accept = {"type": "websocket.accept", "subprotocol": "v2", "headers": [(b"x-a", b"1")]}
    assert machine.app_sends(accept) == Accepted("v2", [(b"x-a", b"1")])
    assert machine.accepted
    assert machine.open


@pytest.mark.parametrize(
    ("code", "allowed"),
    [(999, False), (1000, True), (1003, True), (1004, False), (1005, False), (1006, False),
     (1007, True), (1014, True), (1015, False), (2999, False), (3000, True), (4999, True),
     (5000, False), (True, False), ("1000", False), (None, True)],
)  # fmt: skip
def test_close_codes_follow_rfc_6455(code: object, allowed: bool) -> None:
    """Only codes an endpoint may put in a close frame pass; None means 1000."""
    machine = machine_in(ServerState.OPEN)
    message = {"type": "websocket.close", "code": code}
    if allowed:
        assert machine.app_sends(message) == AppClosed(1000 if code is None else code, "")
    else:
        with pytest.raises(trio_ws.LocalProtocolError):
            machine.app_sends(message)
        assert machine.state is ServerState.OPEN


def test_send_payloads_are_normalised_and_checked() -> None:
    """bytearray and memoryview become bytes; exactly one of text and bytes, of the right type."""
    machine = machine_in(ServerState.OPEN)
    assert machine.app_sends({"type": "websocket.send", "bytes": bytearray(b"a")}) == DataSent(b"a")
    both_none = {"type": "websocket.send", "bytes": memoryview(b"b"), "text": None}
    assert machine.app_sends(both_none) == DataSent(b"b")
    malformed: list[Message] = [
        {"type": "websocket.send"},
        {"type": "websocket.send", "text": "a", "bytes": b"b"},
        {"type": "websocket.send", "text": b"a"},
        {"type": "websocket.send", "bytes": "a"},
    ]
    for bad in malformed:
        with pytest.raises(trio_ws.LocalProtocolError):
            machine.app_sends(bad)
        with pytest.raises(trio_ws.LocalProtocolError):
            machine.data_to_send(bad)


def test_the_per_message_path_agrees_with_app_sends() -> None:
    """data_to_send returns the payload while open; outside OPEN it does what app_sends does."""
    machine = machine_in(ServerState.OPEN)
    assert machine.data_to_send({"type": "websocket.send", "text": "a"}) == "a"
    assert machine.data_to_send({"type": "websocket.send", "bytes": b"b"}) == b"b"
    with pytest.raises(trio_ws.LocalProtocolError, match="accept"):
        machine_in(ServerState.HANDSHAKE).data_to_send(dict(SEND))
    assert machine_in(ServerState.SERVER_CLOSED).data_to_send(dict(SEND)) is None
    machine.record_end(1001, "")
    with pytest.raises(ClientGone):
        machine.data_to_send(dict(SEND))


def test_after_the_end_sends_raise_client_gone_an_oserror() -> None:
    """ASGI 2.4: once the connection ended, send raises an OSError; the first end wins."""
    machine = machine_in(ServerState.OPEN)
    machine.record_end(4001, "bye")
    machine.record_end(1006, "")
    assert not machine.open
    assert machine.disconnect_message() == {
        "type": "websocket.disconnect",
        "code": 4001,
        "reason": "bye",
    }
    for message in (SEND, CLOSE):
        with pytest.raises(ClientGone) as info:
            machine.app_sends(dict(message))
        assert isinstance(info.value, OSError)
    assert machine.state is ServerState.OPEN


def test_the_end_is_a_plain_int() -> None:
    """websockets hands over CloseCode (an IntEnum); the disconnect carries a plain int."""
    from websockets.frames import CloseCode

    machine = machine_in(ServerState.OPEN)
    machine.record_end(CloseCode.GOING_AWAY, "")
    assert type(machine.disconnect_message()["code"]) is int
    assert ServerExchange((), True).disconnect_message()["code"] == 1006  # nothing recorded


def test_a_client_that_left_during_the_handshake_refuses_the_answer() -> None:
    machine = ServerExchange((), denial_supported=True)
    machine.record_end(1006, "")
    with pytest.raises(ClientGone):
        machine.app_sends(dict(ACCEPT))
    assert machine.state is ServerState.REFUSED


def test_the_server_closes_only_an_open_websocket() -> None:
    """server_closes (shutdown) gives the close frame once; later app sends are dropped."""
    for state in ServerState:
        machine = machine_in(state)
        event = machine.server_closes(1012, "restart")
        if state is ServerState.OPEN:
            assert event == AppClosed(1012, "restart")
            assert machine.state is ServerState.SERVER_CLOSED
            assert machine.accepted
        else:
            assert event is None
            assert machine.state is state


@pytest.mark.parametrize(
    ("state", "last", "after"),
    [
        (ServerState.HANDSHAKE, Rejected(500, [], b""), ServerState.REFUSED),
        (ServerState.RESPONSE, Rejected(500, [], b""), ServerState.REFUSED),
        (ServerState.OPEN, AppClosed(1011, ""), ServerState.APP_CLOSED),
        (ServerState.APP_CLOSED, None, ServerState.APP_CLOSED),
        (ServerState.SERVER_CLOSED, None, ServerState.SERVER_CLOSED),
        (ServerState.REFUSED, None, ServerState.REFUSED),
    ],
)
def test_what_the_server_sends_when_the_app_ends(
    state: ServerState, last: object, after: ServerState
) -> None:
    """Unanswered: HTTP 500; open: close 1011; otherwise nothing."""
    machine = machine_in(state)
    assert machine.app_finished() == last
    assert machine.state is after


def test_an_app_ending_after_the_client_left_sends_nothing() -> None:
    machine = machine_in(ServerState.OPEN)
    machine.record_end(1000, "")
    assert machine.app_finished() is None
    assert machine.state is ServerState.APP_CLOSED


_MESSAGE_NAMES = st.sampled_from(sorted(MESSAGES))


@given(st.lists(_MESSAGE_NAMES, max_size=8), st.booleans())
def test_any_sequence_keeps_the_machine_consistent(names: list[str], shutdown: bool) -> None:
    """Whatever an application sends, the machine is in a state the table names, a refused
    message changes nothing, and only accepted states answer accepted."""
    machine = ServerExchange(("chat",), denial_supported=True)
    for name in names:
        before = machine.state
        try:
            machine.app_sends(dict(MESSAGES[name]))
        except trio_ws.LocalProtocolError:
            assert machine.state is before
        if shutdown:
            machine.server_closes(1001, "")
    assert machine.accepted == (
        machine.state in (ServerState.OPEN, ServerState.APP_CLOSED, ServerState.SERVER_CLOSED)
    )


def test_app_protocol_error_is_a_local_protocol_error() -> None:
    """Code catching trio_ws's LocalProtocolError (or RuntimeError) catches the emulator's too."""
    assert issubclass(testing.AppProtocolError, trio_ws.LocalProtocolError)
    assert issubclass(testing.AppProtocolError, RuntimeError)
    assert issubclass(
        testing.ConnectionClosed, trio_ws.WebSocketDisconnect
    )  # trio_ws.connect parity


# The application state each server state shows the application side.
_APP_SIDE = {
    ServerState.HANDSHAKE: trio_ws.WebSocketState.CONNECTING,
    ServerState.RESPONSE: trio_ws.WebSocketState.RESPONSE,
    ServerState.OPEN: trio_ws.WebSocketState.CONNECTED,
    ServerState.APP_CLOSED: trio_ws.WebSocketState.DISCONNECTED,
    ServerState.REFUSED: trio_ws.WebSocketState.DISCONNECTED,
}


@pytest.mark.parametrize("state", list(_APP_SIDE))
@pytest.mark.parametrize("name", list(MESSAGES))
def test_both_sides_of_the_exchange_agree_on_every_message(state: ServerState, name: str) -> None:
    """The application's Exchange and the server's machine accept and refuse the same
    messages in corresponding states: one rule, two sides. The server's one leniency is a
    repeated close after the application closed (hypercorn ignores it too)."""
    from trio_ws._protocol import Exchange

    exchange = Exchange(
        {
            "type": "websocket",
            "subprotocols": ["chat"],
            "extensions": {"websocket.http.response": {}},
        }
    )
    exchange.incoming({"type": "websocket.connect"})
    exchange.application_state = _APP_SIDE[state]
    app_side_ok = True
    try:
        exchange.outgoing(dict(MESSAGES[name]))
    except (trio_ws.LocalProtocolError, trio_ws.WebSocketDisconnected):
        app_side_ok = False
    server_ok = (state, name) in LEGAL
    if (state, name) == (ServerState.APP_CLOSED, "close"):
        assert server_ok
        assert not app_side_ok
    else:
        assert server_ok == app_side_ok


def test_an_end_the_server_decided_is_marked_in_the_disconnect() -> None:
    """A failure the server closed with (or an abort) carries CLOSED_BY_KEY; the client's
    close does not; the first end recorded decides both the code and the mark."""
    from trio_ws._server_exchange import CLOSED_BY_KEY

    failed = machine_in(ServerState.OPEN)
    failed.record_end(1009, "too big", by_server=True)
    failed.record_end(1000, "")
    assert failed.disconnect_message() == {
        "type": "websocket.disconnect",
        "code": 1009,
        "reason": "too big",
        CLOSED_BY_KEY: "server",
    }
    left = machine_in(ServerState.OPEN)
    left.record_end(1000, "bye")
    left.record_end(1006, "", by_server=True)
    assert CLOSED_BY_KEY not in left.disconnect_message()
