"""Messages both ways: echo of text, bytes and JSON; message shapes per spec; kind mismatches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import trio_ws
from trio_ws import testing

if TYPE_CHECKING:
    from trio_ws._types import Message, Receive, Scope, Send


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then send every text or binary message back until the disconnect."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
        else:
            await send({"type": "websocket.send", "text": message["text"]})


async def test_echo_text_and_bytes() -> None:
    """Text comes back as str and bytes as bytes, including empty messages."""
    with trio.fail_after(5):
        async with testing.connect(echo) as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "hi"
            await ws.send_bytes(b"\x00\xff")
            assert await ws.receive_bytes() == b"\x00\xff"
            await ws.send_bytes(bytearray(b"ba"))
            assert await ws.receive() == b"ba"
            await ws.send_text("")
            assert await ws.receive() == ""
            await ws.send_bytes(b"")
            assert await ws.receive() == b""


@pytest.mark.parametrize("mode", ["text", "binary"])
async def test_echo_json(mode: str) -> None:
    """JSON goes as a text message, or as UTF-8 bytes in binary mode, and decodes back."""
    data = {"a": [1, 2.5, None, True], "\u00e9": "\u263a"}
    with trio.fail_after(5):
        async with testing.connect(echo) as ws:
            await ws.send_json(data, mode=mode)  # type: ignore[arg-type]
            raw = await ws.receive()
            assert isinstance(raw, str if mode == "text" else bytes)
            await ws.send_json(data, mode=mode)  # type: ignore[arg-type]
            assert await ws.receive_json(mode=mode) == data  # type: ignore[arg-type]


async def recorded_messages(spec_version: testing.SpecVersion) -> list[Message]:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            seen.append(await receive())
            if seen[-1]["type"] == "websocket.disconnect":
                return

    with trio.fail_after(5):
        async with testing.connect(app, spec_version=spec_version) as ws:
            await ws.send_text("t")
            await ws.send_bytes(b"b")
    return seen


async def test_spec_2_3_receive_messages_carry_both_keys() -> None:
    """Like hypercorn: ``bytes`` and ``text`` are both present, one of them None."""
    assert await recorded_messages("2.3") == [
        {"type": "websocket.receive", "bytes": None, "text": "t"},
        {"type": "websocket.receive", "bytes": b"b", "text": None},
        {"type": "websocket.disconnect", "code": 1000},
    ]


@pytest.mark.parametrize("spec_version", ["2.4", "2.5"])
async def test_newer_specs_receive_messages_carry_one_key(
    spec_version: testing.SpecVersion,
) -> None:
    """Only the key that is set is present, so apps must not index the other one."""
    seen = await recorded_messages(spec_version)
    assert seen[:2] == [
        {"type": "websocket.receive", "text": "t"},
        {"type": "websocket.receive", "bytes": b"b"},
    ]


@pytest.mark.parametrize(
    ("send_kind", "receive_name", "expected"),
    [("text", "receive_bytes", "bytes"), ("bytes", "receive_text", "text")],
)
async def test_kind_mismatch_raises_with_the_payload_and_consumes_it(
    send_kind: str, receive_name: str, expected: str
) -> None:
    """Asking for the wrong kind raises UnexpectedMessageType carrying the message."""
    payload: str | bytes = "x" if send_kind == "text" else b"x"
    with trio.fail_after(5):
        async with testing.connect(echo) as ws:
            await (ws.send_text("x") if send_kind == "text" else ws.send_bytes(b"x"))
            await ws.send_text("next")
            with pytest.raises(trio_ws.UnexpectedMessageType) as info:
                await getattr(ws, receive_name)()
            assert info.value.data == payload
            assert info.value.expected == expected
            assert await ws.receive() == "next"


async def test_receive_json_reports_invalid_json_with_the_payload() -> None:
    """Invalid JSON (or invalid UTF-8 in binary mode) raises InvalidJSONMessage."""
    with trio.fail_after(5):
        async with testing.connect(echo) as ws:
            await ws.send_text("{nope")
            with pytest.raises(trio_ws.InvalidJSONMessage) as info:
                await ws.receive_json()
            assert info.value.data == "{nope"
            await ws.send_bytes(b"\xff")
            with pytest.raises(trio_ws.InvalidJSONMessage):
                await ws.receive_json(mode="binary")
            await ws.send_bytes(b"[1]")
            with pytest.raises(trio_ws.UnexpectedMessageType):
                await ws.receive_json(mode="text")


async def test_client_send_arguments_are_checked() -> None:
    """Wrong payload types and JSON modes are refused before anything is sent."""
    with trio.fail_after(5):
        async with testing.connect(echo) as ws:
            with pytest.raises(TypeError):
                await ws.send_text(b"bytes")  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await ws.send_bytes("text")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="mode"):
                await ws.send_json({}, mode="xml")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="mode"):
                await ws.receive_json(mode="xml")  # type: ignore[arg-type]
            await ws.send_text("still open")
            assert await ws.receive() == "still open"


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"type": "websocket.send", "text": "a", "bytes": b"a"}, "both 'bytes' and 'text'"),
        ({"type": "websocket.send"}, "needs 'bytes' or 'text'"),
        ({"type": "websocket.send", "text": 1}, "must be a str"),
        ({"type": "websocket.send", "bytes": "not bytes"}, "bytes-like"),
    ],
)
async def test_malformed_app_sends_raise_into_the_app(message: Message, match: str) -> None:
    """A send with both, neither or mistyped payloads is an AppProtocolError in the app."""
    errors: list[Exception] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await send(message)
        except testing.AppProtocolError as exc:
            errors.append(exc)
        await send({"type": "websocket.send", "bytes": memoryview(b"ok")})
        await send({"type": "websocket.close"})

    with trio.fail_after(5):
        async with testing.connect(app) as ws:
            assert await ws.receive() == b"ok"
    assert len(errors) == 1
    assert match in str(errors[0])


@settings(max_examples=40, deadline=None)
@given(
    payloads=st.lists(st.one_of(st.text(), st.binary()), max_size=30),
    spec_version=st.sampled_from(["2.3", "2.4", "2.5"]),
    queue_size=st.integers(min_value=1, max_value=12),
)
async def test_any_sequence_round_trips_in_order(
    payloads: list[str | bytes], spec_version: testing.SpecVersion, queue_size: int
) -> None:
    """Whatever is sent comes back unchanged, in order, for every spec and queue size."""

    async def send_all(ws: testing.WebSocketTestClient) -> None:
        for payload in payloads:
            if isinstance(payload, str):
                await ws.send_text(payload)
            else:
                await ws.send_bytes(payload)

    with trio.fail_after(5):
        async with (
            testing.connect(echo, spec_version=spec_version, queue_size=queue_size) as ws,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(send_all, ws)
            received = [await ws.receive() for _ in payloads]
    assert received == payloads
