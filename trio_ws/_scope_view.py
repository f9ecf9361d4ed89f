"""A read-only view of an ASGI connection scope: URL, headers, query and path parameters.

This is the part of Starlette's ``HTTPConnection`` that a WebSocket needs. The parsed values
are computed on first use and cached; the scope itself is never copied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._datastructures import URL, Address, Headers, QueryParams, State, parse_cookies

if TYPE_CHECKING:
    from ._types import Scope

__all__ = ["ScopeView"]


class ScopeView(Mapping[str, Any]):
    """A mapping over the ASGI scope, with parsed views of the request that opened it.

    ``view["path"]`` reads the scope directly. Two views are equal only if they are the same
    object, as in Starlette.
    """

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._url: URL | None = None
        self._base_url: URL | None = None
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None

    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    @property
    def app(self) -> Any:
        """The ASGI application that the server (or a router) recorded in the scope."""
        return self.scope["app"]

    @property
    def url(self) -> URL:
        """The full URL of the request, a ``str`` subclass with parsed components."""
        if self._url is None:
            self._url = URL(scope=self.scope)
        return self._url

    @property
    def base_url(self) -> URL:
        """The URL of the application's root: scheme and host plus the root path, no query.

        The root path is ``scope["app_root_path"]`` (set by Starlette's ``Mount``, so that
        it is the top-level application's root) or else ``scope["root_path"]``, as in
        Starlette.
        """
        if self._base_url is None:
            root_path = self.scope.get("app_root_path", self.scope.get("root_path", ""))
            path = root_path if root_path.endswith("/") else root_path + "/"
            self._base_url = URL(scope={**self.scope, "path": path, "query_string": b""})
        return self._base_url

    @property
    def headers(self) -> Headers:
        """The request headers: an immutable, case-insensitive multi-dict."""
        if self._headers is None:
            self._headers = Headers(scope=self.scope)
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        """The query string parameters: an immutable multi-dict."""
        if self._query_params is None:
            self._query_params = QueryParams(self.scope.get("query_string", b""))
        return self._query_params

    @property
    def path_params(self) -> dict[str, Any]:
        """Parameters a router extracted from the path (``scope["path_params"]``), or ``{}``."""
        params: dict[str, Any] = self.scope.get("path_params", {})
        return params

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies the client sent, from every ``Cookie`` header in order (HTTP/2 clients
        may split them over several); a later value of a name wins."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for header in self.headers.getlist("cookie"):
                cookies.update(parse_cookies(header))
            self._cookies = cookies
        return self._cookies

    @property
    def client(self) -> Address | None:
        """The client's ``(host, port)``, or ``None`` if the server did not say."""
        client = self.scope.get("client")
        return None if client is None else Address(*client)

    @property
    def state(self) -> State:
        """Per-connection state, stored in ``scope["state"]`` so middleware can share it."""
        if self._state is None:
            self._state = State(self.scope.setdefault("state", {}))
        return self._state

    @property
    def session(self) -> dict[str, Any]:
        """The session a session middleware stored in the scope.

        Raises:
          RuntimeError: no middleware set ``scope["session"]``.
        """
        if "session" not in self.scope:
            raise RuntimeError(
                "no session: install a session middleware that sets scope['session']"
            )
        session: dict[str, Any] = self.scope["session"]
        return session

    @property
    def auth(self) -> Any:
        """The credentials an authentication middleware stored in ``scope["auth"]``.

        Raises:
          RuntimeError: no middleware set ``scope["auth"]``.
        """
        if "auth" not in self.scope:
            raise RuntimeError("no auth: install an authentication middleware")
        return self.scope["auth"]

    @property
    def user(self) -> Any:
        """The user an authentication middleware stored in ``scope["user"]``.

        Raises:
          RuntimeError: no middleware set ``scope["user"]``.
        """
        if "user" not in self.scope:
            raise RuntimeError("no user: install an authentication middleware")
        return self.scope["user"]
