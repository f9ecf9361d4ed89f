"""``Headers``: an immutable, case-insensitive multi-dict of request headers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .._types import Scope

__all__ = ["Headers"]


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


def _raw_pairs(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
    """``raw`` as a tuple of ``(name, value)`` byte pairs with lower-case names."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
        raise TypeError(f"Headers(raw=...) takes (bytes, bytes) pairs, not {type(raw).__name__}")
    pairs: list[tuple[bytes, bytes]] = []
    for pair in raw:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError(f"header {pair!r} is not a (name, value) pair") from None
        if type(name) is not bytes or type(value) is not bytes:
            raise TypeError(f"header {pair!r} is not a pair of bytes")
        pairs.append((name.lower(), value))
    return tuple(pairs)


@attrs.frozen(init=False, eq=False, repr=False)
class Headers(Mapping[str, str]):
    """Immutable, case-insensitive HTTP headers that may repeat.

    Stored as the ASGI list of ``(name, value)`` byte pairs; names are lower-case and text is
    latin-1, as ASGI specifies. Looking up a name ignores its case.

    - ``headers[name]`` is the *first* value (``KeyError`` if there is none);
      `getlist` gives them all;
    - `keys`, `values`, `items`, iteration and ``len()`` see every pair,
      repeats included, in order (Starlette's behaviour, unlike a ``dict``);
    - two ``Headers`` are equal when they hold the same pairs in any order.

    Build one as with Starlette: ``Headers({"name": "value"})``, ``Headers(raw=pairs)`` or
    ``Headers(scope=scope)``.

    **Differences from Starlette** (docs/starlette-differences.md): read-only, so there is no
    ``mutablecopy()`` (build new headers with ``Headers(raw=[*headers.raw, pair])``); the
    pairs are copied, never shared with the list or scope they came from; names given as
    ``raw`` are lower-cased; ``Headers`` are hashable; bad input raises `TypeError` or
    `ValueError` instead of failing an ``assert``.
    """

    _raw: tuple[tuple[bytes, bytes], ...]

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        raw: Iterable[tuple[bytes, bytes]] | None = None,
        scope: Scope | None = None,
    ) -> None:
        """Headers from one of: a mapping of ``str`` to ``str``, ``(bytes, bytes)`` pairs as
        ASGI has them (``raw``), or an ASGI scope's ``headers`` (none if it has no such key).

        Names are lower-cased. Repeated names come from ``raw``, a scope, or a mapping whose
        ``items()`` repeats them (such as another `Headers`).

        Raises:
          TypeError: more than one source is given; ``headers`` is not a mapping of ``str`` to
            ``str``; ``raw`` (or ``scope["headers"]``) is not an iterable of pairs of bytes.
          ValueError: a name or value is not latin-1, or contains CR, LF or NUL.
        """
        sources = {"headers": headers, "raw": raw, "scope": scope}
        given = [name for name, value in sources.items() if value is not None]
        if len(given) > 1:
            raise TypeError(f"Headers() takes one of headers, raw or scope, not {given}")
        if scope is not None:
            raw = scope.get("headers", ())
        if raw is not None:
            pairs = _raw_pairs(raw)
        elif headers is None:
            pairs = ()
        elif not isinstance(headers, Mapping):
            raise TypeError(
                f"Headers() takes a mapping of str to str, not {type(headers).__name__}; "
                "use Headers(raw=...) for a list of (bytes, bytes) pairs"
            )
        else:
            pairs = tuple(
                (_encode_header_text("name", name).lower(), _encode_header_text("value", value))
                for name, value in headers.items()
            )
        self.__attrs_init__(pairs)

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """The same as ``Headers(raw=raw)``."""
        return cls(raw=raw)

    @classmethod
    def from_scope(cls, scope: Scope) -> Headers:
        """The same as ``Headers(scope=scope)``."""
        return cls(scope=scope)

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

    def __getitem__(self, key: str) -> str:
        """The first value of the header ``key`` (any case). ``get`` and ``in`` use this.

        Raises:
          KeyError: there is no such header.
        """
        wanted = _header_key(key)
        for name, value in self._raw:
            if name == wanted:
                return value.decode("latin-1")
        raise KeyError(key)

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
        """``Headers({...})``, or ``Headers(raw=[...])`` when a name repeats."""
        as_dict = dict(self.items())
        if len(as_dict) == len(self._raw):
            return f"{type(self).__name__}({as_dict!r})"
        return f"{type(self).__name__}(raw={list(self._raw)!r})"
