"""The served dashboard's controls: ticker search and picker, dates and periods, the overview's
sort; and the plotly and HTML outputs every section fills.

`LiveControls` is a mixin of `dashboard_app.Dashboard`: its callbacks redraw the view's widgets
from the view's cached frames, from the kernel's main thread (see dashboard_app's docstring).
"""

from __future__ import annotations

import html
import json

import pandas as pd

from stockcast import dashboard, overview

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
PERIODS = {"1M": 1, "3M": 3, "6M": 6, "1Y": 12, "5Y": 60, "all": None}


def figure_output(figure) -> dict:
    """A figure as an output of plotly's mime type (Voila's plotly extension renders it, and
    runner.publish turns it into a div), never the renderer that inlines plotly.js."""
    payload = json.loads(figure.to_json())
    payload["config"] = PLOTLY_CONFIG
    data = {PLOTLY_MIME: payload, "text/plain": figure.layout.title.text or ""}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def html_output(text: str) -> dict:
    return {
        "output_type": "display_data",
        "data": {"text/html": text, "text/plain": ""},
        "metadata": {},
    }


class LiveControls:
    """Widgets and callbacks of the served view (needs the view's tickers, dates and sections)."""

    def _build_widgets(self) -> None:
        import ipywidgets as widgets

        wide = widgets.Layout(width="auto")
        self.ticker_box = widgets.Dropdown(
            options=self.tickers, value=self.tickers[0], description="Ticker", layout=wide
        )
        self.from_box = widgets.DatePicker(
            value=self.date_from.date(), description="From", layout=wide
        )
        self.to_box = widgets.DatePicker(value=self.date_to.date(), description="To", layout=wide)
        self.period_box = widgets.ToggleButtons(
            options=list(PERIODS),
            value=f"{dashboard.DEFAULT_MONTHS}M",
            style={"button_width": "48px"},
        )
        self.search_box = widgets.Text(placeholder="search tickers", layout=wide)
        self.controls = widgets.HBox(
            [self.search_box, self.ticker_box, self.from_box, self.to_box, self.period_box],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.headline_box = widgets.HTML()
        self.price_box, self.track_box = widgets.Output(), widgets.Output()
        self.leaderboard_box = widgets.HTML()
        self._build_overview_widgets(widgets)
        self.search_box.observe(lambda change: self._on_search(change["new"]), names="value")
        self.ticker_box.observe(lambda _: self.refresh(), names="value")
        self.from_box.observe(lambda _: self._on_dates(), names="value")
        self.to_box.observe(lambda _: self._on_dates(), names="value")
        self.period_box.observe(lambda change: self._on_period(change["new"]), names="value")
        self.refresh()

    def _build_overview_widgets(self, widgets) -> None:
        self.sort_box = widgets.Dropdown(
            options=[(name, key) for key, name in overview.COLUMNS.items()],
            value="ticker",
            description="Sort by",
        )
        self.descending_box = widgets.Checkbox(value=False, description="descending")
        self.overview_box = widgets.HTML()
        scroll = widgets.Layout(max_height="420px", overflow="auto")
        self.overview_panel = widgets.VBox(
            [
                widgets.HBox([self.sort_box, self.descending_box]),
                widgets.Box([self.overview_box], layout=scroll),
            ]
        )
        for box in (self.sort_box, self.descending_box):
            box.observe(lambda _: self._on_sort(), names="value")

    def _on_sort(self) -> None:
        self.overview_box.value = self.overview_html(self.sort_box.value, self.descending_box.value)

    def _on_search(self, text: str) -> None:
        """Narrow the ticker list to the symbols containing `text` (all of them when empty)."""
        found = [t for t in self.tickers if text.strip().upper() in t] or self.tickers
        if found == list(self.ticker_box.options):
            return
        current = self.ticker_box.value
        self.ticker_box.options = found  # selects the first one
        if current in found:
            self.ticker_box.value = current

    def _on_period(self, period) -> None:
        if period is None:
            return
        months = PERIODS[period]
        first = self.data(self.ticker_box.value).prices["date"].min()
        start = first if months is None else self.last_date - pd.DateOffset(months=months)
        self._setting_period = True  # one redraw for both pickers, and keep the button lit
        try:
            self.to_box.value = self.last_date.date()
            self.from_box.value = pd.Timestamp(start).date()
        finally:
            self._setting_period = False
        self.refresh(dates_only=True)

    def _on_dates(self) -> None:
        if getattr(self, "_setting_period", False) or not (
            self.from_box.value and self.to_box.value
        ):
            return
        self.period_box.value = None  # a hand-picked range is no preset period
        self.refresh(dates_only=True)

    def refresh(self, dates_only: bool = False) -> None:
        """Redraw what depends on the ticker (and the dates) from the cached frames."""
        ticker = self.ticker_box.value
        start, end = pd.Timestamp(self.from_box.value), pd.Timestamp(self.to_box.value)
        if not dates_only:
            self.headline_box.value = self.headline(ticker)
            if self._train_runs is not None:  # else show_leaderboard fills it
                self.leaderboard_box.value = self.leaderboard(ticker)
        self.price_box.outputs = (figure_output(self.price_figure(ticker, start, end)),)
        found = self.track_record(ticker, start, end)
        if found is None:
            caption = f'<p class="sc-caption">{html.escape(ticker)}: nothing evaluated yet.</p>'
            self.track_box.outputs = (html_output(caption),)
        else:
            caption = f'<p class="sc-caption">{found[1]}</p>'
            self.track_box.outputs = (html_output(caption), figure_output(found[0]))
