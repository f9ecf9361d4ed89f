"""One validator per rule, and every place that applies the rule agrees with it."""

from __future__ import annotations

import pytest

import trio_ws
from trio_ws._protocol import (
    Exchange,
    subprotocol_offered,
    validate_status,
    validate_subprotocol,
)
from trio_ws._server_exchange import InvalidAccept, ServerExchange


@pytest.mark.parametrize(
    ("status", "error"),
    [(200, None), (100, None), (599, None), (99, ValueError), (600, ValueError),
     (True, TypeError), ("403", TypeError), (403.0, TypeError)],
)  # fmt: skip
def test_the_status_rule_is_the_same_everywhere(status: object, error: type | None) -> None:
    """validate_status, trio_ws.Response, the exchange and the in-memory server agree."""
    exchange = Exchange({"type": "websocket", "extensions": {"websocket.http.response": {}}})
    exchange.incoming({"type": "websocket.connect"})
    server = ServerExchange((), True)
    start = {"type": "websocket.http.response.start", "status": status, "headers": []}
    checks = [
        lambda: validate_status(status),
        lambda: trio_ws.Response(b"", status_code=status),  # type: ignore[arg-type]
        lambda: exchange.outgoing(dict(start)),
    ]
    for check in checks:
        if error is None:
            check()
        else:
            with pytest.raises(error):
                check()
    if error is None:
        server.app_sends(dict(start))
    else:
        with pytest.raises(trio_ws.LocalProtocolError):
            server.app_sends(dict(start))


@pytest.mark.parametrize(
    ("subprotocol", "offered", "ok"),
    [(None, [], True), ("chat", ["chat", "v2"], True), ("v3", ["chat"], False),
     ("chat", [], False)],
)  # fmt: skip
def test_the_subprotocol_rule_is_the_same_everywhere(
    subprotocol: str | None, offered: list[str], ok: bool
) -> None:
    """subprotocol_offered, validate_subprotocol, the exchange and the in-memory server agree."""
    assert subprotocol_offered(subprotocol, offered) is ok
    exchange = Exchange({"type": "websocket", "subprotocols": offered})
    exchange.incoming({"type": "websocket.connect"})
    server = ServerExchange(tuple(offered), True)
    accept = {"type": "websocket.accept", "subprotocol": subprotocol, "headers": []}
    if ok:
        assert validate_subprotocol(subprotocol, offered) == subprotocol
        exchange.outgoing(dict(accept))
        server.app_sends(dict(accept))
        return
    with pytest.raises(ValueError, match="did not offer"):
        validate_subprotocol(subprotocol, offered)
    with pytest.raises(ValueError, match="did not offer"):
        exchange.outgoing(dict(accept))
    with pytest.raises(InvalidAccept, match="did not offer"):
        server.app_sends(dict(accept))


def test_a_subprotocol_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="must be a str or None"):
        validate_subprotocol(b"chat", ["chat"])
