"""Pins the hypercorn internals trio_ws._serve and trio_ws._serve_asgi rely on.

If one of these fails after a hypercorn upgrade, the wrapping must be re-checked against the new
version before the pin in pyproject.toml (``hypercorn>=0.18,<0.19``) is widened.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import hypercorn.protocol.ws_stream as ws_stream
import hypercorn.trio.lifespan as lifespan
import hypercorn.trio.tcp_server as tcp_server
import hypercorn.trio.worker_context as worker_context
import trio

from trio_ws import _serve, _serve_asgi


async def test_hypercorn_version_is_the_one_tested() -> None:
    """trio_ws's serve layer was written and measured against hypercorn 0.18."""
    assert version("hypercorn").startswith("0.18."), version("hypercorn")


async def test_tcp_server_shape() -> None:
    """TCPServer(app, config, context, state, stream) with run/_read_data/protocol_send."""
    parameters = list(inspect.signature(tcp_server.TCPServer.__init__).parameters)
    assert parameters == ["self", "app", "config", "context", "state", "stream"]
    for name in ("run", "_read_data", "protocol_send", "_close"):
        assert inspect.iscoroutinefunction(getattr(tcp_server.TCPServer, name)), name
    init = inspect.getsource(tcp_server.TCPServer.__init__)
    assert "self.send_lock = trio.Lock()" in init
    assert "self.stream = stream" in init
    run = inspect.getsource(tcp_server.TCPServer.run)
    assert "self.protocol_send" in run
    assert "await self._read_data()" in run
    send = inspect.getsource(tcp_server.TCPServer.protocol_send)
    assert "shield = True" in send  # the reason a stalled client needs the socket aborted
    assert "(trio.BrokenResourceError, trio.ClosedResourceError)" in send


async def test_ws_stream_buffer_and_send_are_replaceable() -> None:
    """WSStream keeps its message buffer in .buffer, and app_send is its bound method."""
    init = inspect.getsource(ws_stream.WSStream.__init__)
    assert "self.buffer = WebsocketBuffer(config.websocket_max_message_size)" in init
    events = inspect.getsource(ws_stream.WSStream._handle_events)
    assert "self.buffer.extend(event)" in events
    assert "except FrameTooLargeError" in events
    assert "self.buffer.to_message()" in events
    assert "self.buffer.clear()" in events
    assert issubclass(_serve_asgi._BoundedMessageBuffer, ws_stream.WebsocketBuffer)
    spawn = inspect.getsource(ws_stream.WSStream.handle)
    assert "self.app, self.config, self.scope, self.app_send" in spawn


async def test_ws_stream_close_switches_state_before_awaiting() -> None:
    """The shutdown close relies on app_send marking CLOSED before its first await."""
    source = inspect.getsource(ws_stream.WSStream.app_send)
    branch = source[source.index('elif message["type"] == "websocket.close":') :]
    assert branch.index("self.state = ASGIWebsocketState.CLOSED") < branch.index("await")


async def test_ws_stream_pieces_the_pinger_uses() -> None:
    """trio_ws's pinger uses WSStream's task_group, context, closed and _send_wsproto_event."""
    init = inspect.getsource(ws_stream.WSStream.__init__)
    for attribute in ("self.task_group = task_group", "self.context = context", "self.closed"):
        assert attribute in init, attribute
    assert inspect.iscoroutinefunction(ws_stream.WSStream._send_wsproto_event)
    accept = inspect.getsource(ws_stream.WSStream._accept)
    assert "if self.config.websocket_ping_interval is not None:" in accept  # we set it to None
    context = _serve._ConnectionContext(worker_context.WorkerContext(None))
    context.reading_over.set()
    with trio.fail_after(1):
        await context.sleep(60)


async def test_lifespan_and_worker_context_constructors() -> None:
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
