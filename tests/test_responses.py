"""Response, PlainTextResponse and JSONResponse, driven with a recording ``send``.

Each response is sent for both scope types: ``websocket`` (a denied handshake, the
``websocket.http.response.*`` messages) and ``http``. Some cases run Starlette's responses
on the same input and compare the messages, so that compatibility is checked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest
import starlette.responses
import trio

from trio_ws._datastructures import Headers
from trio_ws._responses import JSONResponse, PlainTextResponse, Response

if TYPE_CHECKING:
    from trio_ws._types import Message


class Recorder:
    """A fake ASGI ``send`` that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)


async def no_receive() -> Message:
    """A ``receive`` that a response must never call."""
    raise AssertionError("a response must not call receive()")


async def run(response: Any, scope_type: str) -> list[Message]:
    """Send ``response`` for a minimal scope of ``scope_type``; return the messages."""
    send = Recorder()
    scope = {"type": scope_type, "path": "/", "headers": []}
    await response(scope, no_receive, send)
    return send.messages


SCOPE_TYPES = pytest.mark.parametrize(
    ("scope_type", "prefix"), [("websocket", "websocket."), ("http", "")]
)


@SCOPE_TYPES
async def test_response_sends_start_then_one_final_body(scope_type: str, prefix: str) -> None:
    """The messages are start (status, headers) and a single body with more_body=False."""
    messages = await run(Response(b"denied", status_code=403), scope_type)
    assert messages == [
        {
            "type": f"{prefix}http.response.start",
            "status": 403,
            "headers": [(b"content-length", b"6")],
        },
        {"type": f"{prefix}http.response.body", "body": b"denied", "more_body": False},
    ]


@SCOPE_TYPES
async def test_plain_text_response_is_utf8_text(scope_type: str, prefix: str) -> None:
    """PlainTextResponse encodes as UTF-8 and says so in content-type."""
    start, body = await run(PlainTextResponse("nö", status_code=401), scope_type)
    assert start["type"] == f"{prefix}http.response.start"
    assert start["status"] == 401
    assert start["headers"] == [
        (b"content-length", b"3"),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]
    assert body["body"] == "nö".encode()


@SCOPE_TYPES
async def test_json_response_is_compact_utf8(scope_type: str, prefix: str) -> None:
    """JSONResponse sends compact JSON with non-ASCII kept, as application/json."""
    start, body = await run(
        JSONResponse({"error": "forbidden", "who": "Zoë", "n": [1, 2]}), scope_type
    )
    expected = '{"error":"forbidden","who":"Zoë","n":[1,2]}'.encode()
    assert body == {"type": f"{prefix}http.response.body", "body": expected, "more_body": False}
    assert Headers(raw=start["headers"])["content-type"] == "application/json"
    assert Headers(raw=start["headers"])["content-length"] == str(len(expected))
    assert start["status"] == 200


@pytest.mark.parametrize(
    ("content", "body"),
    [
        (None, b""),
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"ab"), b"ab"),
        (memoryview(b"cd"), b"cd"),
        ("é", b"\xc3\xa9"),
    ],
)
def test_response_content_types(content: Any, body: bytes) -> None:
    """bytes-like content is sent as is, str is UTF-8, None is an empty body."""
    response = Response(content)
    assert response.body == body
    assert type(response.body) is bytes
    assert response.headers["content-length"] == str(len(body))


def test_response_without_media_type_sends_no_content_type() -> None:
    """A bare Response has no content-type unless one is given."""
    assert "content-type" not in Response(b"x").headers
    assert Response(b"x", media_type="image/png").headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("media_type", "content_type"),
    [
        ("text/html", "text/html; charset=utf-8"),
        ("text/plain; charset=latin-1", "text/plain; charset=latin-1"),
        ("text/csv; Charset=ascii", "text/csv; Charset=ascii"),
        ("application/problem+json", "application/problem+json"),
    ],
)
def test_text_media_types_get_a_charset(media_type: str, content_type: str) -> None:
    """A text/* media type gets "; charset=utf-8" unless it already names a charset."""
    assert PlainTextResponse("x", media_type=media_type).headers["content-type"] == content_type


@pytest.mark.parametrize("name", ["content-type", "Content-Type", "CONTENT-TYPE"])
def test_user_content_type_is_kept(name: str) -> None:
    """A content-type in headers (any case) replaces the default, once."""
    response = PlainTextResponse("x", headers={name: "text/markdown"})
    assert response.headers.getlist("content-type") == ["text/markdown"]


@pytest.mark.parametrize("name", ["content-length", "Content-Length"])
def test_user_content_length_is_kept(name: str) -> None:
    """A content-length in headers (any case) is not overridden nor duplicated."""
    response = Response(b"abc", headers={name: "3"})
    assert response.headers.getlist("content-length") == ["3"]


def test_extra_headers_come_first_and_lowercased() -> None:
    """User headers are sent first, with lower-case names, then the computed ones."""
    response = PlainTextResponse("x", headers={"X-Reason": "banned", "Retry-After": "60"})
    assert response.raw_headers == [
        (b"x-reason", b"banned"),
        (b"retry-after", b"60"),
        (b"content-length", b"1"),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]


@pytest.mark.parametrize("status", [100, 101, 199, 204, 304])
def test_no_content_length_where_no_body_is_allowed(status: int) -> None:
    """1xx, 204 and 304 responses carry no content-length."""
    assert "content-length" not in Response(status_code=status).headers


@pytest.mark.parametrize("status", [100, 200, 403, 599])
def test_status_in_range_is_accepted(status: int) -> None:
    """Every status from 100 to 599 is accepted."""
    assert Response(status_code=status).status_code == status


@pytest.mark.parametrize("status", [0, 99, 600, 1000, -403])
def test_status_out_of_range_is_a_value_error(status: int) -> None:
    """A status outside 100-599 is refused."""
    with pytest.raises(ValueError, match="100-599"):
        Response(status_code=status)


@pytest.mark.parametrize("status", ["403", 403.0, True, None])
def test_status_of_wrong_type_is_a_type_error(status: Any) -> None:
    """A status that is not an int (bool included) is refused."""
    with pytest.raises(TypeError, match="status_code"):
        Response(status_code=status)


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"x": 1}, TypeError),
        ({b"x": "1"}, TypeError),
        ([("x", "1")], TypeError),
        ({"x": "€"}, ValueError),
        ({"x": "a\r\nset-cookie: evil=1"}, ValueError),
    ],
)
def test_bad_headers_are_refused(headers: Any, error: type[Exception]) -> None:
    """Headers must be a mapping of latin-1 str to str without CR/LF."""
    with pytest.raises(error):
        Response(headers=headers)


@pytest.mark.parametrize("content", [1, {"a": 1}, ["x"], object()])
def test_non_text_content_is_a_type_error(content: Any) -> None:
    """Response refuses content it cannot send as bytes (use JSONResponse for data)."""
    with pytest.raises(TypeError, match="content"):
        Response(content)


@pytest.mark.parametrize("media_type", ["text/plain\r\nx-evil: 1", "text/plain; name=€"])
def test_media_type_must_be_a_valid_header_value(media_type: str) -> None:
    """A media type that cannot be sent as a header value is a ValueError."""
    with pytest.raises(ValueError, match="header value"):
        Response(b"", media_type=media_type)


def test_media_type_of_wrong_type_is_a_type_error() -> None:
    """media_type must be a str."""
    with pytest.raises(TypeError, match="media_type"):
        Response(b"", media_type=b"text/plain")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.nan, math.inf, [-math.inf]])
def test_json_response_refuses_nan_and_infinity(value: Any) -> None:
    """NaN and infinities are not JSON, so they are refused."""
    with pytest.raises(ValueError, match="JSON"):
        JSONResponse(value)


def test_json_response_refuses_unserialisable_content() -> None:
    """Content json cannot serialise is a TypeError."""
    with pytest.raises(TypeError):
        JSONResponse({"when": object()})


def test_json_response_of_none_is_null() -> None:
    """JSONResponse(None) sends the JSON null."""
    assert JSONResponse(None).body == b"null"


async def test_unknown_scope_type_sends_nothing() -> None:
    """A lifespan (or typeless) scope is a ValueError before anything is sent."""
    send = Recorder()
    for scope in ({"type": "lifespan"}, {}):
        with pytest.raises(ValueError, match="'websocket' or 'http'"):
            await Response(b"x")(scope, no_receive, send)
    assert send.messages == []


async def test_a_send_failure_propagates() -> None:
    """An error from send (e.g. the server refusing the denial) reaches the caller."""

    async def refusing_send(message: Message) -> None:
        raise RuntimeError("denial not supported")

    with pytest.raises(RuntimeError, match="denial not supported"):
        await PlainTextResponse("x", 403)({"type": "websocket"}, no_receive, refusing_send)


async def test_cancelled_between_sends_leaves_only_the_start_sent(autojump_clock: Any) -> None:
    """Cancellation while the body is being sent leaves just the start message delivered."""
    delivered: list[Message] = []

    async def slow_body_send(message: Message) -> None:
        if message["type"].endswith("body"):
            await trio.sleep_forever()
        delivered.append(message)

    with trio.move_on_after(1) as scope:
        await PlainTextResponse("bye", 403)({"type": "websocket"}, no_receive, slow_body_send)
    assert scope.cancelled_caught
    assert [m["type"] for m in delivered] == ["websocket.http.response.start"]


def test_repr_summarises_the_response() -> None:
    """repr() names the class, status, media type and body size."""
    assert repr(PlainTextResponse("abc", 403)) == (
        "PlainTextResponse(status_code=403, media_type='text/plain', 3 bytes)"
    )


def test_media_type_override_is_per_instance() -> None:
    """media_type= changes one response, not the class default."""
    PlainTextResponse("x", media_type="text/html")
    assert PlainTextResponse.media_type == "text/plain"
    assert PlainTextResponse("x").headers["content-type"] == "text/plain; charset=utf-8"


# --------------------------------------------------------------------------------------------
# Against Starlette
# --------------------------------------------------------------------------------------------

STARLETTE_PAIRS = [
    pytest.param(lambda m: m.Response(b"gone", status_code=410), id="bytes"),
    pytest.param(lambda m: m.Response("text", media_type="text/html"), id="html-text"),
    pytest.param(lambda m: m.Response(None, status_code=204), id="empty-204"),
    pytest.param(lambda m: m.PlainTextResponse("Denied ✋", status_code=403), id="plain"),
    pytest.param(
        lambda m: m.PlainTextResponse("x", headers={"X-A": "1", "Content-Type": "text/x"}),
        id="plain-user-content-type",
    ),
    pytest.param(lambda m: m.JSONResponse({"detail": "Zoë", "n": [1.5, None, True]}), id="json"),
    pytest.param(
        lambda m: m.JSONResponse([1], status_code=401, headers={"www-authenticate": "Bearer"}),
        id="json-with-headers",
    ),
]


class _TrioWs:
    """Namespace mirroring starlette.responses, so one lambda can build either."""

    Response = Response
    PlainTextResponse = PlainTextResponse
    JSONResponse = JSONResponse


@SCOPE_TYPES
@pytest.mark.parametrize("build", STARLETTE_PAIRS)
async def test_messages_match_starlette(build: Any, scope_type: str, prefix: str) -> None:
    """Status, headers and body equal what Starlette's response sends for the same input."""
    ours = await run(build(_TrioWs), scope_type)
    theirs = await run(build(starlette.responses), scope_type)
    assert [m["type"] for m in ours] == [m["type"] for m in theirs]
    assert ours[0] == theirs[0]
    assert ours[1]["body"] == theirs[1]["body"]
    assert ours[1]["more_body"] is False
    assert theirs[1].get("more_body", False) is False
