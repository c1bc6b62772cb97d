"""`python -m runner.health [URL]`: the healthchecks of compose.yml's services, one line each.

With a URL (the servers: MLflow, the API, the dashboard, JupyterLab): healthy when a GET of it
answers 2xx, not a redirect. Without (the `runner` service): healthy when the cron process
(supercronic, which runs runner/crontab) is alive and the database answers. Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

CRON = "supercronic"
TIMEOUT = 8  # seconds; compose gives each check 10


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a hop: a server behind a token sends its health route's
    visitors to its login page, which answers 200 and would pass for healthy."""

    def redirect_request(self, *args, **kwargs):
        return None


def check_url(url: str) -> tuple[bool, str]:
    """Whether a GET of `url` answers 2xx itself (redirects are not followed), and what it
    answered."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=TIMEOUT) as response:
            return True, f"GET {url} answered {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"GET {url} answered {error.code} {error.reason}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"GET {url} failed ({getattr(error, 'reason', error)})"


def cron_alive(name: str = CRON) -> bool:
    """Whether a process of that name runs (in the runner container, supercronic is PID 1)."""
    import psutil

    return any(process.info["name"] == name for process in psutil.process_iter(["name"]))


def database_problem(url: str) -> str | None:
    """Why the database cannot be reached, or None when it answers. Nothing is created or
    migrated; a SQLite file that does not exist yet is fine (the first run creates it)."""
    from stockcast import store
    from stockcast.errors import DatabaseUnavailable

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(TIMEOUT))  # fail before compose times out
    try:
        store.connect_read_only(url).dispose()
    except DatabaseUnavailable as error:
        return str(error)
    return None


def check_runner() -> tuple[bool, str]:
    """Whether supercronic is alive and the configured database answers, and what was found."""
    from stockcast.config import load_settings, mask_url

    if not cron_alive():
        return False, f"{CRON} is not running, so no scheduled run will start"
    url = load_settings().db_url
    problem = database_problem(url)
    if problem:
        return False, problem
    return True, f"{CRON} is running and the database {mask_url(url)} answers"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.health", description=__doc__)
    parser.add_argument("url", nargs="?", help="GET this URL (default: check the runner)")
    args = parser.parse_args(argv)
    healthy, found = check_url(args.url) if args.url else check_runner()
    print(f"{'healthy' if healthy else 'unhealthy'}: {found}", flush=True)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
