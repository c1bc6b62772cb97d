"""Paths, infrastructure settings, the ticker pattern and the exchange-calendar table.

Environment variables are read here and nowhere else: `STOCKCAST_OUTPUTS`, `STOCKCAST_DB_URL`,
`MLFLOW_TRACKING_URI` (a `.env` file in the repository or the working directory is read first,
without overriding variables already set). Pipeline settings live in `runner/pipeline.yaml`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from stockcast.errors import BadInput, InvalidTicker

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINE_YAML = REPO_ROOT / "runner" / "pipeline.yaml"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SAMPLE_TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
CANDIDATES = ("naive", "ridge", "xgboost")

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


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print or log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _read_dotenv() -> None:
    from dotenv import load_dotenv

    for folder in (REPO_ROOT, Path.cwd()):
        if (folder / ".env").is_file():
            load_dotenv(folder / ".env", override=False)


@dataclass(frozen=True)
class Settings:
    """Where a run reads and writes; built from the environment by `load_settings`."""

    outputs: Path
    db_url: str
    tracking_uri: str

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
    outputs.mkdir(parents=True, exist_ok=True)
    db_url = os.environ.get("STOCKCAST_DB_URL") or f"sqlite:///{outputs / 'stockcast.db'}"
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{outputs / 'mlflow.db'}"
    return Settings(outputs=outputs, db_url=db_url, tracking_uri=tracking_uri)


def load_pipeline_config(path: Path | str | None = None) -> dict:
    """The pipeline settings of `runner/pipeline.yaml` (the middle settings layer)."""
    import yaml

    path = Path(path) if path else PIPELINE_YAML
    if not path.is_file():
        raise BadInput(f"pipeline settings file {path} does not exist: check --config")
    try:
        with path.open() as handle:
            settings = yaml.safe_load(handle) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML ({str(exc).splitlines()[0]}): fix it") from None
    if not isinstance(settings, dict):
        raise BadInput(f"{path} must hold a mapping of settings, not {type(settings).__name__}")
    return settings
