"""The dashboard as a person sees it: served by `python -m runner dashboard` and opened in Debian's
Chromium (driven by Playwright), and the published snapshot opened from disk, offline; and the
server as a visitor, a healthcheck or a careless client meets it over HTTP.

Screenshots land in each test's tmp_path. Skipped only where /usr/bin/chromium is absent.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from conftest import REPO, pipeline_env

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


def fetch(url: str, path: str) -> http.client.HTTPResponse:
    """GET `path` sent as is (no client-side normalisation of `..`); the response, body read."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    connection.request("GET", path)
    response = connection.getresponse()
    response.body = response.read()
    return response


def status_of(url: str, path: str) -> int:
    return fetch(url, path).status


def health(url: str) -> dict:
    response = fetch(url, "/health")
    assert response.status == 200, response.status
    return json.loads(response.body)


def kernel_processes(url: str) -> list[psutil.Process]:
    """The kernels the server runs, counted as processes (not as the server reports them)."""
    kernels = []
    for process in psutil.Process(server_pid(url)).children(recursive=True):
        try:
            alive = process.status() != psutil.STATUS_ZOMBIE
            if alive and "ipykernel_launcher" in " ".join(process.cmdline()):
                kernels.append(process)
        except psutil.Error:  # ended while we looked
            pass
    return kernels


def wait_for_kernels(url: str, count: int, seconds: float = 120) -> None:
    """Poll until the server runs `count` kernels."""
    deadline = time.monotonic() + seconds
    while (held := len(kernel_processes(url))) != count:
        assert time.monotonic() < deadline, f"{held} kernels alive, expected {count}"
        time.sleep(1)


def server_pid(url: str) -> int:
    """The process listening on the URL's port."""
    port = int(url.rsplit(":", 1)[1])
    listening = psutil.net_connections(kind="tcp")
    return next(c.pid for c in listening if c.laddr.port == port and c.status == "LISTEN")


def command_lines(pid: int) -> list[str]:
    """The command lines of a process and of every process it started, as `ps` shows them."""
    server = psutil.Process(pid)
    return [" ".join(p.cmdline()) for p in [server, *server.children(recursive=True)]]


def dashboard_env(base: dict, config: Path, **variables: str) -> dict:
    """`base` with a Jupyter config folder holding `voila.json` (settings of the server's kernel
    manager) and extra variables."""
    config.mkdir(parents=True, exist_ok=True)
    return {**base, "JUPYTER_CONFIG_DIR": str(config), **variables}


def write_voila_config(config: Path, **kernels) -> None:
    (config / "voila.json").write_text(json.dumps({"DashboardKernels": kernels}))


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


@pytest.fixture(scope="module")
def served(pipeline, tmp_path_factory):
    """`python -m runner dashboard` over the demo run, as an operator starts it (no token),
    shared by the tests that only visit it."""
    with serve_dashboard(pipeline.env, tmp_path_factory.mktemp("served") / "voila.log") as url:
        yield url


def test_served_dashboard_shows_and_switches_tickers(pipeline, browser, served, tmp_path):
    tickers = sorted(store.price_summary(store.connect(pipeline.db_url))["ticker"])
    first, second = tickers[0], tickers[1]
    url = served
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
    assert page.get_by_label("Ticker").input_value() == first
    page.get_by_text(f"{first}: last train as of").wait_for(timeout=wait)  # from MLflow
    screenshot(page, tmp_path / "dashboard-first-ticker.png")

    page.get_by_label("Ticker").select_option(second)
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


def test_reports_route_serves_reports_read_only_and_stays_in_its_folder(pipeline, served):
    run, url = pipeline.run_folder.name, served
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


# --- visitors, kernels and bad requests -----------------------------------------------------------

SEQUENTIAL_VISITS = 6


def page_kernel_id(page) -> str:
    """The kernel Voila started for this page, from the page's own configuration."""
    return json.loads(page.locator("#jupyter-config-data").text_content())["kernelId"]


def open_dashboard(context, url: str):
    """A page of the served dashboard, returned once its last piece (the MLflow leaderboard, read
    after everything else) has rendered below the headline, figures and recent runs."""
    page = context.new_page()
    page.goto(url, wait_until="commit")
    timeout = 4 * PAGE_BUDGET * 1000  # the bound is the server's own cell timeout, not ours
    page.locator(".sc-headline").wait_for(timeout=timeout)
    page.locator(".widget-output .gtitle").first.wait_for(timeout=timeout)
    page.locator(".sc-runs").wait_for(timeout=timeout)
    page.get_by_text("last train as of").first.wait_for(timeout=timeout)
    return page


@contextmanager
def run_writing(db_paths: list[Path]):
    """Write transactions held open on the databases, as a run's ingest or train holds them."""
    import sqlite3

    connections = []
    for path in db_paths:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN IMMEDIATE")  # the write lock a run takes, readers still allowed
        connection.execute("CREATE TABLE sc_test_writer (x)")
        connections.append(connection)
    try:
        yield
    finally:
        for connection in connections:
            connection.execute("ROLLBACK")
            connection.close()


def test_every_visit_completes_and_its_kernel_ends(pipeline, browser, tmp_path):
    """Six visits in a row, then three at once while a run writes: each page renders to its last
    piece; a fourth visitor gets the busy page; every kernel ends when its visitor leaves (the
    page tells the server on unload), or, when the browser vanished without a word, a few
    seconds later."""
    config = tmp_path / "jupyter"
    env = dashboard_env(pipeline.env, config, STOCKCAST_DASHBOARD_TOKEN="visit-0123456789")
    write_voila_config(config, max_kernels=3, cull_idle_timeout=8, cull_interval=1)
    log = tmp_path / "voila.log"
    with serve_dashboard(env, log) as url:
        page_url = f"{url}/?token=visit-0123456789"
        context = browser.new_context(viewport=VIEWPORT)
        left = []
        for _ in range(SEQUENTIAL_VISITS):
            page = open_dashboard(context, page_url)
            assert len(kernel_processes(url)) == 1
            left.append(page_kernel_id(page))
            page.close(run_before_unload=True)  # the visitor closes the tab
            wait_for_kernels(url, 0)
        culled = [line for line in log.read_text().splitlines() if "Culling" in line]
        assert not [k for k in left if any(k in line for line in culled)], culled  # ended on unload

        with run_writing([pipeline.outputs / "stockcast.db", pipeline.outputs / "mlflow.db"]):
            crowd = browser.new_context(viewport=VIEWPORT)
            pages = [crowd.new_page() for _ in range(3)]
            for page in pages:
                page.goto(page_url, wait_until="commit")
            wait_for_kernels(url, 3)
            assert health(url) == {"status": "ok", "visitors": 3, "max_visitors": 3}
            for kernel in kernel_processes(url):  # the token reaches no kernel in any way
                assert "visit-0123456789" not in " ".join(kernel.cmdline())
                assert "visit-0123456789" not in str(kernel.environ())
            busy = fetch(url, "/?token=visit-0123456789")
            assert busy.status == 503 and busy.getheader("Retry-After") == "30", busy.status
            assert b"The dashboard is busy" in busy.body
            for page in pages:
                page.locator(".sc-runs").wait_for(timeout=4 * PAGE_BUDGET * 1000)
                page.get_by_text("last train as of").first.wait_for(timeout=4 * PAGE_BUDGET * 1000)
                assert page.locator(".sc-headline").count() == 1
            screenshot(pages[-1], tmp_path / "dashboard-while-a-run-writes.png")
        crowd.close()  # the browser goes away without unloading its pages: culled
        wait_for_kernels(url, 0)

        response = fetch(url, "/?token=visit-0123456789")  # a client without JavaScript
        assert response.status == 200 and len(kernel_processes(url)) == 1
        wait_for_kernels(url, 0)
        context.close()


@pytest.fixture
def reports_only(tmp_path) -> dict:
    """The environment of a dashboard over an empty outputs folder whose runs/ holds an index, a
    symlink loop and a link out of the folder: enough for the server's own routes."""
    outputs = tmp_path / "outputs"
    runs = outputs / "runs"
    runs.mkdir(parents=True)
    (runs / "index.html").write_text("<h1>runs</h1>")
    (runs / "loop.html").symlink_to(runs / "loop.html")
    (runs / "outside.html").symlink_to("/etc/hostname")
    return pipeline_env(outputs)


ODD_REPORT_PATHS = [
    "/reports/index.html%00.html",  # a NUL byte the OS refuses
    "/reports/a%00/b.html",
    "/reports/%00",
    "/reports/%0a.html",
    "/reports/%0d%0aSet-Cookie:%20x=1.html",
    "/reports/%7f.html",
    "/reports/loop.html",  # a symlink loop
    "/reports/outside.html",  # a symlink out of the folder
    "/reports/" + "a" * 5000 + ".html",  # a name too long for the OS
    "/reports/" + "a/" * 3000 + "x.html",
    "/reports/%ff.html",  # not UTF-8
    "/reports/%c0%ae%c0%ae/x.html",
    "/reports/..%2f..%2fetc%2fhostname.html",
    "/reports/%2e%2e%5c%2e%2e%5cstockcast.db.html",
    "/reports//etc/hostname.html",
    "/reports/index.html/",
    "/reports/_static/../../mlflow.db",
    "/reports/index.html;.html",
    "/reports/.html",
]


def test_odd_report_paths_get_a_4xx_and_health_needs_no_token(reports_only, tmp_path):
    """Passed with `--token` (the operator's way), the token leaves every command line."""
    token = "flag-0123456789"
    with serve_dashboard(reports_only, tmp_path / "voila.log", "--token", token) as url:
        assert not [line for line in command_lines(server_pid(url)) if token in line]
        assert status_of(url, f"/reports/index.html?token={token}") == 200
        for path in ODD_REPORT_PATHS:
            status = status_of(url, f"{path}?token={token}")
            assert 400 <= status < 500, (path[:60], status)
        response = fetch(url, "/health")  # no token: healthchecks carry none
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("application/json")
        assert json.loads(response.body) == {"status": "ok", "visitors": 0, "max_visitors": 4}
        assert status_of(url, "/reports/index.html") in (302, 403)  # the rest still wants it
        assert status_of(url, "/") in (302, 403)


def test_token_from_the_environment_guards_every_route(reports_only, tmp_path):
    env = {**reports_only, "STOCKCAST_DASHBOARD_TOKEN": "env-0123456789"}
    with serve_dashboard(env, tmp_path / "voila.log") as url:
        assert not [line for line in command_lines(server_pid(url)) if "env-0123456789" in line]
        assert status_of(url, "/") in (302, 403)
        assert status_of(url, "/reports/index.html") in (302, 403)
        assert status_of(url, "/reports/index.html?token=wrong") in (302, 403)
        assert status_of(url, "/reports/index.html?token=env-0123456789") == 200
        assert health(url)["status"] == "ok"
