"""Render executed notebooks as HTML reports and keep `runs/index.html` listing every run.

Plotly figures are written as `<div>`s that load plotly.js from one shared copy in
`runs/_static/`, so a report opens offline from disk and plotly.js is not copied into every run.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _plotly_js_source() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def ensure_static(static_dir: Path) -> Path:
    """Copy plotly.min.js into the shared static folder once; return its path."""
    target = static_dir / "plotly.min.js"
    source = _plotly_js_source()
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        static_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return target


def _plotly_outputs_to_html(notebook) -> int:
    """Replace plotly mime outputs by static HTML divs (nbconvert cannot render the mimetype)."""
    count = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME not in data:
                continue
            figure = data[PLOTLY_MIME]
            div_id = f"plotly-figure-{count}"
            payload = json.dumps(figure)
            data["text/html"] = (
                f'<div id="{div_id}" class="plotly-graph-div" style="width:100%;"></div>'
                f"<script>Plotly.newPlot({json.dumps(div_id)}, {payload}.data, "
                f"{payload}.layout, {{responsive: true, displaylogo: false}});</script>"
            )
            for key in (PLOTLY_MIME, "text/plain"):
                data.pop(key, None)
            count += 1
    return count


def render_html(
    executed: Path, target: Path, static_dir: Path, exclude_input: bool = False
) -> Path:
    """Write `target` as a standalone HTML rendering of the executed notebook."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    has_figures = _plotly_outputs_to_html(notebook) > 0
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = exclude_input
    exporter.exclude_input_prompt = exclude_input
    exporter.exclude_output_prompt = exclude_input
    body, _ = exporter.from_notebook_node(notebook)
    if has_figures:
        script = ensure_static(static_dir)
        relative = Path(*[".."] * len(target.parent.relative_to(static_dir.parent).parts))
        src = (relative / static_dir.name / script.name).as_posix()
        body = body.replace("</head>", f'<script src="{src}"></script>\n</head>', 1)
    target.write_text(body, encoding="utf-8")
    return target


def write_index(runs_dir: Path) -> Path:
    """Write `runs/index.html`: every run folder, newest first, with links to its reports."""
    rows = []
    for run_json in sorted(runs_dir.glob("*/run.json"), key=_started, reverse=True):
        run = json.loads(run_json.read_text())
        folder = run_json.parent.name
        links = " ".join(
            f'<a href="{html.escape(folder)}/{html.escape(name)}">{html.escape(name)}</a>'
            for name in sorted(p.name for p in run_json.parent.glob("*.html"))
        )
        failed = ", ".join(sorted(run.get("failed_tickers", []))) or "none"
        rows.append(
            f"<tr><td>{html.escape(folder)}</td><td>{html.escape(run.get('kind', ''))}</td>"
            f"<td>{html.escape(str(run.get('as_of') or ''))}</td>"
            f"<td>{html.escape(run.get('status', ''))}</td><td>{html.escape(failed)}</td>"
            f"<td>{links}</td></tr>"
        )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>stockcast runs</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        "<h1>stockcast runs</h1><p>Newest first. Each run keeps its executed notebooks as "
        "reports.</p><table><tr><th>run</th><th>kind</th><th>as of</th><th>status</th>"
        "<th>failed tickers</th><th>reports</th></tr>" + "".join(rows) + "</table></body></html>"
    )
    target = runs_dir / "index.html"
    runs_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def _started(run_json: Path) -> str:
    try:
        return json.loads(run_json.read_text()).get("started_at", "")
    except (OSError, json.JSONDecodeError):
        return ""
