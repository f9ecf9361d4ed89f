"""Small immutable value types describing a connection: URL, headers, query, client address.

They follow the behaviour of Starlette's classes of the same names, so that code written
against ``starlette.websockets.WebSocket`` (``websocket.url.path``,
``websocket.headers["host"]``, ``websocket.query_params.getlist("tag")``, ...) keeps working.
Starlette is not imported: everything here is written for trio_ws, on the standard library
and attrs only.

Where the behaviour deliberately differs from Starlette 1.10, the docstring of the name
concerned says so under **Differences from Starlette**.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, SupportsIndex, TypedDict, TypeVar, overload
from urllib.parse import SplitResult, parse_qsl, quote_from_bytes, urlencode, urlsplit, urlunsplit

import attrs

if TYPE_CHECKING:
    from typing import Self, Unpack

    from ._types import Scope

_T = TypeVar("_T")

__all__ = [
    "URL",
    "Address",
    "Headers",
    "QueryParams",
    "State",
    "URLComponents",
    "parse_cookies",
]


# --------------------------------------------------------------------------------------------
# Address
# --------------------------------------------------------------------------------------------


class Address(NamedTuple):
    """A network endpoint: the ``client`` or ``server`` entry of an ASGI scope."""

    #: The host: an IP address, or whatever name the server reported.
    host: str
    #: The TCP port.
    port: int


# --------------------------------------------------------------------------------------------
# URL
# --------------------------------------------------------------------------------------------

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
    """The keyword arguments accepted by :meth:`URL.replace`.

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


class URL(str):
    """An absolute or relative URL: a :class:`str` with its components as properties.

    A ``URL`` *is* the string it spells, so it compares equal to that string, hashes like it,
    can be passed anywhere a ``str`` is expected and serialises to JSON as a string. It is
    immutable: :meth:`replace` returns a new ``URL``.

    Example::

        url = URL("wss://example.org:8443/chat?room=1")
        url.scheme, url.hostname, url.port, url.path, url.query
        # ('wss', 'example.org', 8443, '/chat', 'room=1')
        url.replace(path="/lobby", query="")  # URL('wss://example.org:8443/lobby')

    Properties that take the URL apart use :func:`urllib.parse.urlsplit`; :attr:`port`
    raises :exc:`ValueError` if the port is not a number in 0-65535, as ``urlsplit`` does.

    **Differences from Starlette:** Starlette's ``URL`` is not a ``str`` subclass (it compares
    equal to strings through ``__eq__``), and builds itself from a scope with
    ``URL(scope=scope)``; here that is :meth:`URL.from_scope`. ``URL.replace`` with positional
    arguments is :meth:`str.replace` and returns a plain ``str``.
    """

    __slots__ = ()

    def __new__(cls, url: str = "") -> Self:
        """Wrap the string ``url``; nothing is validated or normalised."""
        if not isinstance(url, str):
            raise TypeError(f"URL() takes a str, not {type(url).__name__}")
        return super().__new__(cls, url)

    @classmethod
    def from_scope(cls, scope: Scope) -> Self:
        """Build the URL that an ASGI ``websocket`` (or ``http``) connection was made to.

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
        not valid UTF-8 is percent-encoded instead of raising :exc:`UnicodeDecodeError`.

        Raises:
          KeyError: the scope has no ``"path"``.
        """
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
            return cls(urlunsplit((scheme, netloc, path, query, "")))
        if path.startswith("//"):
            # Without an authority, "//x" would be read back as the host "x".
            path = "/%2F" + path[2:]
        return cls(f"{path}?{query}" if query else path)

    # -- components ---------------------------------------------------------------------------

    @property
    def components(self) -> SplitResult:
        """The URL split into its five parts by :func:`urllib.parse.urlsplit`."""
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

        Keyword arguments are those of :class:`URLComponents`. Passing any of ``hostname``,
        ``port``, ``username`` or ``password`` rebuilds the netloc from the four of them,
        keeping the current value of those not given (an IPv6 ``hostname`` gets its
        brackets). Unknown keywords raise :exc:`ValueError`.

        With positional arguments this is :meth:`str.replace`, so that a ``URL`` still
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


# --------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------


def _header_key(key: object) -> bytes | None:
    """The lookup form of a header name, or ``None`` if ``key`` cannot name a header."""
    if not isinstance(key, str):
        return None
    try:
        return key.lower().encode("latin-1")
    except UnicodeEncodeError:
        return None


def _encode_header_text(what: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"header {what}s must be str, not {type(text).__name__}: {text!r}")
    try:
        encoded = text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"header {what} {text!r} is not latin-1; encode it (e.g. RFC 8187) first"
        ) from None
    if b"\r" in encoded or b"\n" in encoded or b"\0" in encoded:
        raise ValueError(f"header {what} {text!r} contains CR, LF or NUL")
    return encoded


@attrs.frozen(init=False, eq=False, repr=False)
class Headers(Mapping[str, str]):
    """Immutable, case-insensitive HTTP headers that may repeat.

    Stored as the ASGI list of ``(name, value)`` byte pairs; names are lower-case and text is
    latin-1, as ASGI specifies. Looking up a name ignores its case.

    - ``headers[name]`` is the *first* value (``KeyError`` if there is none);
      :meth:`getlist` gives them all;
    - :meth:`keys`, :meth:`values`, :meth:`items`, iteration and ``len()`` see every pair,
      repeats included, in order (Starlette's behaviour, unlike a ``dict``);
    - two ``Headers`` are equal when they hold the same pairs in any order.

    Build one with ``Headers({"name": "value"})``, :meth:`from_raw` or :meth:`from_scope`.

    **Differences from Starlette:** Starlette's ``Headers(raw=...)`` and
    ``Headers(scope=...)`` keyword arguments are the named constructors :meth:`from_raw`
    and :meth:`from_scope`; there is no ``mutablecopy()``; ``Headers`` are hashable; bad
    input raises :exc:`TypeError` or :exc:`ValueError`.
    """

    _raw: tuple[tuple[bytes, bytes], ...]

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        """Headers from a mapping of ``str`` names to ``str`` values.

        Names are lower-cased. Repeated names can only come from a mapping whose ``items()``
        repeats them (such as another :class:`Headers`); otherwise use :meth:`from_raw`.

        Raises:
          TypeError: ``headers`` is not a mapping, or a name or value is not a ``str``.
          ValueError: a name or value is not latin-1, or contains CR, LF or NUL.
        """
        if headers is None:
            raw: tuple[tuple[bytes, bytes], ...] = ()
        elif not isinstance(headers, Mapping):
            raise TypeError(
                f"Headers() takes a mapping of str to str, not {type(headers).__name__}; "
                "use Headers.from_raw() for a list of (bytes, bytes) pairs"
            )
        else:
            raw = tuple(
                (_encode_header_text("name", name).lower(), _encode_header_text("value", value))
                for name, value in headers.items()
            )
        self.__attrs_init__(raw)

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from ASGI-style ``(name, value)`` byte pairs, e.g. ``scope["headers"]``.

        Names are lower-cased (ASGI servers already send them so). Values are kept as given.

        Raises:
          TypeError: ``raw`` is not an iterable of pairs of ``bytes``.
        """
        if isinstance(raw, (str, bytes, Mapping)):
            raise TypeError(
                f"Headers.from_raw() takes an iterable of (bytes, bytes) pairs, "
                f"not {type(raw).__name__}"
            )
        pairs: list[tuple[bytes, bytes]] = []
        for pair in raw:
            try:
                name, value = pair
            except (TypeError, ValueError):
                raise TypeError(f"header {pair!r} is not a (name, value) pair") from None
            if type(name) is not bytes or type(value) is not bytes:
                raise TypeError(f"header {pair!r} is not a pair of bytes")
            pairs.append((name.lower(), value))
        headers = cls.__new__(cls)
        headers.__attrs_init__(tuple(pairs))
        return headers

    @classmethod
    def from_scope(cls, scope: Scope) -> Headers:
        """The request headers of an ASGI scope (``scope["headers"]``; none if it is missing).

        Raises:
          TypeError: ``scope["headers"]`` is not an iterable of pairs of ``bytes``.
        """
        return cls.from_raw(scope.get("headers", ()))

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """A new list of the ``(name, value)`` byte pairs, in order."""
        return list(self._raw)

    # Starlette returns lists here, with repeated names, rather than Mapping's views.
    def keys(self) -> list[str]:  # type: ignore[override]
        """Every header name, repeats included, in order."""
        return [name.decode("latin-1") for name, _ in self._raw]

    def values(self) -> list[str]:  # type: ignore[override]
        """Every header value, in order."""
        return [value.decode("latin-1") for _, value in self._raw]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """Every ``(name, value)`` pair as text, repeats included, in order."""
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._raw]

    def getlist(self, key: str) -> list[str]:
        """All values of the header ``key`` (any case), in order; ``[]`` if there are none."""
        wanted = _header_key(key)
        return [value.decode("latin-1") for name, value in self._raw if name == wanted]

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...

    def get(self, key: str, /, default: Any = None) -> Any:
        """The first value of the header ``key`` (any case), or ``default``."""
        wanted = _header_key(key)
        for name, value in self._raw:
            if name == wanted:
                return value.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        """The first value of the header ``key`` (any case).

        Raises:
          KeyError: there is no such header.
        """
        wanted = _header_key(key)
        for name, value in self._raw:
            if name == wanted:
                return value.decode("latin-1")
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        """Whether a header named ``key`` (any case) is present."""
        wanted = _header_key(key)
        return any(name == wanted for name, _ in self._raw)

    def __iter__(self) -> Iterator[str]:
        """Iterate over every header name, repeats included."""
        return iter(self.keys())

    def __len__(self) -> int:
        """The number of ``(name, value)`` pairs, repeats included."""
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        """Equal to another ``Headers`` with the same pairs, in any order."""
        if not isinstance(other, Headers):
            return NotImplemented
        return sorted(self._raw) == sorted(other._raw)

    def __hash__(self) -> int:
        """Consistent with ``==``: the order of the pairs does not matter."""
        return hash(tuple(sorted(self._raw)))

    def __repr__(self) -> str:
        """``Headers({...})``, or ``Headers.from_raw([...])`` when a name repeats."""
        as_dict = dict(self.items())
        if len(as_dict) == len(self._raw):
            return f"{type(self).__name__}({as_dict!r})"
        return f"{type(self).__name__}.from_raw({list(self._raw)!r})"


# --------------------------------------------------------------------------------------------
# QueryParams
# --------------------------------------------------------------------------------------------


def _query_pairs(query: object) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of anything :class:`QueryParams` accepts."""
    if isinstance(query, bytes):
        raw = query
        try:
            query = raw.decode("utf-8")
        except UnicodeDecodeError:
            query = raw.decode("latin-1")
    if isinstance(query, str):
        return parse_qsl(query, keep_blank_values=True)
    if isinstance(query, QueryParams):
        return query.multi_items()
    if isinstance(query, Mapping):
        return [(str(k), str(v)) for k, v in query.items()]
    if not isinstance(query, Iterable):
        raise TypeError(
            "QueryParams() takes a query string (str or bytes), a mapping or an iterable "
            f"of (key, value) pairs, not {type(query).__name__}"
        )
    pairs: list[tuple[str, str]] = []
    for item in query:
        if isinstance(item, (str, bytes)) or not isinstance(item, Iterable):
            raise TypeError(f"query parameter {item!r} is not a (key, value) pair")
        pair = tuple(item)
        if len(pair) != 2:
            raise TypeError(f"query parameter {item!r} is not a (key, value) pair")
        pairs.append((str(pair[0]), str(pair[1])))
    return pairs


@attrs.frozen(init=False, eq=False, repr=False)
class QueryParams(Mapping[str, str]):
    """Immutable query-string parameters, where a key may repeat.

    ``QueryParams("a=1&b=x+y&a=2")`` decodes ``+`` and percent-escapes and keeps blank
    values (``"c="`` gives ``{"c": ""}``). As with Starlette:

    - ``params[key]`` is the *last* value of ``key`` (``KeyError`` if absent);
      :meth:`getlist` gives all of them and :meth:`multi_items` every pair in order;
    - :meth:`keys`, :meth:`values`, :meth:`items`, iteration and ``len()`` see each key once
      (with its last value);
    - ``str(params)`` re-encodes the pairs as a query string.

    Two ``QueryParams`` are equal when they hold the same pairs, where only the order of
    the values *within* one key matters.

    **Differences from Starlette:** raw ``bytes`` that are valid UTF-8 are decoded as UTF-8
    (Starlette decodes bytes as latin-1, turning a raw ``é`` into ``Ã©``); other bytes are
    read as latin-1. Keyword arguments are not accepted. ``QueryParams`` are hashable.
    """

    _list: tuple[tuple[str, str], ...]
    _dict: dict[str, str]

    def __init__(
        self, query: str | bytes | Mapping[str, Any] | Iterable[tuple[str, Any]] = ""
    ) -> None:
        """Parse a query string, or take the pairs of a mapping or an iterable of pairs.

        A query string is ``str`` or ``bytes``, without the leading ``?``. Keys and values
        given as a mapping or pairs are converted with ``str()``, as Starlette does.

        Raises:
          TypeError: ``query`` is none of the accepted types, or an item is not a pair.
        """
        pairs = _query_pairs(query)
        self.__attrs_init__(tuple(pairs), dict(pairs))

    def getlist(self, key: str) -> list[str]:
        """All values of ``key``, in order; ``[]`` if there are none."""
        return [value for k, value in self._list if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, repeats included, in order."""
        return list(self._list)

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...

    def get(self, key: str, /, default: Any = None) -> Any:
        """The last value of ``key``, or ``default``."""
        return self._dict.get(key, default)

    def __getitem__(self, key: str) -> str:
        """The last value of ``key``.

        Raises:
          KeyError: ``key`` is absent.
        """
        return self._dict[key]

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` appears at least once."""
        return key in self._dict

    def __iter__(self) -> Iterator[str]:
        """Iterate over the distinct keys, in order of first appearance."""
        return iter(self._dict)

    def __len__(self) -> int:
        """The number of distinct keys."""
        return len(self._dict)

    def _canonical(self) -> list[tuple[str, str]]:
        return sorted(self._list, key=lambda pair: pair[0])

    def __eq__(self, other: object) -> bool:
        """Equal to another ``QueryParams`` with the same pairs (see the class docstring)."""
        if not isinstance(other, QueryParams):
            return NotImplemented
        return self._canonical() == other._canonical()

    def __hash__(self) -> int:
        """Consistent with ``==``."""
        return hash(tuple(self._canonical()))

    def __str__(self) -> str:
        """The pairs re-encoded as a query string (``+`` for spaces, percent-escapes)."""
        return urlencode(self._list)

    def __repr__(self) -> str:
        """``QueryParams('a=1&b=2')``."""
        return f"{type(self).__name__}({str(self)!r})"


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


class State:
    """A bag of attributes for application data: ``state.user = user``, then ``state.user``.

    Reading an attribute that was never set raises :exc:`AttributeError` naming it. Item
    access (``state["user"]``), ``del``, ``len()`` and iteration over the names also work.
    The values live in a plain ``dict``; pass one to share it, e.g. with ``scope["state"]``.
    """

    __slots__ = ("_state",)
    _state: dict[str, Any]

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        """Wrap ``state`` (not copied, so changes show in both), or a new empty dict."""
        if state is None:
            state = {}
        elif not isinstance(state, dict):
            raise TypeError(f"State() takes a dict, not {type(state).__name__}")
        object.__setattr__(self, "_state", state)

    def __getattr__(self, name: str) -> Any:
        """The value stored under ``name``.

        Raises:
          AttributeError: nothing was stored under ``name``.
        """
        if name == "_state":  # not yet initialised (e.g. during copy or unpickling)
            raise AttributeError(name)
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r} "
                "(nothing has been stored under that name)",
                name=name,
                obj=self,
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        """Store ``value`` under ``name``."""
        self._state[name] = value

    def __delattr__(self, name: str) -> None:
        """Forget ``name``.

        Raises:
          AttributeError: nothing was stored under ``name``.
        """
        try:
            del self._state[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            ) from None

    def __getitem__(self, name: str) -> Any:
        """The value stored under ``name`` (``KeyError`` if none)."""
        return self._state[name]

    def __setitem__(self, name: str, value: Any) -> None:
        """Store ``value`` under ``name``."""
        self._state[name] = value

    def __delitem__(self, name: str) -> None:
        """Forget ``name`` (``KeyError`` if it was not stored)."""
        del self._state[name]

    def __contains__(self, name: object) -> bool:
        """Whether something is stored under ``name``."""
        return name in self._state

    def __iter__(self) -> Iterator[str]:
        """Iterate over the stored names."""
        return iter(self._state)

    def __len__(self) -> int:
        """The number of stored names."""
        return len(self._state)

    def __reduce__(self) -> tuple[type[State], tuple[dict[str, Any]]]:
        """Copy and pickle support: a copy holds its own dict with the same entries."""
        return (type(self), (dict(self._state),))

    def __repr__(self) -> str:
        """``State({...})``."""
        return f"{type(self).__name__}({self._state!r})"


# --------------------------------------------------------------------------------------------
# Cookies
# --------------------------------------------------------------------------------------------

# An RFC 2109 quoted-string escape: three octal digits, or a backslash before any character.
_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7]{2})|(.))")


def _unescape(match: re.Match[str]) -> str:
    octal, char = match.groups()
    return chr(int(octal, 8)) if octal is not None else char


def _unquote_cookie_value(value: str) -> str:
    """Strip one pair of surrounding double quotes and undo backslash escapes inside them."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE.sub(_unescape, value[1:-1])


def parse_cookies(header_value: str) -> dict[str, str]:
    """Parse a ``Cookie`` request header into a ``{name: value}`` dict, as browsers send it.

    Tolerant rather than strict (browsers do not follow RFC 6265 either), with the same
    results as Starlette's ``cookie_parser``:

    - pairs are separated by ``;``; the first ``=`` splits name from value and both are
      stripped of surrounding whitespace;
    - a pair without ``=`` is a value with an empty name; a pair that is empty is skipped;
    - a value in double quotes is unquoted (``\\"`` and ``\\ooo`` octal escapes undone);
    - when a name repeats, the later value wins.

    Example::

        parse_cookies('session=abc; theme="dark mode"; session=def')
        # {'session': 'def', 'theme': 'dark mode'}
    """
    cookies: dict[str, str] = {}
    for chunk in header_value.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            name, value = "", chunk
        name, value = name.strip(), value.strip()
        if name or value:
            cookies[name] = _unquote_cookie_value(value)
    return cookies
