"""message_kind: how code that only observes the exchange classifies ASGI websocket messages."""

from __future__ import annotations

import pytest

from trio_ws._protocol import MessageKind, message_kind


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({"type": "websocket.receive", "text": "hi"}, MessageKind.DATA_IN),
        ({"type": "websocket.receive", "bytes": b"hi"}, MessageKind.DATA_IN),
        ({"type": "websocket.disconnect", "code": 1000}, MessageKind.DISCONNECT),
        ({"type": "websocket.accept"}, MessageKind.ACCEPT),
        ({"type": "websocket.close", "code": 1000}, MessageKind.REFUSAL_OR_CLOSE),
        ({"type": "websocket.http.response.start", "status": 403}, MessageKind.REFUSAL_OR_CLOSE),
        ({"type": "websocket.http.response.body", "body": b""}, MessageKind.OTHER),
        ({"type": "websocket.connect"}, MessageKind.OTHER),
        ({"type": "websocket.send", "text": "x"}, MessageKind.OTHER),
        ({"type": "http.request"}, MessageKind.OTHER),
        ({}, MessageKind.OTHER),
        ({"type": ["not", "hashable"]}, MessageKind.OTHER),
    ],
)
def test_message_kind_classifies_without_validating(
    message: dict[str, object], kind: MessageKind
) -> None:
    assert message_kind(message) is kind
