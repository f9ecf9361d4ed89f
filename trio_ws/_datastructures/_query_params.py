"""``QueryParams``: the query string as an immutable multi-dict."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs

__all__ = ["QueryParams"]


def _query_pairs(query: object) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of anything `QueryParams` accepts."""
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
      `getlist` gives all of them and `multi_items` every pair in order;
    - `keys`, `values`, `items`, iteration and ``len()`` see each key once
      (with its last value);
    - ``str(params)`` re-encodes the pairs as a query string.

    Two ``QueryParams`` are equal when they hold the same pairs, where only the order of
    the values *within* one key matters.

    **Differences from Starlette:** raw ``bytes`` that are valid UTF-8 are decoded as UTF-8
    (Starlette decodes bytes as latin-1, turning a raw ``é`` into ``Ã©``); other bytes are
    read as latin-1. ``QueryParams`` are hashable.
    """

    _list: tuple[tuple[str, str], ...]
    _dict: dict[str, str]

    def __init__(
        self,
        query: str | bytes | Mapping[str, Any] | Iterable[tuple[str, Any]] = "",
        **params: Any,
    ) -> None:
        """Parse a query string, or take the pairs of a mapping or an iterable of pairs;
        keyword arguments add pairs after those (as in Starlette).

        A query string is ``str`` or ``bytes``, without the leading ``?``. Keys and values
        given as a mapping, pairs or keywords are converted with ``str()``, as Starlette does.

        Raises:
          TypeError: ``query`` is none of the accepted types, or an item is not a pair.
        """
        pairs = _query_pairs(query)
        pairs.extend((key, str(value)) for key, value in params.items())
        self.__attrs_init__(tuple(pairs), dict(pairs))

    def getlist(self, key: str) -> list[str]:
        """All values of ``key``, in order; ``[]`` if there are none."""
        return [value for k, value in self._list if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, repeats included, in order."""
        return list(self._list)

    def __getitem__(self, key: str) -> str:
        """The last value of ``key``. ``get`` and ``in`` use this.

        Raises:
          KeyError: ``key`` is absent.
        """
        return self._dict[key]

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
