"""permessage-deflate settings for the engine, as websockets exposes them.

Memory is the reason to tune them: each compressed connection keeps a zlib compressor and a
decompressor for its whole life (context takeover). The compressor's size follows
``server_max_window_bits`` and zlib's memory level, the decompressor's the client's window
(``client_max_window_bits``, when the client supports the parameter; browsers do). The
defaults are websockets' own (windows of 2^12 bytes, memory level 5); ``docs/operations.md``
gives the measured memory per connection for several settings (``bench/compression_memory.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

if TYPE_CHECKING:
    from collections.abc import Mapping

    from websockets.extensions import ServerExtensionFactory

__all__ = ["COMPRESSION_DEFAULTS", "deflate_factories"]

#: websockets' defaults (``enable_server_permessage_deflate``), which trio_ws keeps.
COMPRESSION_DEFAULTS: Final = {
    "server_max_window_bits": 12,
    "client_max_window_bits": 12,
    "compression_level": None,
    "compression_memory_level": 5,
}


def _int_in(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int from {low} to {high}, not {value!r}")
    return value


def deflate_factories(settings: Mapping[str, object]) -> list[ServerExtensionFactory]:
    """websockets' extension factories for the compression keys of ``settings``.

    Keys (each optional, defaults in `COMPRESSION_DEFAULTS`): ``server_max_window_bits``
    (9-15), ``client_max_window_bits`` (8-15), ``compression_level`` (zlib's, -1-9, ``None``:
    zlib's default 6), ``compression_memory_level`` (zlib's ``memLevel``, 1-9).

    Raises:
      ValueError: a value out of its range.
    """
    merged = {
        **COMPRESSION_DEFAULTS,
        **{k: v for k, v in settings.items() if k in COMPRESSION_DEFAULTS},
    }
    server_bits = _int_in("server_max_window_bits", merged["server_max_window_bits"], 9, 15)
    client_bits = _int_in("client_max_window_bits", merged["client_max_window_bits"], 8, 15)
    compress: dict[str, int] = {
        "memLevel": _int_in("compression_memory_level", merged["compression_memory_level"], 1, 9)
    }
    level = merged["compression_level"]
    if level is not None:
        compress["level"] = _int_in("compression_level", level, -1, 9)
    return [
        ServerPerMessageDeflateFactory(
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
            compress_settings=compress,
        )
    ]
