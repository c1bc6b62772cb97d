"""Honest model selection per ticker: walk-forward out-of-sample scores, the serve rule, and
the fitted forecasters of every candidate. The backfill replay built on `fit_ticker` lives in
backfill.py; the forecaster, its folds and its interval in forecaster.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from stockcast.errors import BadInput
from stockcast.evaluate import compute_direction_accuracy, compute_rmse
from stockcast.executors import map_tickers
from stockcast.features import FEATURE_COLUMNS
from stockcast.forecaster import IntervalForecaster, time_folds, walk_forward
from stockcast.frames import require_columns
from stockcast.models import NaiveForecast, make_model
from stockcast.predict import FORECAST_COLUMNS
from stockcast.settings import DEFAULT_SERVE_RULE, TrainSettings

SERVE_METHODS = ("folds", "dm", "both")
OOS_ID_COLUMNS = ("date", "fold", "y_true")
TRAIN_COLUMNS = ("ticker", "date", "warm_up", *FEATURE_COLUMNS, "label")


@dataclass
class TrainedTicker:
    """Every candidate of one ticker fitted as of one date, with the champion and why."""

    ticker: str
    as_of_date: pd.Timestamp
    champion: str
    reason: str
    scores: pd.DataFrame
    forecasters: dict[str, IntervalForecaster]
    n_train: int
    naive_only: bool = False
    oos: pd.DataFrame | None = None


def score_candidates(oos: pd.DataFrame) -> pd.DataFrame:
    """Per candidate: n, n_folds, rmse, mae, direction_acc, up_share, rmse_ratio (to naive),
    folds_won (share of folds with lower RMSE than naive), dm_stat, dm_pvalue.

    Directional accuracy counts only calls: rows where the prediction and the outcome are both
    non-zero. Naive never calls a direction, so its accuracy is NaN rather than a flattering or
    damning number; `up_share` (share of up-moves among non-zero outcomes) is the accuracy of
    always calling "up", the baseline to read direction_acc against.
    """
    require_columns(oos, (*OOS_ID_COLUMNS, "naive"), "score_candidates")
    names = [column for column in oos.columns if column not in OOS_ID_COLUMNS]
    naive_errors = oos["y_true"] - oos["naive"]
    return pd.DataFrame([score_candidate(oos, name, naive_errors) for name in names])


def score_candidate(oos: pd.DataFrame, name: str, naive_errors: pd.Series) -> dict:
    errors = oos["y_true"] - oos[name]
    fold_rmse = errors.pow(2).groupby(oos["fold"]).mean().pow(0.5)
    naive_fold_rmse = naive_errors.pow(2).groupby(oos["fold"]).mean().pow(0.5)
    rmse, naive_rmse = compute_rmse(errors), compute_rmse(naive_errors)
    is_naive = name == "naive"
    dm_stat, dm_pvalue = (np.nan, np.nan) if is_naive else diebold_mariano(naive_errors, errors)
    moves = oos["y_true"][oos["y_true"] != 0]
    return {
        "model": name,
        "n": len(errors),
        "n_folds": len(fold_rmse),
        "rmse": rmse,
        "mae": errors.abs().mean(),
        "direction_acc": compute_direction_accuracy(oos["y_true"], oos[name]),
        "up_share": (moves > 0).mean() if len(moves) else np.nan,
        "rmse_ratio": rmse / naive_rmse if naive_rmse > 0 else np.nan,
        "folds_won": np.nan if is_naive else float((fold_rmse < naive_fold_rmse).mean()),
        "dm_stat": dm_stat,
        "dm_pvalue": dm_pvalue,
    }


def diebold_mariano(base_errors, candidate_errors) -> tuple[float, float]:
    """One-sided DM test, squared-error loss, h=1: H1 = the candidate beats the base.

    With h=1 the loss differential needs no autocovariance terms; the Harvey-Leybourne-Newbold
    factor sqrt((n-1)/n) and a Student t with n-1 degrees of freedom correct small samples.
    A differential with no variance (identical forecasts, constant prices) is no evidence: NaN.
    """
    base_loss = np.asarray(base_errors, float) ** 2
    candidate_loss = np.asarray(candidate_errors, float) ** 2
    loss_gain, n = base_loss - candidate_loss, base_loss.size
    # Losses of float-noise size (constant prices) are zero, whatever their ratio says.
    scale = np.mean(base_loss) + np.mean(candidate_loss) if n else 0.0
    variance = loss_gain.var() if n > 2 else 0.0
    if not scale > 1e-20 or not variance > 1e-12 * scale**2:
        return np.nan, np.nan
    stat = loss_gain.mean() / np.sqrt(variance / n) * np.sqrt((n - 1) / n)
    return float(stat), float(stats.t.sf(stat, df=n - 1))


def select_champion(scores: pd.DataFrame, rule: dict | None = None) -> tuple[str, str]:
    """Apply the serve rule to `score_candidates` output: (champion name, readable reason).

    rule: method "folds" (lower RMSE than naive in at least min_fold_share of the folds and
    overall), "dm" (Diebold-Mariano p below dm_alpha, Bonferroni-divided by the number of
    challengers since we keep the best of several), or "both" (the default). Among challengers
    that pass, the lowest out-of-sample RMSE wins; if none passes, naive is served.
    """
    rule = {**DEFAULT_SERVE_RULE, **(rule or {})}
    if rule["method"] not in SERVE_METHODS:
        raise BadInput(
            f"serve rule method {rule['method']!r} is unknown: use one of {SERVE_METHODS}"
        )
    require_columns(scores, ("model", "rmse", "rmse_ratio", "folds_won", "dm_pvalue"), "select")
    challengers = scores[scores["model"] != "naive"]
    alpha = rule["dm_alpha"] / max(len(challengers), 1)
    by_folds = (challengers["folds_won"] >= rule["min_fold_share"]) & (
        challengers["rmse_ratio"] < 1
    )
    by_dm = challengers["dm_pvalue"] < alpha
    passing = {"folds": by_folds, "dm": by_dm, "both": by_folds & by_dm}[rule["method"]]
    rule_text = describe_rule(rule, alpha)
    if challengers.empty:
        return "naive", f"naive served: no challenger was scored (rule: {rule_text})"
    if not passing.any():
        best = challengers.sort_values("rmse", na_position="last").iloc[0]
        return "naive", (
            f"naive served: no challenger beat it convincingly out of sample (rule: {rule_text}); "
            f"best was {describe_score(best)}"
        )
    best = challengers[passing].sort_values("rmse").iloc[0]
    return str(best["model"]), f"{describe_score(best)}: replaces naive (rule: {rule_text})"


def describe_rule(rule: dict, alpha: float) -> str:
    folds = f"lower RMSE than naive in at least {rule['min_fold_share']:.0%} of folds"
    dm = f"Diebold-Mariano p < {alpha:.3g}"
    return {"folds": folds, "dm": dm, "both": f"{folds} and {dm}"}[rule["method"]]


def describe_score(score: pd.Series) -> str:
    won = (
        int(round(score["folds_won"] * score["n_folds"])) if np.isfinite(score["folds_won"]) else 0
    )
    return (
        f"{score['model']} with out-of-sample RMSE {score['rmse_ratio']:.3f} x naive's, "
        f"lower in {won} of {score['n_folds']} folds, DM p = {score['dm_pvalue']:.3f}"
    )


def prepare_rows(features_one_ticker: pd.DataFrame) -> pd.DataFrame:
    """One ticker's rows sorted by date, with the as-of (last) row's label masked: its outcome
    is the next session's close, not known at the as-of date."""
    require_columns(features_one_ticker, TRAIN_COLUMNS, "fit_ticker")
    if features_one_ticker["ticker"].nunique() != 1:
        raise ValueError("fit_ticker needs the rows of exactly one ticker")
    rows = features_one_ticker.sort_values("date").reset_index(drop=True)
    rows.loc[rows.index[-1], "label"] = np.nan
    return rows


def fit_ticker(
    features_one_ticker: pd.DataFrame,
    params: dict[str, dict] | None = None,
    settings: TrainSettings | None = None,
) -> TrainedTicker:
    """Score, select and fit every candidate of one ticker as of its last row (the as-of row).

    Trains on the last `train_window` labelled post-warm-up rows before the as-of date: walk-
    forward out-of-sample scores pick the champion by the serve rule and give each candidate
    its interval, then every candidate is refitted on the whole window. Fewer than
    `min_train_rows` such rows: naive only, flagged `naive_only`, nothing raised.
    """
    settings = settings or TrainSettings()
    rows = prepare_rows(features_one_ticker)
    ticker, as_of_date = str(rows["ticker"].iloc[0]), rows["date"].iloc[-1]
    labelled = rows[~rows["warm_up"] & rows["label"].notna()].tail(settings.train_window)
    X = labelled.set_index("date")[list(FEATURE_COLUMNS)]
    y = labelled.set_index("date")["label"]
    if len(labelled) < settings.min_train_rows:
        # Naive needs no features: its interval may use the warm-up rows' returns too.
        returns = rows["label"].dropna().tail(settings.train_window)
        return fit_naive_only(ticker, as_of_date, X, y, returns, settings)
    estimators = {name: make_model(name, (params or {}).get(name)) for name in settings.candidates}
    splitter = time_folds(len(X), settings.n_splits, settings.test_size, settings.gap)
    oos = walk_forward(X, y, estimators, splitter)
    scores = score_candidates(oos)
    champion, reason = select_champion(scores, settings.serve_rule)
    forecasters = {
        name: IntervalForecaster(estimator, settings.interval_level).fit(
            X, y, oos["y_true"] - oos[name]
        )
        for name, estimator in estimators.items()
    }
    return TrainedTicker(ticker, as_of_date, champion, reason, scores, forecasters, len(X), oos=oos)


def fit_naive_only(ticker, as_of_date, X, y, returns, settings: TrainSettings) -> TrainedTicker:
    """Too little history: naive alone, its interval from the realized returns (its residuals)."""
    oos = pd.DataFrame({"date": X.index, "fold": 0, "y_true": y.to_numpy(), "naive": 0.0})
    reason = f"only {len(X)} labelled sessions (need {settings.min_train_rows}): serving naive"
    naive = IntervalForecaster(NaiveForecast(), settings.interval_level).fit(X, y, returns)
    scores = score_candidates(oos)
    return TrainedTicker(
        ticker, as_of_date, "naive", reason, scores, {"naive": naive}, len(X), True, oos
    )


def forecast_next(trained: TrainedTicker, rows: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Per feature row and candidate: FORECAST_COLUMNS. A row's forecast is for the session
    after its date."""
    rows = rows.to_frame().T if isinstance(rows, pd.Series) else rows
    require_columns(rows, ("date", *FEATURE_COLUMNS), "forecast_next")
    parts = [
        forecaster.predict(rows).assign(
            ticker=trained.ticker,
            as_of_date=pd.to_datetime(rows["date"]).to_numpy(),
            model=name,
            is_champion=name == trained.champion,
        )
        for name, forecaster in trained.forecasters.items()
    ]
    forecasts = pd.concat(parts, ignore_index=True)[list(FORECAST_COLUMNS)]
    return forecasts.sort_values(["as_of_date", "model"], kind="stable", ignore_index=True)


def fit_tickers(
    features: pd.DataFrame,
    params: dict[str, dict[str, dict]] | None = None,
    settings: TrainSettings | None = None,
    executor: str = "serial",
) -> tuple[dict[str, TrainedTicker], dict[str, str]]:
    """fit_ticker for every ticker in `features` (params: ticker -> model -> params); a ticker
    that fails is recorded in the failures (ticker -> reason) and the others go on."""
    tasks = {
        ticker: (rows, (params or {}).get(ticker), settings)
        for ticker, rows in features.groupby("ticker", sort=False)
    }
    return map_tickers(fit_ticker, tasks, executor)


def forecast_tickers(
    trained: dict[str, TrainedTicker],
    features: pd.DataFrame,
    versions: dict[str, str | None] | None = None,
) -> pd.DataFrame:
    """forecast_next of each trained ticker from its as-of row in `features`: the hand-off to
    05_predict. With `versions` (ticker -> registered version of its champion), only those
    tickers, and the champion rows record their version in `model_version`."""
    parts = []
    for ticker, fitted in trained.items():
        if versions is not None and ticker not in versions:
            continue
        rows = features[(features["ticker"] == ticker) & (features["date"] == fitted.as_of_date)]
        version = (versions or {}).get(ticker)
        forecasts = forecast_next(fitted, rows)
        champion = forecasts["is_champion"].astype(bool)
        parts.append(forecasts.assign(model_version=[version if c else None for c in champion]))
    if not parts:
        return pd.DataFrame(columns=[*FORECAST_COLUMNS, "model_version"])
    return pd.concat(parts, ignore_index=True)


def naive_only_notes(trained: dict[str, TrainedTicker]) -> dict[str, str]:
    """ticker -> why only naive was trained, for the tickers with too little history."""
    return {ticker: fitted.reason for ticker, fitted in trained.items() if fitted.naive_only}


def scores_table(trained: dict[str, TrainedTicker]) -> pd.DataFrame:
    """Every ticker's out-of-sample candidate scores, with the champion marked."""
    parts = [
        fitted.scores.assign(ticker=ticker, champion=fitted.scores["model"] == fitted.champion)
        for ticker, fitted in trained.items()
    ]
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True)
    return table.set_index(["ticker", "model"])
