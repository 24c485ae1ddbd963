"""Take the console screenshots of docs/ (overview, contract editor, a profile page) in
Debian's headless Chromium through Playwright, against a throwaway `make run` demo:
    .venv/bin/python scripts/screenshots.py
It serves a fresh SQLite demo on a free 127.0.0.1 port, logs in as the demo admin and
writes docs/screenshot-*.png at 1280 px width."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{scratch}/demo.sqlite3", "DJANGO_DEBUG": "1"}
        env["CDP_VAR_DIR"] = scratch
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
        code = (
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cdp_project.settings');"
            "django.setup(); from django.conf import settings; from pathlib import Path;"
            "settings.VAR_DIR = Path(os.environ['CDP_VAR_DIR']);"
            "from django.core.management import call_command; call_command('demo_load')"
        )
        subprocess.run([PY, "-c", code], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        admin = json.loads((Path(scratch) / "demo-credentials.json").read_text())["admin"]
        port = _free_port()
        server = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
            [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310 (our own local server)
                    break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base}/admin/login/")
                page.fill("#id_username", admin["username"])
                page.fill("#id_password", admin["password"])
                page.click("input[type=submit]")
                page.wait_for_selector("#overview")
                page.screenshot(path=str(ROOT / "docs" / "screenshot-overview.png"), full_page=True)
                page.goto(f"{base}/admin/contracts/eventtype/?q=order_completed")
                page.click("#result_list tbody tr a")
                page.wait_for_selector("#properties-group")
                page.screenshot(path=str(ROOT / "docs" / "screenshot-contract-editor.png"), full_page=True)
                page.goto(f"{base}/admin/profiles/profile/?q=demo-cust-3")
                page.click("#result_list tbody tr a")
                page.wait_for_selector("#profile-merge-history")
                page.screenshot(path=str(ROOT / "docs" / "screenshot-profile.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    sys.stdout.write("wrote docs/screenshot-overview.png, screenshot-contract-editor.png, screenshot-profile.png\n")


if __name__ == "__main__":
    main()
