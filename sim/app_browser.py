"""Driving the app in a real browser: its server on 127.0.0.1 and Debian's Chromium through Playwright.

Shared by the browser test (``tests/test_app_browser.py``) and the benchmark's app efficiency
(:func:`sim.bench.app_efficiency`): start the server as a user does (``run_sim.py app``), launch
``/usr/bin/chromium`` headless (Playwright's own browser downloads are never used), record every request the page
makes (each must stay on the machine and none may fail: a failed asset would mean the page tried a CDN), and wait on
the page's status line (``data-`` attributes, :func:`sim.app_figures.status_html`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
GRACE_S = 15  # clean-up, never a check: a terminated server gets this long to exit before it is killed
READY = "[data-testid=status]"  # the market is on the page (not the "compiling the model" message)
DONE = "[data-testid=status][data-done='1'][data-running='0']"  # "Run to end" has finished and the page redrawn


class ServerError(RuntimeError):
    """The app's server exited or never answered; the message holds its log."""


def missing_browser() -> str | None:
    """Why the browser cannot be driven here (Chromium or Playwright missing), or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def app_server(log: Path, hang_guard_s: float, env: dict[str, str] | None = None) -> Iterator[str]:
    """The app's server (``run_sim.py app`` on 127.0.0.1 and a free port, as a user starts it) for the ``with`` block.

    Args:
        log: where the server's output goes.
        hang_guard_s: how long to wait for its first answer before giving up (a hang guard, never a speed check).
        env: the server's environment (default: this process's).

    Yields:
        The page's URL, once the server answers it.

    Raises:
        ServerError: the server exited, or did not answer within ``hang_guard_s``.
    """
    port = free_port()
    with open(log, "wb") as out:
        command = [sys.executable, str(ROOT / "run_sim.py"), "app", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    hung = time.monotonic() + hang_guard_s
    try:
        while True:  # until the server answers or exits, however long this machine takes to start it
            if proc.poll() is not None:
                raise ServerError(f"the app server exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > hung:
                raise ServerError(f"hang guard: no answer from the app server:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=hang_guard_s) as response:
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


def launch(pw, timeout_ms: float):
    """Debian's Chromium, headless, launched by Playwright (``pw``: ``sync_playwright()``'s object)."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=timeout_ms)


@dataclass
class Requests:
    """Every request a page makes (``urls``) and every one that failed or answered an error (``failures``)."""

    urls: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        """Record ``page``'s requests and websockets from now on."""
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))
        page.on("requestfailed", lambda r: self.failures.append(f"failed {r.url}"))
        page.on("response", lambda r: self.failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    def outside(self) -> list[str]:
        """The requests that left the machine (neither 127.0.0.1/localhost nor data: or blob:)."""
        return [u for u in self.urls
                if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname not in LOCAL_HOSTS]


def new_page(browser, timeout_ms: float, requests: Requests | None = None):
    """A page of 1500 x 2400 px whose every wait, click and navigation is limited by ``timeout_ms`` (a hang guard),
    its requests recorded in ``requests``."""
    page = browser.new_page(viewport={"width": 1500, "height": 2400})
    page.set_default_timeout(timeout_ms)
    page.set_default_navigation_timeout(timeout_ms)
    if requests is not None:
        requests.watch(page)
    return page


def chart_drawn(kind: str) -> str:
    """A selector that matches once chart ``kind`` has been drawn in the browser (ECharts' canvas, its redraws counted
    in ``data-drawn``)."""
    return f".luxsim-chart-{kind} .luxsim-echarts[data-drawn] canvas"


def status(page, key: str) -> str:
    """A field of the page's status line (``months``, ``done``, ``running``, ``generation``, ``model-seconds``)."""
    return page.get_attribute("[data-testid=status]", f"data-{key}")
