"""``parse_cookies``: the ``Cookie`` request header as a dict, as browsers send it."""

from __future__ import annotations

import re

__all__ = ["parse_cookies"]


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

    Example:

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
