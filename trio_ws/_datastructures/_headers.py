"""``Headers``: an immutable, case-insensitive multi-dict of request headers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs

if TYPE_CHECKING:
    from .._types import Scope

_T = TypeVar("_T")

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

    Build one with ``Headers({"name": "value"})``, `from_raw` or `from_scope`.

    **Differences from Starlette:** Starlette's ``Headers(raw=...)`` and
    ``Headers(scope=...)`` keyword arguments are the named constructors `from_raw`
    and `from_scope`; there is no ``mutablecopy()``; ``Headers`` are hashable; bad
    input raises `TypeError` or `ValueError`.
    """

    _raw: tuple[tuple[bytes, bytes], ...]

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        """Headers from a mapping of ``str`` names to ``str`` values.

        Names are lower-cased. Repeated names can only come from a mapping whose ``items()``
        repeats them (such as another `Headers`); otherwise use `from_raw`.

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
