"""Paths, infrastructure settings, the ticker pattern and the exchange-calendar table.

Environment variables are read here and nowhere else: `STOCKCAST_OUTPUTS`, `STOCKCAST_DB_URL`,
`MLFLOW_TRACKING_URI`, `STOCKCAST_DASK_SCHEDULER` (a `.env` file in the repository or the
working directory is read first, without overriding variables already set). Pipeline settings
live in `runner/pipeline.yaml`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

from stockcast.errors import BadInput, InvalidTicker, first_line

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINE_YAML = REPO_ROOT / "runner" / "pipeline.yaml"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SAMPLE_TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
SOURCES = ("sample", "csv", "yfinance")
CANDIDATES = ("naive", "ar", "ridge", "xgboost", "pooled")

# One pattern for every ticker that enters the system: letters, digits, inner dots and dashes, an
# optional leading ^ (indexes) and an optional =X / =F suffix (currencies, futures).
TICKER_PATTERN = re.compile(r"\^?[A-Z0-9]{1,10}(?:[.\-][A-Z0-9]{1,5}){0,2}(?:=[A-Z])?")

# Exchange calendar (exchange_calendars code) by ticker suffix; no suffix and ^indexes: XNYS.
EXCHANGE_BY_SUFFIX = {
    "": "XNYS",
    "^": "XNYS",
    ".L": "XLON",
    ".HK": "XHKG",
    ".TO": "XTSE",
    ".V": "XTSE",
    ".DE": "XETR",
    ".F": "XFRA",
    ".PA": "XPAR",
    ".AS": "XAMS",
    ".BR": "XBRU",
    ".MI": "XMIL",
    ".MC": "XMAD",
    ".SW": "XSWX",
    ".ST": "XSTO",
    ".OL": "XOSL",
    ".CO": "XCSE",
    ".HE": "XHEL",
    ".T": "XTKS",
    ".AX": "XASX",
    ".NZ": "XNZE",
    ".SI": "XSES",
    ".KS": "XKRX",
    ".BO": "XBOM",
    ".SA": "BVMF",
    ".MX": "XMEX",
    ".JO": "XJSE",
    "=X": "24/5",
    "=F": "CMES",
}


def check_ticker(ticker: str) -> str:
    """Return the ticker upper-cased, or raise InvalidTicker naming it and the accepted form."""
    text = str(ticker).strip().upper()
    if not TICKER_PATTERN.fullmatch(text):
        raise InvalidTicker(
            f"ticker {ticker!r} is not a valid symbol: use letters, digits, '.', '-', "
            "a leading '^' or a trailing '=X' (e.g. AAPL, BRK-B, ^GSPC, EURUSD=X, 0700.HK)"
        )
    return text


def check_tickers(tickers) -> list[str]:
    """Check a list (or comma-separated string) of tickers; duplicates removed, order kept."""
    if isinstance(tickers, str):
        tickers = [t for t in tickers.split(",") if t.strip()]
    return list(dict.fromkeys(check_ticker(t) for t in tickers))


def exchange_for(ticker: str) -> str:
    """The exchange_calendars code for a ticker, from its suffix; unknown suffixes are rejected."""
    ticker = check_ticker(ticker)
    if ticker.startswith("^"):
        return EXCHANGE_BY_SUFFIX["^"]
    match = re.search(r"(\.[A-Z]+|=[A-Z])$", ticker)
    suffix = match.group(1) if match else ""
    if suffix not in EXCHANGE_BY_SUFFIX:
        known = ", ".join(s for s in EXCHANGE_BY_SUFFIX if s not in ("", "^"))
        raise InvalidTicker(
            f"ticker {ticker!r} has suffix {suffix!r} with no exchange calendar: use one of {known}"
            " or add it to EXCHANGE_BY_SUFFIX in stockcast/config.py"
        )
    return EXCHANGE_BY_SUFFIX[suffix]


# URL query keys whose value is a secret: libpq's (password, sslpassword, oauth_client_secret),
# and any key that names one (a token, an API key) for other services.
SECRET_KEY = re.compile(r"pass|secret|token|pwd|key|auth|credential", re.IGNORECASE)


def _masked_query(query: str) -> str:
    pieces = []
    for piece in re.split(r"([&;])", query):
        key = unquote_plus(piece.partition("=")[0])
        pieces.append(f"{piece.partition('=')[0]}=***" if SECRET_KEY.search(key) else piece)
    return "".join(pieces)


def mask_url(url: str) -> str:
    """The URL with every secret it carries replaced by ***, safe to print or log: the password
    of its user part and the value of any secret query parameter (`?password=...`)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    masked = url  # edited in place: the rest of the URL is printed exactly as given
    if password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        masked = masked.replace(f"//{parts.netloc}", f"//{user}:***@{host}", 1)
    if parts.query:
        masked = masked.replace(f"?{parts.query}", f"?{_masked_query(parts.query)}", 1)
    return masked


def url_secrets(url: str) -> list[str]:
    """Every secret the URL carries, as written and decoded (empty ones left out)."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return []
    for piece in re.split(r"[&;]", parts.query):
        key, _, value = piece.partition("=")
        if SECRET_KEY.search(unquote_plus(key)):
            found.append(value)
    decoded = [unquote_plus(value) for value in found]
    return sorted({v for v in found + decoded if v}, key=len, reverse=True)


def mask_secrets(text: str, url: str) -> str:
    """`text` (an error message, say) with the URL and every secret it carries masked."""
    text = text.replace(url, mask_url(url))
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def _read_dotenv() -> None:
    from dotenv import load_dotenv

    for folder in (REPO_ROOT, Path.cwd()):
        if (folder / ".env").is_file():
            load_dotenv(folder / ".env", override=False)


# What 04_train logs to MLflow as models (STOCKCAST_MLFLOW_MODELS): the served forecaster only,
# or every candidate. Metrics are logged for every candidate either way.
MODELS_LOGGED = ("served", "all")


@dataclass(frozen=True)
class Settings:
    """Where a run reads and writes; built from the environment by `load_settings`."""

    outputs: Path
    db_url: str
    tracking_uri: str
    dask_scheduler: str | None = None  # an existing Dask cluster (tcp://host:8786), else local
    mlflow_models: str = "served"  # which candidates 04_train logs as models: served | all

    @property
    def runs_dir(self) -> Path:
        return self.outputs / "runs"

    @property
    def artifacts_dir(self) -> Path:
        return self.outputs / "mlartifacts"

    @property
    def lock_path(self) -> Path:
        return self.outputs / "stockcast.lock"

    @property
    def bench_path(self) -> Path:
        return self.outputs / "bench.json"

    @property
    def static_dir(self) -> Path:
        """Shared assets of the published reports (plotly.js, once for every run)."""
        return self.runs_dir / "_static"


def load_settings() -> Settings:
    """Settings from the environment (and `.env`); creates the outputs folder if missing."""
    _read_dotenv()
    outputs = Path(os.environ.get("STOCKCAST_OUTPUTS") or REPO_ROOT / "outputs").expanduser()
    outputs = outputs.resolve()
    try:
        outputs.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(
            f"outputs folder {outputs} cannot be created ({error.strerror}): "
            "set STOCKCAST_OUTPUTS to a writable folder"
        ) from None
    db_url = os.environ.get("STOCKCAST_DB_URL") or f"sqlite:///{outputs / 'stockcast.db'}"
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{outputs / 'mlflow.db'}"
    mlflow_models = os.environ.get("STOCKCAST_MLFLOW_MODELS") or "served"
    if mlflow_models not in MODELS_LOGGED:
        raise BadInput(
            f"STOCKCAST_MLFLOW_MODELS={mlflow_models!r} is unknown: "
            f"set it to {' or '.join(MODELS_LOGGED)}"
        )
    return Settings(
        outputs=outputs,
        db_url=db_url,
        tracking_uri=tracking_uri,
        dask_scheduler=os.environ.get("STOCKCAST_DASK_SCHEDULER") or None,
        mlflow_models=mlflow_models,
    )


def pipeline_config_path(path: Path | str | None = None) -> Path:
    return Path(path) if path else PIPELINE_YAML


def load_pipeline_config(path: Path | str | None = None) -> dict:
    """The pipeline settings of `runner/pipeline.yaml` (the middle settings layer)."""
    import yaml

    path = pipeline_config_path(path)
    if not path.is_file():
        raise BadInput(f"pipeline settings file {path} does not exist: check --config")
    try:
        with path.open() as handle:
            settings = yaml.safe_load(handle) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML ({first_line(exc)}): fix it") from None
    if not isinstance(settings, dict):
        raise BadInput(f"{path} must hold a mapping of settings, not {type(settings).__name__}")
    return settings
