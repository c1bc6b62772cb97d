"""What is served, decided on out-of-sample evidence only: every candidate's walk-forward
scores beside naive, then either the blend of naive and the best challenger (the default; the
math is in blend.py) or an all-or-nothing rule (folds won, Diebold-Mariano, or both).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from stockcast.blend import BLEND, BlendChoice, BlendForecast, blend_oos, choose_blend
from stockcast.errors import BadInput
from stockcast.evaluate import compute_direction_accuracy, compute_rmse
from stockcast.frames import require_columns
from stockcast.settings import DEFAULT_SERVE_RULE, SERVE_METHODS

OOS_ID_COLUMNS = ("date", "fold", "y_true")
SWITCH_METHODS = tuple(method for method in SERVE_METHODS if method != BLEND)


def serve(oos: pd.DataFrame, estimators: dict, serve_rule: dict):
    """What is served, by the serve rule: (oos, estimators, scores, champion, reason), the blend
    added to oos and estimators by the "blend" rule; scores["weight"] is each candidate's share
    of the served forecast."""
    rule = {**DEFAULT_SERVE_RULE, **serve_rule}
    choice = None
    if rule["method"] == BLEND:
        oos, estimators, choice = add_blend(oos, estimators, rule["shrinkage"])
        scores = score_candidates(oos)
        champion, reason = serve_blend(choice, scores)
    else:
        scores = score_candidates(oos)
        champion, reason = select_champion(scores, rule)
    scores["weight"] = served_weights(scores["model"], champion, choice)
    return oos, estimators, scores, champion, reason


def add_blend(oos: pd.DataFrame, estimators: dict, shrinkage: float):
    """The blend as one more candidate: its honest walk-forward column in `oos` and its
    unfitted estimator, with the weight chosen on every fold. Returns (oos, estimators, choice)."""
    challengers = [name for name in estimators if name != "naive"]
    choice = choose_blend(oos, challengers, shrinkage)
    blended = oos.assign(**{BLEND: blend_oos(oos, challengers, shrinkage)})
    blend = BlendForecast(estimators.get(choice.challenger), choice.weight)
    return blended, {**estimators, BLEND: blend}, choice


def serve_blend(choice: BlendChoice, scores: pd.DataFrame) -> tuple[str, str]:
    """The blend when it puts weight on a challenger, else naive; with the reason."""
    blend = scores.set_index("model").loc[BLEND]
    record = f"blend out-of-sample RMSE {blend['rmse_ratio']:.3f} x naive's"
    if choice.weight > 0:
        return BLEND, f"blend served: {choice.describe()}; {record}"
    if choice.challenger is None:
        return "naive", "naive served: no challenger to blend"
    return "naive", f"naive served: no out-of-sample evidence to blend, {choice.describe()}"


def served_weights(models: pd.Series, champion: str, choice: BlendChoice | None) -> list[float]:
    """Each base candidate's share in what is served (they sum to 1): the champion's 1, or the
    blend's split; NaN for the blend itself, the combination rather than a part of it."""
    shares = {champion: 1.0}
    if champion == BLEND:
        shares = {"naive": 1 - choice.weight, choice.challenger: choice.weight}
    return [np.nan if model == BLEND else shares.get(model, 0.0) for model in models]


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
    rule = {**DEFAULT_SERVE_RULE, "method": "both", **(rule or {})}
    if rule["method"] not in SWITCH_METHODS:
        raise BadInput(
            f"serve rule method {rule['method']!r} is no all-or-nothing rule: use one of "
            f"{SWITCH_METHODS} (the blend is served by `serve`)"
        )
    require_columns(scores, ("model", "rmse", "rmse_ratio", "folds_won", "dm_pvalue"), "select")
    challengers = scores[~scores["model"].isin(("naive", BLEND))]
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
