"""The dashboard as a person sees it: served by `python -m runner dashboard` and opened in Debian's
Chromium (driven by Playwright), and the published snapshot opened from disk, offline.

Screenshots land in each test's tmp_path. Skipped only where /usr/bin/chromium is absent.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import REPO

from stockcast import store

pytestmark = [pytest.mark.browser, pytest.mark.pipeline]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGE_BUDGET = 60  # seconds for the served page to show its figures and headline
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent: `apt-get install -y chromium` to run the browser tests"
        print(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_dashboard(env: dict, log: Path, *flags: str):
    """`python -m runner dashboard` on a free port; yields its URL, stops it afterwards."""
    port = free_port()
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "runner", "dashboard", "--port", str(port), *flags],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"the dashboard server exited:\n{log.read_text()}"
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, f"no server on {port}:\n{log.read_text()}"
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def status_of(url: str, path: str) -> int:
    """The HTTP status of `path`, sent as is (no client-side normalisation of `..`)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", path)
    return connection.getresponse().status


def screenshot(page, path: Path) -> None:
    """The whole page: Voila scrolls inside #rendered_cells, so grow the viewport to fit it."""
    height = page.evaluate(
        "() => Math.max(document.body.scrollHeight,"
        " document.querySelector('#rendered_cells')?.scrollHeight || 0)"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(height + 40, 8000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)


def latest_champion(db_url: str, ticker: str):
    preds = store.load_predictions(store.connect(db_url), [ticker])
    return preds[preds["is_champion"]].sort_values("target_date").iloc[-1]


def test_served_dashboard_shows_and_switches_tickers(pipeline, browser, tmp_path):
    tickers = sorted(store.price_summary(store.connect(pipeline.db_url))["ticker"])
    first, second = tickers[0], tickers[1]
    with serve_dashboard(pipeline.env, tmp_path / "voila.log") as url:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        started = time.monotonic()
        page.goto(url, wait_until="commit")  # Voila streams the page while the kernel runs
        wait = 2 * PAGE_BUDGET * 1000  # a slow page fails on the budget below, with its time
        page.wait_for_selector(f'.sc-headline[data-ticker="{first}"]', timeout=wait)
        page.locator(".widget-output .gtitle", has_text=f"{first}: close").wait_for(timeout=wait)
        page.locator(".widget-output .gtitle", has_text=f"{first}: track").wait_for(timeout=wait)
        seconds = time.monotonic() - started
        assert seconds < PAGE_BUDGET, f"the page took {seconds:.0f} s"
        print(f"served page: headline and figures after {seconds:.1f} s")
        assert page.locator(".widget-dropdown select").input_value() == first
        page.get_by_text(f"{first}: last train as of").wait_for(timeout=wait)  # from MLflow
        screenshot(page, tmp_path / "dashboard-first-ticker.png")

        page.locator(".widget-dropdown select").select_option(second)
        headline = page.locator(f'.sc-headline[data-ticker="{second}"]')
        headline.wait_for(timeout=30_000)
        page.locator(".widget-output .gtitle", has_text=f"{second}: close").wait_for(timeout=30_000)
        page.locator(".widget-output .gtitle", has_text=f"{second}: track record").wait_for(
            timeout=30_000
        )
        stored = latest_champion(pipeline.db_url, second)
        text = headline.inner_text()
        assert f"{stored['pred_close']:,.2f}" in text
        assert f"{stored['target_date']:%Y-%m-%d}" in text
        assert f"{stored['pred_lower']:,.2f} – {stored['pred_upper']:,.2f}" in text
        assert f"model {stored['model']}" in text
        page.get_by_text(f"{second}: last train as of").wait_for(timeout=30_000)
        screenshot(page, tmp_path / "dashboard-second-ticker.png")

        link = page.locator(".sc-runs a", has_text="06_evaluate").first
        with context.expect_page() as opened:
            link.click()
        report = opened.value
        report.wait_for_load_state()
        assert "/reports/" in report.url and report.title().startswith("06_evaluate")
        assert "Evaluate" in report.inner_text("h1")
        screenshot(report, tmp_path / "archived-report.png")
        assert not errors, errors
        context.close()


def test_reports_route_serves_reports_read_only_and_stays_in_its_folder(pipeline, tmp_path):
    run = pipeline.run_folder.name
    with serve_dashboard(pipeline.env, tmp_path / "voila.log") as url:
        assert status_of(url, f"/reports/{run}/06_evaluate.html") == 200
        assert status_of(url, "/reports/_static/plotly.min.js") == 200
        assert status_of(url, "/reports/") == 200  # the runs index
        assert status_of(url, f"/reports/{run}/05_predict.ipynb") == 404  # not a report
        assert status_of(url, "/reports/../../stockcast.db") in (403, 404)
        assert status_of(url, "/reports/%2e%2e/%2e%2e/etc/hostname.html") in (403, 404)


def test_token_guards_the_page_and_the_reports(pipeline, tmp_path):
    with serve_dashboard(pipeline.env, tmp_path / "voila.log", "--token", "s3cret") as url:
        assert status_of(url, "/reports/index.html") in (302, 403)
        assert status_of(url, "/reports/index.html?token=wrong") in (302, 403)
        assert status_of(url, "/reports/index.html?token=s3cret") == 200


def test_snapshot_opens_offline_from_disk_with_its_figures(pipeline, browser, tmp_path):
    snapshot = pipeline.run_folder / "dashboard.html"
    context = browser.new_context(viewport=VIEWPORT, offline=True)
    page = context.new_page()
    requested, errors = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def only_files(route):
        if route.request.url.startswith("file:"):
            return route.continue_()
        requested.append(route.request.url)
        return route.abort()

    page.route("**/*", only_files)
    page.goto(snapshot.as_uri())
    page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.plotly-graph-div .main-svg').length >= 16"
    )  # two SVG layers per figure: 4 tickers x (price, track record)
    assert page.locator(".plotly-graph-div.js-plotly-plot").count() == 8
    assert requested == [] and errors == []
    screenshot(page, tmp_path / "snapshot-offline.png")

    page.goto((pipeline.outputs / "runs" / "index.html").as_uri())
    page.locator("a", has_text="dashboard").first.click()
    page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
    assert page.url.endswith("/dashboard.html")
    context.close()
