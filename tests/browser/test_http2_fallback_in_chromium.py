"""HTTP/2 and websockets in a real browser: headless Chromium loads a page from
`trio_ws.serve` over TLS, where ALPN offers ``h2``, and opens a websocket from it.

`trio_ws.serve` serves HTTP/2 through hypercorn but does not advertise extended CONNECT
(RFC 8441), so the browser must open its websocket on a separate HTTP/1.1 connection to the
same TLS port, which the engine serves (docs/deployment.md, "HTTP/2: why browsers fall back to
HTTP/1.1"). The test checks each step: the page came over ``h2`` (the browser's own
``nextHopProtocol`` and the server's scope), the websocket's scope is HTTP/1.1 over ``wss``,
and a message goes there and back.

The second test shows the first can fail: plain hypercorn advertises extended CONNECT, and
this Chromium then opens the websocket over the HTTP/2 connection itself (on hypercorn's own
stream, which `trio_ws.serve` never uses).
"""

from __future__ import annotations

import json
import shutil
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.engine._raw import port_of, self_signed_cert, tls_server
from tests.integration._plain_hypercorn import serve_plain_hypercorn

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from selenium.webdriver import Chrome

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

STEP = 20  # seconds a single browser step may wait for the page
TOTAL = 90  # seconds for the whole test (a Chromium start-up on a busy machine)

PAGE = b"""<!doctype html>
<title>HTTP/2 fallback</title>
<pre id="result">waiting</pre>
<script>
const show = (fields) => {
  const page = performance.getEntriesByType("navigation")[0].nextHopProtocol;
  document.getElementById("result").textContent = JSON.stringify({page, ...fields});
};
const ws = new WebSocket(`wss://${location.host}/ws`);
ws.onopen = () => ws.send("hello over tls");
ws.onmessage = (event) => { show({echo: event.data}); ws.close(1000, "done"); };
ws.onerror = () => show({error: "the websocket failed"});
</script>
"""


def page_and_echo(seen: list[tuple[str, str, str]]) -> Any:
    """An ASGI app: ``GET /`` is `PAGE`; a websocket echoes. Records each scope's type,
    HTTP version and scheme in ``seen``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append((scope["type"], scope["http_version"], scope["scheme"]))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8")]})  # fmt: skip
            await send({"type": "http.response.body", "body": PAGE})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({**message, "type": "websocket.send"})

    return app


def load_and_read_result(driver: Chrome, url: str) -> dict[str, str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, STEP).until(lambda d: d.find_element(By.ID, "result").text != "waiting")
    result: dict[str, str] = json.loads(driver.find_element(By.ID, "result").text)
    return result


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(partial(fn, *args), abandon_on_cancel=True)


async def test_chromium_loads_over_h2_and_its_websocket_falls_back_to_http11(
    open_browser: Callable[..., Chrome], tmp_path: Path
) -> None:
    seen: list[tuple[str, str, str]] = []
    with trio.fail_after(TOTAL):
        driver = await in_thread(open_browser, "--ignore-certificate-errors")
        async with tls_server(tmp_path, page_and_echo(seen)) as (port, _cert):
            result = await in_thread(load_and_read_result, driver, f"https://127.0.0.1:{port}/")
    assert result == {"page": "h2", "echo": "hello over tls"}
    assert ("http", "2", "https") in seen  # the page, over HTTP/2
    assert [item for item in seen if item[0] == "websocket"] == [("websocket", "1.1", "wss")]


async def test_where_extended_connect_is_advertised_chromium_uses_h2_for_websockets(
    open_browser: Callable[..., Chrome], tmp_path: Path
) -> None:
    """The control: plain hypercorn advertises RFC 8441, and the same page's websocket goes
    over HTTP/2 (so the first test's HTTP/1.1 is `trio_ws.serve`'s doing, not Chromium's)."""
    seen: list[tuple[str, str, str]] = []
    cert, key = self_signed_cert(tmp_path)
    with trio.fail_after(TOTAL):
        driver = await in_thread(open_browser, "--ignore-certificate-errors")
        async with AsyncExitStack() as stack:
            url = await stack.enter_async_context(
                serve_plain_hypercorn(page_and_echo(seen), certfile=cert, keyfile=key)
            )
            page = f"https://127.0.0.1:{port_of(url)}/"
            result = await in_thread(load_and_read_result, driver, page)
    if result.get("echo") is None:
        pytest.fail(f"the control did not work: {result}")
    assert result == {"page": "h2", "echo": "hello over tls"}
    assert [item for item in seen if item[0] == "websocket"] == [("websocket", "2", "wss")]
