"""The echo demo: a complete trio_ws application.

Serve it with hypercorn's trio worker::

    python3 -m hypercorn --worker-class trio --bind 127.0.0.1:8000 examples.echo:app

Routes, by path:

* ``/``          echoes every text and binary message back. Sending the text
                 ``close <code> [reason]`` makes the server close with that code.
* ``/deny``      refuses the handshake with ``401 Unauthorized`` and a text body.
* ``/forbidden`` closes before accepting, which the server answers with HTTP 403.

``websocket_app`` runs each connection in structured mode, answers the lifespan protocol
(hypercorn's trio worker needs that), and closes with 1000 when the handler returns.
"""

from __future__ import annotations

from trio_ws import PlainTextResponse, WebSocket, websocket_app


async def echo(ws: WebSocket) -> None:
    """Route by path, then echo until the client leaves."""
    if ws.url.path == "/deny":
        await ws.send_denial_response(PlainTextResponse("who are you?", status_code=401))
        return
    if ws.url.path == "/forbidden":
        await ws.close()
        return
    await ws.accept()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None:
            if text.startswith("close "):
                _, code, *reason = text.split(" ", 2)
                await ws.close(int(code), reason[0] if reason else None)
                return
            await ws.send_text(text)
        else:
            await ws.send_bytes(message["bytes"])


app = websocket_app(echo)
