"""Handshake guards: Origin, authenticate and subprotocols refuse or admit before the handler runs.

Each guard is tested in memory (with and without the denial extension) and over real sockets
(hypercorn's trio worker and trio_ws.serve, with trio-websocket and websockets clients).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio
import trio_websocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as sync_connect

from trio_ws import JSONResponse, PlainTextResponse, Response, WebSocket, websocket_app
from trio_ws.testing import ConnectionRejected, connect

from ._servers import CLIENT, SERVERS, rejection, served

ORIGINS = ["https://chat.example.com", re.compile(r"https://[a-z0-9-]+\.preview\.example\.com")]


class Recorder:
    """A handler that accepts, reports what it saw, and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, ws: WebSocket) -> None:
        self.calls += 1
        await ws.accept()
        await ws.send_json(
            {"user": getattr(ws.state, "user", None), "subprotocol": ws.scope.get("subprotocols")}
        )
        await ws.receive_text()


async def rejected_in_memory(app: Any, **kwargs: Any) -> ConnectionRejected:
    with trio.fail_after(5), pytest.raises(ConnectionRejected) as rejected:
        async with connect(app, **kwargs):
            pass
    return rejected.value


# ----------------------------------------------------------------- Origin, in memory


@pytest.mark.parametrize(
    "origin",
    [
        "https://chat.example.com",
        "HTTPS://Chat.Example.com",
        "https://pr-12.preview.example.com",
    ],
)
async def test_allowed_origins_admit_exact_and_pattern_matches(origin: str) -> None:
    handler = Recorder()
    app = websocket_app(handler, allowed_origins=ORIGINS)
    with trio.fail_after(5):
        async with connect(app, headers={"origin": origin}) as client:
            await client.receive_json()
    assert handler.calls == 1


@pytest.mark.parametrize("denial_extension", [True, False], ids=["denial", "no-denial"])
@pytest.mark.parametrize(
    "headers",
    [
        [("origin", "https://evil.example.net")],
        [("origin", "https://chat.example.com.evil.net")],  # a prefix is not a match
        [("origin", "https://x.preview.example.com.evil.net")],  # the pattern must match whole
        [("origin", "null")],  # sandboxed iframes and file:// pages
        [],  # no Origin at all, and None is not in the list
        [("origin", "https://chat.example.com"), ("origin", "https://evil.example.net")],
    ],
    ids=["foreign", "prefix", "pattern-prefix", "null", "missing", "two-headers"],
)
async def test_other_origins_are_refused_with_403_before_the_handler(
    headers: list[tuple[str, str]], denial_extension: bool
) -> None:
    handler = Recorder()
    app = websocket_app(handler, allowed_origins=ORIGINS)
    rejected = await rejected_in_memory(app, headers=headers, denial_extension=denial_extension)
    assert rejected.status_code == 403
    if denial_extension:
        assert rejected.body.startswith(b"Origin")
    assert handler.calls == 0


async def test_none_in_allowed_origins_admits_a_handshake_without_origin() -> None:
    handler = Recorder()
    app = websocket_app(handler, allowed_origins=[*ORIGINS, None])
    with trio.fail_after(5):
        async with connect(app) as client:
            await client.receive_json()
    assert handler.calls == 1
    rejected = await rejected_in_memory(app, headers={"origin": "https://evil.example.net"})
    assert rejected.status_code == 403


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("https://chat.example.com", TypeError),  # one string, not a list
        (["https://chat.example.com/"], ValueError),  # trailing slash
        (["chat.example.com"], ValueError),  # no scheme
        ([42], TypeError),
    ],
)
def test_malformed_allowed_origins_are_refused_when_the_app_is_made(
    value: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        websocket_app(Recorder(), allowed_origins=value)  # type: ignore[arg-type]


# ----------------------------------------------------------------- authenticate, in memory


async def token_auth(ws: WebSocket) -> Response | None:
    token = ws.query_params.get("token")
    if token is None:
        return PlainTextResponse(
            "token required", status_code=401, headers={"www-authenticate": 'Bearer realm="chat"'}
        )
    if token != "s3cret":
        return JSONResponse({"error": "bad token"}, status_code=403)
    ws.state.user = "alice"
    return None


async def test_authenticate_admits_and_passes_what_it_learned_to_the_handler() -> None:
    app = websocket_app(Recorder(), authenticate=token_auth)
    with trio.fail_after(5):
        async with connect(app, "/?token=s3cret") as client:
            assert (await client.receive_json())["user"] == "alice"


async def test_authenticate_refuses_with_its_own_response() -> None:
    handler = Recorder()
    app = websocket_app(handler, authenticate=token_auth)
    missing = await rejected_in_memory(app)
    assert missing.status_code == 401
    assert (b"www-authenticate", b'Bearer realm="chat"') in missing.headers
    assert missing.body == b"token required"
    wrong = await rejected_in_memory(app, path="/?token=guess")
    assert wrong.status_code == 403
    assert wrong.body == b'{"error":"bad token"}'
    assert handler.calls == 0


async def test_authenticate_refusal_without_denial_extension_is_a_403() -> None:
    app = websocket_app(Recorder(), authenticate=token_auth)
    rejected = await rejected_in_memory(app, denial_extension=False)
    assert rejected.status_code == 403


async def test_authenticate_that_raises_gives_500_and_the_error() -> None:
    async def broken(ws: WebSocket) -> None:
        raise LookupError("user store down")

    app = websocket_app(Recorder(), authenticate=broken)
    rejected = await rejected_in_memory(app, raise_app_exceptions=False)
    assert rejected.status_code == 500
    assert isinstance(rejected.__cause__, LookupError)


async def test_authenticate_returning_a_non_response_is_a_type_error() -> None:
    async def confused(ws: WebSocket) -> object:
        return "no"

    app = websocket_app(Recorder(), authenticate=confused)  # type: ignore[arg-type]
    with trio.fail_after(5), pytest.raises(TypeError, match="return None or an ASGI response"):
        async with connect(app):
            pass


# ----------------------------------------------------------------- subprotocols, in memory


async def test_first_server_subprotocol_the_client_offered_is_accepted() -> None:
    app = websocket_app(Recorder(), subprotocols=["chat.v2", "chat.v1"])
    with trio.fail_after(5):
        async with connect(app, subprotocols=["chat.v1", "chat.v2"]) as client:
            assert client.subprotocol == "chat.v2"
        async with connect(app, subprotocols=["other", "chat.v1"]) as client:
            assert client.subprotocol == "chat.v1"


async def test_handler_choice_of_subprotocol_wins() -> None:
    async def picky(ws: WebSocket) -> None:
        await ws.accept(subprotocol="chat.v1")

    app = websocket_app(picky, subprotocols=["chat.v2", "chat.v1"])
    with trio.fail_after(5):
        async with connect(app, subprotocols=["chat.v1", "chat.v2"]) as client:
            assert client.subprotocol == "chat.v1"


async def test_client_offering_none_of_ours_is_refused_or_accepted_as_configured() -> None:
    strict = websocket_app(Recorder(), subprotocols=["chat.v2"])
    rejected = await rejected_in_memory(strict, subprotocols=["mqtt"])
    assert rejected.status_code == 403
    assert b"chat.v2" in rejected.body
    assert (await rejected_in_memory(strict)).status_code == 403
    lenient = websocket_app(Recorder(), subprotocols=["chat.v2", None])
    with trio.fail_after(5):
        async with connect(lenient, subprotocols=["mqtt"]) as client:
            assert client.subprotocol is None


# ----------------------------------------------------------------- over real sockets


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_origin_guard_over_real_sockets(server: str) -> None:
    app = websocket_app(Recorder(), allowed_origins=ORIGINS)
    with trio.fail_after(10):
        async with served(app, server) as url:
            refused = await rejection(url + "/", extra_headers=[(b"origin", b"https://evil.net")])
            assert refused.status_code == 403
            assert refused.body.startswith(b"Origin not allowed")
            async with trio_websocket.open_websocket_url(
                url + "/", extra_headers=[(b"origin", b"https://chat.example.com")], **CLIENT
            ) as ws:
                assert "user" in await ws.get_message()
                await ws.send_message("bye")

            def websockets_client(origin: str) -> int:
                try:
                    with sync_connect(url + "/", origin=origin, open_timeout=5) as client:  # type: ignore[arg-type]
                        client.recv(timeout=5)
                        client.send("bye")
                        return 101
                except InvalidStatus as refusal:
                    return refusal.response.status_code

            assert await trio.to_thread.run_sync(websockets_client, "https://evil.net") == 403
            assert (
                await trio.to_thread.run_sync(websockets_client, "https://a.preview.example.com")
                == 101
            )


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_authenticate_over_real_sockets(server: str) -> None:
    app = websocket_app(Recorder(), authenticate=token_auth)
    with trio.fail_after(10):
        async with served(app, server) as url:
            refused = await rejection(url + "/chat")
            assert refused.status_code == 401
            assert (b"www-authenticate", b'Bearer realm="chat"') in refused.headers
            async with trio_websocket.open_websocket_url(
                url + "/chat?token=s3cret", **CLIENT
            ) as ws:
                assert '"user":"alice"' in await ws.get_message()
                await ws.send_message("bye")


@pytest.mark.hypercorn
@pytest.mark.parametrize("server", SERVERS)
async def test_subprotocol_guard_over_real_sockets(server: str) -> None:
    app = websocket_app(Recorder(), subprotocols=["chat.v2", "chat.v1"])
    with trio.fail_after(10):
        async with served(app, server) as url:
            refused = await rejection(url + "/", subprotocols=["mqtt"])
            assert refused.status_code == 403
            async with trio_websocket.open_websocket_url(
                url + "/", subprotocols=["chat.v1", "chat.v2"], **CLIENT
            ) as ws:
                assert ws.subprotocol == "chat.v2"
                await ws.get_message()
                await ws.send_message("bye")
