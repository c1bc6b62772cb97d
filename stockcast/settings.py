"""How models are trained, in one place: `TrainSettings` holds every default.

The notebooks declare these parameters as None ("the default here"), `runner/pipeline.yaml` sets
only what it changes, and the settings check takes each key's type from the defaults below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from stockcast.config import CANDIDATES
from stockcast.errors import BadInput
from stockcast.forecaster import scale_of

# "blend" serves w x the best challenger + (1 - w) x naive, w estimated out of sample and shrunk
# toward naive by `shrinkage` (see blend.py; the value is measured by
# `scripts/measure_forecasts.py serving`).
# The all-or-nothing rules stay selectable: a challenger replaces naive only when it wins in most
# folds ("folds"), a Diebold-Mariano test says so ("dm"), or both ("both").
DEFAULT_SERVE_RULE = {"method": "blend", "shrinkage": 4.0, "min_fold_share": 0.8, "dm_alpha": 0.05}
SERVE_METHODS = ("blend", "folds", "dm", "both")


@dataclass(frozen=True)
class TrainSettings:
    """How models are trained, tuned and replayed.

    train_window: labelled sessions a model learns from (tuning uses the same window);
    min_train_rows: fewer labelled sessions and only naive is served; n_splits, test_size, gap:
    the walk-forward folds of the out-of-sample comparison and of tuning (test_size None means
    n // (2 * n_splits) rows per fold, so the out-of-sample record is the second half of the
    window); interval_level: nominal coverage of the intervals; serve_rule: when a model beats
    naive; retrain_every: backfill sessions between retrains; pooled_min_tickers: a run with
    fewer tickers has no `pooled` candidate (pooled.py), since one ticker's pool is its own ridge.
    """

    train_window: int = 1000
    min_train_rows: int = 250
    n_splits: int = 5
    test_size: int | None = None
    gap: int = 0
    interval_level: float = 0.9
    interval_method: str = "garman_klass"
    serve_rule: dict = field(default_factory=lambda: dict(DEFAULT_SERVE_RULE))
    candidates: tuple[str, ...] = CANDIDATES
    retrain_every: int = 20
    pooled_min_tickers: int = 2

    def __post_init__(self):
        if not 0 < self.interval_level < 1:
            raise BadInput(
                f"interval_level {self.interval_level} must lie strictly between 0 and 1: "
                "e.g. 0.9 for a 90 % interval"
            )
        for name in ("train_window", "min_train_rows", "n_splits", "retrain_every"):
            if getattr(self, name) < 1:
                raise BadInput(f"{name} {getattr(self, name)} must be at least 1")
        if self.pooled_min_tickers < 2:
            raise BadInput(
                f"pooled_min_tickers {self.pooled_min_tickers} must be at least 2: a pool of one "
                'ticker is its own ridge (leave "pooled" out of candidates to turn it off)'
            )
        if "naive" not in self.candidates:
            raise BadInput(f"candidates {self.candidates} must include naive, the baseline")
        scale_of(self.interval_method)  # BadInput naming the methods when unknown
        check_serve_rule(self.serve_rule)

    def as_params(self) -> dict[str, str]:
        """Every setting as text, as MLflow logs parameters."""
        return {key: str(value) for key, value in asdict(self).items()}


def check_serve_rule(rule: dict) -> None:
    """BadInput in one line for an unknown method, key or a negative shrinkage."""
    unknown = sorted(set(rule) - set(DEFAULT_SERVE_RULE))
    if unknown:
        raise BadInput(
            f"serve_rule keys {unknown} are unknown: use {', '.join(DEFAULT_SERVE_RULE)}"
        )
    if rule.get("method") not in SERVE_METHODS:
        raise BadInput(
            f"serve rule method {rule.get('method')!r} is unknown: use one of {SERVE_METHODS}"
        )
    shrinkage = rule.get("shrinkage", 0)
    if not isinstance(shrinkage, (int, float)) or shrinkage < 0:
        raise BadInput(f"serve_rule shrinkage {shrinkage!r} must be a number >= 0, e.g. 4")


def train_settings(**given) -> TrainSettings:
    """TrainSettings from notebook parameters: None (the notebook's default) keeps the default."""
    known = {f.name for f in fields(TrainSettings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise BadInput(f"{unknown} are not train settings: use {', '.join(sorted(known))}")
    chosen = {key: value for key, value in given.items() if value is not None}
    if "candidates" in chosen:
        chosen["candidates"] = tuple(chosen["candidates"])
    if "serve_rule" in chosen:
        chosen["serve_rule"] = {**DEFAULT_SERVE_RULE, **chosen["serve_rule"]}
    return TrainSettings(**chosen)


def setting_examples() -> dict[str, object]:
    """Each train setting's default as a plain value (tuples as lists): what a settings file's
    value is checked against when a notebook declares the parameter as None."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in asdict(TrainSettings()).items()
    }
