"""trio_ws.WebSocketEndpoint behaves as Starlette's WebSocketEndpoint does under Starlette.

Every scenario runs twice, routed by Starlette's ``WebSocketRoute``: once with a subclass of
``starlette.endpoints.WebSocketEndpoint`` and once with the same subclass body on
``trio_ws.WebSocketEndpoint``. The outcomes (handshake, messages the client got, close code,
the hooks' calls, the exception the server saw) must be equal, except the deliberate
differences listed in ``DIFFERENCES`` (also in docs/integrations.md):

* a message of the wrong kind closes with 1003 in both, but trio_ws does not raise a
  ``RuntimeError`` to the server for a client's bad message, and ``on_disconnect`` gets the
  code that was sent (1003) rather than 1011;
* invalid JSON closes with 1007 (invalid payload data, RFC 6455) rather than 1003, again
  without an exception;
* ``WebSocketException(code)`` from a hook: the client gets that code in both, and
  ``on_disconnect`` gets it too (Starlette passes 1011 and lets its exception middleware close);
* when a hook closes the connection, ``on_disconnect`` gets the application's close code
  (Starlette reads on and passes the code of the server's disconnect message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
import starlette.endpoints
import starlette.exceptions
import trio
import trio_websocket
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

import trio_ws
from trio_ws.testing import ConnectionClosed, ConnectionRejected, WebSocketTestClient, connect

from ._servers import CLIENT, served

Events = list[tuple[Any, ...]]
Make = Callable[[type, Events], type]
Script = Callable[[WebSocketTestClient], Awaitable[list[Any]]]


@attrs.define
class Outcome:
    handshake: Any = None
    received: list[Any] = attrs.Factory(list)
    close_code: int | None = None
    events: Events = attrs.Factory(list)
    app_exception: str | None = None


async def run(base: type, make: Make, script: Script, **connect_args: Any) -> Outcome:
    events: Events = []
    endpoint = make(base, events)
    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    outcome = Outcome(events=events)
    with trio.fail_after(5):
        try:
            async with connect(app, "/ws", raise_app_exceptions=False, **connect_args) as client:
                outcome.handshake = ("accepted", client.subprotocol)
                try:
                    outcome.received = await script(client)
                except ConnectionClosed:
                    pass
                if client.close_code is None:
                    await client.close()
                await client.wait_app_finished()
                outcome.close_code = client.close_code
                error = client.app_exception
                outcome.app_exception = type(error).__name__ if error is not None else None
        except ConnectionRejected as rejected:
            outcome.handshake = ("rejected", rejected.status_code)
    return outcome


# ----------------------------------------------------------------- scenarios


def text_echo(base: type, events: Events) -> type:
    class Echo(base):  # type: ignore[misc,valid-type]
        encoding = "text"

        async def on_connect(self, ws: Any) -> None:
            events.append(("connect",))
            await ws.accept()

        async def on_receive(self, ws: Any, data: Any) -> None:
            events.append(("receive", data))
            await ws.send_text(data.upper())

        async def on_disconnect(self, ws: Any, close_code: int) -> None:
            events.append(("disconnect", close_code))

    return Echo


async def talk_text(client: WebSocketTestClient) -> list[Any]:
    got = []
    for text in ("a", "b"):
        await client.send_text(text)
        got.append(await client.receive_text())
    await client.close(4000)
    return got


def bytes_echo(base: type, events: Events) -> type:
    class Echo(base):  # type: ignore[misc,valid-type]
        encoding = "bytes"

        async def on_receive(self, ws: Any, data: Any) -> None:
            events.append(("receive", data))
            await ws.send_bytes(data[::-1])

        async def on_disconnect(self, ws: Any, close_code: int) -> None:
            events.append(("disconnect", close_code))

    return Echo


async def talk_bytes(client: WebSocketTestClient) -> list[Any]:
    await client.send_bytes(b"abc")
    return [await client.receive_bytes()]


def json_echo(base: type, events: Events) -> type:
    class Echo(base):  # type: ignore[misc,valid-type]
        encoding = "json"

        async def on_receive(self, ws: Any, data: Any) -> None:
            events.append(("receive", data))
            await ws.send_json({"got": data})

        async def on_disconnect(self, ws: Any, close_code: int) -> None:
            events.append(("disconnect", close_code))

    return Echo


async def talk_json(client: WebSocketTestClient) -> list[Any]:
    await client.send_json({"n": 1})
    await client.send_json({"n": 2}, mode="binary")
    return [await client.receive_json(), await client.receive_json()]


def any_encoding(base: type, events: Events) -> type:
    class Any_(base):  # type: ignore[misc,valid-type]
        async def on_receive(self, ws: Any, data: Any) -> None:
            events.append(("receive", data))
            await ws.send_text(type(data).__name__)

    return Any_


async def talk_mixed(client: WebSocketTestClient) -> list[Any]:
    await client.send_text("t")
    await client.send_bytes(b"b")
    return [await client.receive_text(), await client.receive_text()]


def with_subprotocol(base: type, events: Events) -> type:
    class Sub(base):  # type: ignore[misc,valid-type]
        async def on_connect(self, ws: Any) -> None:
            await ws.accept(subprotocol="chat")
            await ws.send_text("hello")

    return Sub


async def read_one(client: WebSocketTestClient) -> list[Any]:
    return [await client.receive_text()]


def denies(base: type, events: Events) -> type:
    class Deny(base):  # type: ignore[misc,valid-type]
        async def on_connect(self, ws: Any) -> None:
            events.append(("connect",))
            await ws.close()

    return Deny


async def nothing(client: WebSocketTestClient) -> list[Any]:
    return []


def fails(base: type, events: Events) -> type:
    class Fail(text_echo(base, events)):  # type: ignore[misc]
        async def on_receive(self, ws: Any, data: Any) -> None:
            raise LookupError(data)

    return Fail


async def send_then_wait(client: WebSocketTestClient) -> list[Any]:
    await client.send_text("x")
    return [await client.receive_text()]  # raises ConnectionClosed


def closes_in_on_receive(base: type, events: Events) -> type:
    class Closer(text_echo(base, events)):  # type: ignore[misc]
        async def on_receive(self, ws: Any, data: Any) -> None:
            await ws.send_text("bye")
            await ws.close(4002, "done")

    return Closer


async def send_then_read(client: WebSocketTestClient) -> list[Any]:
    await client.send_text("x")
    got = [await client.receive_text()]
    try:
        await client.receive_text()
    except ConnectionClosed as closed:
        got.append((closed.code, closed.reason))
    return got


def raises_websocket_exception(base: type, events: Events) -> type:
    class Policy(text_echo(base, events)):  # type: ignore[misc]
        async def on_receive(self, ws: Any, data: Any) -> None:
            if base is trio_ws.WebSocketEndpoint:
                raise trio_ws.WebSocketException(4001, "no")
            raise starlette.exceptions.WebSocketException(4001, "no")

    return Policy


async def send_binary(client: WebSocketTestClient) -> list[Any]:
    await client.send_bytes(b"\x00")
    return [await client.receive_text()]


async def send_bad_json(client: WebSocketTestClient) -> list[Any]:
    await client.send_text("{not json")
    return [await client.receive_text()]


SCENARIOS: dict[str, tuple[Make, Script, dict[str, Any]]] = {
    "text echo, client closes 4000": (text_echo, talk_text, {}),
    "bytes echo": (bytes_echo, talk_bytes, {}),
    "json in text and binary frames": (json_echo, talk_json, {}),
    "no encoding passes str and bytes": (any_encoding, talk_mixed, {}),
    "on_connect accepts a subprotocol": (with_subprotocol, read_one, {"subprotocols": ["chat"]}),
    "on_connect closes: 403": (denies, nothing, {}),
    "on_receive raises: 1011": (fails, send_then_wait, {}),
    "on_receive closes 4002": (closes_in_on_receive, send_then_read, {}),
    "WebSocketException from on_receive": (raises_websocket_exception, send_then_wait, {}),
    "binary to a text endpoint": (text_echo, send_binary, {}),
    "invalid JSON": (json_echo, send_bad_json, {}),
}

#: Deliberate differences: scenario -> field -> (Starlette's value, trio_ws's value).
DIFFERENCES: dict[str, dict[str, tuple[Any, Any]]] = {
    "binary to a text endpoint": {
        "app_exception": ("RuntimeError", None),
        "events": ([("connect",), ("disconnect", 1011)], [("connect",), ("disconnect", 1003)]),
    },
    "invalid JSON": {
        "close_code": (1003, 1007),
        "app_exception": ("RuntimeError", None),
        "events": ([("disconnect", 1011)], [("disconnect", 1007)]),
    },
    "WebSocketException from on_receive": {
        "events": ([("connect",), ("disconnect", 1011)], [("connect",), ("disconnect", 4001)]),
    },
    "on_receive closes 4002": {
        # Starlette reads on after the close and passes the code of the server's disconnect
        # message (server-dependent); trio_ws passes the code the application closed with.
        "events": ([("connect",), ("disconnect", 1000)], [("connect",), ("disconnect", 4002)]),
    },
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_trio_ws_endpoint_matches_starlette_endpoint(name: str) -> None:
    make, script, connect_args = SCENARIOS[name]
    theirs = await run(starlette.endpoints.WebSocketEndpoint, make, script, **connect_args)
    ours = await run(trio_ws.WebSocketEndpoint, make, script, **connect_args)
    assert theirs.handshake is not None
    for field, (starlette_value, trio_ws_value) in DIFFERENCES.get(name, {}).items():
        assert getattr(theirs, field) == starlette_value, field
        assert getattr(ours, field) == trio_ws_value, field
        setattr(theirs, field, None)
        setattr(ours, field, None)
    assert ours == theirs


async def test_scenarios_are_not_vacuous() -> None:
    """The comparison above would pass if both did nothing; pin a few of Starlette's results."""
    echo = await run(starlette.endpoints.WebSocketEndpoint, text_echo, talk_text)
    assert echo.received == ["A", "B"]
    assert echo.events == [("connect",), ("receive", "a"), ("receive", "b"), ("disconnect", 4000)]
    denied = await run(starlette.endpoints.WebSocketEndpoint, denies, nothing)
    assert denied.handshake == ("rejected", 403)
    failing = await run(trio_ws.WebSocketEndpoint, fails, send_then_wait)
    assert (failing.close_code, failing.app_exception) == (1011, "LookupError")


# ----------------------------------------------------------------- over a real server

#: (endpoint, messages the client sends, replies it reads, whether the server then closes).
REAL_SCENARIOS: dict[str, tuple[Make, list[Any], int, bool]] = {
    "text echo": (text_echo, ["a", "b"], 2, False),
    "text, then binary": (text_echo, ["a", b"\x00"], 1, True),
    "json, then broken JSON": (json_echo, ['{"n": 1}', "{broken"], 1, True),
}


async def over_hypercorn(
    base: type, make: Make, messages: list[Any], replies: int, server_closes: bool
) -> tuple[list[Any], int | None, list[str]]:
    """Serve the endpoint with Starlette under hypercorn; (replies, close code, app errors)."""
    events: Events = []
    app = Starlette(routes=[WebSocketRoute("/ws", make(base, events))])
    errors: list[BaseException] = []
    code: int | None = None
    async with (
        served(app, "hypercorn", errors=errors) as url,
        trio_websocket.open_websocket_url(url + "/ws", **CLIENT) as ws,
    ):
        for message in messages:
            await ws.send_message(message)
        received = [await ws.get_message() for _ in range(replies)]
        if server_closes:
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await ws.get_message()
            code = closed.value.reason.code
    return received, code, [type(error).__name__ for error in errors]


@pytest.mark.hypercorn
@pytest.mark.parametrize("name", list(REAL_SCENARIOS))
async def test_endpoints_agree_over_hypercorn(name: str) -> None:
    """Served by Starlette under hypercorn's trio worker, the client gets the same messages and
    close code from both endpoints; Starlette's also raises to the server for a bad message,
    and closes broken JSON with 1003 where trio_ws uses 1007."""
    make, messages, replies, server_closes = REAL_SCENARIOS[name]
    with trio.fail_after(10):
        theirs = await over_hypercorn(
            starlette.endpoints.WebSocketEndpoint, make, messages, replies, server_closes
        )
        ours = await over_hypercorn(
            trio_ws.WebSocketEndpoint, make, messages, replies, server_closes
        )
    assert ours[0] == theirs[0]
    assert ours[2] == []
    if name == "text echo":
        assert theirs == ours
    elif name == "text, then binary":
        assert (theirs[1], ours[1]) == (1003, 1003)
        assert theirs[2] == ["RuntimeError"]
    else:
        assert (theirs[1], ours[1]) == (1003, 1007)
        assert theirs[2] == ["RuntimeError"]
