"""Pipeline settings checked in full before a run takes the lock: known sections and keys only,
each value of the type its stage notebook's default has (`runner/pipeline.yaml`'s contract).

A bad value is BadInput naming the file and the key, so a bad settings file writes nothing.
"""

from __future__ import annotations

from pathlib import Path

from runner.stages import CHAINS, COMMON
from stockcast import universe
from stockcast.config import SOURCES, check_tickers
from stockcast.errors import BadInput, InvalidTicker
from stockcast.executors import EXECUTORS

# The settings that are not a stage's, with an example value of each (which gives its type).
TOP_LEVEL = {
    "source": "sample",
    "tickers": [],
    "executor": "auto",
    "workers": None,
    "demo": {"backfill_sessions": 60},
}
TYPE_NAMES = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


def _type_error(path, key: str, expected: str, value) -> BadInput:
    return BadInput(f"{path}: {key} must be {expected}, not {value!r}: fix the file")


def _is_json(value) -> bool:
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return value is None or isinstance(value, (str, int, float, bool))


def _check_value(value, example, key: str, path) -> None:
    """Raise BadInput unless `value` has the type of `example` (ints pass for floats). Inside
    lists and mappings, items are checked as far as the example shows them; a mapping of plain
    values (a record such as `serve_rule`) accepts only the example's keys."""
    if example is None:  # the default says nothing of the type: any JSON value
        if not _is_json(value):
            expected = "a JSON value (string, number, true/false, null, list or mapping)"
            raise _type_error(path, key, f"{expected}; quote dates", value)
        return
    kind = type(example)
    accepted = (int, float) if kind is float else kind
    if isinstance(value, bool) is not (kind is bool) or not isinstance(value, accepted):
        raise _type_error(path, key, TYPE_NAMES.get(kind, kind.__name__), value)
    if kind is list and example:
        for index, item in enumerate(value):
            _check_value(item, example[0], f"{key}[{index}]", path)
    if kind is dict:
        _check_mapping(value, example, key, path)


def _check_mapping(value: dict, example: dict, key: str, path) -> None:
    nested = [v for v in example.values() if isinstance(v, (list, dict))]
    for name, item in value.items():
        if not isinstance(name, str):
            raise _type_error(path, f"a key of {key}", "a string", name)
        if name in example:
            _check_value(item, example[name], f"{key}.{name}", path)
        elif example and not nested:  # a record: its keys are fixed
            raise BadInput(f"{path}: {key}.{name} is not a setting: use {', '.join(example)}")
        elif example and all(isinstance(v, dict) for v in example.values()):
            _check_value(item, next(iter(example.values())), f"{key}.{name}", path)
        elif not _is_json(item):
            _check_value(item, None, f"{key}.{name}", path)


def _check_section(value, allowed: dict, runner_keys, section: str, path) -> None:
    if value is None:  # an empty section in YAML
        return
    if not isinstance(value, dict):
        raise BadInput(
            f"{path}: {section} must be a mapping of settings, not {_a(type(value).__name__)}: "
            "fix the file"
        )
    for key, item in value.items():
        if key in runner_keys:
            raise BadInput(
                f"{path}: {section}.{key} is set by the runner (from the command line), "
                "not by the settings file: remove it"
            )
        if key not in allowed:
            use = f"use {', '.join(allowed)}" if allowed else f"{section} takes no settings"
            raise BadInput(f"{path}: {section}.{key} is not a setting: {use}")
        _check_value(item, allowed[key], f"{section}.{key}", path)


def _check_executor(settings: dict, path) -> None:
    executor, workers = settings.get("executor"), settings.get("workers")
    if executor is not None and executor not in EXECUTORS:
        raise _type_error(path, "executor", f"one of {', '.join(EXECUTORS)}", executor)
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise _type_error(path, "workers", "a whole number >= 1 (or empty: one per core)", workers)


def _a(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _check_tickers(value, path) -> list[str] | str:
    """A list of symbols, or a universe (a bundled name or a file, relative to the settings
    file) read in full now and kept as its name or absolute path."""
    if value is None:
        return []
    if not isinstance(value, str) and not (
        isinstance(value, list) and all(isinstance(t, str) for t in value)
    ):
        raise _type_error(path, "tickers", "a list of symbols or a universe", value)
    if isinstance(value, str) and universe.is_universe(value):
        resolved = universe.resolve(value, Path(path).parent)
        try:
            universe.load_universe(resolved)
        except BadInput as error:
            raise BadInput(f"{path}: tickers: {error}") from None
        return resolved
    try:
        return check_tickers(value)
    except InvalidTicker as error:
        raise InvalidTicker(f"{path}: tickers: {error}") from None


def check_pipeline_config(
    settings: dict, sections: dict[str, dict], path: Path | str, runner_keys=()
) -> dict:
    """Check every pipeline setting before anything runs: known sections and keys only, each
    value of its expected type; `sections` maps a section to its keys and example values (a
    stage notebook's defaults), `runner_keys` are parameters the runner sets itself. Raises
    BadInput naming the file and the key; returns the settings with tickers normalised."""
    known = [*TOP_LEVEL, *sections]
    for key in settings:
        if key not in known:
            raise BadInput(f"{path}: {key} is not a section: use {', '.join(known)}")
    source = settings.get("source")
    if source is not None and source not in SOURCES:
        raise _type_error(path, "source", f"one of {', '.join(SOURCES)}", source)
    _check_executor(settings, path)
    demo = TOP_LEVEL["demo"]
    _check_section(settings.get("demo"), demo, (), "demo", path)
    count = (settings.get("demo") or {}).get("backfill_sessions", demo["backfill_sessions"])
    if count < 1:
        raise _type_error(path, "demo.backfill_sessions", "at least 1", count)
    for section, allowed in sections.items():
        _check_section(settings.get(section), allowed, runner_keys, section, path)
    checked = dict(settings)
    if "tickers" in settings:
        checked["tickers"] = _check_tickers(settings["tickers"], path)
    return checked


def runner_keys() -> set[str]:
    """Parameters the runner sets itself (common values, variants' fixed ones): never settings."""
    return set(COMMON) | {key for chain in CHAINS.values() for s in chain for key in s.fixed}


def section_defaults() -> dict[str, dict]:
    """Each pipeline.yaml section's settings and their defaults (which give the types): what its
    stage's notebook declares, less what the runner sets and what it borrows from another
    section; a notebook default of None takes its type from `stockcast.settings`."""
    from runner.execute import declared_defaults
    from stockcast.settings import setting_examples

    examples = setting_examples()
    stages = {stage.section: stage for chain in CHAINS.values() for stage in chain}
    declared = {section: declared_defaults(stage.path) for section, stage in stages.items()}
    sections: dict[str, dict] = {}
    for section, stage in stages.items():
        borrowed = {key for other in stage.borrows for key in declared.get(other, {})}
        sections[section] = {
            key: examples.get(key) if value is None else value
            for key, value in declared[section].items()
            if key not in runner_keys() and key not in borrowed
        }
    return sections


def check_pipeline(settings: dict, path: Path) -> dict:
    """The pipeline settings checked against every stage notebook, before anything runs."""
    return check_pipeline_config(settings, section_defaults(), path, runner_keys())
