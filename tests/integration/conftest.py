"""Integration tests: real sockets on 127.0.0.1, hypercorn's trio worker, trio-websocket clients.

Every test bounds itself with ``trio.fail_after``; servers bind port 0; load stays small.
The fixture that closes sockets trio-websocket leaks lives in ``tests/conftest.py``.
"""

from __future__ import annotations

from trio_ws.testing.pytest_plugin import trio_ws_server  # noqa: F401  (the plugin's fixture)

from ._plain_hypercorn import plain_hypercorn  # noqa: F401  (plain hypercorn on 127.0.0.1:0)
