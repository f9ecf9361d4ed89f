"""The ASGI scope the in-memory client builds, and that the app really receives it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from trio_ws import testing
from trio_ws.testing._scope import build_scope, normalize_headers

if TYPE_CHECKING:
    from trio_ws._types import Message, Receive, Scope, Send

DEFAULTS: dict[str, object] = {
    "headers": None,
    "subprotocols": (),
    "scheme": "ws",
    "client": ("testclient", 50000),
    "server": ("testserver", 80),
    "root_path": "",
    "spec_version": "2.5",
    "denial_extension": True,
}


def scope_for(path: str = "/", **overrides: object) -> Scope:
    return build_scope(path, **{**DEFAULTS, **overrides})  # type: ignore[arg-type]


def test_scope_has_every_websocket_key_with_hypercorn_shapes() -> None:
    """All keys of an ASGI websocket scope are there, shaped as hypercorn sends them."""
    scope = scope_for("/chat?room=1", subprotocols=["chat", "superchat"])
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/chat"
    assert scope["raw_path"] == b"/chat"
    assert scope["query_string"] == b"room=1"
    assert scope["root_path"] == ""
    assert scope["client"] == ("testclient", 50000)
    assert scope["server"] == ("testserver", 80)
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["state"] == {}
    headers = dict(scope["headers"])
    assert headers[b"host"] == b"testserver"
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"sec-websocket-version"] == b"13"
    assert headers[b"sec-websocket-protocol"] == b"chat, superchat"


def test_scope_without_denial_extension_has_no_extensions() -> None:
    """A server without the denial extension advertises none (hypercorn has only that one)."""
    assert scope_for(denial_extension=False)["extensions"] == {}


def test_path_is_decoded_and_raw_path_percent_encoded() -> None:
    """``path`` is decoded, ``raw_path`` is the encoded target, whatever form was given."""
    for given in ("/caf\u00e9 x", "/caf%C3%A9%20x"):
        scope = scope_for(given)
        assert scope["path"] == "/caf\u00e9 x"
        assert scope["raw_path"] == b"/caf%C3%A9%20x"


def test_host_header_carries_a_non_default_port_and_user_host_wins() -> None:
    """``host`` omits the scheme's default port, keeps others, and is not duplicated."""
    assert dict(scope_for(server=("example.org", 8000))["headers"])[b"host"] == b"example.org:8000"
    wss = scope_for(scheme="wss", server=("example.org", 443))
    assert dict(wss["headers"])[b"host"] == b"example.org"
    assert wss["scheme"] == "wss"
    own = scope_for(headers={"Host": "mine"})["headers"]
    assert [value for name, value in own if name == b"host"] == [b"mine"]


def test_headers_accept_mappings_and_pairs_of_str_or_bytes() -> None:
    """Header names are lowercased; repeated headers given as pairs are all kept."""
    assert normalize_headers({"X-A": "1"}) == [(b"x-a", b"1")]
    assert normalize_headers([(b"X-B", b"2"), ("x-b", "3")]) == [(b"x-b", b"2"), (b"x-b", b"3")]
    with pytest.raises(TypeError):
        normalize_headers([("x", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        normalize_headers([("only-a-name",)])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("path", "overrides"),
    [
        ("chat", {}),
        ("/", {"spec_version": "3.0"}),
        ("/", {"scheme": "http"}),
    ],
)
def test_invalid_arguments_are_refused(path: str, overrides: dict[str, object]) -> None:
    """A relative path, an unknown spec version or a non-websocket scheme is a ValueError."""
    with pytest.raises(ValueError, match=r"path|spec_version|scheme"):
        scope_for(path, **overrides)


def test_subprotocols_must_be_strings() -> None:
    """A bare string is not taken as a list of one-letter subprotocols."""
    with pytest.raises(TypeError):
        scope_for(subprotocols="chat")


async def test_app_receives_the_scope_and_connect_first() -> None:
    """connect() calls the app with its scope, and the first message is websocket.connect."""
    seen: list[tuple[Scope, Message]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, await receive()))
        await send({"type": "websocket.accept"})

    with trio.fail_after(5):
        async with testing.connect(
            app,
            "/mounted/ws?a=1&b=%20",
            headers=[("X-Token", "t")],
            subprotocols=["v1"],
            client=("1.2.3.4", 1234),
            server=("srv", 9000),
            root_path="/mounted",
            spec_version="2.3",
            denial_extension=False,
        ) as ws:
            assert ws.scope is seen[0][0]
    scope, first = seen[0]
    assert first == {"type": "websocket.connect"}
    assert scope["path"] == "/mounted/ws"
    assert scope["root_path"] == "/mounted"
    assert scope["query_string"] == b"a=1&b=%20"
    assert scope["asgi"]["spec_version"] == "2.3"
    assert scope["client"] == ("1.2.3.4", 1234)
    assert scope["server"] == ("srv", 9000)
    assert scope["subprotocols"] == ["v1"]
    assert scope["extensions"] == {}
    assert (b"x-token", b"t") in scope["headers"]
    assert (b"host", b"srv:9000") in scope["headers"]
