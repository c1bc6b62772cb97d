# One image for every stockcast service of compose.yml: the runner under cron (supercronic),
# the MLflow server, the Voila dashboard, JupyterLab and the API. Dependencies come from
# uv.lock exactly (`uv sync --locked`), the same lock file `make setup` installs from.

# supercronic: cron for containers (keeps the environment, logs to stdout), one static binary,
# checked against its pinned SHA-1 however it arrives. By default it is downloaded from its
# GitHub release. Where GitHub is unreachable, fetch the same file another way, put it in the
# build context and name it: SUPERCRONIC_FILE=docker/supercronic-linux-amd64 in .env (compose),
# or `docker build --build-arg SUPERCRONIC_FILE=docker/supercronic-linux-amd64 .`.
# The checksum is of supercronic-linux-amd64; for another architecture pass its own from the
# release page: --build-arg SUPERCRONIC_SHA1SUM=<sha1 of supercronic-linux-$TARGETARCH>.
FROM python:3.12-slim-bookworm AS supercronic
ARG TARGETARCH=amd64
ARG SUPERCRONIC_VERSION=v0.2.34
ARG SUPERCRONIC_SHA1SUM=e8631edc1775000d119b70fd40339a7238eece14
ARG SUPERCRONIC_FILE=
WORKDIR /build
COPY docker/ docker/
RUN if [ -n "${SUPERCRONIC_FILE}" ]; then \
        cp "${SUPERCRONIC_FILE}" supercronic; \
    else \
        python -c "import sys, urllib.request; urllib.request.urlretrieve(*sys.argv[1:])" \
            "https://github.com/aptible/supercronic/releases/download/${SUPERCRONIC_VERSION}/supercronic-linux-${TARGETARCH}" \
            supercronic; \
    fi \
    && echo "${SUPERCRONIC_SHA1SUM}  supercronic" | sha1sum -c - \
    && chmod 0755 supercronic

FROM python:3.12-slim-bookworm

# tzdata: New York time for the schedule; libgomp1: XGBoost's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata libgomp1 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=supercronic /build/supercronic /usr/local/bin/supercronic

# uv, pinned (the version that wrote uv.lock here); pip puts its `uv` on PATH.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# Everything runs as an unprivileged user that owns the app and the data folders (a named
# volume mounted on one of them starts with this ownership).
ARG UID=1000
RUN useradd --create-home --uid "${UID}" stockcast \
    && mkdir -p /app /data/outputs /data/mlartifacts \
    && chown stockcast:stockcast /app /data/outputs /data/mlartifacts
USER stockcast
WORKDIR /app

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STOCKCAST_OUTPUTS=/data/outputs

# Dependencies first (a layer that changes only with the lock), then the project itself.
COPY --chown=stockcast:stockcast pyproject.toml uv.lock .python-version README.md ./
RUN uv sync --locked --no-dev --no-install-project --no-cache
COPY --chown=stockcast:stockcast stockcast ./stockcast
COPY --chown=stockcast:stockcast runner ./runner
COPY --chown=stockcast:stockcast notebooks ./notebooks
RUN uv sync --locked --no-dev --no-cache \
    && python -c "from runner.execute import ensure_kernel; ensure_kernel()"

# Each compose service gives its own command; alone, the image shows the last runs.
CMD ["python", "-m", "runner", "status"]
