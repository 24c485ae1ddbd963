"""Pages checked in a real headless Chromium against a live server: what a person sees."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser():
    if CHROMIUM is None:
        if os.environ.get("CDP_REQUIRE_BROWSER") == "1":
            pytest.fail("make test installs Chromium; it is missing")
        pytest.skip("no Chromium on this machine (make test installs it)")

    def render(url: str, *, screenshot: str | None = None) -> str:
        with tempfile.TemporaryDirectory() as profile:
            args = [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--window-size=1280,1600",
            ]
            args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
            done = subprocess.run([*args, url], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return render


def test_the_api_docs_render_the_schema_with_local_assets(live_server, browser):
    dom = browser(f"{live_server.url}/api/docs/")
    # Swagger UI only draws operations after its JavaScript loaded (from our own static
    # files) and fetched /api/schema/: their presence proves both.
    assert 'class="swagger-ui' in dom
    assert "opblock" in dom
    assert "/api/v1/events/batch" in dom
    assert "/api/v1/runtime/context" in dom
    assert "ResultFly CDP API" in dom


def test_the_admin_login_page_renders(live_server, browser):
    dom = browser(f"{live_server.url}/admin/login/")
    assert "ResultFly CDP" in dom
    assert 'name="username"' in dom and 'name="password"' in dom
