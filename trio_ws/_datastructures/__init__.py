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
