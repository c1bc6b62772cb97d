"""Render executed notebooks as HTML reports and keep `runs/index.html` listing every run.

Plotly figures are written as `<div>`s that load plotly.js from one shared copy in
`runs/_static/`, so a report opens offline from disk and plotly.js is not copied into every run;
no script comes from a CDN. The dashboard's executed copy is its published snapshot:
`dashboard.html`, outputs only, without code cells.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

PLOTLY_MIME = "application/vnd.plotly.v1+json"
SNAPSHOTS = {"dashboard.ipynb": "stockcast dashboard"}  # notebooks published without code
# nbconvert's lab template without its CDN scripts (require.js, MathJax): reports open offline
# at once, and nothing they show needs either.
REPORT_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


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


def _drop_stderr(notebook) -> None:
    """A snapshot is for readers: library warnings on stderr are not part of the view."""
    for cell in notebook.cells:
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if o.get("name") != "stderr"]


def render_html(
    executed: Path, target: Path, static_dir: Path, exclude_input: bool = False
) -> Path:
    """Write `target` as a standalone HTML rendering of the executed notebook; a snapshot
    notebook (SNAPSHOTS, by name) is always rendered without its code."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    notebook = nbformat.read(executed, as_version=4)
    title = SNAPSHOTS.get(executed.name)
    exclude_input = exclude_input or title is not None
    if title:
        _drop_stderr(notebook)
    has_figures = _plotly_outputs_to_html(notebook) > 0
    exporter = HTMLExporter(
        template_name="lab",
        template_file="report.html.j2",
        extra_loaders=[jinja2.DictLoader({"report.html.j2": REPORT_TEMPLATE})],
    )
    # tqdm redraws its bar after a carriage return: keep only each stream's final drawing.
    exporter.register_preprocessor(CoalesceStreamsPreprocessor, enabled=True)
    exporter.exclude_input = exclude_input
    exporter.exclude_input_prompt = exclude_input
    exporter.exclude_output_prompt = exclude_input
    name = f"{title or executed.stem} · {target.parent.name}"
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": name}})
    if has_figures:
        script = ensure_static(static_dir)
        relative = Path(*[".."] * len(target.parent.relative_to(static_dir.parent).parts))
        src = (relative / static_dir.name / script.name).as_posix()
        body = body.replace("</head>", f'<script src="{src}"></script>\n</head>', 1)
    target.write_text(body, encoding="utf-8")
    return target


def _report_links(folder: Path) -> tuple[str, str]:
    """(link to the run's dashboard snapshot or "", links to its stage reports)."""
    names = sorted(p.name for p in folder.glob("*.html"))
    snapshot = next((n for n in names if n.removesuffix(".html") + ".ipynb" in SNAPSHOTS), None)
    dashboard = (
        f'<a href="{html.escape(folder.name)}/{html.escape(snapshot)}">dashboard</a>'
        if snapshot
        else ""
    )
    stages = " · ".join(
        f'<a href="{html.escape(folder.name)}/{html.escape(name)}">'
        f"{html.escape(name.removesuffix('.html'))}</a>"
        for name in names
        if name != snapshot
    )
    return dashboard, stages


def write_index(runs_dir: Path) -> Path:
    """Write `runs/index.html`: every run folder, newest first, with links to its dashboard
    snapshot and its stage reports."""
    rows = []
    for run_json in sorted(runs_dir.glob("*/run.json"), key=_started, reverse=True):
        run = json.loads(run_json.read_text())
        dashboard, stages = _report_links(run_json.parent)
        failed = ", ".join(sorted(run.get("failed_tickers", []))) or "none"
        cells = (
            html.escape(run_json.parent.name),
            html.escape(run.get("kind", "")),
            html.escape(str(run.get("as_of") or "")),
            html.escape(run.get("status", "")),
            html.escape(str(run.get("started_at") or "")[:19].replace("T", " ")),
            html.escape(failed),
            dashboard,
            stages,
        )
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = ("run", "kind", "as of", "status", "started (UTC)", "failed tickers", "dashboard")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>stockcast runs</title>"
        "<style>body{font-family:Inter,Helvetica,Arial,sans-serif;margin:2em;color:#1f2937}"
        "table{border-collapse:collapse;font-size:14px}"
        "td,th{border-bottom:1px solid #dee2e6;padding:5px 10px;text-align:left;"
        "vertical-align:top}td{white-space:nowrap}td:last-child{white-space:normal}"
        "a{color:#1971c2}</style></head><body>"
        "<h1>stockcast runs</h1><p>Newest first. Each run keeps its dashboard snapshot and "
        "its executed notebooks as reports.</p><table><tr>"
        + "".join(f"<th>{name}</th>" for name in head)
        + "<th>reports</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
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
