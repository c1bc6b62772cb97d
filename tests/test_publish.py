"""publish.py: HTML reports that open offline, the dashboard snapshot without code, the index."""

import json
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from runner import publish

FIGURE = {"data": [{"type": "scatter", "x": [1, 2], "y": [3.5, 4.25]}], "layout": {"height": 300}}


def write_notebook(path, source="view.show_prices()"):
    figure = new_output(
        "display_data", data={publish.PLOTLY_MIME: FIGURE, "text/plain": "a figure"}
    )
    warning = new_output("stream", name="stderr", text="FutureWarning: something internal\n")
    notebook = new_notebook(cells=[new_code_cell(source, outputs=[warning, figure])])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def scripts(page: str) -> list[str]:
    return re.findall(r'<script[^>]*src="([^"]+)"', page)


def code_areas(page: str) -> list[str]:
    """The rendered code inputs and their prompts (the CSS names them too, so match markup)."""
    return re.findall(r'<div class="[^"]*(?:jp-InputPrompt|jp-CodeMirrorEditor)', page)


def test_snapshot_is_rendered_without_code_and_loads_the_shared_plotly(tmp_path):
    runs = tmp_path / "runs"
    executed = write_notebook(runs / "daily-1" / "dashboard.ipynb")
    page = publish.render_html(
        executed, executed.with_suffix(".html"), runs / "_static"
    ).read_text()
    assert "view.show_prices()" not in page and not code_areas(page)
    assert "FutureWarning" not in page  # stderr is not part of a reader's view
    assert scripts(page) == ["../_static/plotly.min.js"]  # no CDN, one shared copy
    assert page.count('class="plotly-graph-div"') == 1
    assert (runs / "_static" / "plotly.min.js").is_file()
    assert not (runs / "daily-1" / "plotly.min.js").exists()
    assert "<title>stockcast dashboard · daily-1</title>" in page


def test_stage_reports_keep_their_code(tmp_path):
    runs = tmp_path / "runs"
    executed = write_notebook(runs / "daily-1" / "06_evaluate.ipynb", "summary = 1")
    page = publish.render_html(
        executed, executed.with_suffix(".html"), runs / "_static"
    ).read_text()
    assert "summary" in page and code_areas(page) and "FutureWarning" in page
    assert all(not src.startswith("http") for src in scripts(page))


def test_a_progress_bar_is_rendered_in_its_last_state(tmp_path):
    """tqdm redraws its bar after a carriage return; the report shows the final drawing only."""
    executed = tmp_path / "runs" / "weekly-1" / "04_train.ipynb"
    redraws = [f"\rfit_ticker: {n} of 40 tickers done" for n in (0, 20, 40)]
    bar = new_output("stream", name="stderr", text="".join(redraws) + "\n")
    notebook = new_notebook(cells=[new_code_cell("train.fit_tickers()", outputs=[bar])])
    executed.parent.mkdir(parents=True)
    nbformat.write(notebook, executed)
    page = publish.render_html(
        executed, executed.with_suffix(".html"), tmp_path / "runs" / "_static"
    )
    text = page.read_text()
    assert text.count("fit_ticker: ") == 1 and "fit_ticker: 40 of 40 tickers done" in text


def make_run(runs, run_id, started, reports=("01_ingest.html",)):
    folder = runs / run_id
    folder.mkdir(parents=True)
    for name in reports:
        (folder / name).write_text("<html></html>")
    record = {"kind": run_id.split("-")[0], "as_of": "2013-03-01", "status": "ok"}
    record |= {"started_at": started, "failed_tickers": ["GOOG"] if "daily" in run_id else []}
    (folder / "run.json").write_text(json.dumps(record))


def test_index_lists_runs_newest_first_with_their_dashboard(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "demo-1", "2024-01-01T10:00:00+00:00", ("dashboard.html", "01_ingest.html"))
    make_run(runs, "daily-2", "2024-01-02T10:00:00+00:00")
    page = publish.write_index(runs).read_text()
    assert page.index("daily-2") < page.index("demo-1")
    assert '<a href="demo-1/dashboard.html">dashboard</a>' in page
    assert '<a href="demo-1/01_ingest.html">01_ingest</a>' in page
    assert "GOOG" in page


@pytest.mark.pipeline
def test_every_run_publishes_its_dashboard_snapshot(pipeline):
    folder = pipeline.run_folder
    page = (folder / "dashboard.html").read_text()
    assert "dashboard_app" not in page and not code_areas(page)  # no code cells
    assert scripts(page) == ["../_static/plotly.min.js"]
    assert page.count('class="plotly-graph-div"') == 8  # price and track record, 4 tickers
    assert "Latest forecast" in page and "Recent runs" in page
    assert f'href="../{folder.name}/06_evaluate.html"' in page  # links work from disk
    assert not list(folder.glob("*.js"))
    index = (pipeline.outputs / "runs" / "index.html").read_text()
    assert f'href="{folder.name}/dashboard.html"' in index
