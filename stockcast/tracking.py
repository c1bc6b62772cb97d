"""The only module that talks to MLflow: experiments per run kind, runs, models and the registry.

Every candidate's out-of-sample metrics are logged; the served forecaster (every candidate with
STOCKCAST_MLFLOW_MODELS=all) is logged as a pyfunc `ForecastModel`, a thin wrapper of its fitted
`IntervalForecaster` that answers the next-session log return and its interval; the served one is
registered as `stockcast-<TICKER>`, and the `champion` alias moves only to a version trained for
a newer as-of date than the one it points at. Predict never loads them back: 04_train hands its
forecasts over, and a test reproduces them from the registry. It stays one module (over 300
lines) because it is the project's one MLflow boundary: nothing else imports MLflow.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from stockcast.config import MODELS_LOGGED, Settings
from stockcast.errors import BadInput
from stockcast.executors import attempt

ALIAS = "champion"
TAG_RUN = "stockcast.run_id"
TAG_TICKER = "stockcast.ticker"
TAG_AS_OF = "stockcast.as_of"
TAG_STAGE = "stockcast.stage"
# What a served model needs at load time; given so MLflow does not infer them (slow).
REQUIREMENTS = ("mlflow", "pandas", "numpy", "scikit-learn", "xgboost-cpu", "cloudpickle")


def registered_name(ticker: str) -> str:
    return f"stockcast-{ticker}"


def _quiet() -> None:
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Advice aimed at interactive MLflow users (type hints, pickling); our models are ours.
    for message in (".*type hints.*", ".*CloudPickle.*", ".*pydantic.*", ".*pip version.*"):
        warnings.filterwarnings("ignore", message=message)


@contextmanager
def _silenced():
    """MLflow's event prints (eprint) off for the block, as they were after it."""
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    was = MLFLOW_LOGGING_STREAM.enabled
    MLFLOW_LOGGING_STREAM.enabled = False
    try:
        yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = was


def configure(settings: Settings):
    """Point MLflow at the configured tracking store; returns an MlflowClient."""
    import mlflow
    from mlflow import MlflowClient

    _quiet()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient()


def use_experiment(settings: Settings, kind: str) -> str:
    """Select (creating if needed) the experiment `stockcast-<kind>`, its artifacts in outputs."""
    import mlflow

    client = configure(settings)
    name = f"stockcast-{kind}"
    found = client.get_experiment_by_name(name)
    if found is None:
        location = None
        if not settings.tracking_uri.startswith(("http://", "https://", "databricks")):
            location = (settings.artifacts_dir / name).as_uri()
        experiment_id = client.create_experiment(name, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def requirements() -> list[str]:
    pinned = []
    for package in REQUIREMENTS:
        try:
            pinned.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pinned.append(package)
    return pinned


def _python_model_class():
    import mlflow.pyfunc

    class ForecastModel(mlflow.pyfunc.PythonModel):
        """A fitted IntervalForecaster: feature rows in, pred/lower/upper returns out."""

        def __init__(self, forecaster):
            self.forecaster = forecaster

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            return self.forecaster.predict(model_input)

    return ForecastModel


@dataclass
class LoggedTraining:
    """Where one ticker's train lives in MLflow: its run, each candidate's model, the version."""

    ticker: str
    as_of: str
    champion: str
    mlflow_run_id: str
    model_uris: dict[str, str]
    version: str | None = None
    alias_moved: bool = False


def _flat_params(params: dict[str, dict]) -> dict[str, str]:
    return {
        f"{model}.{key}": str(value)
        for model, values in params.items()
        for key, value in (values or {}).items()
    }


def log_training(
    trained, params: dict[str, dict], run_id: str, settings_used: dict, models: str = "served"
):
    """Log one ticker's train as an MLflow run: params and every candidate's out-of-sample
    metrics, and as pyfunc models the served forecaster only (`models="served"`) or every
    candidate ("all"). Returns a LoggedTraining.

    Served only is the default because a logged model costs ~0.1 s: four per ticker made
    logging ~0.4 s a ticker, 3 min a day at 500 tickers, for models nothing loads back. Only the
    served one is registered. The models are logged before the params and metrics, which MLflow 3
    would otherwise copy into each model one query per metric (0.245 -> 0.148 s a ticker)."""
    import mlflow
    import mlflow.pyfunc

    forecast_model = _python_model_class()
    as_of = pd.Timestamp(trained.as_of_date).date().isoformat()
    tags = {
        TAG_RUN: run_id,
        TAG_TICKER: trained.ticker,
        TAG_AS_OF: as_of,
        TAG_STAGE: "train",
        "champion": trained.champion,
        "reason": trained.reason[:5000],
    }
    with mlflow.start_run(run_name=f"{trained.ticker} train {as_of}", tags=tags) as run:
        # Models first (see the docstring): the run's metrics and params are not copied in.
        uris = {}
        for name in models_to_log(trained, models):
            forecaster = trained.forecasters[name]
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=forecast_model(forecaster),
                pip_requirements=requirements(),
            )
            uris[name] = info.model_uri
        mlflow.log_params(
            {
                **_flat_params(params),
                **{k: str(v) for k, v in settings_used.items()},
                "n_train": trained.n_train,
            }
        )
        mlflow.log_metrics(candidate_metrics(trained.scores))
    return LoggedTraining(trained.ticker, as_of, trained.champion, run.info.run_id, uris)


def models_to_log(trained, models: str) -> list[str]:
    """The candidates whose forecaster is logged as a model: the champion, or all of them."""
    if models not in MODELS_LOGGED:
        raise BadInput(f"models={models!r} is unknown: use {' or '.join(MODELS_LOGGED)}")
    return list(trained.forecasters) if models == "all" else [trained.champion]


def candidate_metrics(scores: pd.DataFrame) -> dict[str, float]:
    """`<model>_<metric>` for every numeric score column, NaN dropped (MLflow rejects it)."""
    metrics = {}
    frame = scores.set_index("model") if "model" in scores.columns else scores
    for model, row in frame.iterrows():
        for column, value in row.items():
            if isinstance(value, (int, float)) and pd.notna(value) and not isinstance(value, bool):
                metrics[f"{model}_{column}"] = float(value)
    return metrics


def register_champion(logged: LoggedTraining, client=None) -> LoggedTraining:
    """Register the champion's model; move the alias only when this as-of is newer."""
    import mlflow
    from mlflow import MlflowClient

    client = client or MlflowClient()
    name = registered_name(logged.ticker)
    tags = {TAG_AS_OF: logged.as_of, "model": logged.champion}
    with _silenced():  # its "Created version ..." lines: 500 of them in a report, and in cron's log
        version = mlflow.register_model(logged.model_uris[logged.champion], name, tags=tags)
    current = champion_as_of(logged.ticker, client)
    moved = current is None or logged.as_of > current
    if moved:
        client.set_registered_model_alias(name, ALIAS, version.version)
    logged.version, logged.alias_moved = str(version.version), moved
    return logged


def champion_as_of(ticker: str, client=None) -> str | None:
    """The as-of date of the version the alias points at, or None when there is none yet."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = client or MlflowClient()
    try:
        current = client.get_model_version_by_alias(registered_name(ticker), ALIAS)
    except MlflowException:
        return None
    return current.tags.get(TAG_AS_OF)


def log_and_register(
    trained, params: dict[str, dict], run_id: str, settings_used: dict, models: str = "served"
) -> dict:
    """log_training then register_champion for one ticker, as a plain dict."""
    from dataclasses import asdict

    logged = log_training(trained, params, run_id, settings_used, models)
    return asdict(register_champion(logged))


@dataclass
class TrainingLog:
    """log_and_register each ticker's train as it arrives: given as `fit_tickers(..., then=log)`
    it runs in the stage's process (which holds the MLflow client) while the other tickers'
    fits go on in the workers, so logging (~0.15 s a ticker) overlaps fitting instead of
    following it. One ticker's MLflow failure is recorded ("MLflow: ...") and the others go
    on; `logged` holds one log_and_register dict per ticker, in arrival order."""

    params: dict[str, dict]
    run_id: str
    settings_used: dict
    models: str = "served"
    logged: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def __call__(self, ticker: str, trained) -> None:
        task = (trained, self.params.get(ticker, {}), self.run_id, self.settings_used, self.models)
        ok, value = attempt(log_and_register, task)
        if ok:
            self.logged[ticker] = value
        else:
            self.failures[ticker] = f"MLflow: {value}"

    def versions(self) -> dict[str, str | None]:
        """ticker -> the registered version of its champion."""
        return {ticker: entry["version"] for ticker, entry in self.logged.items()}

    def table(self) -> pd.DataFrame:
        """One row per logged ticker, in ticker order (the model URIs left out)."""
        rows = [self.logged[ticker] for ticker in sorted(self.logged)]
        return pd.DataFrame(rows, columns=[f.name for f in fields(LoggedTraining)]).drop(
            columns="model_uris"
        )


def log_tuning(tuned: pd.DataFrame, run_id: str, grids: dict) -> list[str]:
    """One MLflow run per tuned ticker: the grids searched, the chosen parameters, cv RMSE."""
    import mlflow

    run_ids = []
    for ticker, rows in tuned.groupby("ticker", sort=True):
        as_of = pd.Timestamp(rows["tuned_as_of"].iloc[0]).date().isoformat()
        tags = {TAG_RUN: run_id, TAG_TICKER: ticker, TAG_AS_OF: as_of, TAG_STAGE: "tune"}
        with mlflow.start_run(run_name=f"{ticker} tune {as_of}", tags=tags) as run:
            mlflow.log_params(_flat_params(dict(zip(rows["model"], rows["params"], strict=True))))
            mlflow.log_metrics(
                {
                    f"{m}_cv_rmse": float(v)
                    for m, v in zip(rows["model"], rows["cv_rmse"], strict=True)
                }
            )
            mlflow.log_dict(grids, "grids.json")
            run_ids.append(run.info.run_id)
    return run_ids


def log_replay(forecasts: pd.DataFrame, run_id: str, settings_used: dict) -> list[str]:
    """One MLflow run per replayed ticker: the settings, sessions, retrains, naive share."""
    import mlflow

    run_ids = []
    for ticker, rows in forecasts.groupby("ticker", sort=True):
        champions = rows[rows["is_champion"].astype(bool)]
        as_of = pd.Timestamp(rows["as_of_date"].max()).date().isoformat()
        tags = {TAG_RUN: run_id, TAG_TICKER: ticker, TAG_AS_OF: as_of, TAG_STAGE: "backfill"}
        with mlflow.start_run(run_name=f"{ticker} backfill to {as_of}", tags=tags) as run:
            mlflow.log_params({k: str(v) for k, v in settings_used.items()})
            mlflow.log_metrics(
                {
                    "sessions": float(rows["as_of_date"].nunique()),
                    "retrains": float(rows["trained_as_of"].nunique()),
                    "naive_served_share": float((champions["model"] == "naive").mean()),
                }
            )
            run_ids.append(run.info.run_id)
    return run_ids


def log_evaluation(
    summary: pd.DataFrame, alerts: pd.DataFrame, run_id: str, intervals: pd.DataFrame | None = None
) -> list[str]:
    """One MLflow run per ticker: each model's track-record metrics per window, vs naive, and
    (with `intervals`, skill.score_intervals output) its interval coverage, width and Winkler."""
    import mlflow

    run_ids = []
    for ticker, rows in summary.groupby("ticker", sort=True):
        metrics = {}
        for row in rows.itertuples():
            for name in ("rmse", "mae", "mape", "direction_acc", "coverage", "rmse_ratio"):
                value = getattr(row, name)
                if pd.notna(value):
                    metrics[f"{row.model}_{name}_{row.window}"] = float(value)
        if intervals is not None:
            metrics.update(interval_metrics(intervals[intervals["ticker"] == ticker]))
        tags = {
            TAG_RUN: run_id,
            TAG_TICKER: ticker,
            TAG_STAGE: "evaluate",
            "alert": str(ticker in set(alerts["ticker"])),
        }
        with mlflow.start_run(run_name=f"{ticker} evaluate", tags=tags) as run:
            mlflow.log_metrics(metrics)
            run_ids.append(run.info.run_id)
    return run_ids


def interval_metrics(intervals: pd.DataFrame) -> dict[str, float]:
    """`<model>_interval_<metric>` of one ticker's interval scores, NaN dropped."""
    names = ("coverage", "coverage_20", "coverage_60", "width_pct", "winkler_pct")
    return {
        f"{row['model']}_interval_{name}": float(row[name])
        for _, row in intervals.iterrows()
        for name in names
        if pd.notna(row[name])
    }


def search_runs(settings: Settings, stage: str, max_results: int = 5000) -> pd.DataFrame:
    """The newest runs of a stage across every `stockcast-*` experiment, newest first; empty
    when the SQLite tracking store does not exist yet (readers never create it)."""
    import mlflow

    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return pd.DataFrame()
    client = configure(settings)
    experiments = client.search_experiments(filter_string="name LIKE 'stockcast-%'")
    if not experiments:
        return pd.DataFrame()
    return mlflow.search_runs(
        experiment_ids=[e.experiment_id for e in experiments],
        filter_string=f"tags.`{TAG_STAGE}` = '{stage}'",
        order_by=["attributes.start_time DESC"],
        max_results=max_results,
    )


def log_reports(settings: Settings, kind: str, run_id: str, folder) -> None:
    """Attach the run's executed notebooks and their HTML to one MLflow run named after it."""
    import mlflow

    use_experiment(settings, kind)
    with mlflow.start_run(run_name=run_id, tags={TAG_RUN: run_id, TAG_STAGE: "reports"}):
        for path in sorted(folder.glob("*.ipynb")) + sorted(folder.glob("*.html")):
            mlflow.log_artifact(str(path), artifact_path="reports")
