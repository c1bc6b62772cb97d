"""Test-only stand-in for `papermill.execute_notebook`: runs a chain's loop without kernels.

The runner itself runs for real (plan, lock, run records, parameter checks, HTML reports); only
the notebook execution is replaced. Each stage, named as in `runner.stages`, does what a spec
says (default: succeed):

    {"stages": {"ingest": {"fail_tickers": {"MSFT": "no data"}},   # per-ticker failures
                "features": {"error": "ValueError: boom"},          # the notebook raises
                "train": "block",                                    # runs until signalled
                "tune": {"wait_for": "path/to/file"},                # runs until it exists
                "train-backfill": "interrupt",                       # Ctrl-C meanwhile
                "predict": "enospc",                                 # the disk is full
                "evaluate": "fill_disk",                             # writes until the disk is
                "dashboard": {"real": "path/to/tiny.ipynb"}},        #   full; real papermill
     "mlflow": false}                                               # skip MLflow (default)

In-process: `FakePapermill(spec).install(monkeypatch)`. In a subprocess, as an operator's
command would run: `python tests/fake_papermill.py SPEC.json <runner args>` (see `command`).
"""

from __future__ import annotations

import errno
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _stage_names() -> dict[str, object]:
    """Executed notebook name -> its Stage, for every stage of every chain."""
    from runner.stages import CHAINS

    return {stage.executed_name: stage for chain in CHAINS.values() for stage in chain}


def _notebook_text(template: str, parameters: dict, filler: int = 0) -> str:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(f"# fake execution of {template}"),
        nbformat.v4.new_code_cell(
            "\n".join(f"{k} = {v!r}" for k, v in parameters.items()),
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="x" * filler)],
        ),
    ]
    return nbformat.writes(notebook)


class FakePapermill:
    """Call it as papermill.execute_notebook; `calls` lists (stage name, parameters)."""

    def __init__(self, spec: dict | None = None):
        self.spec = {"stages": {}, "mlflow": False, **(spec or {})}
        self.calls: list[tuple[str, dict]] = []

    def install(self, monkeypatch) -> FakePapermill:
        import papermill

        monkeypatch.setattr(papermill, "execute_notebook", self)
        if not self.spec["mlflow"]:
            from stockcast import tracking

            monkeypatch.setattr(tracking, "log_reports", lambda *args, **kwargs: None)
        return self

    def __call__(self, input_path, output_path, parameters=None, **kwargs):
        parameters = parameters or {}
        stage = _stage_names()[Path(output_path).name]
        self.calls.append((stage.name, parameters))
        behaviour = self.spec["stages"].get(stage.name, {})
        behaviour = {behaviour: True} if isinstance(behaviour, str) else behaviour
        if "real" in behaviour:  # real papermill and a real kernel, on a tiny notebook
            return self.real(behaviour["real"], output_path, kwargs)
        output = Path(output_path)
        if behaviour.get("fill_disk"):
            return self._fill_disk(output, Path(input_path).name, parameters)
        output.write_text(_notebook_text(Path(input_path).name, parameters))
        if behaviour.get("enospc"):  # what papermill's writer raises when the disk is full
            output.write_text(output.read_text()[:100])  # the copy is left truncated
            raise OSError(errno.ENOSPC, "No space left on device", str(output))
        if behaviour.get("block"):
            while True:  # until a signal ends the run
                time.sleep(0.1)
        if "wait_for" in behaviour:  # until the test lets the stage go on
            while not Path(behaviour["wait_for"]).exists():
                time.sleep(0.05)
        if behaviour.get("interrupt"):
            raise KeyboardInterrupt
        self._record(stage, parameters, behaviour.get("fail_tickers", {}))
        if "error" in behaviour:
            from papermill.exceptions import PapermillExecutionError

            name, _, value = behaviour["error"].partition(": ")
            raise PapermillExecutionError(1, 1, "fake()", name, value, [])
        return None

    def real(self, template, output_path, kwargs):
        from papermill.execute import execute_notebook

        kwargs = {k: v for k, v in kwargs.items() if k in ("kernel_name", "progress_bar")}
        return execute_notebook(str(template), str(output_path), **kwargs)

    def _fill_disk(self, output: Path, template: str, parameters: dict) -> None:
        """Write the executed copy as papermill would, growing, until the disk is full."""
        size = 1 << 16
        while True:
            text = _notebook_text(template, parameters, filler=size)
            with output.open("w") as handle:  # papermill rewrites the copy after each cell
                handle.write(text)
            size *= 2

    @staticmethod
    def _record(stage, parameters: dict, failures: dict) -> None:
        """Per-ticker outcomes, as each notebook records them."""
        if "run_id" not in parameters or "tickers" not in parameters:
            return
        from stockcast import store
        from stockcast.config import load_settings

        engine = store.connect(load_settings().db_url)
        store.record_outcomes(
            engine, parameters["run_id"], stage.section, parameters["tickers"], failures
        )
        engine.dispose()


def command(spec_path: Path, *args: str) -> list[str]:
    """The argv of a runner process whose notebooks are faked as `spec_path` says."""
    return [sys.executable, str(HERE / "fake_papermill.py"), str(spec_path), *args]


class _Patch:
    setattr = staticmethod(setattr)


def main(argv: list[str]) -> int:
    from runner.cli import main as runner_main

    spec = json.loads(Path(argv[0]).read_text())
    FakePapermill(spec).install(_Patch())
    return runner_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
