"""URL, Headers, QueryParams, Address, State and parse_cookies.

Starlette is the compatibility target, so many tests run the same input through Starlette's
own classes and compare the results, rather than restating what we believe Starlette does.
Deliberate differences are tested separately and say so in their docstrings.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette import datastructures as sd
from starlette.requests import cookie_parser as starlette_cookie_parser

from trio_ws._datastructures import (
    URL,
    Address,
    Headers,
    QueryParams,
    State,
    parse_cookies,
)


def ws_scope(**overrides: Any) -> dict[str, Any]:
    """A minimal websocket scope for ws://example.org/chat, with ``overrides`` applied."""
    scope: dict[str, Any] = {
        "type": "websocket",
        "scheme": "ws",
        "server": ("example.org", 80),
        "path": "/chat",
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    scope.update(overrides)
    return scope


def host(value: str) -> list[tuple[bytes, bytes]]:
    """Scope headers holding just a ``Host`` header."""
    return [(b"host", value.encode("latin-1"))]


# --------------------------------------------------------------------------------------------
# URL.from_scope
# --------------------------------------------------------------------------------------------

FROM_SCOPE_CASES = [
    pytest.param(ws_scope(), "ws://example.org/chat", id="ws-default-port-omitted"),
    pytest.param(
        ws_scope(server=("example.org", 8000)), "ws://example.org:8000/chat", id="ws-other-port"
    ),
    pytest.param(
        ws_scope(scheme="wss", server=("example.org", 443)),
        "wss://example.org/chat",
        id="wss-default-port-omitted",
    ),
    pytest.param(
        ws_scope(scheme="wss", server=("example.org", 80)),
        "wss://example.org:80/chat",
        id="wss-port-80-kept",
    ),
    pytest.param(
        ws_scope(headers=host("api.example.com")),
        "ws://api.example.com/chat",
        id="host-header-wins-over-server",
    ),
    pytest.param(
        ws_scope(headers=host("example.org:80")),
        "ws://example.org:80/chat",
        id="host-header-port-kept-verbatim",
    ),
    pytest.param(
        ws_scope(headers=host("Example.ORG:9000")),
        "ws://Example.ORG:9000/chat",
        id="host-header-case-kept",
    ),
    pytest.param(
        ws_scope(headers=[(b"accept", b"*/*"), *host("a.test"), *host("b.test")]),
        "ws://a.test/chat",
        id="first-host-header-used",
    ),
    pytest.param(
        ws_scope(query_string=b"room=1&name=a%20b"),
        "ws://example.org/chat?room=1&name=a%20b",
        id="query-string",
    ),
    pytest.param(
        ws_scope(query_string=b"q=caf\xc3\xa9"),
        "ws://example.org/chat?q=café",
        id="query-string-utf8",
    ),
    pytest.param(
        ws_scope(root_path="/api", path="/api/chat"),
        "ws://example.org/api/chat",
        id="root-path-already-in-path",
    ),
    pytest.param(
        ws_scope(server=("::1", 8000)), "ws://[::1]:8000/chat", id="ipv6-server-bracketed"
    ),
    pytest.param(ws_scope(server=("::1", 80)), "ws://[::1]/chat", id="ipv6-server-default-port"),
    pytest.param(
        ws_scope(headers=host("[::1]:8000")), "ws://[::1]:8000/chat", id="ipv6-host-header"
    ),
    pytest.param(
        ws_scope(headers=host("[v1.fe]")), "ws://[v1.fe]/chat", id="ipvfuture-host-header"
    ),
    pytest.param(
        ws_scope(server=("10.0.0.1", 8000), headers=[(b"origin", b"x")]),
        "ws://10.0.0.1:8000/chat",
        id="missing-host-header-falls-back-to-server",
    ),
    pytest.param(
        ws_scope(headers=host("evil.test/other")),
        "ws://example.org/chat",
        id="host-with-path-ignored",
    ),
    pytest.param(
        ws_scope(headers=host("user@evil.test")),
        "ws://example.org/chat",
        id="host-with-userinfo-ignored",
    ),
    pytest.param(
        ws_scope(headers=host("a b")), "ws://example.org/chat", id="host-with-space-ignored"
    ),
    pytest.param(
        ws_scope(headers=host("a.test:99999")),
        "ws://example.org/chat",
        id="host-port-out-of-range-ignored",
    ),
    pytest.param(
        ws_scope(headers=host("a.test:")), "ws://example.org/chat", id="host-empty-port-ignored"
    ),
    pytest.param(
        ws_scope(headers=host("[::g]")), "ws://example.org/chat", id="host-bad-ipv6-ignored"
    ),
    pytest.param(
        ws_scope(headers=host("a.test:0000080")),
        "ws://a.test:0000080/chat",
        id="host-port-leading-zeros-accepted",
    ),
    pytest.param(
        ws_scope(path="/a?b#c\\d"),
        "ws://example.org/a%3Fb%23c%5Cd",
        id="path-delimiters-escaped",
    ),
    pytest.param(
        ws_scope(server=None, query_string=b"x=1"), "/chat?x=1", id="no-host-no-server-relative"
    ),
    pytest.param(
        ws_scope(server=None, path="//evil.test/x"),
        "/%2Fevil.test/x",
        id="relative-double-slash-not-authority",
    ),
    pytest.param(
        {**ws_scope(type="http", scheme="http"), "path": "/"},
        "http://example.org/",
        id="http-scope",
    ),
    pytest.param(
        ws_scope(type="http", scheme="https", server=("example.org", 443)),
        "https://example.org/chat",
        id="https-scope-default-port",
    ),
]


@pytest.mark.parametrize(("scope", "expected"), FROM_SCOPE_CASES)
def test_url_from_scope_builds_the_expected_url(scope: dict[str, Any], expected: str) -> None:
    """URL.from_scope gives the URL the client connected to."""
    assert URL(scope=scope) == expected


@pytest.mark.parametrize(("scope", "expected"), FROM_SCOPE_CASES)
def test_url_from_scope_matches_starlette(scope: dict[str, Any], expected: str) -> None:
    """URL.from_scope agrees with starlette's URL(scope=...) on every table case."""
    assert str(URL(scope=scope)) == str(sd.URL(scope=copy.deepcopy(scope)))


def test_url_from_scope_returns_a_url() -> None:
    """The result is a URL whose parts can be read."""
    url = URL(scope=ws_scope(scheme="wss", server=("example.org", 8443), query_string=b"a=1"))
    assert type(url) is URL
    assert (url.scheme, url.hostname, url.port, url.path, url.query) == (
        "wss",
        "example.org",
        8443,
        "/chat",
        "a=1",
    )
    assert url.is_secure


def test_url_from_scope_defaults_a_websocket_scheme_to_ws() -> None:
    """Without "scheme", a websocket scope is ws (the ASGI default; Starlette says http)."""
    scope = ws_scope()
    del scope["scheme"]
    assert URL(scope=scope) == "ws://example.org/chat"
    http_scope = ws_scope(type="http")
    del http_scope["scheme"]
    assert URL(scope=http_scope) == "http://example.org/chat"


def test_url_from_scope_unix_socket_server_has_no_port() -> None:
    """A server of (path, None) contributes its host only (Starlette writes ":None")."""
    assert URL(scope=ws_scope(server=("sock.local", None))) == "ws://sock.local/chat"


def test_url_from_scope_percent_encodes_an_invalid_utf8_query() -> None:
    """A query string that is not UTF-8 is percent-encoded (Starlette raises instead)."""
    url = URL(scope=ws_scope(query_string=b"q=\xff\xfe&a=b c"))
    assert url == "ws://example.org/chat?q=%FF%FE&a=b%20c"


def test_url_from_scope_without_headers_key_uses_server() -> None:
    """A scope lacking "headers" altogether still works."""
    scope = ws_scope()
    del scope["headers"]
    assert URL(scope=scope) == "ws://example.org/chat"


_HOST_ALPHABET = "az09.-_~%!$&'()*+,;=:[]@/ ?#\\vAFé\t"


@given(
    value=st.one_of(
        st.text(alphabet=_HOST_ALPHABET, max_size=24),
        st.builds(
            lambda ip, port: f"[{ip}]" + (f":{port}" if port is not None else ""),
            st.ip_addresses(v=6).map(str),
            st.none() | st.integers(0, 99999),
        ),
    )
)
def test_url_from_scope_host_header_handling_matches_starlette(value: str) -> None:
    """Accepting or rejecting an arbitrary Host header agrees with Starlette."""
    scope = ws_scope(server=("fallback.test", 81), headers=host(value))
    assert str(URL(scope=scope)) == str(sd.URL(scope=copy.deepcopy(scope)))


# --------------------------------------------------------------------------------------------
# URL components and replace
# --------------------------------------------------------------------------------------------

URL_STRINGS = [
    "wss://user:secret@[::1]:8443/a/b?c=1&d=2#frag",
    "ws://example.org",
    "https://Example.COM:443/",
    "http://user@host.test/p%20q",
    "/relative/path?x=1",
    "",
]
URL_PROPERTIES = [
    "scheme",
    "netloc",
    "path",
    "query",
    "fragment",
    "username",
    "password",
    "hostname",
    "port",
    "is_secure",
]


@pytest.mark.parametrize("text", URL_STRINGS)
@pytest.mark.parametrize("prop", URL_PROPERTIES)
def test_url_properties_match_starlette(text: str, prop: str) -> None:
    """Each component property reads the same as Starlette's URL."""
    assert getattr(URL(text), prop) == getattr(sd.URL(text), prop)


REPLACEMENTS: list[dict[str, Any]] = [
    {"path": "/other"},
    {"query": "z=9"},
    {"fragment": ""},
    {"scheme": "ws"},
    {"hostname": "new.test"},
    {"hostname": "::2"},
    {"port": 9999},
    {"port": None},
    {"username": "bob"},
    {"username": None},
    {"password": "pw2"},
    {"password": None},
    {"hostname": "h.test", "port": 1, "username": "u", "password": "p", "path": "/x"},
]


@pytest.mark.parametrize("text", URL_STRINGS[:4])
@pytest.mark.parametrize("changes", REPLACEMENTS)
def test_url_replace_matches_starlette(text: str, changes: dict[str, Any]) -> None:
    """replace(**components) builds the same URL as Starlette's URL.replace."""
    ours = URL(text).replace(**changes)
    assert type(ours) is URL
    assert ours == str(sd.URL(text).replace(**changes))


def test_url_replace_rebuilds_netloc_keeping_other_parts() -> None:
    """Replacing the port keeps user, password and an IPv6 host."""
    url = URL("wss://u:p@[::1]:8443/x")
    assert url.replace(port=443) == "wss://u:p@[::1]:443/x"
    assert url.replace(hostname="example.org") == "wss://u:p@example.org:8443/x"


def test_url_replace_rejects_unknown_components() -> None:
    """An unknown keyword is an error, not silently ignored."""
    with pytest.raises(ValueError, match="unexpected field"):
        URL("ws://a/").replace(host="b")  # type: ignore[call-overload]


def test_url_replace_with_positional_arguments_is_str_replace() -> None:
    """url.replace(old, new) keeps meaning str.replace, returning a plain str."""
    result = URL("ws://a.test/a").replace("a", "b", 1)
    assert result == "ws://b.test/a"
    assert type(result) is str


def test_url_is_a_str_equal_to_its_text() -> None:
    """A URL equals, hashes like and serialises as the string it spells."""
    url = URL("ws://example.org/chat")
    assert isinstance(url, str)
    assert url == "ws://example.org/chat"
    assert hash(url) == hash("ws://example.org/chat")
    assert json.dumps({"url": url}) == '{"url": "ws://example.org/chat"}'
    assert str(url) == "ws://example.org/chat"
    assert type(str(url)) is str


def test_url_compares_equal_to_starlette_url() -> None:
    """Our URL and Starlette's URL of the same text are equal both ways round."""
    assert URL("ws://a/b") == sd.URL("ws://a/b")
    assert sd.URL("ws://a/b") == URL("ws://a/b")


def test_url_repr_hides_the_password() -> None:
    """repr() does not leak a password, and says URL(...)."""
    assert repr(URL("wss://u:secret@h/p")) == "URL('wss://u:********@h/p')"
    assert repr(URL("ws://h/p")) == "URL('ws://h/p')"


def test_url_rejects_non_str() -> None:
    """URL(b"...") is a TypeError rather than a URL of "b'...'"."""
    with pytest.raises(TypeError, match="str"):
        URL(b"ws://a/")  # type: ignore[arg-type]


def test_url_survives_pickle_and_copy() -> None:
    """A URL pickles and copies as a URL."""
    url = URL("ws://a/b")
    for clone in (pickle.loads(pickle.dumps(url)), copy.copy(url), copy.deepcopy(url)):
        assert type(clone) is URL
        assert clone == url


def test_url_cannot_grow_attributes() -> None:
    """A URL is immutable: no instance attributes can be set."""
    with pytest.raises(AttributeError):
        URL("ws://a/").extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("include_query_params", {"a": 3, "new": "x y"}),
        ("replace_query_params", {"only": 1}),
        ("remove_query_params", {"keys": "a"}),
        ("remove_query_params", {"keys": ["a", "b"]}),
    ],
)
def test_url_query_param_helpers_match_starlette(method: str, kwargs: dict[str, Any]) -> None:
    """The include/replace/remove_query_params helpers match Starlette's."""
    text = "ws://h/p?a=1&b=2&a=4&c="
    ours = getattr(URL(text), method)(**kwargs)
    assert type(ours) is URL
    assert ours == str(getattr(sd.URL(text), method)(**kwargs))


# --------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------

RAW = [(b"content-type", b"text/plain"), (b"x-tag", b"one"), (b"x-tag", b"two"), (b"host", b"h")]


def test_headers_lookup_ignores_case() -> None:
    """Any spelling of a header name finds it."""
    headers = Headers(raw=RAW)
    for name in ("content-type", "Content-Type", "CONTENT-TYPE"):
        assert headers[name] == "text/plain"
        assert headers.get(name) == "text/plain"
        assert name in headers
        assert headers.getlist(name) == ["text/plain"]


def test_headers_repeated_names_keep_every_value() -> None:
    """[] and get() give the first value; getlist() all of them, in order."""
    headers = Headers(raw=RAW)
    assert headers["X-Tag"] == "one"
    assert headers.get("x-tag") == "one"
    assert headers.getlist("X-TAG") == ["one", "two"]


def test_headers_views_include_repeats() -> None:
    """keys/values/items, iteration and len() see every pair, as Starlette's do."""
    headers = Headers(raw=RAW)
    assert headers.keys() == ["content-type", "x-tag", "x-tag", "host"]
    assert headers.values() == ["text/plain", "one", "two", "h"]
    assert headers.items() == [
        ("content-type", "text/plain"),
        ("x-tag", "one"),
        ("x-tag", "two"),
        ("host", "h"),
    ]
    assert list(headers) == headers.keys()
    assert len(headers) == 4
    assert headers.raw == RAW


def test_headers_missing_name() -> None:
    """A missing header is a KeyError for [], a default for get(), [] for getlist()."""
    headers = Headers(raw=RAW)
    with pytest.raises(KeyError):
        headers["cookie"]
    assert headers.get("cookie") is None
    assert headers.get("cookie", "none") == "none"
    assert headers.getlist("cookie") == []
    assert "cookie" not in headers


def test_headers_odd_keys_are_simply_absent() -> None:
    """A non-str or non-latin-1 key is not found rather than crashing the lookup."""
    headers = Headers(raw=RAW)
    not_a_str: Any = 5
    assert not_a_str not in headers
    assert "€" not in headers
    assert headers.get("€") is None
    with pytest.raises(KeyError):
        headers["€"]


def test_headers_values_are_latin1_text() -> None:
    """Raw bytes are decoded as latin-1, so every byte value round-trips."""
    headers = Headers(raw=[(b"x", bytes(range(32, 256)))])
    assert headers["x"] == bytes(range(32, 256)).decode("latin-1")


def test_headers_from_mapping_lowercases_names() -> None:
    """Headers({...}) stores lower-case names, as ASGI expects."""
    headers = Headers({"X-Custom": "Value", "Accept": "*/*"})
    assert headers.raw == [(b"x-custom", b"Value"), (b"accept", b"*/*")]
    assert Headers().raw == []
    assert Headers(None) == Headers({})


def test_headers_from_headers_keeps_repeats() -> None:
    """Headers(other_headers) copies every pair."""
    headers = Headers(raw=RAW)
    assert Headers(headers).raw == headers.raw


def test_headers_from_raw_lowercases_names() -> None:
    """A non-conforming server's upper-case names are still found."""
    headers = Headers(raw=[(b"X-Up", b"1")])
    assert headers.raw == [(b"x-up", b"1")]
    assert headers["x-up"] == "1"


def test_headers_from_scope_reads_scope_headers() -> None:
    """from_scope reads scope["headers"], and treats a missing key as no headers."""
    assert Headers(scope={"headers": RAW}) == Headers(raw=RAW)
    assert Headers(scope={"headers": iter(RAW)}) == Headers(raw=RAW)
    assert len(Headers(scope={})) == 0


@pytest.mark.parametrize(
    "bad",
    [
        [(b"a", "text")],
        [("a", b"b")],
        [(b"a",)],
        [b"ab"],
        [None],
        "a: b",
        b"a: b",
        {b"a": b"b"},
    ],
)
def test_headers_from_raw_rejects_non_byte_pairs(bad: Any) -> None:
    """Anything but (bytes, bytes) pairs is a TypeError."""
    with pytest.raises(TypeError):
        Headers(raw=bad)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ([("a", "b")], TypeError),
        ("a: b", TypeError),
        ({"a": b"b"}, TypeError),
        ({b"a": "b"}, TypeError),
        ({"a": 1}, TypeError),
        ({"a": "€"}, ValueError),
        ({"é€": "b"}, ValueError),
        ({"a": "b\r\nx-injected: 1"}, ValueError),
        ({"a\n": "b"}, ValueError),
        ({"a": "b\0"}, ValueError),
    ],
)
def test_headers_from_mapping_rejects_bad_input(bad: Any, error: type[Exception]) -> None:
    """Bad names or values raise TypeError/ValueError with a message, not an assert."""
    with pytest.raises(error, match=r"\w"):
        Headers(bad)


def test_headers_equality_ignores_order_but_not_values() -> None:
    """Headers are equal for the same pairs in any order; hashes agree."""
    a = Headers(raw=[(b"a", b"1"), (b"b", b"2")])
    b = Headers(raw=[(b"b", b"2"), (b"a", b"1")])
    assert a == b
    assert hash(a) == hash(b)
    assert a != Headers(raw=[(b"a", b"1"), (b"b", b"3")])
    assert a != Headers(raw=[(b"a", b"1")])
    assert a != {"a": "1", "b": "2"}


def test_headers_repr_round_trips() -> None:
    """repr() is Headers({...}) or, with repeats, Headers(raw=[...]); both eval back."""
    unique = Headers({"a": "1"})
    assert repr(unique) == "Headers({'a': '1'})"
    repeated = Headers(raw=RAW)
    assert repr(repeated).startswith("Headers(raw=[")
    for headers in (unique, repeated):
        assert eval(repr(headers), {"Headers": Headers}) == headers


def test_headers_are_immutable() -> None:
    """No item assignment, no attribute assignment, and raw is a copy."""
    headers = Headers(raw=RAW)
    with pytest.raises(TypeError):
        headers["x"] = "y"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        headers._raw = ()  # type: ignore[misc]
    headers.raw.append((b"x", b"y"))
    assert "x" not in headers


def test_headers_pickle_round_trips() -> None:
    """Headers survive pickling."""
    headers = Headers(raw=RAW)
    assert pickle.loads(pickle.dumps(headers)) == headers


STARLETTE_HEADER_INPUTS = [
    RAW,
    [],
    [(b"a", b"1"), (b"a", b"2"), (b"a", b"3")],
    [(b"cookie", b"a=1"), (b"x-empty", b"")],
]


@pytest.mark.parametrize("raw", STARLETTE_HEADER_INPUTS)
def test_headers_match_starlette(raw: list[tuple[bytes, bytes]]) -> None:
    """Every read operation agrees with Starlette's Headers for the same raw pairs."""
    ours = Headers(raw=raw)
    theirs = sd.Headers(raw=list(raw))
    assert ours.keys() == theirs.keys()
    assert ours.values() == theirs.values()
    assert ours.items() == theirs.items()
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)
    assert ours.raw == theirs.raw
    for name in {*ours.keys(), "missing", "A"}:
        assert (name in ours) == (name in theirs)
        assert ours.get(name) == theirs.get(name)
        assert ours.getlist(name) == theirs.getlist(name)
    assert Headers(dict(theirs.items())).raw == sd.Headers(dict(theirs.items())).raw


# --------------------------------------------------------------------------------------------
# QueryParams
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "pairs"),
    [
        ("a=1", [("a", "1")]),
        ("a=x+y", [("a", "x y")]),
        ("a=%20%2B%26%3D", [("a", " +&=")]),
        ("caf%C3%A9=%E2%82%AC", [("café", "€")]),
        ("a=", [("a", "")]),
        ("a", [("a", "")]),
        ("a=1&&b=2&", [("a", "1"), ("b", "2")]),
        ("a=1&a=2&b=3&a=4", [("a", "1"), ("a", "2"), ("b", "3"), ("a", "4")]),
        ("a=1;b=2", [("a", "1;b=2")]),
        ("", []),
        (b"a=x+y&b=%41", [("a", "x y"), ("b", "A")]),
    ],
)
def test_query_params_decoding(query: str | bytes, pairs: list[tuple[str, str]]) -> None:
    """Plus signs and percent escapes are decoded, blank values kept, order preserved."""
    assert QueryParams(query).multi_items() == pairs


def test_query_params_last_value_wins_for_lookup() -> None:
    """[] and get() give the last value of a repeated key; getlist() gives all."""
    params = QueryParams("a=1&b=2&a=3")
    assert params["a"] == "3"
    assert params.get("a") == "3"
    assert params.getlist("a") == ["1", "3"]
    assert params.getlist("zzz") == []


def test_query_params_views_see_each_key_once() -> None:
    """keys/values/items, iteration and len() are per distinct key."""
    params = QueryParams("a=1&b=2&a=3")
    assert list(params.keys()) == ["a", "b"]
    assert list(params.values()) == ["3", "2"]
    assert list(params.items()) == [("a", "3"), ("b", "2")]
    assert list(params) == ["a", "b"]
    assert len(params) == 2
    assert "a" in params
    assert "c" not in params
    assert dict(params) == {"a": "3", "b": "2"}


def test_query_params_missing_key() -> None:
    """A missing key is a KeyError for [] and a default for get()."""
    params = QueryParams("a=1")
    with pytest.raises(KeyError):
        params["b"]
    assert params.get("b") is None
    assert params.get("b", "x") == "x"


def test_query_params_str_re_encodes() -> None:
    """str() gives a query string that parses back to the same pairs."""
    params = QueryParams("q=a+b%26c&e=%C3%A9&q=&z")
    assert str(params) == "q=a+b%26c&e=%C3%A9&q=&z="
    assert QueryParams(str(params)) == params
    assert repr(params) == "QueryParams('q=a+b%26c&e=%C3%A9&q=&z=')"


def test_query_params_equality() -> None:
    """Order between keys does not matter; order of one key's values does."""
    assert QueryParams("a=1&b=2") == QueryParams("b=2&a=1")
    assert hash(QueryParams("a=1&b=2")) == hash(QueryParams("b=2&a=1"))
    assert QueryParams("a=1&a=2") != QueryParams("a=2&a=1")
    assert QueryParams("a=1") != QueryParams("a=1&a=1")
    assert QueryParams("a=1") != "a=1"


def test_query_params_from_mapping_and_pairs() -> None:
    """A mapping, pairs or another QueryParams work too; values go through str()."""
    assert QueryParams({"a": 1, "b": "x"}).multi_items() == [("a", "1"), ("b", "x")]
    assert QueryParams([("a", "1"), ("a", 2)]).getlist("a") == ["1", "2"]
    original = QueryParams("a=1&a=2")
    assert QueryParams(original).multi_items() == original.multi_items()
    assert QueryParams().multi_items() == []


@pytest.mark.parametrize("bad", [5, None, [("a", "1", "x")], ["ab"], [5]])
def test_query_params_rejects_other_input(bad: Any) -> None:
    """Input that is neither a query string, mapping nor pairs is a TypeError."""
    with pytest.raises(TypeError):
        QueryParams(bad)


def test_query_params_raw_utf8_bytes_decode_as_utf8() -> None:
    """Raw UTF-8 in a byte query string reads as UTF-8 (Starlette would give mojibake)."""
    assert QueryParams(b"name=caf\xc3\xa9")["name"] == "café"
    assert QueryParams(b"name=\xff")["name"] == "\xff"


def test_query_params_are_immutable() -> None:
    """No item or attribute assignment."""
    params = QueryParams("a=1")
    with pytest.raises(TypeError):
        params["a"] = "2"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        params._dict = {}  # type: ignore[misc]
    params.multi_items().append(("b", "2"))
    assert "b" not in params


STARLETTE_QUERIES = [
    "a=1&b=2&a=3",
    "q=hello+world&empty=&flag",
    "x=%2F%3F%23&y=%C3%A9",
    "",
    "=novalue&=",
]


@pytest.mark.parametrize("query", [*STARLETTE_QUERIES, *(q.encode() for q in STARLETTE_QUERIES)])
def test_query_params_match_starlette(query: str | bytes) -> None:
    """Parsing, lookups, str() and repr() agree with Starlette's QueryParams."""
    ours = QueryParams(query)
    theirs = sd.QueryParams(query)
    assert ours.multi_items() == theirs.multi_items()
    assert list(ours.items()) == list(theirs.items())
    assert list(ours.keys()) == list(theirs.keys())
    assert list(ours.values()) == list(theirs.values())
    assert len(ours) == len(theirs)
    assert str(ours) == str(theirs)
    assert repr(ours) == repr(theirs)
    for key in {*ours.keys(), "missing"}:
        assert ours.get(key) == theirs.get(key)
        assert ours.getlist(key) == theirs.getlist(key)


@given(st.text(alphabet="ab=&+%20C3A9é ;?#", max_size=30))
def test_query_params_str_parsing_matches_starlette(query: str) -> None:
    """For any query string, the pairs and the re-encoding agree with Starlette."""
    ours = QueryParams(query)
    theirs = sd.QueryParams(query)
    assert ours.multi_items() == theirs.multi_items()
    assert str(ours) == str(theirs)


# --------------------------------------------------------------------------------------------
# Address
# --------------------------------------------------------------------------------------------


def test_address_is_a_named_pair() -> None:
    """Address has .host and .port and is the (host, port) tuple, like Starlette's."""
    address = Address("127.0.0.1", 5000)
    assert (address.host, address.port) == ("127.0.0.1", 5000)
    assert address == ("127.0.0.1", 5000)
    host_, port = address
    assert (host_, port) == ("127.0.0.1", 5000)
    theirs: object = sd.Address("127.0.0.1", 5000)
    assert address == theirs
    assert Address(*("::1", 1)) == Address(host="::1", port=1)


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


def test_state_stores_attributes() -> None:
    """Attributes set on a State read back, by attribute and by item."""
    state = State()
    state.user = "alice"
    state["count"] = 2
    assert state.user == "alice"
    assert state["user"] == "alice"
    assert state.count == 2
    assert "user" in state
    assert sorted(state) == ["count", "user"]
    assert len(state) == 2


def test_state_missing_attribute_names_it() -> None:
    """Reading an unset attribute is an AttributeError that names the attribute."""
    state = State()
    with pytest.raises(AttributeError, match="'State' object has no attribute 'user'") as info:
        state.user
    assert info.value.name == "user"
    assert not hasattr(state, "user")
    assert getattr(state, "user", "default") == "default"


def test_state_deletion() -> None:
    """del removes a value; deleting a missing one says so."""
    state = State({"a": 1, "b": 2})
    del state.a
    del state["b"]
    assert len(state) == 0
    with pytest.raises(AttributeError, match="'a'"):
        del state.a
    with pytest.raises(KeyError):
        del state["b"]


def test_state_shares_the_dict_it_wraps() -> None:
    """State(d) reads and writes d itself, so scope["state"] can back it."""
    backing: dict[str, Any] = {"db": "conn"}
    state = State(backing)
    state.extra = 1
    assert backing == {"db": "conn", "extra": 1}
    assert state.db == "conn"


def test_state_copies_are_independent() -> None:
    """copy/deepcopy/pickle give a State with its own dict."""
    state = State({"a": [1]})
    shallow = copy.copy(state)
    shallow.b = 2
    assert "b" not in state
    assert copy.deepcopy(state).a == [1]
    assert pickle.loads(pickle.dumps(state)).a == [1]


def test_state_rejects_non_dict() -> None:
    """State() takes a dict or nothing."""
    with pytest.raises(TypeError):
        State([("a", 1)])  # type: ignore[arg-type]


def test_state_repr_shows_contents() -> None:
    """repr() shows what is stored."""
    assert repr(State({"a": 1})) == "State({'a': 1})"


def test_state_behaves_like_starlette_state() -> None:
    """The same operations give the same results on Starlette's State."""
    for cls in (State, sd.State):
        state = cls({"x": 1})
        state.y = 2
        assert (state.x, state["y"], len(state), sorted(state)) == (1, 2, 2, ["x", "y"])
        with pytest.raises(AttributeError):
            state.missing


# --------------------------------------------------------------------------------------------
# parse_cookies
# --------------------------------------------------------------------------------------------

COOKIE_CASES = [
    ("session=abc", {"session": "abc"}),
    ("a=1; b=2", {"a": "1", "b": "2"}),
    ("a=1;b=2;", {"a": "1", "b": "2"}),
    ("  a = 1 ;  b=2  ", {"a": "1", "b": "2"}),
    ("a=1; a=2", {"a": "2"}),
    ("lonely", {"": "lonely"}),
    ("a=; b", {"a": "", "": "b"}),
    ("a=b=c", {"a": "b=c"}),
    ('t="dark mode"', {"t": "dark mode"}),
    ('q="a\\"b"', {"q": 'a"b'}),
    ('o="\\101\\102"', {"o": "AB"}),
    ('half="open', {"half": '"open'}),
    ('e=""', {"e": ""}),
    ("", {}),
    (";;", {}),
    ("=", {}),
    ('json={"k":1}', {"json": '{"k":1}'}),
    ("caf\xe9=cr\xe8me", {"caf\xe9": "cr\xe8me"}),
]


@pytest.mark.parametrize(("header", "expected"), COOKIE_CASES)
def test_parse_cookies(header: str, expected: dict[str, str]) -> None:
    """A Cookie header parses tolerantly, later duplicates winning."""
    assert parse_cookies(header) == expected


@pytest.mark.parametrize(("header", "expected"), COOKIE_CASES)
def test_parse_cookies_matches_starlette(header: str, expected: dict[str, str]) -> None:
    """Every table case agrees with Starlette's cookie_parser."""
    assert parse_cookies(header) == starlette_cookie_parser(header)


@given(st.text(alphabet='ab =;"\\0178\t,x', max_size=30))
def test_parse_cookies_matches_starlette_on_arbitrary_headers(header: str) -> None:
    """For any header built from the awkward characters, the result matches Starlette."""
    assert parse_cookies(header) == starlette_cookie_parser(header)


# --------------------------------------------------------------------------------------------
# Starlette's constructors
# --------------------------------------------------------------------------------------------


def test_headers_and_url_take_starlettes_keyword_constructors() -> None:
    """Headers(raw=...), Headers(scope=...), URL(scope=...) and URL(**components) build what
    Starlette's do on the same input; from_raw and from_scope are the same constructors."""
    scope = ws_scope(headers=[(b"host", b"example.org:8000"), (b"x-tag", b"a")])
    assert Headers(scope=scope) == Headers.from_scope(scope) == Headers(raw=scope["headers"])
    assert Headers(raw=scope["headers"]).items() == sd.Headers(raw=scope["headers"]).items()
    assert Headers(scope=scope).raw == sd.Headers(scope=dict(scope)).raw
    assert URL(scope=scope) == URL.from_scope(scope) == str(sd.URL(scope=scope))
    components = {"scheme": "wss", "netloc": "example.org", "path": "/chat", "query": "a=1"}
    assert URL(**components) == str(sd.URL(**components)) == "wss://example.org/chat?a=1"
    assert type(URL(**components)) is URL
    assert QueryParams("a=1", b="2", c=3).multi_items() == (
        sd.QueryParams("a=1", b="2", c=3).multi_items()
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: Headers({"a": "1"}, raw=[(b"a", b"1")]),
        lambda: Headers(raw=[], scope={"headers": []}),
        lambda: URL("ws://x/", scope=ws_scope()),
        lambda: URL("ws://x/", path="/y"),
        lambda: URL(scope=ws_scope(), path="/y"),
    ],
)
def test_constructors_refuse_two_sources_with_a_type_error(build: Any) -> None:
    """Starlette fails an assert (gone under python -O); trio_ws raises TypeError."""
    with pytest.raises(TypeError, match="takes one of"):
        build()


def test_url_from_unknown_components_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unexpected field names"):
        URL(shceme="ws")  # type: ignore[call-arg]
