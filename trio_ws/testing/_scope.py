"""Build the ASGI ``websocket`` connection scope that the in-memory client hands to the app.

Pure: no trio, no I/O. The shape follows the ASGI spec and what hypercorn 0.18 really sends
(docs/hypercorn-facts.md, fact 13): the request headers include the upgrade handshake, the
``host`` header is derived from ``server`` unless given, and ``extensions`` holds only
``websocket.http.response`` (and only when the denial extension is on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal, TypeAlias
from urllib.parse import quote, unquote

from .._protocol import CANCEL_SAFE_SEND_EXTENSION

if TYPE_CHECKING:
    from .._types import Scope

__all__ = ["HeadersInput", "SpecVersion", "build_scope", "normalize_headers"]

#: The ASGI websocket spec versions the emulated server can speak.
#: ``"2.3"`` is hypercorn 0.18; ``"2.4"`` adds "send on a closed connection raises OSError";
#: ``"2.5"`` adds ``reason`` to ``websocket.disconnect``.
SpecVersion: TypeAlias = Literal["2.3", "2.4", "2.5"]
SPEC_VERSIONS: tuple[SpecVersion, ...] = ("2.3", "2.4", "2.5")

#: Headers as a mapping or as (name, value) pairs; names and values are ``str`` or ``bytes``.
HeadersInput: TypeAlias = (
    Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]
)

# RFC 6455 §1.3's sample nonce: a fixed key keeps scopes deterministic.
_WEBSOCKET_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
# Characters kept as they are when a path is percent-encoded for ``raw_path``.
_PATH_SAFE = "/%:@!$&'()*+,;=~"


def _to_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1")
    raise TypeError(f"header {what} must be str or bytes, not {type(value).__name__}")


def normalize_headers(headers: HeadersInput | None) -> list[tuple[bytes, bytes]]:
    """Turn user-given headers into ASGI's ``[(lowercase name bytes, value bytes), ...]``.

    Raises:
      TypeError: a name or value is neither ``str`` nor ``bytes``, or an item is not a pair.
    """
    if headers is None:
        return []
    items: Iterable[tuple[str | bytes, str | bytes]]
    items = headers.items() if isinstance(headers, Mapping) else headers
    result: list[tuple[bytes, bytes]] = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TypeError(f"headers must be (name, value) pairs, got {item!r}")
        name, value = item
        result.append((_to_bytes(name, "name").lower(), _to_bytes(value, "value")))
    return result


def _host_header(scheme: str, server: tuple[str, int | None]) -> bytes:
    host, port = server
    default_port = 443 if scheme == "wss" else 80
    if port is None or port == default_port:
        return host.encode("idna")
    return f"{host}:{port}".encode("idna")


def build_scope(
    path: str,
    *,
    headers: HeadersInput | None,
    subprotocols: Iterable[str],
    scheme: Literal["ws", "wss"],
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    root_path: str,
    spec_version: SpecVersion,
    denial_extension: bool,
    cancel_safe_send: bool = False,
) -> Scope:
    """Return a complete ASGI ``websocket`` scope for a connection to ``path``.

    ``path`` is the request target: it may carry a query string (``"/chat?room=1"``) and may be
    percent-encoded or not; ``path`` in the scope is decoded and ``raw_path`` encoded. Following
    the ASGI spec, ``path`` includes ``root_path`` if the app is mounted below one: this
    function does not add it.

    Raises:
      ValueError: ``path`` does not start with ``/``, or ``spec_version``/``scheme`` is unknown.
      TypeError: malformed ``headers``.
    """
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    if spec_version not in SPEC_VERSIONS:
        raise ValueError(f"spec_version must be one of {SPEC_VERSIONS}, got {spec_version!r}")
    if scheme not in ("ws", "wss"):
        raise ValueError(f"scheme must be 'ws' or 'wss', got {scheme!r}")
    offered = list(subprotocols)
    if isinstance(subprotocols, str) or not all(isinstance(p, str) for p in offered):
        raise TypeError("subprotocols must be an iterable of str")

    target, _, query = path.partition("?")
    raw_path = quote(target, safe=_PATH_SAFE)
    user_headers = normalize_headers(headers)

    request_headers: list[tuple[bytes, bytes]] = []
    if not any(name == b"host" for name, _ in user_headers) and server is not None:
        request_headers.append((b"host", _host_header(scheme, server)))
    request_headers += [
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", _WEBSOCKET_KEY),
    ]
    if offered:
        request_headers.append((b"sec-websocket-protocol", ", ".join(offered).encode()))
    request_headers += user_headers

    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "scheme": scheme,
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("ascii"),
        "root_path": root_path,
        "query_string": quote(query, safe=_PATH_SAFE + "?").encode("ascii"),
        "headers": request_headers,
        "client": client,
        "server": server,
        "subprotocols": offered,
        "state": {},
        "extensions": _extensions(
            denial_extension=denial_extension, cancel_safe_send=cancel_safe_send
        ),
    }


def _extensions(*, denial_extension: bool, cancel_safe_send: bool) -> dict[str, dict[str, object]]:
    extensions: dict[str, dict[str, object]] = {}
    if denial_extension:
        extensions["websocket.http.response"] = {}
    if cancel_safe_send:
        extensions[CANCEL_SAFE_SEND_EXTENSION] = {}
    return extensions
