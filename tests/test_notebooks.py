"""Notebook templates: committed clean, thin, accepting every parameter the runner passes."""

from __future__ import annotations

import json

import pytest

from runner.execute import declared_parameters
from runner.stages import CHAINS, COMMON, stage_parameters
from stockcast.config import NOTEBOOKS_DIR, load_pipeline_config

TEMPLATES = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
STAGES = list({stage.name: stage for chain in CHAINS.values() for stage in chain}.values())


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_are_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None
    assert notebook["metadata"]["kernelspec"]["name"] == "stockcast"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_are_thin_narratives(path):
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"][0].startswith("# ")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "\ndef " not in code and not code.startswith("def ") and "class " not in code


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_every_parameter_the_runner_passes_is_declared(stage):
    declared = declared_parameters(stage.path)
    common = dict.fromkeys(COMMON, "x")
    params = stage_parameters(stage, declared, common, load_pipeline_config())
    assert set(params) <= set(declared), set(params) - set(declared)
    assert "run_id" in params  # every stage records its outcome under the run
