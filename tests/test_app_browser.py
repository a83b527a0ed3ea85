"""End to end: the app's server on 127.0.0.1, driven by Debian's Chromium through Playwright.

Loads the page, runs the flagship to the end and pins it as the baseline, moves Lexus's complimentary-maintenance
slider to 0 with the keyboard, runs again, and checks that the Lexus share beside the charts and the share chart
itself changed and that the difference panel gives the change (its headline in words).
Every request the page makes must stay on the machine (127.0.0.1/localhost, data: or blob:), and none may fail
(a failed asset would mean the server tried to fetch it from a CDN). A screenshot goes to
results/test-artifacts/app.png (git-ignored) and the numbers seen to results/test-artifacts/app_values.json.

Skipped only when /usr/bin/chromium is missing (`apt-get install chromium`); Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import HANG_GUARD_S

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "results" / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
HANG_GUARD_MS = HANG_GUARD_S * 1000  # every wait's limit: a hang guard, never a speed check (tests/conftest.py)
GRACE_S = 15  # clean-up, never a check: a terminated server gets this long to exit before it is killed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium) "
                    "to run the browser test")
    port = _free_port()
    log = tmp_path_factory.mktemp("app-server") / "server.log"
    with open(log, "wb") as out:  # as a user starts it; Solara loads the page by module name (sim.app)
        command = [sys.executable, str(ROOT / "run_sim.py"), "app", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    hung = time.monotonic() + HANG_GUARD_S
    try:
        while True:  # until the server answers or exits, however long this machine takes to start it
            if proc.poll() is not None:
                pytest.fail(f"the app server exited with {proc.returncode}:\n{log.read_text()}")
            assert time.monotonic() < hung, f"hang guard: no answer from the app server:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=HANG_GUARD_S) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _share(page, brand: str = "Lexus") -> float:
    raw = page.get_attribute(f"[data-testid='share_12m-{brand}']", "data-value")
    return float(raw) if raw else float("nan")


def _wait_done(page) -> None:
    page.wait_for_selector("[data-testid=status][data-done='1'][data-running='0']", state="attached",
                           timeout=HANG_GUARD_MS)


def test_slider_moves_the_market_and_nothing_leaves_the_machine(server):
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    failures: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=HANG_GUARD_MS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2400})
            page.set_default_timeout(HANG_GUARD_MS)  # clicks, key presses, screenshots (Playwright's default: 30 s)
            page.set_default_navigation_timeout(HANG_GUARD_MS)
            page.on("request", lambda r: requests.append(r.url))
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.on("requestfailed", lambda r: failures.append(f"failed {r.url}"))
            page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            started = time.monotonic()
            page.goto(server, timeout=HANG_GUARD_MS)
            page.wait_for_selector("[data-testid=status][data-months='0']", state="attached", timeout=HANG_GUARD_MS)
            page.wait_for_selector(".luxsim-chart-share img", timeout=HANG_GUARD_MS)
            loaded = time.monotonic() - started
            assert page.get_attribute("[data-testid='share_12m-Lexus']", "data-value") == ""  # nothing run yet

            # the flagship as it is: run to the end
            page.click(".luxsim-run")
            _wait_done(page)
            before = _share(page)
            chart = page.locator(".luxsim-chart-share img")
            chart_before = chart.screenshot()
            assert 0 < before < 1
            page.click(".luxsim-pin")  # this run becomes the baseline the next one is drawn against
            page.wait_for_selector("[data-testid=headline]", state="attached", timeout=HANG_GUARD_MS)

            # move Lexus's complimentary maintenance to 0 months (keyboard on the slider's thumb)
            thumb = page.locator(".lever-complimentary_maintenance_months [role=slider]")
            assert thumb.get_attribute("aria-valuenow") == "36"
            thumb.press("Home")
            page.wait_for_selector(".lever-complimentary_maintenance_months [role=slider][aria-valuenow='0']",
                                   state="attached", timeout=HANG_GUARD_MS)
            page.wait_for_selector("[data-testid=status][data-months='0'][data-generation='2']", state="attached",
                                   timeout=HANG_GUARD_MS)
            expect(page.locator(".lever-complimentary_maintenance_months .luxsim-label")).to_have_text(
                re.compile(r": 0$"), timeout=HANG_GUARD_MS)

            page.click(".luxsim-run")
            _wait_done(page)
            after = _share(page)
            chart_after = chart.screenshot()
            expect(page.locator("[data-testid=headline]")).to_contain_text(
                "Against the baseline, Lexus's 2010 share is", timeout=HANG_GUARD_MS)
            headline = page.inner_text("[data-testid=headline]")
            difference = float(page.get_attribute("[data-testid='diff-sales_share-Lexus']", "data-value"))
            page.screenshot(path=str(ARTIFACTS / "app.png"))
            seconds = time.monotonic() - started
        finally:
            browser.close()

    (ARTIFACTS / "app_values.json").write_text(json.dumps(
        {"lexus_share_last_12_months": {"complimentary_36_months": before, "complimentary_0_months": after},
         "headline": headline,
         "page_load_s": round(loaded, 2), "test_s": round(seconds, 2)}, indent=2))
    print(f"Lexus sales share, last 12 months of the run: {before:.4f} with 36 months of complimentary maintenance, "
          f"{after:.4f} with none")

    assert 0 < after < 1 and after != before
    assert difference == pytest.approx(after - before)  # the run ends in December: the last year's share
    assert ("higher" if after > before else "lower") in headline.split(",")[1]
    assert chart_after != chart_before, "the share chart did not change"
    outside = [u for u in requests
               if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname not in LOCAL_HOSTS]
    assert requests and not outside, f"requests left the machine: {outside}"
    assert not failures, f"requests failed (a missing offline asset?): {failures}"
