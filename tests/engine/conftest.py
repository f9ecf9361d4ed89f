"""Engine tests: trio_ws.serve's websocket engine over real sockets on 127.0.0.1.

Every test bounds itself with ``trio.fail_after``; servers bind port 0; loads are small.
"""
