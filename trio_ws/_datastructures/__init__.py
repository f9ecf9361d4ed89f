"""Small immutable value types describing a connection: URL, headers, query, client address.

What a `WebSocket` exposes of its request (``websocket.url.path``, ``websocket.headers["host"]``,
``websocket.query_params.getlist("tag")``, ...) answers as Starlette's classes of the same
names do, and the constructors take Starlette's arguments (``Headers(raw=...)``,
``URL(scope=...)``). Starlette is not imported: these are written for trio_ws on the standard
library and attrs, so that Starlette stays an optional extra. tests/test_views_match_starlette.py
compares them with Starlette's on generated scopes.

Every deliberate difference is listed in docs/starlette-differences.md ("Request views"), and
in the docstring of the name concerned under **Differences from Starlette**.
"""

from __future__ import annotations

from ._cookies import parse_cookies as parse_cookies
from ._headers import Headers as Headers
from ._query_params import QueryParams as QueryParams
from ._url import URL as URL
from ._url import URLComponents as URLComponents
from ._values import Address as Address
from ._values import State as State

__all__ = [
    "URL",
    "Address",
    "Headers",
    "QueryParams",
    "State",
    "URLComponents",
    "parse_cookies",
]
