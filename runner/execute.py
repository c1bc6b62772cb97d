"""Execute one notebook template with papermill, in-process, and render the executed copy as HTML.

Parameters are checked against the template's `parameters` cell first: only declared names,
only JSON-type values. The template is never written; the executed copy is the audit record.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stockcast.errors import NO_SPACE, NOT_WRITABLE, BadInput, StorageError, describe, first_line
from stockcast.executors import PROGRESS_PREFIX

KERNEL_NAME = "stockcast"
JSON_TYPES = (str, int, float, bool, type(None), list, dict)


@dataclass
class StageFailure(Exception):
    """A notebook raised: the chain stops here; `notebook` is the executed copy that shows why."""

    notebook: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.reason} (see {self.notebook})"


def ensure_kernel() -> str:
    """Install (once) a kernelspec named `stockcast` that runs this very interpreter."""
    folder = Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec = {
        # Keeps the kernel's start-up and shutdown chatter out of cron logs: a failing cell is
        # reported by papermill from the executed notebook, not by the kernel's log.
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--IPKernelApp.log_level=CRITICAL",
        ],
        "display_name": "Python 3 (stockcast)",
        "language": "python",
        "metadata": {"debugger": True},
    }
    path = folder / "kernel.json"
    if not path.is_file() or json.loads(path.read_text()) != spec:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=1))
    return KERNEL_NAME


def _is_json_value(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_value(v) for k, v in value.items())
    return isinstance(value, JSON_TYPES)


def declared_parameters(notebook: Path) -> dict:
    """The names and defaults of the template's `parameters` cell."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def declared_defaults(notebook: Path) -> dict:
    """The template's parameters and their default values (None where the default is not a
    literal, so its type is unknown)."""
    defaults = {}
    for name, spec in declared_parameters(notebook).items():
        try:
            defaults[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            defaults[name] = None
    return defaults


def check_parameters(notebook: Path, parameters: dict) -> None:
    """Raise BadInput unless every parameter is declared by the notebook and JSON-typed."""
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise BadInput(
            f"{notebook.name} does not declare parameter(s) {', '.join(unknown)}: "
            f"it accepts {', '.join(sorted(declared))} (check runner/pipeline.yaml)"
        )
    for name, value in parameters.items():
        if not _is_json_value(value):
            raise BadInput(
                f"parameter {name}={value!r} for {notebook.name} is not a JSON value "
                "(string, number, boolean, null, list or mapping)"
            )


def _drop_unreadable(executed: Path) -> None:
    """Remove an executed copy that a full disk left truncated: nothing can open it, and
    removing it frees the space the run needs to close its records."""
    try:
        json.loads(executed.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        executed.unlink(missing_ok=True)


class ProgressLines:
    """A file papermill writes the kernel's stderr to: the per-ticker progress lines of
    `stockcast.executors` go on to `log`, the rest stays in the executed notebook only."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line.startswith(PROGRESS_PREFIX):
                self.log(line.removeprefix(PROGRESS_PREFIX))

    def flush(self) -> None:
        pass


def run_notebook(
    template: Path,
    executed: Path,
    parameters: dict,
    cwd: Path,
    on_progress: Callable[[str], None] | None = None,
) -> None:
    """Execute `template` into `executed`; on error the copy is kept and StageFailure raised.
    `on_progress` receives the notebook's per-ticker progress lines as they come."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    check_parameters(template, parameters)
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(template),
            str(executed),
            parameters=parameters,
            kernel_name=ensure_kernel(),
            progress_bar=False,
            cwd=str(cwd),
            stderr_file=ProgressLines(on_progress) if on_progress else None,
        )
    except PapermillExecutionError as exc:
        raise StageFailure(executed, first_line(f"{exc.ename}: {exc.evalue}")) from None
    except OSError as exc:
        if exc.errno not in NO_SPACE | NOT_WRITABLE:
            raise StageFailure(executed, describe(exc)) from None
        _drop_unreadable(executed)
        raise StorageError.writing(exc.filename or executed, exc) from None
    except Exception as exc:  # a dead kernel or a timeout: still one line and the copy
        raise StageFailure(executed, describe(exc)) from None
