"""The deployment, checked as files (no Docker engine here): compose.yml's services, their health
and dependencies, 127.0.0.1 binds and secrets; that every command and file they name exists; the
Dockerfile (its supercronic step run natively); runner/crontab's schedule in New York time across
daylight saving; and runner/health.py, the probe every healthcheck runs. tests/test_stack.py
runs the services' commands themselves.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shlex
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import REPO
from croniter import croniter

from runner import health
from runner.cli import build_parser

NEW_YORK = ZoneInfo("America/New_York")
COMPOSE = yaml.safe_load((REPO / "compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("runner", "dashboard", "lab", "api")
DASK_SERVICES = ("dask-scheduler", "dask-worker")  # the optional profile `dask`
IMAGE = "stockcast:local"
# The route each server's healthcheck GETs: a page of its own that answers without a login.
HEALTH_ROUTES = {"mlflow": "/health", "api": "/health", "dashboard": "/health", "lab": "/api"}
REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(.+)@[\w.-]+[:/]")


def command_of(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def read_crontab() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Its variable lines, and (schedule, command) for each job line."""
    variables, jobs = {}, []
    for line in (REPO / "runner" / "crontab").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.fullmatch(r"([A-Z_]+)=(.*)", line):
            variables[match[1]] = match[2]
            continue
        fields = line.split(None, 5)
        jobs.append((" ".join(fields[:5]), fields[5]))
    return variables, jobs


def job(subcommand: str) -> str:
    """The schedule of the crontab's `python -m runner <subcommand>` job."""
    _, jobs = read_crontab()
    (schedule,) = [s for s, c in jobs if c.split()[:4] == ["python", "-m", "runner", subcommand]]
    return schedule


def fires(schedule: str, after: datetime, count: int) -> list[datetime]:
    times = croniter(schedule, after)
    return [times.get_next(datetime) for _ in range(count)]


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [i.strip() for i in re.split(r"\n(?=[A-Z]+ )", joined) if i.strip()]


def copied_by_dockerfile() -> set[str]:
    """Repository paths the Dockerfile copies into the image."""
    copied = set()
    for instruction in dockerfile_instructions():
        words = instruction.split()
        if words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            copied.update(w for w in words[1:-1] if not w.startswith("--"))
    return copied


def in_repository(container_path: str) -> Path:
    """The repository file behind a path of the image's /app (the Dockerfile's WORKDIR)."""
    assert container_path.startswith("/app/"), container_path
    relative = container_path.removeprefix("/app/")
    assert relative.split("/")[0] in copied_by_dockerfile(), f"{relative} is not in the image"
    return REPO / relative


# --- compose.yml --------------------------------------------------------------------------------


def test_the_stack_has_its_services_from_one_image_built_once():
    assert set(SERVICES) == {"postgres", "mlflow", *APP_SERVICES, *DASK_SERVICES}
    ours = [name for name in SERVICES if name != "postgres"]
    assert {SERVICES[name]["image"] for name in ours} == {IMAGE}
    builders = [name for name in SERVICES if "build" in SERVICES[name]]
    assert builders == ["mlflow"], "one service builds the image, the others run it"
    assert SERVICES["mlflow"]["build"]["context"] == "."
    # Every other service depends on the builder, so `docker compose up --build <any>` builds it.
    for name in APP_SERVICES:
        assert "mlflow" in SERVICES[name]["depends_on"], name


def test_dependencies_wait_until_postgres_and_mlflow_are_healthy():
    for name, service in SERVICES.items():
        for target, spec in service.get("depends_on", {}).items():
            assert spec == {"condition": "service_healthy"}, (name, target)
            assert SERVICES[target]["healthcheck"]["test"], target
    assert set(SERVICES["mlflow"]["depends_on"]) == {"postgres"}
    for name in APP_SERVICES:
        assert set(SERVICES[name]["depends_on"]) == {"postgres", "mlflow"}, name


def test_every_service_has_a_healthcheck_and_state_lives_on_volumes():
    for name, service in SERVICES.items():
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "mlartifacts:/data/mlartifacts" in SERVICES["mlflow"]["volumes"]
    for name in APP_SERVICES:
        assert "outputs:/data/outputs" in SERVICES[name]["volumes"], name
        assert environment_of(SERVICES[name])["STOCKCAST_OUTPUTS"] == "/data/outputs"
    assert set(COMPOSE["volumes"]) == {"pgdata", "mlartifacts", "outputs"}


def container_port(name: str) -> str:
    """The port a service listens on in its container (the right side of its published port)."""
    (port,) = SERVICES[name]["ports"]
    return port.rsplit(":", 1)[1]


@pytest.mark.parametrize(("name", "route"), HEALTH_ROUTES.items())
def test_server_healthchecks_get_a_health_route_over_http_on_their_own_port(name, route):
    test = SERVICES[name]["healthcheck"]["test"]
    assert test == [
        "CMD",
        "python",
        "-m",
        "runner.health",
        f"http://127.0.0.1:{container_port(name)}{route}",
    ]


def test_the_runner_healthcheck_checks_cron_and_the_database():
    assert SERVICES["runner"]["healthcheck"]["test"] == ["CMD", "python", "-m", "runner.health"]
    assert health.CRON == command_of(SERVICES["runner"])[0]


def seconds(duration: str) -> int:
    """A compose duration such as 90s, 5m or 1m30s in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    assert "".join(f"{n}{u}" for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def test_healthchecks_give_each_probe_time_to_answer():
    for name, service in SERVICES.items():
        check = service["healthcheck"]
        assert seconds(check["timeout"]) > health.TIMEOUT or name == "postgres", name
        assert seconds(check["interval"]) >= seconds(check["timeout"]), name


def test_every_port_is_published_on_127_0_0_1_in_short_form():
    published = {}
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the short form '127.0.0.1:HOST:CONTAINER'"
            assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+", port), f"{name} publishes {port}"
            published[name] = port if len(service["ports"]) == 1 else service["ports"]
    assert published == {
        "mlflow": "127.0.0.1:5000:5000",
        "dashboard": "127.0.0.1:8866:8866",
        "lab": "127.0.0.1:8888:8888",
        "api": "127.0.0.1:8000:8000",
        "dask-scheduler": ["127.0.0.1:8786:8786", "127.0.0.1:8787:8787"],
    }


def test_the_dask_profile_is_optional_and_its_workers_join_its_scheduler():
    """`docker compose up` leaves the cluster out; `--profile dask` adds a scheduler and one-thread
    workers of the same image, which the runner reaches as STOCKCAST_DASK_SCHEDULER says."""
    started_by_default = [name for name, s in SERVICES.items() if "profiles" not in s]
    assert set(started_by_default) == {"postgres", "mlflow", *APP_SERVICES}
    for name in DASK_SERVICES:
        assert SERVICES[name]["profiles"] == ["dask"] and SERVICES[name]["image"] == IMAGE
    scheduler = command_of(SERVICES["dask-scheduler"])
    worker = command_of(SERVICES["dask-worker"])
    assert scheduler[:2] == ["dask", "scheduler"] and "--port=8786" in scheduler
    assert worker[:3] == ["dask", "worker", "tcp://dask-scheduler:8786"]
    assert "--nthreads=1" in worker
    saturation = "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION"
    assert environment_of(SERVICES["dask-scheduler"])[saturation] == "1.0"
    assert SERVICES["dask-worker"]["depends_on"] == {
        "dask-scheduler": {"condition": "service_healthy"}
    }
    example = (REPO / ".env.example").read_text()
    assert "STOCKCAST_DASK_SCHEDULER=tcp://dask-scheduler:8786" in example


def test_no_secret_is_written_in_compose_yml():
    for name, service in SERVICES.items():
        for key, value in environment_of(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(?::?[-?][^}]*)?\}", value), f"{name}: {key}"
            for password in URL_PASSWORD.findall(value):
                assert password.startswith("${"), f"{name}: a password inline in {key}"
        for arg in command_of(service):
            flag, _, value = arg.partition("=")
            if SECRET_NAME.search(flag):
                assert value.startswith("${"), f"{name}: {flag} inline"
            assert not URL_PASSWORD.search(arg), f"{name}: a URL with a password in its command"


def test_the_database_and_tracking_server_default_to_the_stack_and_can_point_elsewhere():
    environment = environment_of(SERVICES["runner"])
    assert environment["STOCKCAST_DB_URL"] == (
        "${STOCKCAST_DB_URL:-postgresql+psycopg://stockcast:${POSTGRES_PASSWORD}"
        "@postgres:5432/stockcast}"
    )
    assert environment["MLFLOW_TRACKING_URI"] == "${MLFLOW_TRACKING_URI:-http://mlflow:5000}"
    backend = environment_of(SERVICES["mlflow"])["MLFLOW_BACKEND_STORE_URI"]
    assert backend.endswith("@postgres:5432/mlflow")  # its own database: see the init script
    assert "CREATE DATABASE mlflow" in (REPO / "docker" / "postgres-init.sql").read_text()


def test_env_example_documents_every_variable_and_env_stays_private():
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M))
    used = set(REFERENCE.findall((REPO / "compose.yml").read_text()))
    read_by_stockcast = {"STOCKCAST_DB_URL", "MLFLOW_TRACKING_URI", "STOCKCAST_OUTPUTS"}
    assert used | read_by_stockcast <= documented
    assert ".env" in (REPO / ".gitignore").read_text().split()
    assert ".env" in (REPO / ".dockerignore").read_text().split()


def test_env_example_placeholders_follow_their_own_rules():
    """The password goes into connection URLs unquoted: letters and digits only, as it says."""
    from dotenv import dotenv_values

    example = dotenv_values(REPO / ".env.example")
    assert re.fullmatch(r"[A-Za-z0-9]+", example["POSTGRES_PASSWORD"])
    assert example["JUPYTER_TOKEN"]  # compose refuses an empty one


def test_every_file_a_service_mounts_exists():
    mounted = [
        volume.split(":")[0]
        for service in SERVICES.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert "./docker/postgres-init.sql" in mounted
    for path in mounted:
        assert (REPO / path).is_file(), path


# --- the commands the services and the crontab run ---------------------------------------------


def runner_commands() -> list[tuple[str, list[str]]]:
    """(where, arguments after `python -m runner`) of every runner command the stack runs."""
    found = [
        (name, command_of(service)[3:])
        for name, service in SERVICES.items()
        if command_of(service)[:3] == ["python", "-m", "runner"]
    ]
    _, jobs = read_crontab()
    found += [(f"crontab: {command}", shlex.split(command)[3:]) for _, command in jobs]
    return found


def with_placeholders(arg: str) -> str:
    """The argument with every ${...} reference, nested ones too, replaced by a value."""
    while "${" in arg:
        arg = re.sub(r"\$\{[^{}]*\}", "x", arg)
    return arg


@pytest.mark.parametrize(
    ("where", "args"), runner_commands(), ids=[where for where, _ in runner_commands()]
)
def test_every_runner_command_parses(where, args):
    args = [with_placeholders(arg) for arg in args]
    try:
        build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"{where}: `python -m runner {' '.join(args)}` does not parse")


def test_the_crontab_jobs_run_only_runner_commands():
    _, jobs = read_crontab()
    assert [shlex.split(command)[:4] for _, command in jobs] == [
        ["python", "-m", "runner", "daily"],
        ["python", "-m", "runner", "weekly"],
    ]


def test_the_runner_runs_supercronic_on_the_repository_crontab():
    command = command_of(SERVICES["runner"])
    assert command[0] == "supercronic"
    assert in_repository(command[-1]) == REPO / "runner" / "crontab"
    assert "/usr/local/bin/supercronic" in (REPO / "Dockerfile").read_text()
    for volume in SERVICES["runner"]["volumes"]:
        if volume.startswith("./"):
            source, target = volume.split(":")[:2]
            assert in_repository(target) == (REPO / source).resolve()


def test_the_mlflow_server_options_exist_and_it_proxies_artifacts():
    from mlflow.cli import cli

    server = cli.commands["server"]
    options = {option for param in server.params for option in param.opts}
    command = command_of(SERVICES["mlflow"])
    assert command[:2] == ["mlflow", "server"]
    for arg in command[2:]:
        assert arg.split("=")[0] in options, arg
    assert "--serve-artifacts" in command
    assert "--artifacts-destination=/data/mlartifacts" in command
    hosts = next(a for a in command if a.startswith("--allowed-hosts=")).split("=")[1].split(",")
    assert "mlflow:5000" in hosts  # the host the other services call it by
    backend = next(p for p in server.params if "--backend-store-uri" in p.opts)
    assert backend.envvar in environment_of(SERVICES["mlflow"])


def option(command: list[str], name: str) -> str | None:
    """The value of `--name=value` in a command, or None."""
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"{name}=")]
    return values[-1] if values else None


def test_mlflow_workers_get_the_time_to_import_the_server_before_their_health_ping():
    """uvicorn kills a worker that misses its ping (5 s by default); importing MLflow's server
    took 24-150 s on a 2-core machine, so --workers=2 looped on killed workers and the service
    never became healthy."""
    from importlib import import_module

    uvicorn_cli = import_module("uvicorn.main").main  # the click command `uvicorn`
    command = command_of(SERVICES["mlflow"])
    assert int(option(command, "--workers")) > 1  # uvicorn's supervisor, which pings workers
    uvicorn_args = shlex.split(option(command, "--uvicorn-opts") or "")
    context = uvicorn_cli.make_context("uvicorn", [*uvicorn_args, "mlflow.server:app"])
    timeout = context.params["timeout_worker_healthcheck"]
    assert timeout >= 120
    # No failed check counts while a worker may still be importing (about 90 s in Docker here).
    assert seconds(SERVICES["mlflow"]["healthcheck"]["start_period"]) >= timeout


def test_jupyterlab_is_installed_and_takes_its_token_from_the_environment():
    from jupyter_server.serverapp import ServerApp
    from jupyterlab.labapp import LabApp

    command = command_of(SERVICES["lab"])
    assert command[:2] == ["jupyter", "lab"]
    assert (Path(sys.executable).parent / "jupyter-lab").is_file()
    lab = LabApp()
    for arg in command[2:]:
        name = arg.removeprefix("--").split("=")[0]
        if name.startswith("ServerApp."):
            assert name.removeprefix("ServerApp.") in ServerApp.class_trait_names(), arg
        else:
            assert name in lab.flags or name in lab.aliases, arg
    assert not any("token" in arg.lower() for arg in command)
    assert environment_of(SERVICES["lab"])["JUPYTER_TOKEN"].startswith("${JUPYTER_TOKEN:?")


# --- the Dockerfile -----------------------------------------------------------------------------


def test_the_dockerfile_builds_from_the_lock_as_a_non_root_user():
    instructions = dockerfile_instructions()
    base = instructions[0].split()[1]
    python = (REPO / ".python-version").read_text().strip()
    assert base.startswith(f"python:{python}-"), base
    runs = " ".join(i for i in instructions if i.startswith("RUN "))
    assert "uv sync --locked --no-dev" in runs
    users = [i.split()[1] for i in instructions if i.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    copied = copied_by_dockerfile()
    for source in copied:
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    assert {"pyproject.toml", "uv.lock", "stockcast", "runner", "notebooks"} <= copied


def dockerfile_stages() -> dict[str, list[str]]:
    """The instructions of each build stage by its name (`FROM ... AS name`; the last: "final")."""
    stages, current = {}, None
    for instruction in dockerfile_instructions():
        if instruction.startswith("FROM "):
            words = instruction.split()
            current = words[3] if len(words) > 3 and words[2].upper() == "AS" else "final"
            stages[current] = []
        stages[current].append(instruction)
    return stages


def build_args(stage: list[str]) -> dict[str, str]:
    """A stage's ARG defaults (what RUN sees as environment variables unless --build-arg)."""
    args = {}
    for instruction in stage:
        if instruction.startswith("ARG "):
            name, _, default = instruction.removeprefix("ARG ").partition("=")
            args[name] = default
    return args


def supercronic_step() -> tuple[dict[str, str], str]:
    """The supercronic stage's build arguments and the script of its RUN."""
    stage = dockerfile_stages()["supercronic"]
    (run,) = [i.removeprefix("RUN ") for i in stage if i.startswith("RUN ")]
    return build_args(stage), run


def test_supercronic_is_downloaded_from_its_pinned_github_release_by_default():
    args, script = supercronic_step()
    assert args["SUPERCRONIC_FILE"] == ""  # no local file: download
    assert re.fullmatch(r"v\d+\.\d+\.\d+", args["SUPERCRONIC_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{40}", args["SUPERCRONIC_SHA1SUM"])
    release = "https://github.com/aptible/supercronic/releases/download/${SUPERCRONIC_VERSION}"
    assert f"{release}/supercronic-linux-${{TARGETARCH}}" in script
    assert (
        "COPY --from=supercronic /build/supercronic /usr/local/bin/supercronic"
        in (dockerfile_stages()["final"])
    )
    # compose passes the argument through from .env (documented in .env.example)
    build = SERVICES["mlflow"]["build"]
    assert build["args"]["SUPERCRONIC_FILE"] == "${SUPERCRONIC_FILE:-}"


@pytest.mark.parametrize("checksum", ["pinned", "other"])
def test_supercronic_can_come_from_a_local_file_and_is_checked_either_way(tmp_path, checksum):
    """The supercronic stage's RUN, run natively as the builder runs it: `sh -c` in its WORKDIR
    (/build, where the Dockerfile copies docker/), its ARGs as environment variables."""
    args, script = supercronic_step()
    binary = b"#!/bin/sh\necho supercronic\n"
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "supercronic-linux-amd64").write_bytes(binary)
    pinned = hashlib.sha1(binary).hexdigest()
    env = {
        **args,
        "PATH": os.environ["PATH"],
        "SUPERCRONIC_FILE": "docker/supercronic-linux-amd64",  # --build-arg
        "SUPERCRONIC_SHA1SUM": pinned if checksum == "pinned" else "0" * 40,
    }
    step = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True)
    installed = tmp_path / "supercronic"
    if checksum == "pinned":
        assert step.returncode == 0, step.stderr
        assert installed.read_bytes() == binary
        assert installed.stat().st_mode & stat.S_IXOTH
    else:
        assert step.returncode != 0  # the build stops: a wrong file never reaches the image


# --- runner/crontab -----------------------------------------------------------------------------


def test_the_crontab_keeps_new_york_time_as_the_runner_container_does():
    variables, _ = read_crontab()
    assert variables["CRON_TZ"] == "America/New_York"
    assert environment_of(SERVICES["runner"])["TZ"] == "America/New_York"


@pytest.mark.parametrize(
    ("after", "utc_hour"),
    [
        (datetime(2024, 1, 8, tzinfo=NEW_YORK), 22),  # EST, UTC-5
        (datetime(2024, 7, 8, tzinfo=NEW_YORK), 21),  # EDT, UTC-4
    ],
)
def test_daily_fires_at_17_30_new_york_on_weekdays_in_winter_and_summer(after, utc_hour):
    times = fires(job("daily"), after, 15)
    assert {(t.hour, t.minute) for t in times} == {(17, 30)}
    assert {t.weekday() for t in times} == {0, 1, 2, 3, 4}  # three full weeks, never a weekend
    assert {t.astimezone(ZoneInfo("UTC")).hour for t in times} == {utc_hour}


@pytest.mark.parametrize("friday", [datetime(2024, 3, 8, 12), datetime(2024, 11, 1, 12)])
def test_daily_keeps_17_30_new_york_across_a_daylight_saving_change(friday):
    before, after = fires(job("daily"), friday.replace(tzinfo=NEW_YORK), 2)
    assert (before.strftime("%a %H:%M"), after.strftime("%a %H:%M")) == ("Fri 17:30", "Mon 17:30")
    assert before.utcoffset() != after.utcoffset()  # the clocks changed over the weekend
    utc = ZoneInfo("UTC")
    assert after.astimezone(utc) - before.astimezone(utc) != timedelta(days=3)


def test_daily_fires_after_the_nyse_close_every_session():
    from stockcast.calendar import calendar_for

    nyse = calendar_for("AAPL")
    for fire in fires(job("daily"), datetime(2024, 1, 1, tzinfo=NEW_YORK), 260):
        day = fire.date().isoformat()
        if nyse.is_session(day):  # early closes (13:00) included
            assert nyse.session_close(day) < fire, day


def test_weekly_fires_on_sundays_only():
    times = fires(job("weekly"), datetime(2024, 3, 1, tzinfo=NEW_YORK), 12)
    assert {t.strftime("%a") for t in times} == {"Sun"}
    assert {(t.hour, t.minute) for t in times} == {(6, 0)}


# --- runner/health.py: the probe of every healthcheck ------------------------------------------


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/private":  # what a server with a token does: off to its login page
            self.send_response(302)
            self.send_header("Location", "/health")
        else:
            self.send_response(200 if self.path == "/health" else 500)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def web_server():
    """A server on 127.0.0.1: 200 on /health, a redirect to it on /private, 500 elsewhere."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_url_probe_is_healthy_only_on_a_2xx_answer(web_server, capsys):
    assert health.main([f"{web_server}/health"]) == 0
    assert capsys.readouterr().out == f"healthy: GET {web_server}/health answered 200\n"
    assert health.main([f"{web_server}/fails"]) == 1
    assert capsys.readouterr().out.startswith(f"unhealthy: GET {web_server}/fails answered 500")
    assert health.main([f"{web_server}/private"]) == 1  # a login page is no health route
    assert capsys.readouterr().out.startswith(f"unhealthy: GET {web_server}/private answered 302")
    closed = f"http://127.0.0.1:{free_port()}/health"
    assert health.main([closed]) == 1
    assert capsys.readouterr().out.startswith(f"unhealthy: GET {closed} failed (")


@pytest.fixture
def cron(tmp_path):
    """A process named like the runner's cron (a copy of sleep), stopped afterwards."""
    fake = tmp_path / health.CRON
    fake.write_bytes(Path("/bin/sleep").read_bytes())
    fake.chmod(0o755)
    process = subprocess.Popen([str(fake), "600"])
    yield process
    process.kill()
    process.wait()


def test_the_runner_is_unhealthy_without_its_cron_process(outputs, capsys):
    assert not health.cron_alive()
    assert health.main([]) == 1
    assert capsys.readouterr().out == (
        "unhealthy: supercronic is not running, so no scheduled run will start\n"
    )


def test_the_runner_is_healthy_with_cron_and_a_database_that_answers(outputs, cron, capsys):
    from stockcast import store

    store.connect(f"sqlite:///{outputs / 'stockcast.db'}")
    assert health.main([]) == 0
    assert capsys.readouterr().out.startswith("healthy: supercronic is running and the database")


def test_the_runner_is_healthy_before_its_first_run_creates_a_sqlite_database(outputs, cron):
    assert health.main([]) == 0
    assert not (outputs / "stockcast.db").exists()  # the probe created nothing


def test_the_runner_is_unhealthy_when_the_database_does_not_answer(
    outputs, cron, monkeypatch, capsys
):
    url = f"postgresql+psycopg://stockcast:secret@127.0.0.1:{free_port()}/stockcast"
    monkeypatch.setenv("STOCKCAST_DB_URL", url)
    assert health.main([]) == 1
    line = capsys.readouterr().out
    assert line.startswith("unhealthy: database postgresql+psycopg://stockcast:***@127.0.0.1:")
    assert "secret" not in line and line.count("\n") == 1
