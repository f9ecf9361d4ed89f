"""The public surface: what trio_ws exports, under which module name, and how it is documented."""

from __future__ import annotations

import inspect

import trio_ws
import trio_ws.testing

EXPECTED = {
    "WebSocket", "WebSocketState", "ClosedBy", "ConnectionOptions", "OverflowPolicy",
    "WebSocketStatistics", "MessageIterator", "websocket_app", "serve", "ServerSettings",
    "URL", "Address", "Headers", "QueryParams", "State",
    "Response", "PlainTextResponse", "JSONResponse",
    "InvalidJSONMessage", "LocalProtocolError", "ProtocolError", "RemoteProtocolError",
    "UnexpectedMessageType", "WebSocketDisconnect", "WebSocketDisconnected", "WebSocketError",
    "WebSocketException", "WebSocketApp", "RateLimit",
    "WebSocketEndpoint", "adopt", "InvalidModeError", "keepalive_latency",
    "Broadcast", "BroadcastEvent", "Subscriber", "SubscriberStatistics",
    "BroadcastError", "BroadcastGap", "BroadcastUnavailable", "SubscriberOverflow",
    "Presence", "PresenceDiff", "Publisher", "PublisherStatistics", "PublishRefused",
    "connect", "keep_connected", "ClientWebSocket", "ClientClosedBy", "ConnectError", "DNSError",
    "TCPConnectError", "TLSError", "OpenTimeout", "HandshakeFailed", "HandshakeRejected",
}  # fmt: skip


def test_all_lists_exactly_the_public_names() -> None:
    """__all__ is the documented set of names, and each of them exists."""
    assert set(trio_ws.__all__) == EXPECTED
    for name in trio_ws.__all__:
        assert hasattr(trio_ws, name), name


def test_exports_claim_the_public_module() -> None:
    """Classes and functions say trio_ws, not the private module they live in."""
    for name in trio_ws.__all__:
        obj = getattr(trio_ws, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "trio_ws", name
    for name in trio_ws.testing.__all__:
        obj = getattr(trio_ws.testing, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "trio_ws.testing", name


def test_every_public_async_method_documents_raises_and_cancellation() -> None:
    """Each public coroutine method of WebSocket says what it raises and what cancelling does."""
    missing = []
    for name, member in inspect.getmembers(trio_ws.WebSocket):
        if name.startswith("_") and name not in {"__aenter__", "__aexit__"}:
            continue
        if inspect.iscoroutinefunction(member):
            doc = inspect.getdoc(member) or ""
            if "Cancellation" not in doc or ("Raises" not in doc and name != "__aexit__"):
                missing.append(name)
    assert missing == []


def test_every_public_name_has_a_docstring() -> None:
    """No public class or function is undocumented."""
    undocumented = [
        name
        for name in trio_ws.__all__
        if (inspect.isclass(getattr(trio_ws, name)) or inspect.isfunction(getattr(trio_ws, name)))
        and not inspect.getdoc(getattr(trio_ws, name))
    ]
    assert undocumented == []
