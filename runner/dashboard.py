"""`python -m runner dashboard`: serve notebooks/dashboard.ipynb with Voila, and the archived run
reports under `/reports/` so the dashboard's links open.

Bound to 127.0.0.1 unless told otherwise, tracebacks hidden, a token when one is given. The
reports route serves files of `outputs/runs/` read-only (GET and HEAD of a few static types),
behind the same login as the dashboard; tornado's StaticFileHandler refuses any path that
resolves outside that folder, so `..` cannot climb out of it.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from traitlets import Unicode
from voila.app import Voila

from runner.execute import ensure_kernel
from stockcast.config import NOTEBOOKS_DIR, load_settings

NOTEBOOK = NOTEBOOKS_DIR / "dashboard.ipynb"
REPORTS_ROUTE = "reports"
SERVED_TYPES = (".html", ".js", ".css", ".png", ".svg")


class ReportHandler(JupyterHandler, web.StaticFileHandler):
    """Archived reports, read-only: HTML pages and the assets they load, nothing else."""

    def _checked(self, path: str) -> str:
        path = path or "index.html"
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
        if not Path(absolute_path).resolve().is_relative_to(Path(root).resolve()):
            raise web.HTTPError(403, "outside the reports folder")
        return super().validate_absolute_path(root, absolute_path)


class DashboardServer(Voila):
    """Voila with one more route: the reports of every run under /reports/."""

    runs_dir = Unicode("", config=True, help="folder of the archived run reports")

    def init_handlers(self) -> list:
        route = url_path_join(self.server_url, rf"/{REPORTS_ROUTE}/(.*)")
        reports = (route, ReportHandler, {"path": self.runs_dir})
        return [reports, *super().init_handlers()]  # before Voila's catch-all page route


def voila_arguments(host: str, port: int, token: str | None) -> list[str]:
    """Voila's command line: our notebook, no browser, no tracebacks, this address only."""
    arguments = [
        str(NOTEBOOK),
        "--no-browser",
        f"--Voila.ip={host}",
        f"--port={port}",
        "--Voila.port_retries=0",
        "--show_tracebacks=False",
        "--theme=light",
        # A closed tab's kernel is shut down by the page; one left without a connection (a
        # crashed browser) is culled after 10 minutes. Open pages are never culled.
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_idle_timeout=600",
    ]
    if token:
        arguments.append(f"--token={token}")
    return arguments


def serve(host: str = "127.0.0.1", port: int = 8866, token: str | None = None) -> int:
    """Serve the dashboard until interrupted; returns the exit status."""
    ensure_kernel()  # the notebook names the `stockcast` kernel
    settings = load_settings()
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"dashboard on http://{host}:{port}/ (reports under /{REPORTS_ROUTE}/); Ctrl-C stops it",
        flush=True,
    )
    DashboardServer.launch_instance(
        argv=voila_arguments(host, port, token), runs_dir=str(settings.runs_dir)
    )
    return 0
