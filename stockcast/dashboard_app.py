"""The dashboard notebook's sections: live ipywidgets when Voila serves it, or every ticker in turn
as static output for a run's published snapshot (static HTML has no kernel to run widgets).

Reads only the database (through `store`) and MLflow (through `leaderboard.load_train_runs`, in a
child process started with the page); never trains or fetches. The pieces it shows are built by the
pure functions of `dashboard` and `overview`; the served page's controls are in `dashboard_live`.

Every widget is filled from the kernel's main thread, and Output widgets by value (`outputs`),
never by capturing a cell's output: a capture makes the notebook client that executes the page send
its own requests to the kernel between cells, and the two page renders seen stalled for good (the
kernel idle, the client still waiting for a reply) had stopped right after such requests.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from IPython.display import HTML, display

from stockcast import dashboard, evaluate, leaderboard, overview, plots, store
from stockcast.dashboard_live import LiveControls, figure_output
from stockcast.errors import DatabaseUnavailable
from stockcast.settings import train_settings

MAX_CHARTS = 12  # tickers charted in a static snapshot; the overview lists every ticker


def open_store(settings) -> tuple[sa.Engine | None, str | None]:
    """(engine, None) when the database holds prices; else (None, the one sentence to show).

    A missing SQLite file is not created: the dashboard only reads.
    """
    url = settings.db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None, dashboard.NO_DATA
    try:
        engine = store.connect_read_only(url)
        if store.price_summary(engine).empty:
            return None, dashboard.NO_DATA
    except DatabaseUnavailable as error:
        return None, str(error)
    except sa.exc.SQLAlchemyError:  # no tables yet: nothing has run against this database
        return None, dashboard.NO_DATA
    return engine, None


def show_figure(figure) -> None:
    display(figure_output(figure)["data"], raw=True)


@dataclass
class TickerData:
    prices: pd.DataFrame
    preds: pd.DataFrame
    evals: pd.DataFrame  # with as_of_close


class Dashboard(LiveControls):
    """The notebook's sections, one `show_*` call each; `message` is set when there is no data.
    Served live, the widgets of `LiveControls` drive it."""

    def __init__(
        self,
        settings,
        tickers=(),
        as_of=None,
        date_from=None,
        date_to=None,
        static=False,
        reports_url="reports",
        run_id=None,
        window=dashboard.WINDOW,
        level=None,
        max_charts=MAX_CHARTS,
    ):
        self.settings, self.as_of, self.static, self.window = settings, as_of, static, window
        self.level = train_settings(interval_level=level).interval_level
        self.reports_url, self.run_id, self.max_charts = reports_url, run_id, max_charts
        self.engine, self.message = open_store(settings)
        self._cache: dict[str, TickerData] = {}
        self._overview: pd.DataFrame | None = None
        self._train_runs: pd.DataFrame | None = None
        self.mlflow_problem: str | None = None
        if self.engine is None:
            return
        self._train_runs_reader = leaderboard.start_reading_train_runs()  # beside the page's work
        summary = store.price_summary(self.engine)
        self.tickers = [t for t in summary["ticker"] if not tickers or t in tickers]
        if not self.tickers:
            self.message = dashboard.NO_DATA
            return
        last = summary["last_date"].max()
        self.last_date = min(last, pd.Timestamp(as_of)) if as_of else last
        start, end = dashboard.default_range(self.last_date)
        self.date_from = pd.Timestamp(date_from) if date_from else start
        self.date_to = pd.Timestamp(date_to) if date_to else end
        if not static:
            self._build_widgets()

    # --- data ------------------------------------------------------------------------------------

    def data(self, ticker: str) -> TickerData:
        """One ticker's stored rows as of the view's date, read once."""
        if ticker not in self._cache:
            prices = store.load_prices(self.engine, [ticker])
            preds = store.load_predictions(self.engine, [ticker])
            evals = evaluate.add_as_of_close(store.load_evaluations(self.engine, [ticker]), prices)
            cut = dashboard.cut_to_as_of(prices, preds, evals, self.as_of)
            self._cache[ticker] = TickerData(*cut)
        return self._cache[ticker]

    def overview(self) -> pd.DataFrame:
        """Every ticker's overview row, from one bulk read of the recent rows of each table."""
        if self._overview is None:
            since = self.last_date - pd.Timedelta(days=max(120, 3 * self.window))
            prices = store.load_prices(self.engine, self.tickers, start=since)
            preds = store.load_predictions(self.engine, self.tickers, start=since)
            evals = store.load_evaluations(self.engine, self.tickers, start=since)
            prices, preds, evals = dashboard.cut_to_as_of(prices, preds, evals, self.as_of)
            self._overview = overview.universe_overview(preds, prices, evals, self.window)
        return self._overview

    def charted(self) -> list[str]:
        """The tickers a static snapshot charts: all of them up to `max_charts`, else the ones
        whose served forecast did worst against naive lately."""
        if len(self.tickers) <= self.max_charts:
            return self.tickers
        return overview.worst_first(self.overview(), self.max_charts)

    def train_runs(self) -> pd.DataFrame:
        """The train runs read by the child process started with the view, waited for once."""
        if self._train_runs is None:
            try:
                self._train_runs = leaderboard.collect_train_runs(self._train_runs_reader)
            except RuntimeError as error:  # MLflow down must not take the rest of the page with it
                self.mlflow_problem = f"MLflow is unavailable ({error})"
                self._train_runs = pd.DataFrame()
        return self._train_runs

    # --- what one ticker shows ---------------------------------------------------------------

    def headline(self, ticker: str) -> str:
        one = self.data(ticker)
        return dashboard.headline_html(
            dashboard.latest_headline(one.preds, one.prices), ticker, self.level
        )

    def price_figure(self, ticker: str, start=None, end=None):
        one = self.data(ticker)
        prices, preds = dashboard.cut_to_range(
            one.prices, one.preds, start or self.date_from, end or self.date_to
        )
        return plots.price_figure(prices, preds, ticker, self.level)

    def track_record(self, ticker: str, start=None, end=None):
        """(figure, caption) of the rolling track record in [start, end], or None without any."""
        evals = self.data(ticker).evals
        if evals.empty:
            return None
        record = dashboard.rolling_track_record(evals, self.window)
        start, end = pd.Timestamp(start or self.date_from), pd.Timestamp(end or self.date_to)
        shown = record[(record["target_date"] >= start) & (record["target_date"] <= end)]
        figure = plots.track_record_figure(
            shown if len(shown) else record, ticker, self.window, self.level
        )
        return figure, dashboard.track_record_caption(evals, self.window)

    def leaderboard(self, ticker: str) -> str:
        runs = self.train_runs()
        if self.mlflow_problem:
            return f'<p class="sc-caption">{html.escape(self.mlflow_problem)}</p>'
        return leaderboard.leaderboard_html(*leaderboard.leaderboard(runs, ticker, self.as_of))

    def runs(self) -> str:
        runs = store.recent_runs(self.engine, 10)
        this_run = (runs["run_id"] == self.run_id) & (runs["status"] == "running")
        runs.loc[this_run, "status"] = "running (this snapshot)"
        items = store.run_items(self.engine, runs["run_id"]) if len(runs) else pd.DataFrame()
        reports = {
            run.run_id: dashboard.report_files(run.report_dir, run.run_id == self.run_id)
            for run in runs.itertuples()
        }
        return dashboard.runs_table_html(runs, items, reports, self.reports_url)

    # --- the notebook's sections -------------------------------------------------------------

    def show_controls(self) -> None:
        """The ticker and date controls, or the snapshot's note, or the no-data sentence."""
        if self.message:
            display(HTML(dashboard.no_data_html(self.message)))
        elif self.static:
            made = f" of run {self.run_id}" if self.run_id else ""
            charted = self.charted()
            which = (
                "every ticker"
                if len(charted) == len(self.tickers)
                else f"the overview of all {len(self.tickers)} tickers, and charts of the "
                f"{len(charted)} whose served forecast did worst against naive lately"
            )
            note = (
                f"Snapshot{made}, data up to {self.last_date:%Y-%m-%d}: {which}, prices "
                f"from {self.date_from:%Y-%m-%d}. Serve the dashboard "
                "(<code>python -m runner dashboard</code>) to explore."
            )
            display(HTML(f'{dashboard.CSS}<p class="sc-caption">{note}</p>'))
        else:
            display(self.controls)

    def show_headline(self) -> None:
        def every_ticker():
            found = [self.data(t) for t in self.charted()]
            headlines = [dashboard.latest_headline(d.preds, d.prices) for d in found]
            display(HTML(dashboard.headlines_table_html([h for h in headlines if h], self.level)))

        self._section("Latest forecast", "headline_box", every_ticker)

    def show_overview(self) -> None:
        """Every ticker in one table; live, sorted by the column the reader picks."""
        if self.message:
            return
        display(HTML("<h2>Every ticker</h2>"))
        if self.static:
            display(HTML(self.overview_html()))
        else:
            self.overview_box.value = self.overview_html()
            display(self.overview_panel)

    def overview_html(self, by: str = "ticker", descending: bool = False) -> str:
        table = overview.sort_overview(self.overview(), by, descending)
        return overview.overview_html(table, self.level, self.window)

    def show_prices(self) -> None:
        def every_ticker():
            for ticker in self.charted():
                show_figure(self.price_figure(ticker))

        self._section("Price history and forecasts", "price_box", every_ticker)

    def show_track_record(self) -> None:
        def every_ticker():
            for ticker in self.charted():
                found = self.track_record(ticker)
                if found:
                    display(HTML(f'<p class="sc-caption">{ticker}: {found[1]}</p>'))
                    show_figure(found[0])

        self._section("Track record", "track_box", every_ticker)

    def show_leaderboard(self) -> None:
        def every_ticker():
            display(HTML("".join(self.leaderboard(t) for t in self.charted())))

        if not (self.message or self.static):  # waits for MLflow: the page's last piece
            self.leaderboard_box.value = self.leaderboard(self.ticker_box.value)
        self._section("Model leaderboard: the last train", "leaderboard_box", every_ticker)

    def show_runs(self) -> None:
        if not self.message:
            display(HTML(f"<h2>Recent runs</h2>{self.runs()}"))

    def _section(self, title: str, widget: str, every_ticker) -> None:
        if self.message:
            return
        display(HTML(f"<h2>{title}</h2>"))
        if self.static:
            every_ticker()
        else:
            display(getattr(self, widget))
