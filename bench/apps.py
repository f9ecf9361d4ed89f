"""The ASGI applications under test, one per variant, all doing the same work.

Every variant serves the same workloads, chosen by the scope's path:

- ``/echo/text`` and ``/echo/bytes``: accept, then echo each message until the disconnect;
- ``/stream/text?n=N`` (or ``bytes``): accept, send ``N`` messages of :data:`PAYLOAD`, close 1000;
- ``/sink/text`` (or ``bytes``): accept, count messages until one equal to :data:`END`, answer
  the count as a message of the same kind, then wait for the disconnect.

Variants: ``raw`` (plain ASGI callables: the limit), ``starlette`` (``starlette.websockets``),
``direct`` (``trio_ws.WebSocket`` used like Starlette's) and ``structured``
(``trio_ws.websocket_app``). :func:`get_app` returns ``None`` for a variant whose code is not on
this branch yet, and :func:`unavailable_reason` says why.

Each application also answers the ``lifespan`` scope: hypercorn's trio worker crashes at start-up
when an application returns silently from it (docs/hypercorn-facts.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol, TypeAlias

Message: TypeAlias = MutableMapping[str, Any]
Scope: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Every in-process message and the end-to-end small message: 32 bytes.
PAYLOAD_TEXT = "x" * 32
PAYLOAD_BYTES = b"x" * 32
#: The sink's end marker (never equal to a payload).
END_TEXT = "end"
END_BYTES = b"end"

VARIANTS = ("raw", "starlette", "direct", "structured")


def parse_path(scope: Scope) -> tuple[str, str, int]:
    """Return ``(workload, kind, n)`` from a scope: ``("echo", "text", 0)`` and the like."""
    parts = scope["path"].strip("/").split("/")
    workload = parts[0] if parts and parts[0] else "echo"
    kind = parts[1] if len(parts) > 1 else "text"
    n = 0
    for item in scope.get("query_string", b"").decode().split("&"):
        key, _, value = item.partition("=")
        if key == "n":
            n = int(value)
    return workload, kind, n


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- raw ASGI: the limit -------------------------------------------------------------------


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """The same workloads as plain ASGI message passing, with no wrapper at all."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    workload, kind, n = parse_path(scope)
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    if workload == "echo":
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", kind: message[kind]})
    elif workload == "stream":
        payload: str | bytes = PAYLOAD_TEXT if kind == "text" else PAYLOAD_BYTES
        for _ in range(n):
            await send({"type": "websocket.send", kind: payload})
        await send({"type": "websocket.close", "code": 1000})
        while (await receive())["type"] != "websocket.disconnect":
            pass
    elif workload == "sink":
        end = END_TEXT if kind == "text" else END_BYTES
        count = 0
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message[kind] == end:
                reply = str(count)
                await send(
                    {"type": "websocket.send", kind: reply if kind == "text" else reply.encode()}
                )
            else:
                count += 1


# --- Starlette-like wrappers: Starlette, trio_ws direct, trio_ws structured ------------------


class StarletteLike(Protocol):
    """The part of Starlette's ``WebSocket`` API the workloads use."""

    async def accept(self) -> None: ...
    async def receive_text(self) -> str: ...
    async def receive_bytes(self) -> bytes: ...
    async def send_text(self, data: str) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def close(self, code: int = 1000) -> None: ...


async def run_workload(ws: StarletteLike, scope: Scope, disconnect: type[BaseException]) -> None:
    """Serve one workload through a Starlette-like object; ``disconnect`` ends it normally."""
    workload, kind, n = parse_path(scope)
    await ws.accept()
    try:
        if kind == "text":
            await _text_workload(ws, workload, n)
        else:
            await _bytes_workload(ws, workload, n)
    except disconnect:
        return


async def _text_workload(ws: StarletteLike, workload: str, n: int) -> None:
    receive, send = ws.receive_text, ws.send_text
    if workload == "echo":
        while True:
            await send(await receive())
    elif workload == "stream":
        for _ in range(n):
            await send(PAYLOAD_TEXT)
        await ws.close()
    elif workload == "sink":
        count = 0
        while True:
            if await receive() == END_TEXT:
                await send(str(count))
            else:
                count += 1


async def _bytes_workload(ws: StarletteLike, workload: str, n: int) -> None:
    receive, send = ws.receive_bytes, ws.send_bytes
    if workload == "echo":
        while True:
            await send(await receive())
    elif workload == "stream":
        for _ in range(n):
            await send(PAYLOAD_BYTES)
        await ws.close()
    elif workload == "sink":
        count = 0
        while True:
            if await receive() == END_BYTES:
                await send(str(count).encode())
            else:
                count += 1


async def starlette(scope: Scope, receive: Receive, send: Send) -> None:
    """The workloads through ``starlette.websockets.WebSocket`` (pure ASGI; runs on trio)."""
    from starlette.websockets import WebSocket, WebSocketDisconnect

    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await run_workload(WebSocket(scope, receive, send), scope, WebSocketDisconnect)


def _trio_ws() -> Any:
    try:
        import trio_ws
    except ImportError:  # pragma: no cover - the package is importable from the repo root
        return None
    return trio_ws


def unavailable_reason(variant: str) -> str | None:
    """``None`` when ``variant`` can run on this branch, else a short reason for the table."""
    trio_ws = _trio_ws()
    if variant in ("raw", "starlette"):
        return None
    if trio_ws is None:
        return "n/a (trio_ws not importable)"
    if variant == "direct" and not hasattr(trio_ws, "WebSocket"):
        return "n/a (not on main yet)"
    if variant == "structured" and not (
        hasattr(trio_ws, "websocket_app")
        or hasattr(getattr(trio_ws, "WebSocket", None), "__aenter__")
    ):
        return "n/a (not on main yet)"
    return None


async def direct(scope: Scope, receive: Receive, send: Send) -> None:
    """The workloads through ``trio_ws.WebSocket`` in direct mode (no background tasks)."""
    trio_ws = _trio_ws()
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await run_workload(trio_ws.WebSocket(scope, receive, send), scope, trio_ws.WebSocketDisconnect)


async def _structured_handler(ws: Any) -> None:
    import trio_ws

    await run_workload(ws, ws.scope, trio_ws.WebSocketDisconnect)


def _make_structured() -> ASGIApp | None:
    trio_ws = _trio_ws()
    if trio_ws is None:
        return None
    if hasattr(trio_ws, "websocket_app"):
        app: ASGIApp = trio_ws.websocket_app(_structured_handler)
        return app
    if hasattr(getattr(trio_ws, "WebSocket", None), "__aenter__"):

        async def structured_block(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
                return
            async with trio_ws.WebSocket(scope, receive, send) as ws:
                await run_workload(ws, scope, trio_ws.WebSocketDisconnect)

        return structured_block
    return None


_structured_app: ASGIApp | None = None


async def structured(scope: Scope, receive: Receive, send: Send) -> None:
    """The workloads through ``trio_ws.websocket_app`` (structured mode: the block's nursery)."""
    global _structured_app
    if _structured_app is None:
        _structured_app = _make_structured()
        if _structured_app is None:
            raise RuntimeError("trio_ws structured mode is not available on this branch")
    await _structured_app(scope, receive, send)


_APPS: dict[str, ASGIApp] = {
    "raw": raw,
    "starlette": starlette,
    "direct": direct,
    "structured": structured,
}


def get_app(variant: str) -> ASGIApp | None:
    """The ASGI application of ``variant``, or ``None`` if it cannot run on this branch."""
    if unavailable_reason(variant) is not None:
        return None
    return _APPS[variant]
