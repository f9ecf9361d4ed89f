"""Pins the hypercorn internals `trio_ws._serve_hypercorn` relies on (docs/hypercorn-facts.md).

If one of these fails after a hypercorn upgrade, the guards must be re-checked against the new
version before the pin in pyproject.toml (``hypercorn>=0.18,<0.19``) is widened.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import h2.settings
import hypercorn.protocol as protocol_package
import hypercorn.protocol.h2 as h2_protocol
import hypercorn.protocol.h11 as h11_protocol
import hypercorn.trio.lifespan as lifespan
import hypercorn.trio.tcp_server as tcp_server
import hypercorn.trio.worker_context as worker_context
from hypercorn.config import Config

from trio_ws import _serve_hypercorn


def test_hypercorn_version_is_the_one_tested() -> None:
    """trio_ws's serve layer was written and measured against hypercorn 0.18."""
    assert version("hypercorn").startswith("0.18."), version("hypercorn")


def test_tcp_server_shape() -> None:
    """TCPServer(app, config, context, state, stream); run() assigns self.protocol a
    ProtocolWrapper and reads in _read_data(); protocol_send shields its write."""
    parameters = list(inspect.signature(tcp_server.TCPServer.__init__).parameters)
    assert parameters == ["self", "app", "config", "context", "state", "stream"]
    for name in ("run", "_read_data", "protocol_send", "_close"):
        assert inspect.iscoroutinefunction(getattr(tcp_server.TCPServer, name)), name
    init = inspect.getsource(tcp_server.TCPServer.__init__)
    assert "self.send_lock = trio.Lock()" in init
    assert "self.stream = stream" in init
    assert "self.protocol = " not in init  # the property of ContainedTCPServer sees run()'s
    run = inspect.getsource(tcp_server.TCPServer.run)
    assert "self.protocol = ProtocolWrapper(" in run
    assert run.index("self.protocol = ProtocolWrapper(") < run.index(
        "await self.protocol.initiate()"
    )
    assert "await self._read_data()" in run
    send = inspect.getsource(tcp_server.TCPServer.protocol_send)
    assert "shield = True" in send  # the reason a stalled client needs the socket aborted
    source = inspect.getsource(tcp_server.TCPServer)
    assert "self.stream.receive_some(" in source  # so a ReplayStream can replay the first head
    assert "self.stream.transport_stream.socket" in source
    assert "self.stream.socket" in source


def test_protocol_wrapper_assigns_every_protocol_it_switches_to() -> None:
    """ProtocolWrapper sets self.protocol in __init__ and when it switches h11 -> h2, before
    the new protocol's initiate() (which sends the h2 SETTINGS)."""
    wrapper = protocol_package.ProtocolWrapper
    init = inspect.getsource(wrapper.__init__)
    assert init.count("self.protocol = H2Protocol(") == 1
    assert init.count("self.protocol = H11Protocol(") == 1
    handle = inspect.getsource(wrapper.handle)
    assert handle.count("self.protocol = H2Protocol(") == 2
    assert handle.count("await self.protocol.initiate(") == 2
    assert "__slots__" not in inspect.getsource(wrapper)


def test_h11_makes_websockets_in_create_stream_with_the_rule_we_mirror() -> None:
    """H11Protocol._create_stream makes the WSStream; trailing_data holds what followed."""
    source = inspect.getsource(h11_protocol.H11Protocol._create_stream)
    assert "self.stream = WSStream(" in source
    for part in ('== "upgrade"', '== "websocket"', '== "GET"'):
        assert part in source, part
    events = inspect.getsource(h11_protocol.H11Protocol._handle_events)
    assert "await self._create_stream(event)" in events
    assert inspect.getsource(h11_protocol).count("WSStream(") == 1
    ws_connection = inspect.getsource(h11_protocol.H11WSConnection.__init__)
    assert "h11_connection.trailing_data[0]" in ws_connection


def test_h2_makes_websockets_of_connect_and_advertises_extended_connect() -> None:
    """H2Protocol._create_stream makes a WSStream of every CONNECT; __init__ advertises
    ENABLE_CONNECT_PROTOCOL in local_settings, which initiate() sends."""
    create = inspect.getsource(h2_protocol.H2Protocol._create_stream)
    assert 'if method == "CONNECT":' in create
    assert inspect.getsource(h2_protocol).count("WSStream(") == 1
    init = inspect.getsource(h2_protocol.H2Protocol.__init__)
    assert "h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1" in init
    assert "self.connection.local_settings = " in init
    events = inspect.getsource(h2_protocol.H2Protocol._handle_events)
    assert "await self._create_stream(event)" in events
    assert "self.streams[event.stream_id].handle(" in events
    settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
    )
    del settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL]
    assert h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL not in dict(settings.items())


def test_the_guarded_classes_add_no_state() -> None:
    """The guards are swapped onto objects hypercorn made: they may only override methods."""
    for guarded in (
        _serve_hypercorn._GuardedH11Protocol,
        _serve_hypercorn._GuardedH2Protocol,
        _serve_hypercorn._GuardedProtocolWrapper,
    ):
        assert "__init__" not in vars(guarded), guarded
        assert "__slots__" not in vars(guarded), guarded


def test_lifespan_and_worker_context_constructors() -> None:
    """Lifespan(app, config, state) and WorkerContext(max_requests)."""
    assert list(inspect.signature(lifespan.Lifespan.__init__).parameters) == [
        "self",
        "app",
        "config",
        "state",
    ]
    for name in ("handle_lifespan", "wait_for_startup", "wait_for_shutdown"):
        assert hasattr(lifespan.Lifespan, name), name
    context = worker_context.WorkerContext(None)
    assert hasattr(context, "terminate")
    assert hasattr(context, "terminated")


def test_config_fields_serve_reads() -> None:
    config = Config()
    for name in (
        "h11_max_incomplete_size",
        "keep_alive_timeout",
        "ssl_handshake_timeout",
        "server_names",
        "root_path",
        "websocket_max_message_size",
        "websocket_ping_interval",
        "read_timeout",
        "graceful_timeout",
        "log",
    ):
        assert hasattr(config, name), name
