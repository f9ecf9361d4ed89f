"""``Address`` (a peer's host and port) and ``State`` (an attribute bag over a dict)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterator


__all__ = ["Address", "State"]


class Address(NamedTuple):
    """A network endpoint: the ``client`` or ``server`` entry of an ASGI scope."""

    #: The host: an IP address, or whatever name the server reported.
    host: str
    #: The TCP port.
    port: int


class State:
    """A bag of attributes for application data: ``state.user = user``, then ``state.user``.

    Reading an attribute that was never set raises `AttributeError` naming it. Item
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


# An RFC 2109 quoted-string escape: three octal digits, or a backslash before any character.
