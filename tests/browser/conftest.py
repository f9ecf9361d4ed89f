"""Headless Chromium for the browser tests (Debian's ``chromium`` and ``chromium-driver``).

Every test here is marked ``browser``. Where Chromium, its driver or selenium is missing the
tests are skipped with the reason (pytest's ``-ra`` summary lists it), unless the environment
sets ``TRIO_WS_REQUIRE_BROWSER=1`` (CI does): then a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from selenium.webdriver import Chrome

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(os.path.dirname(__file__)):
            item.add_marker(pytest.mark.browser)


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(shutil.which(name) for name in BROWSERS):
        return "Chromium is not installed (apt-get install chromium chromium-driver)"
    if shutil.which(DRIVER) is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


@pytest.fixture
def open_browser() -> Iterator[Callable[..., Chrome]]:
    """A factory of headless Chromium sessions; all of them are quit after the test."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("TRIO_WS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TRIO_WS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = next(path for name in BROWSERS if (path := shutil.which(name)))
    driver_path = shutil.which(DRIVER)
    assert driver_path is not None
    sessions: list[Chrome] = []

    def open_one(*arguments: str) -> Chrome:
        """A new session; ``arguments`` are added to Chromium's command line."""
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for argument in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1000,800",
            *arguments,
        ):
            options.add_argument(argument)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        sessions.append(driver)
        return driver

    yield open_one
    for driver in sessions:
        driver.quit()
