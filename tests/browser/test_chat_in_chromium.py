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

import pytest
import trio

import trio_ws
from examples.chat import create_app
from tests.broadcast import conftest as broadcast_fixtures
from trio_ws.testing import serve_app

from ._chat_server import chat_workers, server_address

if TYPE_CHECKING:
    from collections.abc import Callable

    from selenium.webdriver import Chrome

    from tests.broadcast.conftest import RedisServer

redis_server = broadcast_fixtures.redis_server  # the broadcast tests' real redis-server
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


def members_named(driver: Chrome, name: str) -> int:
    """How many entries of the member list are ``name`` (or ``name (you)``)."""
    from selenium.webdriver.common.by import By

    entries = driver.find_elements(By.CSS_SELECTOR, "#members li")
    return sum(1 for entry in entries if entry.text.removesuffix(" (you)") == name)


def wait_until(driver: Chrome, predicate: Callable[[Chrome], bool]) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, STEP).until(predicate)


def displayed(driver: Chrome, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_element(By.ID, element_id).is_displayed())


def paste(driver: Chrome, text: str) -> None:
    """Put ``text`` in the message field as a paste does (one input event)."""
    driver.execute_script(
        "const field = document.getElementById('text');"
        "field.value = arguments[0];"
        "field.dispatchEvent(new InputEvent('input', {inputType: 'insertFromPaste'}));",
        text,
    )


def press_enter(driver: Chrome) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_element(By.ID, "text").send_keys(Keys.ENTER)


def submit_join_form_again(driver: Chrome) -> None:
    """What a second press of Join did: submit the join form while connected."""
    driver.execute_script("document.getElementById('join-form').requestSubmit();")


async def test_the_form_hides_a_second_join_replaces_the_socket_and_long_input_is_refused(
    open_browser: Callable[[], Chrome],
) -> None:
    """Issue 19 req 7: the join form is hidden while connected; joining again closes the old
    socket first (one member, each message once); a 2,000-character paste is refused
    visibly and nothing is sent."""
    with trio.fail_after(TOTAL):
        ann, bob = [await in_thread(open_browser) for _ in range(2)]
        async with trio_ws.Broadcast() as broadcast, serve_app(create_app(broadcast)) as ws_url:
            page = "http" + ws_url.removeprefix("ws") + "/"
            await in_thread(join, ann, page, "ann", "lobby")
            assert not await in_thread(displayed, ann, "join-form")
            assert await in_thread(displayed, ann, "chat")
            await in_thread(join, bob, page, "bob", "lobby")
            await in_thread(wait_for_text, ann, "members", "bob")

            # joining again: the old socket goes, the new one is the only "ann"
            await in_thread(submit_join_form_again, ann)
            await in_thread(submit_join_form_again, ann)
            await in_thread(wait_for_text, ann, "status", "Connected to room")
            await in_thread(wait_until, bob, lambda d: members_named(d, "ann") == 1)
            await in_thread(wait_until, ann, lambda d: members_named(d, "ann") == 1)
            await in_thread(say, bob, "once only")
            await in_thread(say, bob, "marker one")
            log = await in_thread(wait_for_text, ann, "log", "marker one")
            assert log.count("once only") == 1, log
            assert await in_thread(members_named, bob, "ann") == 1

            # a paste over the limit: refused on the page, visibly, nothing sent
            await in_thread(paste, ann, "y" * 2000)
            assert await in_thread(displayed, ann, "too-long")
            warning = await in_thread(text_of, ann, "too-long")
            assert "2000" in warning, warning
            assert "1000" in warning, warning
            assert not await in_thread(lambda: ann.find_element("id", "send").is_enabled())
            await in_thread(press_enter, ann)
            # the field keeps the whole paste (nothing cut), for the user to shorten
            value = await in_thread(lambda: ann.find_element("id", "text").get_attribute("value"))
            assert value == "y" * 2000
            await in_thread(paste, ann, "y" * 1000)  # exactly the limit is fine
            assert not await in_thread(displayed, ann, "too-long")
            await in_thread(press_enter, ann)
            await in_thread(say, ann, "marker two")
            bob_log = await in_thread(wait_for_text, bob, "log", "marker two")
            assert "y" * 1000 in bob_log
            assert "y" * 1001 not in bob_log
            assert "closed" not in await in_thread(text_of, ann, "status")


async def test_a_refused_origin_is_shown_as_a_failed_connection_not_as_1008(
    open_browser: Callable[[], Chrome],
) -> None:
    """A page whose origin the server refuses: the browser sees a failed handshake (1006)."""
    from selenium.webdriver.common.by import By

    def try_join(driver: Chrome, page: str) -> str:
        driver.get(page)
        driver.find_element(By.ID, "name").send_keys("ann")
        driver.find_element(By.ID, "join").click()
        return wait_for_text(driver, "status", "Could not connect")

    with trio.fail_after(TOTAL):
        driver = await in_thread(open_browser)
        async with trio_ws.Broadcast() as broadcast:
            app = create_app(broadcast, origins=["https://elsewhere.test"])
            async with serve_app(app) as ws_url:
                page = "http" + ws_url.removeprefix("ws") + "/"
                status = await in_thread(try_join, driver, page)
        assert "1006" in status
        assert "1008" not in status
        assert "policy" not in status
        assert await in_thread(displayed, driver, "join-form")  # ready to try again


async def test_two_workers_with_redis_show_one_member_list_in_every_tab(
    open_browser: Callable[[], Chrome], redis_server: RedisServer
) -> None:
    """Issue 18 req 4: ``python -m trio_ws examples.chat.app:app --workers 2`` on Redis; two
    tabs served by different workers list the same members and see each other's messages."""
    from selenium.webdriver.common.by import By

    def worker_of(driver: Chrome) -> str:
        return str(driver.find_element(By.ID, "chat").get_attribute("data-worker"))

    def leave(driver: Chrome) -> None:
        driver.find_element(By.ID, "leave").click()

    with trio.fail_after(TOTAL), chat_workers(redis_server.url) as server:
        address = await server_address(server)
        page = f"http://{address}/"
        ann, bob = [await in_thread(open_browser) for _ in range(2)]
        await in_thread(join, ann, page, "ann", "lobby")
        await in_thread(join, bob, page, "bob", "lobby")
        for _ in range(30):  # each join is a new connection: SO_REUSEPORT spreads them
            if await in_thread(worker_of, bob) != await in_thread(worker_of, ann):
                break
            await in_thread(leave, bob)
            await in_thread(join, bob, page, "bob", "lobby")
        else:
            pytest.fail("30 connections all landed on one worker")
        for driver in (ann, bob):
            await in_thread(wait_until, driver, lambda d: members_named(d, "bob") == 1)
            await in_thread(wait_until, driver, lambda d: members_named(d, "ann") == 1)
        assert await in_thread(text_of, ann, "members") == "ann (you)\nbob"
        assert await in_thread(text_of, bob, "members") == "ann\nbob (you)"
        await in_thread(say, ann, "from one worker")
        await in_thread(wait_for_text, bob, "log", "from one worker")
        await in_thread(say, bob, "to the other")
        await in_thread(wait_for_text, ann, "log", "to the other")
