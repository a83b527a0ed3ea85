"""End to end: the app's server on 127.0.0.1, driven by Debian's Chromium through Playwright.

Loads the page, runs the flagship to the end and pins it as the baseline, moves Lexus's complimentary-maintenance
slider to 0 with the keyboard, runs again, and checks that the Lexus share beside the charts and the share chart
itself changed and that the difference panel gives the change (its headline in words). The charts are drawn in the
browser by ECharts (from Solara's offline assets): each must draw, hovering the share chart must show each brand's
share in percent, and the network view must wait for its button. The server and browser helpers are shared with the
benchmark (``sim/app_browser.py``).
Every request the page makes must stay on the machine (127.0.0.1/localhost, data: or blob:), and none may fail
(a failed asset would mean the server tried to fetch it from a CDN). A screenshot goes to
results/test-artifacts/app.png (git-ignored) and the numbers seen to results/test-artifacts/app_values.json.

Skipped only when /usr/bin/chromium is missing (`apt-get install chromium`); Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from sim.app_browser import (
    DONE,
    READY,
    Requests,
    ServerError,
    app_server,
    chart_drawn,
    launch,
    missing_browser,
    new_page,
)
from tests.conftest import HANG_GUARD_S

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "results" / "test-artifacts"
HANG_GUARD_MS = HANG_GUARD_S * 1000  # every wait's limit: a hang guard, never a speed check (tests/conftest.py)
CHARTS = ("share", "loyalty", "flows", "csi", "money")  # drawn in the browser as the run moves (the network: asked)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    why = missing_browser()
    if why:
        pytest.skip(f"{why}: needed to run the browser test")
    try:
        with app_server(tmp_path_factory.mktemp("app-server") / "server.log", HANG_GUARD_S) as url:
            yield url
    except ServerError as exc:
        pytest.fail(str(exc))


def _share(page, brand: str = "Lexus") -> float:
    raw = page.get_attribute(f"[data-testid='share_12m-{brand}']", "data-value")
    return float(raw) if raw else float("nan")


def _wait_done(page) -> None:
    page.wait_for_selector(DONE, state="attached", timeout=HANG_GUARD_MS)


def test_slider_moves_the_market_and_nothing_leaves_the_machine(server):
    from playwright.sync_api import expect, sync_playwright

    requests = Requests()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw, HANG_GUARD_MS)
        try:
            page = new_page(browser, HANG_GUARD_MS, requests)  # every wait limited by the hang guard only

            started = time.monotonic()
            page.goto(server, timeout=HANG_GUARD_MS)
            page.wait_for_selector(READY + "[data-months='0']", state="attached", timeout=HANG_GUARD_MS)
            page.wait_for_selector(chart_drawn("share"), timeout=HANG_GUARD_MS)
            loaded = time.monotonic() - started
            assert page.get_attribute("[data-testid='share_12m-Lexus']", "data-value") == ""  # nothing run yet

            # the flagship as it is: run to the end
            page.click(".luxsim-run")
            _wait_done(page)
            before = _share(page)
            for kind in CHARTS:  # every chart drawn by ECharts in the browser, from Solara's offline assets
                page.wait_for_selector(chart_drawn(kind), timeout=HANG_GUARD_MS)
            chart = page.locator(".luxsim-chart-share canvas").first
            page.wait_for_function("document.querySelector('.luxsim-chart-share .luxsim-echarts').dataset.drawn > 1",
                                   timeout=HANG_GUARD_MS)  # the run's last month drawn over the empty start
            chart_before = chart.screenshot()
            box = chart.bounding_box()  # hover: the tooltip lists each brand's share that month, in percent
            page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.5 * box["height"])
            expect(page.locator(".luxsim-chart-share .luxsim-echarts")).to_contain_text(
                re.compile(r"Lexus: \d+\.\d%"), timeout=HANG_GUARD_MS)
            assert not page.locator(".luxsim-chart-network canvas").count()  # drawn only when asked
            page.click(".luxsim-draw-network")
            page.wait_for_selector(chart_drawn("network"), timeout=HANG_GUARD_MS)
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
    assert any("echarts" in u for u in requests.urls), "ECharts was not loaded"
    outside = requests.outside()
    assert requests.urls and not outside, f"requests left the machine: {outside}"
    assert not requests.failures, f"requests failed (a missing offline asset?): {requests.failures}"
