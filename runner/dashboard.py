"""`python -m runner dashboard`: serve notebooks/dashboard.ipynb with Voila, the archived run
reports under `/reports/` so the dashboard's links open, and `/health` for healthchecks.

Bound to 127.0.0.1 unless told otherwise, tracebacks hidden, a token when one is given (from
`--token` or `STOCKCAST_DASHBOARD_TOKEN`; never left on a command line, where `ps` shows it to every
user). The reports route serves files of `outputs/runs/` read-only (GET and HEAD of a few static
types), behind the same login as the dashboard; tornado's StaticFileHandler refuses any path that
resolves outside that folder, so `..` cannot climb out of it.

Each visit runs the notebook in a kernel of its own (about 210 MB): `DashboardKernels` bounds how
many live at once and ends them when their visitor leaves. Cells run only once the page is open
in a browser (Voila's progressive rendering), so the widgets are created while the page listens;
rendered first and restored afterwards, about one load in four lost its last widgets here.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from jupyter_server._tz import utcnow
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import url_path_join
from tornado import web
from traitlets import Integer, Unicode
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

from runner.execute import ensure_kernel
from stockcast.config import NOTEBOOKS_DIR, load_settings

NOTEBOOK = NOTEBOOKS_DIR / "dashboard.ipynb"
REPORTS_ROUTE = "reports"
SERVED_TYPES = (".html", ".js", ".css", ".png", ".svg")
TOKEN_VARIABLE = "STOCKCAST_DASHBOARD_TOKEN"
CELL_TIMEOUT = 180  # seconds a cell may run: the leaderboard waits up to 120 s for MLflow
RETRY_SECONDS = 30
BUSY_PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><title>stockcast · busy</title>
<meta http-equiv="refresh" content="{RETRY_SECONDS}"></head>
<body style="font-family:Helvetica,Arial,sans-serif;margin:3em">
<h1>The dashboard is busy</h1><p>It is serving as many visitors as it can hold. This page tries
again in {RETRY_SECONDS} seconds.</p></body></html>"""


def should_cull(state: str, connections: int, idle: timedelta, kernels) -> bool:
    """Whether a visitor's kernel should end, by what its page is doing.

    Left (no page connected): after `cull_idle_timeout` of quiet. Busy and unconnected (the page
    still rendering, or a runaway cell): after `cull_busy_timeout`. Open in a browser: after
    `cull_open_page_timeout` without any use. Dead: now.
    """
    if state == "dead":
        return True
    if connections:
        limit = kernels.cull_open_page_timeout
    elif state == "busy":
        limit = kernels.cull_busy_timeout
    else:
        limit = kernels.cull_idle_timeout
    return idle > timedelta(seconds=limit)


class DashboardKernels(AsyncMappingKernelManager):
    """At most `max_kernels` visitors' kernels; each ends when its visitor leaves or stops.

    Why 4: a page load is CPU-bound (pandas and plotly in the kernel, MLflow's import in a child
    beside it), so on a small host (2 cores) more simultaneous loads only slow every visitor, and
    memory stays bounded: measured here, a kernel holds about 210 MB and its MLflow child about
    250 MB while the page loads, so 4 visitors need about 1.1 GB with their pages open and about
    2 GB while all four load at once (plus the server's 210 MB). The fifth visitor gets a 503
    page that retries by itself. Closing the tab ends its kernel at once (the page posts to
    /voila/api/shutdown); a visitor who vanished is culled after a minute. Voila's pre-heated
    kernel pool is not used: it renders pages before anyone asks, with the data of that moment,
    and holds their memory with nobody looking.
    """

    max_kernels = Integer(4, config=True, help="visitors' kernels alive at once")
    cull_idle_timeout = Integer(60, config=True, help="seconds before a left kernel ends")
    cull_interval = Integer(10, config=True, help="seconds between culling passes")
    cull_busy_timeout = Integer(
        CELL_TIMEOUT + 60,
        config=True,
        help="seconds of silence before a busy, unwatched kernel ends",
    )
    cull_open_page_timeout = Integer(
        900, config=True, help="seconds an open page may sit unused before its kernel ends"
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._starting = 0

    async def start_kernel(self, *args, **kwargs):
        if len(self) + self._starting >= self.max_kernels:
            raise web.HTTPError(503, f"{self.max_kernels} visitors already", reason="Busy")
        self._starting += 1  # counted before the first await: a burst cannot overshoot
        try:
            return await super().start_kernel(*args, **kwargs)
        finally:
            self._starting -= 1

    async def cull_kernel_if_idle(self, kernel_id):
        kernel = self._kernels.get(kernel_id)
        if kernel is None or kernel_id in self._pending_kernels:  # already starting or ending
            return
        state = getattr(kernel, "execution_state", "starting")
        idle = utcnow() - getattr(kernel, "last_activity", utcnow())
        if should_cull(state, self._kernel_connections.get(kernel_id, 0), idle, self):
            self.log.info("Culling %s kernel %s idle for %s", state, kernel_id, idle)
            await self.shutdown_kernel(kernel_id)


def drop_token_from_request(request) -> None:
    """Forget the ?token= of a request once it has logged the visitor in: Voila hands the query
    and the full URL to the visitor's kernel in its environment."""
    if "token" not in request.query_arguments:
        return
    request.query_arguments.pop("token")
    request.arguments.pop("token", None)
    request.query = urlencode(request.query_arguments, doseq=True)
    request.uri = request.path + (f"?{request.query}" if request.query else "")


class DashboardPage(TornadoVoilaHandler):
    """Voila's page, with the _xsrf cookie its unload beacon needs and a page for a full house."""

    async def prepare(self, **kwargs):
        await super().prepare(**kwargs)  # logs the visitor in, by ?token= or cookie
        # The page ends its kernel on unload by posting the _xsrf cookie; Voila never sets it,
        # so the post was refused (403) and every kernel lived until culled.
        self.xsrf_token  # noqa: B018 -- reading it sets the cookie
        drop_token_from_request(self.request)

    def write_error(self, status_code: int, **kwargs) -> None:
        if status_code != 503:
            return super().write_error(status_code, **kwargs)
        self.set_header("Retry-After", str(RETRY_SECONDS))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(BUSY_PAGE)


class HealthHandler(web.RequestHandler):
    """GET /health, without login: the server answers, and how many visitors it holds."""

    def initialize(self, kernels: DashboardKernels) -> None:
        self.kernels = kernels

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        visitors = len(self.kernels)
        self.finish(
            {"status": "ok", "visitors": visitors, "max_visitors": self.kernels.max_kernels}
        )


class ReportHandler(JupyterHandler, web.StaticFileHandler):
    """Archived reports, read-only: HTML pages and the assets they load, nothing else."""

    def _checked(self, path: str) -> str:
        path = path or "index.html"
        if any(ord(c) < 32 or ord(c) == 127 for c in path) or "\\" in path:
            raise web.HTTPError(400, "control character or backslash in a report path")
        if path.endswith("/"):
            path += "index.html"
        if Path(path).suffix.lower() not in SERVED_TYPES:
            raise web.HTTPError(404)
        return path

    @web.authenticated
    def get(self, path: str, include_body: bool = True):
        return web.StaticFileHandler.get(self, self._checked(path), include_body)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        # Resolve symlinks too: a link inside runs/ must not lead outside it.
        try:
            resolved = Path(absolute_path).resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a name the OS refuses
            raise web.HTTPError(404) from None
        if not resolved.is_relative_to(Path(root).resolve()):
            raise web.HTTPError(403, "outside the reports folder")
        return super().validate_absolute_path(root, absolute_path)


class DashboardServer(Voila):
    """Voila with bounded kernels, the reports of every run under /reports/, and /health."""

    runs_dir = Unicode("", config=True, help="folder of the archived run reports")

    def init_handlers(self) -> list:
        reports = url_path_join(self.server_url, rf"/{REPORTS_ROUTE}/(.*)")
        health = url_path_join(self.server_url, "/health")
        ours = [
            (health, HealthHandler, {"kernels": self.kernel_manager}),
            (reports, ReportHandler, {"path": self.runs_dir}),
        ]
        voila = [
            (route[0], DashboardPage, *route[2:]) if route[1] is TornadoVoilaHandler else route
            for route in super().init_handlers()
        ]
        return [*ours, *voila]  # before Voila's catch-all page route


def voila_arguments(host: str, port: int) -> list[str]:
    """Voila's command line: our notebook, no browser, no tracebacks, this address only."""
    return [
        str(NOTEBOOK),
        "--no-browser",
        f"--Voila.ip={host}",
        f"--port={port}",
        "--Voila.port_retries=0",
        "--show_tracebacks=False",
        "--theme=light",
        "--VoilaConfiguration.multi_kernel_manager_class=runner.dashboard.DashboardKernels",
        # Cells run once the page is open and listening, so it never restores widgets afterwards.
        "--VoilaConfiguration.progressive_rendering=True",
        # A page whose kernel stops answering ends with a notice instead of waiting forever.
        f"--VoilaExecutor.timeout={CELL_TIMEOUT}",
        "--VoilaExecutor.cell_timeout_instruction=Reload the page to try again.",
    ]


def read_token(flag: str | None) -> str | None:
    """The token from --token, else from STOCKCAST_DASHBOARD_TOKEN (or .env), which is removed
    from the environment so that the visitors' kernels do not inherit it."""
    from_environment = os.environ.pop(TOKEN_VARIABLE, None)
    return flag or from_environment or None


def _is_token_flag(argument: str) -> bool:
    """`--token`, `--token=...` or an abbreviation argparse accepts (`--tok`, `--t=...`)."""
    flag = argument.split("=", 1)[0]
    return len(flag) > 2 and "--token".startswith(flag)


def restart_without_token_argument(token: str, host: str, port: int) -> None:
    """Replace this process by the same server with the token in its environment instead of on
    its command line: `ps` shows every process's arguments to every user, not its environment."""
    if not any(_is_token_flag(argument) for argument in sys.orig_argv):
        return
    environment = {**os.environ, TOKEN_VARIABLE: token}
    arguments = [sys.executable, "-m", "runner", "dashboard", f"--host={host}", f"--port={port}"]
    sys.stdout.flush()
    os.execve(sys.executable, arguments, environment)


def serve(host: str = "127.0.0.1", port: int = 8866, token: str | None = None) -> int:
    """Serve the dashboard until interrupted; returns the exit status."""
    ensure_kernel()  # the notebook names the `stockcast` kernel
    settings = load_settings()
    token = read_token(token)
    if token:
        restart_without_token_argument(token, host, port)
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"dashboard on http://{host}:{port}/ (reports under /{REPORTS_ROUTE}/, health at /health);"
        " Ctrl-C stops it",
        flush=True,
    )
    DashboardServer.launch_instance(
        argv=voila_arguments(host, port), runs_dir=str(settings.runs_dir), token=token
    )
    return 0
