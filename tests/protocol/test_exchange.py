"""The ASGI websocket exchange as a pure state machine: synchronous, table-driven tests.

Every rule of the exchange lives in ``trio_ws._protocol``; these tests need no event loop.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import trio_ws
from trio_ws import (
    ClosedBy,
    LocalProtocolError,
    RemoteProtocolError,
    UnexpectedMessageType,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)
from trio_ws._protocol import Exchange, PeerState, validate_close

CONNECTING = WebSocketState.CONNECTING
CONNECTED = WebSocketState.CONNECTED
DISCONNECTED = WebSocketState.DISCONNECTED
RESPONSE = WebSocketState.RESPONSE


def make_scope(**extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "websocket",
        "path": "/",
        "subprotocols": ["chat", "superchat"],
        "extensions": {"websocket.http.response": {}},
    }
    scope.update(extra)
    return scope


def session_in(client: WebSocketState, application: WebSocketState) -> Exchange:
    session = Exchange(make_scope())
    session.client_state = client
    session.application_state = application
    return session


SERVER_MESSAGES: dict[str, dict[str, Any]] = {
    "websocket.connect": {"type": "websocket.connect"},
    "websocket.receive": {"type": "websocket.receive", "text": "hi", "bytes": None},
    "websocket.disconnect": {"type": "websocket.disconnect", "code": 1006},
    "websocket.accept": {"type": "websocket.accept"},
    "lifespan.startup": {"type": "lifespan.startup"},
}

# (client state, message type) -> the state it leads to, or None where it is illegal.
CLIENT_TABLE = [
    (CONNECTING, "websocket.connect", CONNECTED),
    (CONNECTING, "websocket.receive", None),
    (CONNECTING, "websocket.disconnect", None),
    (CONNECTING, "lifespan.startup", None),
    (CONNECTED, "websocket.connect", None),
    (CONNECTED, "websocket.receive", CONNECTED),
    (CONNECTED, "websocket.disconnect", DISCONNECTED),
    (CONNECTED, "websocket.accept", None),
]


@pytest.mark.parametrize(("state", "kind", "expected"), CLIENT_TABLE)
def test_server_messages_follow_the_client_transition_table(
    state: WebSocketState, kind: str, expected: WebSocketState | None
) -> None:
    """Each server message is legal in exactly the client states the ASGI spec allows."""
    session = session_in(state, CONNECTED)
    message = dict(SERVER_MESSAGES[kind])
    if expected is None:
        with pytest.raises(RemoteProtocolError, match=kind):
            session.incoming(message)
        assert session.client_state is state
    else:
        assert session.incoming(message) is message
        assert session.client_state is expected


def test_receiving_after_the_disconnect_was_consumed_is_misuse() -> None:
    """Once the disconnect has been received, another receive raises WebSocketDisconnected."""
    session = session_in(DISCONNECTED, CONNECTED)
    with pytest.raises(WebSocketDisconnected, match="disconnect message has been received"):
        session.incoming({"type": "websocket.receive", "text": "late"})


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.receive"},
        {"type": "websocket.receive", "text": None, "bytes": None},
        {"type": "websocket.receive", "text": "a", "bytes": b"a"},
        {"type": "websocket.disconnect", "code": "1000"},
        {"type": "websocket.disconnect", "code": 1000, "reason": 5},
    ],
)
def test_malformed_server_messages_are_remote_protocol_errors(message: dict[str, Any]) -> None:
    """A receive must carry exactly one payload; a disconnect needs an int code."""
    session = session_in(CONNECTED, CONNECTED)
    with pytest.raises(RemoteProtocolError):
        session.incoming(message)


def test_disconnect_is_normalised_and_recorded() -> None:
    """A disconnect without code or reason becomes 1005 and "" and is recorded as the end."""
    session = session_in(CONNECTED, CONNECTED)
    message = session.incoming({"type": "websocket.disconnect"})
    assert (message["code"], message["reason"]) == (1005, "")
    assert (session.close_code, session.close_reason, session.closed_by) == (
        1005,
        "",
        ClosedBy.CLIENT,
    )
    assert session.peer_gone


def test_a_hypercorn_style_receive_with_both_keys_is_accepted() -> None:
    """hypercorn sends both keys, one of them None; the other one is the payload."""
    session = session_in(CONNECTED, CONNECTED)
    binary = session.incoming({"type": "websocket.receive", "bytes": b"\x00", "text": None})
    assert session.bytes_of(binary) == b"\x00"
    text = session.incoming({"type": "websocket.receive", "bytes": None, "text": ""})
    assert session.text_of(text) == ""


def test_kind_mismatch_raises_with_the_payload() -> None:
    """Asking for text and getting bytes (or the reverse) raises, carrying what arrived."""
    session = session_in(CONNECTED, CONNECTED)
    with pytest.raises(UnexpectedMessageType) as as_text:
        session.text_of({"type": "websocket.receive", "bytes": b"\x01\x02", "text": None})
    assert as_text.value.data == b"\x01\x02"
    assert as_text.value.expected == "text"
    assert isinstance(as_text.value, TypeError)
    with pytest.raises(UnexpectedMessageType) as as_bytes:
        session.bytes_of({"type": "websocket.receive", "text": "héllo"})
    assert as_bytes.value.data == "héllo"
    assert as_bytes.value.expected == "bytes"


def test_a_consumed_disconnect_becomes_websocket_disconnect() -> None:
    """text_of/bytes_of turn the disconnect message into WebSocketDisconnect(code, reason)."""
    session = session_in(CONNECTED, CONNECTED)
    message = session.incoming({"type": "websocket.disconnect", "code": 4001, "reason": "bye"})
    with pytest.raises(WebSocketDisconnect) as info:
        session.text_of(message)
    assert (info.value.code, info.value.reason) == (4001, "bye")


APP_MESSAGES: dict[str, dict[str, Any]] = {
    "websocket.accept": {"type": "websocket.accept"},
    "websocket.send": {"type": "websocket.send", "text": "x"},
    "websocket.close": {"type": "websocket.close", "code": 1000},
    "websocket.http.response.start": {"type": "websocket.http.response.start", "status": 401},
    "websocket.http.response.body": {"type": "websocket.http.response.body", "body": b"no"},
    "websocket.receive": {"type": "websocket.receive", "text": "x"},
}

# (application state, message type) -> the state it leads to, or None where it is illegal.
APPLICATION_TABLE = [
    (CONNECTING, "websocket.accept", CONNECTED),
    (CONNECTING, "websocket.close", DISCONNECTED),
    (CONNECTING, "websocket.http.response.start", RESPONSE),
    (CONNECTING, "websocket.send", None),
    (CONNECTING, "websocket.http.response.body", None),
    (CONNECTED, "websocket.send", CONNECTED),
    (CONNECTED, "websocket.close", DISCONNECTED),
    (CONNECTED, "websocket.accept", None),
    (CONNECTED, "websocket.http.response.start", None),
    (CONNECTED, "websocket.receive", None),
    (RESPONSE, "websocket.http.response.body", DISCONNECTED),
    (RESPONSE, "websocket.send", None),
    (RESPONSE, "websocket.close", None),
]


@pytest.mark.parametrize(("state", "kind", "expected"), APPLICATION_TABLE)
def test_app_messages_follow_the_application_transition_table(
    state: WebSocketState, kind: str, expected: WebSocketState | None
) -> None:
    """Each app message is legal in exactly the application states the ASGI spec allows."""
    session = session_in(CONNECTED, state)
    message = dict(APP_MESSAGES[kind])
    if expected is None:
        with pytest.raises(LocalProtocolError, match="Expected ASGI message"):
            session.outgoing(message)
        assert session.application_state is state
    else:
        session.outgoing(message)
        assert session.application_state is expected


@pytest.mark.parametrize("kind", sorted(APP_MESSAGES))
def test_nothing_can_be_sent_after_the_app_finished(kind: str) -> None:
    """After a close (or a complete response) every send is WebSocketDisconnected."""
    session = session_in(CONNECTED, DISCONNECTED)
    with pytest.raises(WebSocketDisconnected, match="once a close message has been sent"):
        session.outgoing(dict(APP_MESSAGES[kind]))


def test_send_before_accept_says_to_accept_first() -> None:
    """The error for a data message before accept names the fix."""
    session = session_in(CONNECTED, CONNECTING)
    with pytest.raises(LocalProtocolError, match='call "accept" first'):
        session.text_message("too early")


def test_a_response_body_with_more_body_keeps_the_response_open() -> None:
    """A denial response ends only with the body message whose more_body is false."""
    session = session_in(CONNECTED, CONNECTING)
    session.outgoing({"type": "websocket.http.response.start", "status": 418, "headers": []})
    session.outgoing({"type": "websocket.http.response.body", "body": b"a", "more_body": True})
    assert session.application_state is RESPONSE
    session.outgoing({"type": "websocket.http.response.body", "body": b"b"})
    assert session.application_state is DISCONNECTED
    assert session.closed_by is ClosedBy.APP


def test_denial_needs_the_server_extension() -> None:
    """Without websocket.http.response in the scope, a response start is refused."""
    session = Exchange(make_scope(extensions={}))
    assert not session.denial_supported
    with pytest.raises(LocalProtocolError, match="denial response extension"):
        session.outgoing({"type": "websocket.http.response.start", "status": 401})


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "websocket.http.response.start", "status": 99}, ValueError),
        ({"type": "websocket.http.response.start", "status": "401"}, TypeError),
        (
            {"type": "websocket.http.response.start", "status": 401, "headers": [("a", "b")]},
            TypeError,
        ),
    ],
)
def test_invalid_response_starts_are_refused(message: dict[str, Any], error: type) -> None:
    """Status codes and header types of a denial response are checked."""
    session = session_in(CONNECTED, CONNECTING)
    with pytest.raises(error):
        session.outgoing(message)
    assert session.application_state is CONNECTING


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4000, 4999])
def test_sendable_close_codes_pass(code: int) -> None:
    """Codes an endpoint may send pass validation."""
    assert validate_close(code, None) == ""


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_reserved_and_unassigned_close_codes_are_refused(code: int) -> None:
    """1004-1006, 1015 and anything outside the ranges raise ValueError."""
    with pytest.raises(ValueError, match=f"close code {code} cannot be sent"):
        validate_close(code, None)


@pytest.mark.parametrize("code", [True, 1000.0, "1000", None])
def test_close_code_must_be_an_int(code: object) -> None:
    """A bool, float or str is not a close code."""
    with pytest.raises(TypeError):
        validate_close(code, None)


def test_close_reason_is_limited_to_123_utf8_bytes() -> None:
    """123 bytes pass; 124 fail, counted in UTF-8 rather than characters."""
    assert validate_close(1000, "a" * 123) == "a" * 123
    assert validate_close(1000, "é" * 61) == "é" * 61  # 122 bytes
    with pytest.raises(ValueError, match="124 bytes"):
        validate_close(1000, "a" * 124)
    with pytest.raises(ValueError, match="124 bytes"):
        validate_close(1000, "é" * 62)
    with pytest.raises(TypeError):
        validate_close(1000, b"bytes")


def test_an_invalid_close_changes_nothing() -> None:
    """A close with a bad code raises before the state moves."""
    session = session_in(CONNECTED, CONNECTED)
    with pytest.raises(ValueError, match="1006"):
        session.outgoing({"type": "websocket.close", "code": 1006})
    assert session.application_state is CONNECTED
    assert session.closed_by is None


def test_close_normalises_reason_and_records_the_end() -> None:
    """A close gets reason "" for None and records (code, reason, APP)."""
    session = session_in(CONNECTED, CONNECTED)
    message = session.outgoing({"type": "websocket.close", "code": 4100, "reason": None})
    assert message["reason"] == ""
    assert (session.close_code, session.closed_by) == (4100, ClosedBy.APP)


def test_the_first_end_wins() -> None:
    """The server's disconnect after the app's close does not overwrite the app's code."""
    session = session_in(CONNECTED, CONNECTED)
    session.outgoing({"type": "websocket.close", "code": 4000, "reason": "done"})
    session.incoming({"type": "websocket.disconnect", "code": 1000})
    assert (session.close_code, session.close_reason, session.closed_by) == (
        4000,
        "done",
        ClosedBy.APP,
    )


@pytest.mark.parametrize(
    ("subprotocol", "error"),
    [("chat", None), (None, None), ("nope", ValueError), (b"chat", TypeError)],
)
def test_accept_allows_only_an_offered_subprotocol(subprotocol: object, error: type | None) -> None:
    """hypercorn 0.18 crashes on an unoffered subprotocol, so it never leaves the session."""
    session = session_in(CONNECTED, CONNECTING)
    message = {"type": "websocket.accept", "subprotocol": subprotocol}
    if error is None:
        session.outgoing(message)
        assert session.application_state is CONNECTED
    else:
        with pytest.raises(error):
            session.outgoing(message)
        assert session.application_state is CONNECTING


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([(b"x-ok", b"1")], None),
        ([], None),
        ([("x-str", "1")], TypeError),
        ({b"x": b"1"}, TypeError),
        ([(b"x",)], TypeError),
        ([(b"Sec-WebSocket-Protocol", b"chat")], ValueError),
        ([(b":authority", b"x")], ValueError),
        ([(b"bad name", b"x")], ValueError),
        ([(b"x-crlf", b"a\r\nb: c")], ValueError),
    ],
)
def test_accept_headers_must_be_safe_byte_pairs(headers: object, error: type | None) -> None:
    """Header names are tokens, values carry no CR/LF, and sec-websocket-protocol is refused."""
    session = session_in(CONNECTED, CONNECTING)
    message = {"type": "websocket.accept", "headers": headers}
    if error is None:
        session.outgoing(message)
    else:
        with pytest.raises(error):
            session.outgoing(message)
        assert session.application_state is CONNECTING


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "websocket.send"}, LocalProtocolError),
        ({"type": "websocket.send", "text": "a", "bytes": b"a"}, LocalProtocolError),
        ({"type": "websocket.send", "text": b"a"}, TypeError),
        ({"type": "websocket.send", "bytes": "a"}, TypeError),
        ({"type": "websocket.send", "bytes": bytearray(b"a")}, None),
        ({"type": "websocket.send", "bytes": b"", "text": None}, None),
    ],
)
def test_send_payloads_are_checked(message: dict[str, Any], error: type | None) -> None:
    """Exactly one of text (a str) and bytes (bytes-like) must be set."""
    session = session_in(CONNECTED, CONNECTED)
    if error is None:
        session.outgoing(message)
    else:
        with pytest.raises(error):
            session.outgoing(message)


def test_typed_send_helpers_check_types() -> None:
    """text_message wants a str and bytes_message bytes-like, with clear TypeErrors."""
    session = session_in(CONNECTED, CONNECTED)
    with pytest.raises(TypeError, match="send_text"):
        session.text_message(b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="send_bytes"):
        session.bytes_message("x")  # type: ignore[arg-type]
    assert session.bytes_message(memoryview(b"ab"))["bytes"] == memoryview(b"ab")


def test_sends_after_the_peer_left_raise_websocket_disconnect() -> None:
    """Once the server reported the peer gone, data sends raise with the recorded code."""
    session = session_in(CONNECTED, CONNECTED)
    session.peer_disconnected(1006, "")
    with pytest.raises(WebSocketDisconnect) as info:
        session.text_message("x")
    assert info.value.code == 1006
    with pytest.raises(WebSocketDisconnect):
        session.outgoing({"type": "websocket.send", "bytes": b"x"})


def test_a_close_is_prepared_once() -> None:
    """prepare_close returns the message while open, None after the close, None once the
    peer left (and then finishes the application side: that is what close() means)."""
    close = Exchange.close_message(1000, "")
    session = session_in(CONNECTED, CONNECTED)
    assert session.prepare_close(dict(close)) == close
    assert session.application_state is DISCONNECTED
    assert session.prepare_close(dict(close)) is None
    gone = session_in(CONNECTED, CONNECTED)
    gone.peer_disconnected(1006, "")
    assert gone.prepare_close(dict(close)) is None
    assert gone.application_state is DISCONNECTED
    assert (gone.close_code, gone.closed_by) == (1006, ClosedBy.CLIENT)


def test_preparing_a_close_during_a_denial_response_is_misuse() -> None:
    """A close in the middle of a denial response is refused and changes nothing."""
    session = session_in(CONNECTED, RESPONSE)
    with pytest.raises(LocalProtocolError):
        session.prepare_close(Exchange.close_message(1000, ""))
    assert session.application_state is RESPONSE


def test_peer_states_fold_into_starlettes_client_state() -> None:
    """LEFT (end reported, disconnect not consumed) and CUT_OFF (trio_ws closed for the
    application) read as CONNECTED; consuming the disconnect makes both DISCONNECTED."""
    left = session_in(CONNECTED, CONNECTED)
    left.peer_disconnected(1001, "bye")
    assert (left.peer, left.client_state, left.peer_gone) == (PeerState.LEFT, CONNECTED, True)
    left.incoming({"type": "websocket.receive", "text": "buffered"})
    left.incoming({"type": "websocket.disconnect", "code": 1001})
    assert (left.peer, left.client_state) == (PeerState.DISCONNECTED, DISCONNECTED)

    cut = session_in(CONNECTED, CONNECTED)
    cut.cut_off(1008, "overflow")
    assert (cut.peer, cut.client_state, cut.peer_gone) == (PeerState.CUT_OFF, CONNECTED, False)
    assert cut.prepare_close(Exchange.close_message(1008, "overflow")) is not None
    cut.peer_disconnected(1008, "overflow")  # the server's report changes nothing now
    cut.check_receive_data()  # what was buffered before the close stays readable
    cut.incoming({"type": "websocket.receive", "bytes": b"buffered"})
    cut.incoming({"type": "websocket.disconnect", "code": 1008})
    assert (cut.close_code, cut.closed_by, cut.client_state) == (1008, ClosedBy.APP, DISCONNECTED)
    with pytest.raises(WebSocketDisconnected):
        cut.check_receive_data()


def test_an_application_close_does_not_leave_buffered_data_readable() -> None:
    """Only trio_ws's own close (CUT_OFF) keeps the buffer readable, not the app's close."""
    session = session_in(CONNECTED, CONNECTED)
    session.prepare_close(Exchange.close_message(1000, ""))
    with pytest.raises(WebSocketDisconnected, match="already sent a close"):
        session.check_receive_data()


def test_connection_lost_records_1006_from_the_client() -> None:
    """An OSError from the server's send (ASGI 2.4) is recorded as a 1006 client end."""
    session = session_in(CONNECTED, CONNECTED)
    session.connection_lost()
    assert (session.close_code, session.closed_by) == (1006, ClosedBy.CLIENT)
    assert session.application_state is DISCONNECTED
    assert session.disconnect_error().code == 1006


@pytest.mark.parametrize(
    ("application", "message"),
    [(CONNECTING, 'Need to call "accept" first'), (DISCONNECTED, "already sent a close")],
)
def test_data_receives_need_an_accepted_open_socket(
    application: WebSocketState, message: str
) -> None:
    """receive_text and friends before accept or after close are WebSocketDisconnected."""
    session = session_in(CONNECTED, application)
    with pytest.raises(WebSocketDisconnected, match=message):
        session.check_receive_data()


def test_the_cancel_safe_send_extension_is_detected() -> None:
    """Only a server that declares trio_ws.cancel_safe_send is trusted with unshielded sends."""
    assert not Exchange(make_scope()).cancel_safe_send
    trusted = Exchange(make_scope(extensions={"trio_ws.cancel_safe_send": {}}))
    assert trusted.cancel_safe_send


class _Flag:
    """Stands in for the trio.Event of the trio_ws.shutdown extension (no trio here)."""

    def __init__(self) -> None:
        self.value = False

    def is_set(self) -> bool:
        return self.value


def test_a_disconnect_during_server_shutdown_is_the_servers_doing() -> None:
    """With trio_ws.serve's shutdown extension, a disconnect after shutdown started is
    recorded as SERVER_SHUTDOWN; before it, as the client's."""
    flag = _Flag()
    shutdown = {"close_code": 1012, "event": flag, "grace_period": 1.0}
    before = Exchange(make_scope(extensions={"trio_ws.shutdown": shutdown}))
    before.client_state = CONNECTED
    before.incoming({"type": "websocket.disconnect", "code": 1000})
    assert before.closed_by is ClosedBy.CLIENT

    flag.value = True
    during = Exchange(make_scope(extensions={"trio_ws.shutdown": shutdown}))
    during.client_state = CONNECTED
    during.incoming({"type": "websocket.disconnect", "code": 1012})
    assert (during.closed_by, during.close_code, during.shutdown_close_code) == (
        ClosedBy.SERVER_SHUTDOWN,
        1012,
        1012,
    )


def test_only_websocket_scopes_are_accepted() -> None:
    """An http scope is refused at construction."""
    with pytest.raises(ValueError, match="not a websocket scope"):
        Exchange({"type": "http"})


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``, which never run."""
    nodes: list[ast.AST] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for other in node.orelse:
                nodes += [other, *_runtime_nodes(other)]
            continue
        nodes += [node, *_runtime_nodes(node)]
    return nodes


def _imports_of(module: str, seen: set[str]) -> set[str]:
    """Top-level packages ``trio_ws.<module>`` imports at run time, following its siblings."""
    seen.add(module)
    tree = ast.parse(Path(trio_ws.__file__).with_name(f"{module}.py").read_text())
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1 and node.module and node.module not in seen:
                found |= _imports_of(node.module, seen)
    return found


@pytest.mark.parametrize("module", ["_protocol", "_server_exchange", "_bounded_queue"])
def test_the_sans_io_core_never_imports_trio(module: str) -> None:
    """The sans-I/O core (both sides of the exchange) and everything it imports stay free of
    trio, hypercorn and websockets."""
    imported = _imports_of(module, set())
    assert "enum" in imported  # the walk does see real imports
    assert "trio" not in imported
    assert "hypercorn" not in imported
    assert "websockets" not in imported


def test_a_disconnect_the_server_decided_is_recorded_as_the_servers() -> None:
    """trio_ws.serve marks an end it decided itself (1009, 1002, 1011, an abort) with
    CLOSED_BY_KEY: ClosedBy.SERVER, whether the disconnect is consumed or only reported
    (structured mode's pump); unmarked, it is the client's; during shutdown, the shutdown's."""
    from trio_ws._protocol import CLOSED_BY_KEY

    consumed = session_in(CONNECTED, CONNECTED)
    consumed.incoming({"type": "websocket.disconnect", "code": 1009, CLOSED_BY_KEY: "server"})
    assert (consumed.close_code, consumed.closed_by) == (1009, ClosedBy.SERVER)

    reported = session_in(CONNECTED, CONNECTED)
    reported.disconnect_reported(
        {"type": "websocket.disconnect", "code": 1011, CLOSED_BY_KEY: "server"}
    )
    assert (reported.close_code, reported.closed_by, reported.peer_gone) == (
        1011,
        ClosedBy.SERVER,
        True,
    )

    client = session_in(CONNECTED, CONNECTED)
    client.disconnect_reported({"type": "websocket.disconnect", "code": 1000})
    assert client.closed_by is ClosedBy.CLIENT

    flag = _Flag()
    flag.value = True
    shutdown = {"close_code": 1012, "event": flag, "grace_period": 1.0}
    during = Exchange(make_scope(extensions={"trio_ws.shutdown": shutdown}))
    during.client_state = CONNECTED
    during.incoming({"type": "websocket.disconnect", "code": 1006, CLOSED_BY_KEY: "server"})
    assert during.closed_by is ClosedBy.SERVER_SHUTDOWN
