"""The engine's command-line flags parse to the settings serve() takes."""

from __future__ import annotations

import pytest

from trio_ws.__main__ import _parser


def test_engine_flags_default_to_compression_and_a_pong_timeout() -> None:
    args = _parser().parse_args(["app:app"])
    assert (args.compression, args.ping_timeout) == ("deflate", 20.0)


def test_engine_flags_turn_compression_and_the_pong_timeout_off() -> None:
    args = _parser().parse_args(["app:app", "--compression", "off", "--ping-timeout", "off"])
    assert (args.compression, args.ping_timeout) == ("off", None)


def test_the_retired_engine_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["app:app", "--websocket-engine", "hypercorn"])
    assert "--websocket-engine" in capsys.readouterr().err
