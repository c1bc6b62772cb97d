"""The ordered stage lists of each run kind, and the parameters each stage receives.

Settings flow, lowest first: the notebook's own defaults, the stage's section of
`runner/pipeline.yaml`, then the run's common values (tickers, as-of, source...) set by flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stockcast.config import NOTEBOOKS_DIR


@dataclass(frozen=True)
class Stage:
    """One notebook execution in a chain; `fixed` parameters distinguish variants (backfill);
    `borrows` names other pipeline.yaml sections whose settings it also takes (tuning uses the
    window and folds of the train section)."""

    name: str
    template: str
    fixed: dict = field(default_factory=dict)
    borrows: tuple[str, ...] = ()

    @property
    def section(self) -> str:
        """The pipeline.yaml section whose settings this stage receives."""
        return self.name.split("-")[0]

    @property
    def path(self):
        return NOTEBOOKS_DIR / self.template

    @property
    def executed_name(self) -> str:
        stem = self.template.removesuffix(".ipynb")
        variant = self.name.partition("-")[2]
        return f"{stem}-{variant}.ipynb" if variant else self.template


INGEST = Stage("ingest", "01_ingest.ipynb")
FEATURES = Stage("features", "02_features.ipynb")
TUNE = Stage("tune", "03_tune.ipynb", borrows=("train",))
RETUNE = Stage("tune-alerted", "03_tune.ipynb", borrows=("train",))  # daily: alerted tickers
TRAIN = Stage("train", "04_train.ipynb")
PREDICT = Stage("predict", "05_predict.ipynb")
EVALUATE = Stage("evaluate", "06_evaluate.ipynb")
TRAIN_BACKFILL = Stage("train-backfill", "04_train.ipynb", {"mode": "backfill"})
PREDICT_BACKFILL = Stage("predict-backfill", "05_predict.ipynb")  # the same notebook, its record
# The run's published snapshot: no widgets, every ticker, links relative to runs/<run_id>/.
DASHBOARD = Stage(
    "dashboard", "dashboard.ipynb", {"static": True, "reports_url": ".."}, borrows=("train",)
)

CHAINS: dict[str, list[Stage]] = {
    "demo": [
        INGEST,
        FEATURES,
        TRAIN_BACKFILL,
        PREDICT_BACKFILL,
        TUNE,
        TRAIN,
        PREDICT,
        EVALUATE,
        DASHBOARD,
    ],
    "daily": [INGEST, FEATURES, RETUNE, TRAIN, PREDICT, EVALUATE, DASHBOARD],
    "weekly": [INGEST, FEATURES, TUNE, TRAIN, PREDICT, EVALUATE, DASHBOARD],
    "backfill": [INGEST, FEATURES, TRAIN_BACKFILL, PREDICT_BACKFILL, EVALUATE],
}

# Values every stage may receive when its notebook declares them.
COMMON = (
    "run_id",
    "kind",
    "tickers",
    "as_of",
    "source",
    "csv_dir",
    "prefetched",  # the source as the planner read it (parquet in the run folder), for ingest
    "start",
    "end",
    "executor",  # where per-ticker work runs, with `workers` and `scheduler` (executors.py)
    "workers",
    "scheduler",
)


def stage_parameters(stage: Stage, declared: dict, common: dict, pipeline: dict) -> dict:
    """Resolve one stage's parameters: borrowed sections (what the notebook declares of them),
    its own pipeline.yaml section, then common values, then fixed."""
    params = {
        key: value
        for section in stage.borrows
        for key, value in (pipeline.get(section) or {}).items()
        if key in declared
    }
    params.update(pipeline.get(stage.section) or {})
    params.update({k: v for k, v in common.items() if k in declared})
    params.update(stage.fixed)
    return params
