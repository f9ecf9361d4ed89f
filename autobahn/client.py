"""The echo client Autobahn|Testsuite's fuzzing server drives: ``trio_ws.connect`` under test.

``python autobahn/client.py ws://127.0.0.1:PORT AGENT`` asks the server how many cases it has,
runs each one (echoing every message back as it came, text as text, binary as binary, until
the server closes), then asks the server to write its report. Used by `fuzzingserver.py`.
"""

from __future__ import annotations

import sys

import trio

import trio_ws

#: Per case: longer than the fuzzing server's own limit (480 s), so that a slow case is judged
#: by Autobahn (the heaviest permessage-deflate cases of 12.x take minutes on a busy machine),
#: and still bounded.
CASE_TIMEOUT = 600.0


async def _case_count(base: str) -> int:
    # wstest may still be starting up on a busy machine: retry for a while.
    for _ in range(50):
        try:
            async with trio_ws.connect(f"{base}/getCaseCount") as ws:
                return int(await ws.receive_text())
        except trio_ws.ConnectError:
            await trio.sleep(0.2)
    raise SystemExit(f"the fuzzing server at {base} did not answer")


async def _echo(base: str, case: int, agent: str) -> None:
    url = f"{base}/runCase?case={case}&agent={agent}"
    try:
        async with trio_ws.connect(
            url, max_message_size=None, ping_interval=None, close_timeout=2.0
        ) as ws:
            while True:
                message = await ws.receive_message()
                if isinstance(message, str):
                    await ws.send_text(message)
                else:
                    await ws.send_bytes(message)
    except trio_ws.ConnectError as exc:
        print(f"case {case}: {exc}", file=sys.stderr)


async def main(base: str, agent: str) -> None:
    count = await _case_count(base)
    for case in range(1, count + 1):
        with trio.move_on_after(CASE_TIMEOUT):
            await _echo(base, case, agent)
    async with trio_ws.connect(f"{base}/updateReports?agent={agent}") as ws:
        await ws.wait_disconnected()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
