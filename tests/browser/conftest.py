"""A real headless Chromium driven by Playwright (Debian's /usr/bin/chromium, never a
downloaded browser) against pytest-django's live server, 1280 px wide."""

from __future__ import annotations

import os
import shutil
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

CHROMIUM = os.environ.get("CDP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTH, HEIGHT = 1280, 900
PASSWORD = "pw-for-browser-tests-only"


def _need_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CDP_REQUIRE_BROWSER") == "1":
            pytest.fail("make test installs Chromium; it is missing")
        pytest.skip("no Chromium on this machine (make test installs it)")
    return CHROMIUM


@pytest.fixture
def chromium(monkeypatch):
    executable = _need_chromium()
    # Playwright's sync API runs an event loop in the test's thread; Django's async-unsafe guard
    # must not trip on the test's own queries. Set only while a page test runs, so it never
    # leaks into other tests' subprocesses (a browser per test costs about a second).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    """The `make run` demo tenant, loaded by the same command."""
    settings.VAR_DIR = tmp_path
    call_command("demo_load", stdout=StringIO())
    from tenants.selectors import tenant_get_by_slug

    return tenant_get_by_slug(slug="demo")


def login(page, live_server, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


@pytest.fixture
def superuser_page(page, live_server, demo):
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    login(page, live_server, "ops")
    return page


def assert_within_viewport(page, selector: str) -> None:
    """Every visible element matching the selector lies fully inside the window's width:
    nothing is cut off, and the page does not scroll sideways."""
    elements = page.locator(f"{selector} >> visible=true")
    count = elements.count()
    assert count, f"nothing matches {selector}"
    width = page.evaluate("window.innerWidth")
    for index in range(count):
        box = elements.nth(index).bounding_box()
        assert box is not None, f"{selector} #{index} is not rendered"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{selector} #{index} is cut off: {box}"
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways: {scroll}px in a {width}px window"
