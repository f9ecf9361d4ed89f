"""A chat room in the browser: Starlette + trio_ws on ``trio_ws.serve``.

Run it with ``python -m examples.chat`` (it prints the URL to open). The page (``static/``:
plain HTML, CSS and JavaScript, no build step, nothing from a CDN) asks for a name and a room
and opens ``/ws?name=...&room=...``. The websocket route is a trio_ws structured handler
(:mod:`examples.chat.app`) that talks through :class:`trio_ws.Broadcast` channels, one per
room, so two browser tabs in one room see each other's messages and who is there. The route
checks the Origin header and limits message size, rate and idle time; when the server closes a
socket the page shows the close code and reason.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
