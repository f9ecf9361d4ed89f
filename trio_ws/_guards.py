"""Handshake guards: decide, before the handler runs, whether a connection may be accepted.

Three checks, run in this order by `trio_ws.WebSocketApp` (and the endpoint class):

1. ``allowed_origins``: the ``Origin`` header against exact origins and compiled regular
   expressions. A browser always sends ``Origin`` on a WebSocket handshake and a page cannot
   forge it, so this is the defence against cross-site WebSocket hijacking (another site's
   page opening a socket with the victim's cookies).
2. ``subprotocols``: the server's list in preference order; the first one the client offered
   is chosen.
3. ``authenticate``: the application's own async check, given the connection before accept.

A refused handshake gets an HTTP response (403 unless ``authenticate`` returned another one).
Nothing here performs I/O except the ``authenticate`` callable; the refusal is sent by
`trio_ws._app`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, TypeAlias

import attrs

from ._refusal import note_refusal
from ._responses import PlainTextResponse

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from ._types import ASGIApp, Scope
    from ._websocket import WebSocket

__all__ = ["Authenticate", "Guards", "OriginRule"]

#: One entry of ``allowed_origins``: an exact origin (``"https://example.com"``), a compiled
#: regular expression that must match the whole header, or ``None`` to allow a handshake that
#: has no ``Origin`` header (non-browser clients usually send none).
OriginRule: TypeAlias = "str | re.Pattern[str] | None"

#: ``async def authenticate(ws) -> Response | None``: ``None`` lets the connection in; an ASGI
#: response (``trio_ws.Response``, a Starlette response) refuses it with that response.
Authenticate: TypeAlias = "Callable[[WebSocket], Awaitable[ASGIApp | None]]"

_ORIGIN_SHAPE: Final = re.compile(r"[a-z][a-z0-9+.\-]*://[^/?#\s]+")


def _origin_rules(value: Iterable[OriginRule] | None) -> tuple[OriginRule, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes, re.Pattern)):
        raise TypeError("allowed_origins must be a list of origins, not a single origin")
    rules: list[OriginRule] = []
    for rule in value:
        if rule is None or isinstance(rule, re.Pattern):
            rules.append(rule)
        elif isinstance(rule, str):
            normalised = rule.lower()
            if not _ORIGIN_SHAPE.fullmatch(normalised):
                raise ValueError(
                    f"allowed origin {rule!r} is not an origin: use scheme://host[:port], "
                    "with no path or trailing slash"
                )
            rules.append(normalised)
        else:
            raise TypeError(
                "allowed_origins entries must be str, re.Pattern or None, not "
                f"{type(rule).__name__}"
            )
    return tuple(rules)


def _subprotocol_list(value: Iterable[str | None] | None) -> tuple[str | None, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise TypeError("subprotocols must be a list of names, not a single name")
    names = tuple(value)
    for name in names:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"subprotocols entries must be non-empty str or None, not {name!r}")
    if not any(name is not None for name in names):
        raise ValueError("subprotocols must name at least one subprotocol")
    return names


def _authenticate(value: object) -> Authenticate | None:
    if value is not None and not callable(value):
        raise TypeError(f"authenticate must be an async callable, not {type(value).__name__}")
    return value


def _header_values(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", ()) if key.lower() == name]


def _refusal(reason: str) -> PlainTextResponse:
    return PlainTextResponse(reason + "\n", status_code=403)


#: What `Guards.choose_subprotocol` returns when the client offered none of ours and the
#: list does not allow that.
NO_SUBPROTOCOL: Final = object()


@attrs.frozen
class Guards:
    """The handshake guards of one application, validated when it is made.

    Raises (when made):
      TypeError, ValueError: an option of the wrong type or shape (for example an origin with
        a path, or a single string where a list is expected).
    """

    allowed_origins: tuple[OriginRule, ...] | None = attrs.field(
        default=None, converter=_origin_rules
    )
    authenticate: Authenticate | None = attrs.field(default=None, converter=_authenticate)
    subprotocols: tuple[str | None, ...] | None = attrs.field(
        default=None, converter=_subprotocol_list
    )

    @property
    def active(self) -> bool:
        """Whether any guard is configured (otherwise `check` has nothing to do)."""
        return (
            self.allowed_origins is not None
            or self.authenticate is not None
            or self.subprotocols is not None
        )

    def subprotocol_for(self, scope: Scope) -> str | None:
        """The subprotocol to accept with by default: the first of ours the client offered,
        or ``None`` (no list, no match)."""
        if self.subprotocols is None:
            return None
        chosen = self.choose_subprotocol(scope.get("subprotocols") or ())
        return chosen if isinstance(chosen, str) else None

    def origin_refusal(self, scope: Scope) -> ASGIApp | None:
        """A 403 response if the handshake's ``Origin`` is not allowed, else ``None``.

        Two ``Origin`` headers are always refused; a missing one only passes when ``None``
        is in the list.
        """
        problem = self.origin_problem(scope)
        return None if problem is None else _refusal(problem)

    def origin_problem(self, scope: Scope) -> str | None:
        """Why the handshake's ``Origin`` is not allowed (the 403's text), or ``None``."""
        rules = self.allowed_origins
        if rules is None:
            return None
        values = _header_values(scope, b"origin")
        if len(values) > 1:
            return "Origin not allowed: more than one Origin header"
        if not values:
            return None if None in rules else "Origin header required"
        origin = values[0].decode("latin-1")
        lowered = origin.lower()
        for rule in rules:
            if isinstance(rule, str):
                if rule == lowered:
                    return None
            elif rule is not None and rule.fullmatch(origin):
                return None
        return "Origin not allowed"

    def choose_subprotocol(self, offered: Iterable[str]) -> str | object | None:
        """The first of our subprotocols that the client offered.

        Returns ``None`` when none matches and ``None`` is in our list (accept without one),
        and `NO_SUBPROTOCOL` when none matches and the handshake must be refused.
        """
        ours = self.subprotocols
        if ours is None:
            return None
        offered_set = set(offered)
        for name in ours:
            if name is not None and name in offered_set:
                return name
        return None if None in ours else NO_SUBPROTOCOL

    async def check(
        self, ws: WebSocket, *, authenticate: Authenticate | None = None
    ) -> ASGIApp | None:
        """Run the guards in order; return the response that refuses the handshake, or None.

        ``authenticate``, when given, is used instead of `authenticate`.

        Raises:
          TypeError: ``authenticate`` returned something that is neither ``None`` nor an
            ASGI response callable.
          Exception: whatever ``authenticate`` raised (the server then answers 500).

        Cancellation:
          Only ``authenticate`` waits; cancelling it cancels the check.
        """
        scope = ws.scope
        problem = self.origin_problem(scope)
        if problem is not None:
            origins = b", ".join(_header_values(scope, b"origin")).decode("latin-1")
            note_refusal(scope, "origin", f"{problem} (Origin: {origins or 'none'})")
            return _refusal(problem)
        offered = scope.get("subprotocols") or ()
        if self.choose_subprotocol(offered) is NO_SUBPROTOCOL:
            wanted = ", ".join(name for name in self.subprotocols or () if name is not None)
            problem = f"no supported subprotocol offered (this endpoint speaks: {wanted})"
            offers = ", ".join(offered) or "none"
            note_refusal(scope, "subprotocol", f"{problem}; offered: {offers}")
            return _refusal(problem)
        if authenticate is None:
            authenticate = self.authenticate
        if authenticate is not None:
            response = await authenticate(ws)
            if response is not None and not callable(response):
                raise TypeError(
                    "authenticate must return None or an ASGI response such as "
                    f"trio_ws.Response, not {type(response).__name__}"
                )
            if response is not None:
                status = getattr(response, "status_code", None)
                note_refusal(scope, "authenticate", f"authenticate refused (status {status})")
            return response
        return None
