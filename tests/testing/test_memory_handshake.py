"""Accept, denial (403, 500, custom responses) and invalid handshakes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import testing

if TYPE_CHECKING:
    from trio_ws._types import ASGIApp, Message, Receive, Scope, Send


def answering(*messages: Message, then_raise: BaseException | None = None) -> ASGIApp:
    """An app that reads websocket.connect, sends ``messages``, then returns or raises."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        for message in messages:
            await send(message)
        if then_raise is not None:
            raise then_raise

    return app


async def test_accept_yields_a_client_with_subprotocol_and_headers() -> None:
    """What the app accepted with is exposed on the client."""
    app = answering(
        {"type": "websocket.accept", "subprotocol": "v2", "headers": [(b"x-srv", b"1")]},
        {"type": "websocket.close"},
    )
    with trio.fail_after(5):
        async with testing.connect(app, subprotocols=["v1", "v2"]) as ws:
            assert ws.subprotocol == "v2"
            assert ws.response_headers == [(b"x-srv", b"1")]
    assert ws.app_messages[0]["type"] == "websocket.accept"


async def test_accept_without_subprotocol_gives_none() -> None:
    """Offering subprotocols does not force the app to pick one."""
    with trio.fail_after(5):
        async with testing.connect(
            answering({"type": "websocket.accept"}), subprotocols=["v1"]
        ) as ws:
            assert ws.subprotocol is None
            assert ws.response_headers == []


@pytest.mark.parametrize(
    "accept",
    [
        {"type": "websocket.accept", "subprotocol": "v3"},
        {"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"v1")]},
        {"type": "websocket.accept", "headers": [(b":status", b"101")]},
        {"type": "websocket.accept", "headers": [("x", "str-not-bytes")]},
    ],
    ids=["unoffered-subprotocol", "protocol-header", "pseudo-header", "str-header"],
)
async def test_invalid_accept_raises_into_the_app_and_out_of_connect(accept: Message) -> None:
    """An accept that would crash hypercorn fails in the app's send and fails connect()."""
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await send(accept)
        except testing.AppProtocolError as exc:
            raised.append(exc)
            raise

    with trio.fail_after(5), pytest.raises(testing.AppProtocolError) as info:
        async with testing.connect(app, subprotocols=["v1"]):
            pytest.fail("the handshake must not succeed")
    assert raised == [info.value]


async def test_invalid_accept_fails_connect_even_if_the_app_swallows_it() -> None:
    """The handshake fails although the app caught the error and went on."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await send({"type": "websocket.accept", "subprotocol": "nope"})
        except testing.AppProtocolError:
            await trio.sleep_forever()

    with trio.fail_after(5), pytest.raises(testing.AppProtocolError, match="did not offer"):
        async with testing.connect(app):
            pytest.fail("the handshake must not succeed")


async def test_close_before_accept_is_a_403_rejection() -> None:
    """Close before accept gives HTTP 403 whatever the code, with no headers and no body."""
    app = answering({"type": "websocket.close", "code": 4000, "reason": "go"})
    with trio.fail_after(5), pytest.raises(testing.ConnectionRejected) as info:
        async with testing.connect(app):
            pytest.fail("rejected connections yield nothing")
    assert (info.value.status_code, info.value.headers, info.value.body) == (403, [], b"")


async def test_denial_response_gives_status_headers_and_the_whole_body() -> None:
    """A denial response (start + chunked body) is reported with everything the app sent."""
    app = answering(
        {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"text/plain"), (b"x-why", b"auth")],
        },
        {"type": "websocket.http.response.body", "body": b"go ", "more_body": True},
        {"type": "websocket.http.response.body", "body": bytearray(b"away")},
    )
    with trio.fail_after(5), pytest.raises(testing.ConnectionRejected) as info:
        async with testing.connect(app):
            pytest.fail("rejected connections yield nothing")
    assert info.value.status_code == 401
    assert info.value.headers == [(b"content-type", b"text/plain"), (b"x-why", b"auth")]
    assert info.value.body == b"go away"


async def test_denial_without_the_extension_is_refused_in_the_app() -> None:
    """A server without websocket.http.response refuses it; the app's error fails connect."""
    app = answering({"type": "websocket.http.response.start", "status": 400})
    with trio.fail_after(5), pytest.raises(testing.AppProtocolError, match="extension") as info:
        async with testing.connect(app, denial_extension=False):
            pytest.fail("rejected connections yield nothing")
    assert "HTTP 500" in "".join(getattr(info.value, "__notes__", []))


async def test_app_raising_before_accept_reraises_unwrapped() -> None:
    """The app's own exception comes out of connect(), not an ExceptionGroup."""
    with trio.fail_after(5), pytest.raises(ZeroDivisionError) as info:
        async with testing.connect(answering(then_raise=ZeroDivisionError("boom"))):
            pytest.fail("rejected connections yield nothing")
    assert type(info.value) is ZeroDivisionError


async def test_app_raising_before_accept_is_a_500_when_not_reraising() -> None:
    """With raise_app_exceptions=False the client sees HTTP 500, caused by the app's error."""
    error = ZeroDivisionError("boom")
    with trio.fail_after(5), pytest.raises(testing.ConnectionRejected) as info:
        async with testing.connect(answering(then_raise=error), raise_app_exceptions=False):
            pytest.fail("rejected connections yield nothing")
    assert info.value.status_code == 500
    assert info.value.__cause__ is error


@pytest.mark.parametrize(
    "messages",
    [(), ({"type": "websocket.http.response.start", "status": 403},)],
    ids=["nothing", "start-without-body"],
)
async def test_app_returning_without_answering_is_a_500(messages: tuple[Message, ...]) -> None:
    """Returning before accept, or after an unfinished denial, gives HTTP 500."""
    with trio.fail_after(5), pytest.raises(testing.ConnectionRejected) as info:
        async with testing.connect(answering(*messages)):
            pytest.fail("rejected connections yield nothing")
    assert info.value.status_code == 500
    assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([{"type": "websocket.send", "text": "early"}], 'call "accept" first'),
        ([{"type": "websocket.accept"}, {"type": "websocket.accept"}], "state CONNECTED"),
        ([{"type": "websocket.accept"}, {"type": "websocket.http.response.start"}], "CONNECTED"),
        ([{"type": "websocket.ping"}], "unknown"),
        (["not a dict"], "must be a dict"),
        ([{"type": "websocket.close"}, {"type": "websocket.accept"}], "after websocket.close"),
        (
            [
                {"type": "websocket.http.response.start", "status": 400},
                {"type": "websocket.accept"},
            ],
            "state RESPONSE",
        ),
        ([{"type": "websocket.http.response.start", "status": 99}], "status"),
    ],
    ids=[
        "send-before-accept",
        "second-accept",
        "denial-after-accept",
        "unknown-type",
        "not-a-dict",
        "accept-after-403",
        "accept-during-denial",
        "bad-status",
    ],
)
async def test_illegal_messages_raise_into_the_apps_send(
    messages: list[Message], match: str
) -> None:
    """Illegal messages raise AppProtocolError from the app's send, as a server would."""
    errors: list[testing.AppProtocolError] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            for message in messages:
                await send(message)
        except testing.AppProtocolError as exc:
            errors.append(exc)

    with trio.fail_after(5):
        try:
            async with testing.connect(app):
                pass
        except testing.ConnectionRejected:
            pass  # the app answered nothing usable: 403 or 500
    assert len(errors) == 1
    assert match in str(errors[0])
