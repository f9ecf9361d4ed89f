"""Peak server RSS growth when a client sends one websocket frame far over the size limit.

Runs the server in a subprocess (``trio_ws`` = ``python -m trio_ws``, ``hypercorn`` = plain
``hypercorn.trio.serve``), streams a single binary frame of ``--frame-mib`` MiB to it with a
zero masking key (so the client holds only 64 KiB at a time), then reads the server's peak RSS
(``VmHWM`` in ``/proc/PID/status``; Linux only) before and after.

    python3 bench/oversize_rss.py --server trio_ws --frame-mib 256 --limit-mib 1
    python3 bench/oversize_rss.py --server hypercorn --frame-mib 256 --limit-mib 1
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import threading
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 2**16

_HYPERCORN_SERVER = """
import sys, trio
from functools import partial
from hypercorn.config import Config
from hypercorn.trio import serve

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        raise RuntimeError("no lifespan")
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass

async def main():
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.websocket_max_message_size = int(sys.argv[1])
    config.errorlog = None
    binds = []
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, mode="asgi"))
        print(binds[0].replace("http://", "ws://"), flush=True)

trio.run(main)
"""

_TRIO_WS_APP = """
async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass
"""


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def start_server(server: str, limit: int, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    if server == "hypercorn":
        command = [sys.executable, "-c", _HYPERCORN_SERVER, str(limit)]
    else:
        (workdir / "oversize_app.py").write_text(_TRIO_WS_APP)
        command = [
            sys.executable, "-m", "trio_ws", "oversize_app:app", "--port", "0",
            "--max-message-size", str(limit), "--ping-interval", "off",
        ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    watchdog = threading.Timer(30, process.kill)  # a server that never prints must not hang us
    watchdog.start()
    try:
        url = process.stdout.readline().strip()
    finally:
        watchdog.cancel()
    if not url.startswith("ws://"):
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise RuntimeError(f"server did not start: {url!r}")
    return process, url


async def send_oversize_frame(port: int, frame_size: int) -> int | None:
    """Stream one binary frame of ``frame_size`` bytes; return the server's close code."""
    with trio.fail_after(60):
        return await _send_oversize_frame(port, frame_size)


async def _send_oversize_frame(port: int, frame_size: int) -> int | None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        key = base64.b64encode(os.urandom(16))
        await stream.send_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        received = bytearray()
        while b"\r\n\r\n" not in received:
            received += await stream.receive_some(CHUNK)
        head, _, rest = bytes(received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        reply = bytearray(rest)
        got_reply = trio.Event()

        async def read_replies() -> None:
            if len(reply) >= 4:
                got_reply.set()
            while chunk := await stream.receive_some(CHUNK):
                reply.extend(chunk)
                if len(reply) >= 4:
                    got_reply.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_replies)
            if frame_size < 2**16:  # lengths must use the shortest encoding
                header = bytes([0x82, 0x80 | 126]) + frame_size.to_bytes(2, "big")
            else:
                header = bytes([0x82, 0x80 | 127]) + frame_size.to_bytes(8, "big")
            header += b"\0\0\0\0"  # a zero masking key: the payload goes as it is
            await stream.send_all(header)
            zeros = bytes(CHUNK)
            for offset in range(0, frame_size, CHUNK):
                await stream.send_all(zeros[: min(CHUNK, frame_size - offset)])
            await stream.send_all(bytes([0x88, 0x82, 0, 0, 0, 0]) + (1000).to_bytes(2, "big"))
            with trio.move_on_after(5):
                await got_reply.wait()
            nursery.cancel_scope.cancel()
    if len(reply) >= 4 and reply[0] & 0x0F == 0x8:
        return int.from_bytes(reply[2:4], "big")
    return None


def measure(server: str, frame_size: int, limit: int, workdir: Path) -> tuple[int, int | None]:
    """(peak RSS growth in bytes, close code the client got)."""
    process, url = start_server(server, limit, workdir)
    try:
        port = int(url.rsplit(":", 1)[1])
        trio.run(send_oversize_frame, port, 4096)  # warm up: one small message first
        before = peak_rss(process.pid)
        code = trio.run(send_oversize_frame, port, frame_size)
        after = peak_rss(process.pid)
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    return after - before, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("trio_ws", "hypercorn"), default="trio_ws")
    parser.add_argument("--frame-mib", type=int, default=256)
    parser.add_argument("--limit-mib", type=int, default=1)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        growth, code = measure(
            args.server, args.frame_mib * 2**20, args.limit_mib * 2**20, Path(workdir)
        )
    print(
        f"{args.server}: {args.frame_mib} MiB frame, {args.limit_mib} MiB limit -> close {code}, "
        f"peak RSS +{growth / 2**20:.1f} MiB"
    )


if __name__ == "__main__":
    main()
