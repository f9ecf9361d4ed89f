"""The engine's command-line flags parse to the settings serve() takes."""

from __future__ import annotations

from trio_ws.__main__ import _parser


def test_engine_flags_default_to_the_engine_with_compression_and_a_pong_timeout() -> None:
    args = _parser().parse_args(["app:app"])
    assert (args.websocket_engine, args.compression, args.ping_timeout) == (
        "trio_ws",
        "deflate",
        20.0,
    )


def test_engine_flags_select_hypercorn_turn_compression_and_the_pong_timeout_off() -> None:
    args = _parser().parse_args(
        ["app:app", "--websocket-engine", "hypercorn", "--compression", "off", "--ping-timeout",
         "off"]
    )  # fmt: skip
    assert (args.websocket_engine, args.compression, args.ping_timeout) == (
        "hypercorn",
        "off",
        None,
    )
