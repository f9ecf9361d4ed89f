"""``URL``: the request URL as a ``str`` with its parsed components."""

from __future__ import annotations

import ipaddress
import string
from typing import TYPE_CHECKING, Any, SupportsIndex, TypedDict, overload
from urllib.parse import SplitResult, parse_qsl, quote_from_bytes, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self, Unpack

    from .._types import Scope


__all__ = ["URL", "URLComponents"]


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SECURE_SCHEMES = frozenset({"https", "wss"})

# RFC 3986 ``reg-name``: unreserved, sub-delims and ``%`` (percent-encoding is not checked).
_REG_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "-._~%!$&'()*+,;=")
# The characters that may follow ``v<hex>.`` in an RFC 3986 ``IPvFuture`` literal.
_IPVFUTURE_TAIL_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:")
_HEX_DIGITS = frozenset(string.hexdigits)
_IPV6_CHARS = frozenset(string.hexdigits + ":.")
_ASCII_DIGITS = frozenset(string.digits)
# Bytes of a raw query string that may stay as they are when it is not valid UTF-8.
_QUERY_SAFE_PUNCTUATION = string.punctuation


class URLComponents(TypedDict, total=False):
    """The keyword arguments accepted by `URL.replace`.

    ``scheme``, ``netloc``, ``path``, ``query`` and ``fragment`` replace the matching part of
    the URL. ``hostname``, ``port``, ``username`` and ``password`` rebuild the netloc from
    its pieces; passing ``None`` for ``port``, ``username`` or ``password`` removes it.
    """

    scheme: str
    netloc: str
    path: str
    query: str
    fragment: str
    hostname: str | None
    port: int | None
    username: str | None
    password: str | None


def _is_valid_ip_literal(literal: str) -> bool:
    """Whether ``literal`` (the text between ``[`` and ``]``) is an IPv6 or IPvFuture address."""
    if literal.startswith("v"):
        version, dot, tail = literal[1:].partition(".")
        return bool(
            dot
            and version
            and tail
            and _HEX_DIGITS.issuperset(version)
            and _IPVFUTURE_TAIL_CHARS.issuperset(tail)
        )
    if ":" not in literal or not _IPV6_CHARS.issuperset(literal):
        return False
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


def _authority_from_host_header(value: str) -> str | None:
    """Return ``value`` if it is a well-formed ``Host`` header, ``None`` if it is not.

    A well-formed value is ``host`` or ``host:port``, where host is an RFC 3986 reg-name or a
    bracketed IPv6/IPvFuture literal and port is at most 65535. Anything else (a path, a
    ``@``, spaces, an empty port) is rejected so that a client cannot make the URL say
    something other than where the request went.
    """
    if value.startswith("["):
        close = value.find("]")
        if close == -1 or not _is_valid_ip_literal(value[1:close]):
            return None
        rest = value[close + 1 :]
    else:
        host, colon, port = value.partition(":")
        if not host or not _REG_NAME_CHARS.issuperset(host):
            return None
        rest = colon + port
    if rest:
        port = rest[1:]
        if (
            rest[0] != ":"
            or not port
            or not _ASCII_DIGITS.issuperset(port)
            or len(port.lstrip("0")) > 5
            or int(port) > 65535
        ):
            return None
    return value


def _decode_query_string(query_string: bytes) -> str:
    """Decode a raw ASGI ``query_string`` for use in a URL.

    Valid UTF-8 is decoded as such (as Starlette does). Bytes that are not valid UTF-8 are
    percent-encoded instead of raising, which describes the same URL.
    """
    try:
        return query_string.decode("utf-8")
    except UnicodeDecodeError:
        return quote_from_bytes(query_string, safe=_QUERY_SAFE_PUNCTUATION)


def _url_of_scope(scope: Scope) -> str:
    """The text of `URL.from_scope`'s URL (its docstring has the rules)."""
    default_scheme = "ws" if scope.get("type") == "websocket" else "http"
    scheme: str = scope.get("scheme") or default_scheme
    path: str = scope["path"]
    path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query = _decode_query_string(scope.get("query_string", b""))

    netloc: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            netloc = _authority_from_host_header(value.decode("latin-1"))
            break
    if netloc is None:
        server = scope.get("server")
        if server is not None:
            host, port = server
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            if port is None or port == _DEFAULT_PORTS.get(scheme):
                netloc = host
            else:
                netloc = f"{host}:{port}"

    if netloc is not None:
        return urlunsplit((scheme, netloc, path, query, ""))
    if path.startswith("//"):
        # Without an authority, "//x" would be read back as the host "x".
        path = "/%2F" + path[2:]
    return f"{path}?{query}" if query else path


class URL(str):
    """An absolute or relative URL: a `str` with its components as properties.

    A ``URL`` *is* the string it spells, so it compares equal to that string, hashes like it,
    can be passed anywhere a ``str`` is expected and serialises to JSON as a string. It is
    immutable: `replace` returns a new ``URL``.

    Example:

        url = URL("wss://example.org:8443/chat?room=1")
        url.scheme, url.hostname, url.port, url.path, url.query
        # ('wss', 'example.org', 8443, '/chat', 'room=1')
        url.replace(path="/lobby", query="")  # URL('wss://example.org:8443/lobby')

    Properties that take the URL apart use `urllib.parse.urlsplit`; `port`
    raises `ValueError` if the port is not a number in 0-65535, as ``urlsplit`` does.

    Build one as with Starlette: ``URL("ws://host/path")``, ``URL(scope=scope)`` (the URL an
    ASGI connection was made to, see `from_scope`) or ``URL(scheme="ws", netloc="host",
    path="/")`` (the components of `replace`).

    **Differences from Starlette** (docs/starlette-differences.md): Starlette's ``URL`` is
    not a ``str`` subclass (it compares equal to strings through ``__eq__``);
    ``URL.replace`` with positional arguments is `str.replace` and returns a plain ``str``;
    bad arguments raise `TypeError` instead of failing an ``assert``.
    """

    __slots__ = ()

    def __new__(
        cls, url: str = "", scope: Scope | None = None, **components: Unpack[URLComponents]
    ) -> Self:
        """Wrap the string ``url`` (nothing is validated or normalised), or build the URL of
        an ASGI ``scope``, or one from ``components``.

        Raises:
          TypeError: ``url`` is not a ``str``, or more than one of ``url``, ``scope`` and
            ``components`` is given.
          KeyError: ``scope`` has no ``"path"``.
          ValueError: an unknown component name.
        """
        if not isinstance(url, str):
            raise TypeError(f"URL() takes a str, not {type(url).__name__}")
        given = [
            name
            for name, present in (
                ("url", url != ""),
                ("scope", scope is not None),
                ("components", bool(components)),
            )
            if present
        ]
        if len(given) > 1:
            raise TypeError(f"URL() takes one of url, scope or components, not {given}")
        if scope is not None:
            url = _url_of_scope(scope)
        elif components:
            url = URL("").replace(**components)
        return super().__new__(cls, url)

    @classmethod
    def from_scope(cls, scope: Scope) -> Self:
        """The same as ``URL(scope=scope)``: the URL an ASGI ``websocket`` (or ``http``)
        connection was made to.

        The result matches ``starlette.datastructures.URL(scope=scope)``:

        - the scheme is ``scope["scheme"]``;
        - the authority is the ``Host`` header when it is well formed (verbatim, port
          included even if it is the default one), otherwise ``scope["server"]`` with the
          port left out when it is the scheme's default (80 for ``http``/``ws``, 443 for
          ``https``/``wss``) and IPv6 addresses put in brackets;
        - the path is ``scope["path"]`` with ``?``, ``#`` and ``\\`` percent-encoded so they
          cannot change the URL's structure. ``scope["root_path"]`` is *not* prepended: the
          ASGI specification says ``path`` already includes it (Starlette 1.x reads it the
          same way);
        - the query is ``scope["query_string"]`` decoded as UTF-8; there is never a fragment.

        With neither a usable ``Host`` header nor ``server``, the URL is relative:
        ``path?query``.

        **Differences from Starlette:** a scope without ``"scheme"`` defaults to ``ws`` for a
        ``websocket`` scope (the ASGI default; Starlette uses ``http``); a ``server`` whose
        port is ``None`` (a Unix socket) contributes only its host; a query string that is
        not valid UTF-8 is percent-encoded instead of raising `UnicodeDecodeError`.

        Raises:
          KeyError: the scope has no ``"path"``.
        """
        return cls(scope=scope)

    # -- components ---------------------------------------------------------------------------

    @property
    def components(self) -> SplitResult:
        """The URL split into its five parts by `urllib.parse.urlsplit`."""
        return urlsplit(self)

    @property
    def scheme(self) -> str:
        """The scheme, e.g. ``"wss"``; ``""`` for a relative URL."""
        return self.components.scheme

    @property
    def netloc(self) -> str:
        """The authority as written: ``user:password@host:port``; ``""`` if absent."""
        return self.components.netloc

    @property
    def path(self) -> str:
        """The path, still percent-encoded where the URL is."""
        return self.components.path

    @property
    def query(self) -> str:
        """The query string without the ``?``; ``""`` if absent."""
        return self.components.query

    @property
    def fragment(self) -> str:
        """The fragment without the ``#``; ``""`` if absent."""
        return self.components.fragment

    @property
    def username(self) -> str | None:
        """The user name of the netloc, or ``None``."""
        return self.components.username

    @property
    def password(self) -> str | None:
        """The password of the netloc, or ``None``."""
        return self.components.password

    @property
    def hostname(self) -> str | None:
        """The host, lower-cased and without brackets for IPv6; ``None`` if absent."""
        return self.components.hostname

    @property
    def port(self) -> int | None:
        """The explicit port as an ``int``, or ``None`` when the URL gives none."""
        return self.components.port

    @property
    def is_secure(self) -> bool:
        """Whether the scheme is ``https`` or ``wss``."""
        return self.scheme in _SECURE_SCHEMES

    # -- derived URLs -------------------------------------------------------------------------

    @overload
    def replace(self, old: str, new: str, count: SupportsIndex = -1, /) -> str: ...

    @overload
    def replace(self, **components: Unpack[URLComponents]) -> URL: ...

    def replace(self, *args: Any, **components: Any) -> str:
        """Return a new ``URL`` with some components replaced.

        Keyword arguments are those of `URLComponents`. Passing any of ``hostname``,
        ``port``, ``username`` or ``password`` rebuilds the netloc from the four of them,
        keeping the current value of those not given (an IPv6 ``hostname`` gets its
        brackets). Unknown keywords raise `ValueError`.

        With positional arguments this is `str.replace`, so that a ``URL`` still
        behaves as the string it is.
        """
        if args:
            return str(self).replace(*args, **components)
        netloc_keys = ("hostname", "port", "username", "password")
        if any(key in components for key in netloc_keys):
            components["netloc"] = self._rebuild_netloc(
                components.pop("hostname", None),
                components.pop("port", self.port),
                components.pop("username", self.username),
                components.pop("password", self.password),
            )
        unknown = sorted(set(components) - set(self.components._fields))
        if unknown:  # checked here: namedtuple raises ValueError or TypeError by version
            raise ValueError(f"unexpected field names: {unknown!r}")
        return type(self)(self.components._replace(**components).geturl())

    def _rebuild_netloc(
        self, hostname: str | None, port: int | None, username: str | None, password: str | None
    ) -> str:
        if hostname is None:
            hostname = self.netloc.rpartition("@")[2]
            if hostname and not hostname.endswith("]"):
                hostname = hostname.rsplit(":", 1)[0]
        elif ":" in hostname and not hostname.startswith("["):
            try:
                ipaddress.IPv6Address(hostname)
            except ValueError:
                pass
            else:
                hostname = f"[{hostname}]"
        netloc = hostname if port is None else f"{hostname}:{port}"
        if username is not None:
            userinfo = username if password is None else f"{username}:{password}"
            netloc = f"{userinfo}@{netloc}"
        return netloc

    def include_query_params(self, **params: Any) -> URL:
        """Return a copy with ``params`` set in the query, replacing any values they had."""
        items = [
            (k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in params
        ]
        items.extend((str(k), str(v)) for k, v in params.items())
        return self.replace(query=urlencode(items))

    def replace_query_params(self, **params: Any) -> URL:
        """Return a copy whose query is exactly ``params``."""
        return self.replace(query=urlencode([(str(k), str(v)) for k, v in params.items()]))

    def remove_query_params(self, keys: str | Iterable[str]) -> URL:
        """Return a copy without the query parameters named in ``keys`` (a name or names)."""
        removed = {keys} if isinstance(keys, str) else set(keys)
        items = [
            (k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in removed
        ]
        return self.replace(query=urlencode(items))

    def __repr__(self) -> str:
        """``URL('...')``, with any password shown as ``********``."""
        shown = self.replace(password="********") if self.password else self
        return f"{type(self).__name__}({str(shown)!r})"
