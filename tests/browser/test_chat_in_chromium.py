"""The chat demo in real browsers: headless Chromium sessions driven by selenium.

selenium is synchronous: every browser step runs in a worker thread
(``trio.to_thread.run_sync``) and waits at most ``STEP`` seconds inside the browser, while the
server (``trio_ws.testing.serve_app``, the real ``trio_ws.serve`` on 127.0.0.1) runs in the
test's Trio loop; the whole test is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

import trio_ws
from examples.chat import create_app
from trio_ws.testing import serve_app

if TYPE_CHECKING:
    from collections.abc import Callable

    from selenium.webdriver import Chrome

STEP = 20  # seconds a single browser step may wait for the page
TOTAL = 150  # seconds for the whole test (three Chromium start-ups on a busy machine)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(partial(fn, *args), abandon_on_cancel=True)


def join(driver: Chrome, page: str, name: str, room: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page)
    driver.find_element(By.ID, "name").send_keys(name)
    room_field = driver.find_element(By.ID, "room")
    room_field.clear()
    room_field.send_keys(room)
    driver.find_element(By.ID, "join").click()
    WebDriverWait(driver, STEP).until(
        lambda d: d.find_element(By.ID, "status").text.startswith("Connected to room")
    )


def say(driver: Chrome, text: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "text").send_keys(text)
    driver.find_element(By.ID, "send").click()


def wait_for_text(driver: Chrome, element_id: str, text: str) -> str:
    """Wait until the element's text contains ``text``; return the element's whole text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, STEP).until(lambda d: text in d.find_element(By.ID, element_id).text)
    return str(driver.find_element(By.ID, element_id).text)


def text_of(driver: Chrome, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


async def test_two_tabs_chat_a_third_room_stays_apart_and_shutdown_is_shown(
    open_browser: Callable[[], Chrome],
) -> None:
    """Two sessions in one room see each other and their messages; a session in another room
    sees none of it; stopping the server shows every page the close code and reason."""
    with trio.fail_after(TOTAL):
        ann, bob, eve = [await in_thread(open_browser) for _ in range(3)]
        async with trio_ws.Broadcast() as broadcast:
            async with serve_app(create_app(broadcast)) as ws_url:
                page = "http" + ws_url.removeprefix("ws") + "/"
                await in_thread(join, ann, page, "ann", "lobby")
                await in_thread(join, bob, page, "bob", "lobby")
                await in_thread(join, eve, page, "eve", "attic")

                # Presence: each lobby member lists the other; eve is alone in the attic.
                assert "bob" in await in_thread(wait_for_text, ann, "members", "bob")
                assert "ann" in await in_thread(wait_for_text, bob, "members", "ann")

                await in_thread(say, ann, "hello from ann")
                await in_thread(wait_for_text, bob, "log", "hello from ann")
                await in_thread(say, bob, "hi ann")
                await in_thread(wait_for_text, ann, "log", "hi ann")
                # eve's own message reaches her page after everything sent before it.
                await in_thread(say, eve, "anyone here?")
                await in_thread(wait_for_text, eve, "log", "anyone here?")

                eve_log = await in_thread(text_of, eve, "log")
                assert "hello from ann" not in eve_log
                assert "hi ann" not in eve_log
                assert await in_thread(text_of, eve, "members") == "eve (you)"
                assert "anyone here?" not in await in_thread(text_of, ann, "log")
            # serve_app has shut the server down: every page says how it was closed.
            for driver in (ann, bob, eve):
                status = await in_thread(wait_for_text, driver, "status", "code 1001")
                assert status.startswith("Disconnected: the server closed the connection")
                assert re.search(r'code 1001 ".+" \(going away', status), status
