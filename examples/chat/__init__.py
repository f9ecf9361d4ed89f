"""A chat room in the browser: Starlette + trio_ws on ``trio_ws.serve``.

Run it with ``python -m examples.chat`` (it prints the URL to open), or on several worker
processes sharing rooms through Redis::

    CHAT_BROADCAST_URL=redis://127.0.0.1:6379 python -m trio_ws examples.chat.app:app --workers 2

The page (``static/``: plain HTML, CSS and JavaScript, no build step, nothing from a CDN) asks
for a name and a room and opens ``/ws?name=...&room=...``. The websocket route is a trio_ws
structured handler (`examples.chat.app`) that talks through `trio_ws.Broadcast` channels,
one per room, and announces each connection with `Broadcast.track` (presence), so every tab
in a room shows the same member list, whichever worker serves it. The route checks the Origin
header and limits message size, rate and idle time; when the server closes a socket the page
shows the close code and reason.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
