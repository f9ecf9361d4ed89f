"""What a `WebSocket` shows of its request is what Starlette's `WebSocket` shows, on any scope.

Hypothesis builds websocket scopes (schemes, servers, Host headers well formed or not, paths
with characters that would change a URL's structure, root paths, query strings, repeated
headers, cookies, clients, path parameters, state) and the same scope is given to
``trio_ws.WebSocket`` and ``starlette.websockets.WebSocket``. Every view `WebSocket` exposes
(`url` and its parts, `base_url`, `headers`, `query_params`, `cookies`, `client`,
`path_params`, `state`) and every read-only operation on it must agree.

The query strings here are ASCII, as browsers send them (they percent-encode the rest). The
two differences docs/starlette-differences.md lists for raw non-ASCII query bytes are pinned
at the end.
"""

from __future__ import annotations

import functools
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocket as StarletteWebSocket

import trio_ws
from tests.test_datastructures import URL_PROPERTIES


async def never_called(*args: Any) -> Any:  # pragma: no cover - views do no I/O
    raise AssertionError("a view did I/O")


latin1_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=20)
token = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=8)
hosts = st.one_of(
    st.sampled_from(["example.org", "127.0.0.1", "::1", "2001:db8::7", "localhost", "a.b-c"]),
    token,
)
host_headers = st.one_of(
    st.builds(
        lambda h, p: f"{h}:{p}" if p is not None else h, hosts, st.none() | st.integers(0, 70000)
    ),
    st.sampled_from(
        ["[::1]:8443", "[2001:db8::7]", "[v1.x]", "[::1", "a b", "x@y", "h:", "h:-1", "/path", ""]
    ),
    latin1_text,
)
query_strings = st.one_of(
    st.lists(
        st.tuples(
            st.text(string.ascii_letters + "%+&=;[]", max_size=5),
            st.text(string.printable.replace("#", ""), max_size=6),
        ),
        max_size=5,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
    st.text(string.printable, max_size=20),
).map(lambda text: text.encode("ascii"))
paths = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=20).map(
    lambda text: "/" + text
)


@st.composite
def websocket_scopes(draw: st.DrawFn) -> dict[str, Any]:
    headers: list[tuple[bytes, bytes]] = []
    if draw(st.booleans()):
        headers.append((b"host", draw(host_headers).encode("latin-1")))
    names = st.sampled_from([b"x-tag", b"cookie", b"origin", b"user-agent", b"x-empty"])
    headers += draw(st.lists(st.tuples(names, latin1_text.map(latin1_encoded)), max_size=5))
    root_path = draw(st.sampled_from(["", "/app", "/app/", "/a?b", "/sp ace", "/a#b\\c"]))
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "scheme": draw(st.sampled_from(["ws", "wss"])),
        "server": draw(st.none() | st.tuples(hosts, st.integers(1, 65535))),
        "client": draw(st.none() | st.tuples(hosts, st.integers(1, 65535))),
        "root_path": root_path,
        "path": root_path.rstrip("/") + draw(paths),
        "query_string": draw(query_strings),
        "headers": headers,
        "subprotocols": [],
        "path_params": draw(st.dictionaries(token, latin1_text, max_size=2)),
        "state": {"user": draw(latin1_text)},
    }
    if draw(st.booleans()):  # inside a Starlette Mount: the top-level app's root path
        scope["app_root_path"] = draw(st.sampled_from(["", "/top", "/t?p"]))
    return scope


def latin1_encoded(value: str) -> bytes:
    return value.encode("latin-1")


def both(scope: dict[str, Any]) -> tuple[trio_ws.WebSocket, StarletteWebSocket]:
    ours = trio_ws.WebSocket(dict(scope), never_called, never_called)
    theirs = StarletteWebSocket(dict(scope), never_called, never_called)
    return ours, theirs


def outcome(read: Any) -> Any:
    """What reading a view gives: its value, or the type of the exception it raises."""
    try:
        return ("value", read())
    except Exception as exc:
        return ("raises", type(exc))


def assert_same_lookups(mine: Any, starlettes: Any, keys: list[str]) -> None:
    """Both multi-dicts answer every read-only question the same way for each of ``keys``."""
    assert list(mine) == list(starlettes)
    assert list(mine.values()) == list(starlettes.values())
    assert len(mine) == len(starlettes)
    for key in keys:
        assert (key in mine) == (key in starlettes), key
        assert mine.getlist(key) == starlettes.getlist(key), key
        assert mine.get(key) == starlettes.get(key), key
        assert outcome(functools.partial(mine.__getitem__, key)) == outcome(
            functools.partial(starlettes.__getitem__, key)
        ), key


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(websocket_scopes())
def test_url_and_base_url_match(scope: dict[str, Any]) -> None:
    ours, theirs = both(scope)
    assert str(ours.url) == str(theirs.url)
    assert ours.url == theirs.url
    for part in URL_PROPERTIES:
        mine = outcome(functools.partial(getattr, ours.url, part))
        assert mine == outcome(functools.partial(getattr, theirs.url, part)), part
    assert str(ours.base_url) == str(theirs.base_url)


@SETTINGS
@given(
    websocket_scopes(),
    st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=3), latin1_text, max_size=2),
    st.sampled_from([{"path": "/x"}, {"query": ""}, {"scheme": "wss"}, {"port": 8443}]),
)
def test_urls_derived_from_the_url_match(
    scope: dict[str, Any], params: dict[str, str], changes: dict[str, Any]
) -> None:
    """replace() and the query helpers give the same URLs (where the URL has a host: a
    relative URL has no port to replace in either)."""
    ours, theirs = both(scope)
    if not ours.url.netloc and "port" in changes:
        return
    assert str(ours.url.replace(**changes)) == str(theirs.url.replace(**changes))
    assert str(ours.url.include_query_params(**params)) == str(
        theirs.url.include_query_params(**params)
    )
    assert str(ours.url.replace_query_params(**params)) == str(
        theirs.url.replace_query_params(**params)
    )
    assert str(ours.url.remove_query_params(list(params))) == str(
        theirs.url.remove_query_params(list(params))
    )


@SETTINGS
@given(websocket_scopes(), st.lists(latin1_text, max_size=3))
def test_headers_match(scope: dict[str, Any], probes: list[str]) -> None:
    ours, theirs = both(scope)
    mine, starlettes = ours.headers, theirs.headers
    assert mine.raw == starlettes.raw
    assert mine.items() == starlettes.items()
    assert mine.keys() == starlettes.keys()
    assert dict(mine) == dict(starlettes)
    assert_same_lookups(mine, starlettes, [*mine, *(key.upper() for key in mine), *probes])


@SETTINGS
@given(websocket_scopes(), st.lists(st.text(string.ascii_letters, max_size=3), max_size=3))
def test_query_params_match(scope: dict[str, Any], probes: list[str]) -> None:
    ours, theirs = both(scope)
    mine, starlettes = ours.query_params, theirs.query_params
    assert mine.multi_items() == starlettes.multi_items()
    assert mine.items() == starlettes.items()
    assert mine.keys() == starlettes.keys()
    assert str(mine) == str(starlettes)
    assert_same_lookups(mine, starlettes, [*mine, *probes])


@SETTINGS
@given(websocket_scopes())
def test_cookies_client_path_params_and_state_match(scope: dict[str, Any]) -> None:
    ours, theirs = both(scope)
    assert ours.cookies == theirs.cookies
    assert ours.client == theirs.client
    if ours.client is not None and theirs.client is not None:
        assert (ours.client.host, ours.client.port) == (theirs.client.host, theirs.client.port)
    assert ours.path_params == theirs.path_params
    assert ours.state.user == theirs.state.user
    assert outcome(lambda: ours.state.missing)[0] == outcome(lambda: theirs.state.missing)[0]
    assert ours["path"] == theirs["path"]
    assert ours.get("query_string") == theirs.get("query_string")


# -- The differences docs/starlette-differences.md lists, on the inputs where they show. -------


def raw_query_scope(query_string: bytes) -> dict[str, Any]:
    return {
        "type": "websocket",
        "scheme": "ws",
        "server": ("example.org", 80),
        "path": "/",
        "query_string": query_string,
        "headers": [],
    }


def test_a_raw_utf8_query_is_read_as_utf8_where_starlette_reads_latin1() -> None:
    ours, theirs = both(raw_query_scope("name=é".encode()))
    assert ours.query_params["name"] == "é"
    assert theirs.query_params["name"] == "Ã©"
    assert str(ours.url) == str(theirs.url) == "ws://example.org/?name=é"


def test_a_query_that_is_not_utf8_gives_a_url_where_starlette_raises() -> None:
    """A client controls the query string: Starlette's websocket.url raises on it."""
    ours, theirs = both(raw_query_scope(b"q=\xff"))
    assert str(ours.url) == "ws://example.org/?q=%FF"
    with pytest.raises(UnicodeDecodeError):
        theirs.url
    assert ours.query_params["q"] == theirs.query_params["q"] == "ÿ"
