"""settings.py: every train default in one place; notebook Nones keep them; bad values refused."""

import pytest

from stockcast.errors import BadInput
from stockcast.settings import DEFAULT_SERVE_RULE, TrainSettings, setting_examples, train_settings


def test_none_keeps_the_default_and_given_values_win():
    chosen = train_settings(train_window=None, n_splits=3, serve_rule={"method": "dm"})
    assert chosen.train_window == TrainSettings().train_window and chosen.n_splits == 3
    assert chosen.serve_rule == {**DEFAULT_SERVE_RULE, "method": "dm"}
    assert chosen.as_params()["n_splits"] == "3"


@pytest.mark.parametrize(
    "given, message",
    [
        ({"interval_level": 1.5}, "interval_level 1.5 must lie strictly between 0 and 1"),
        ({"retrain_every": 0}, "retrain_every 0 must be at least 1"),
        ({"candidates": ["ridge"]}, "must include naive"),
        ({"window": 3}, "['window'] are not train settings"),
        ({"interval_method": "garch"}, "interval_method 'garch' is unknown: use one of split"),
        ({"serve_rule": {"method": "vibes"}}, "serve rule method 'vibes' is unknown"),
        ({"serve_rule": {"shrinkage": -1}}, "serve_rule shrinkage -1 must be a number >= 0"),
        ({"serve_rule": {"alpha": 1}}, "serve_rule keys ['alpha'] are unknown"),
    ],
)
def test_bad_train_settings_are_refused_in_one_line(given, message):
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        train_settings(**given)


def test_examples_are_plain_values_of_the_defaults():
    examples = setting_examples()
    assert examples["candidates"] == ["naive", "ar", "ridge", "xgboost", "pooled"]
    assert examples["interval_level"] == 0.9 and examples["test_size"] is None
    assert examples["interval_method"] == "garman_klass"
    assert examples["serve_rule"]["method"] == "blend"
