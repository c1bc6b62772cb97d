"""Plotly figures of the dashboard and the reports, built from frames (never from connections).

Prices read with two decimals everywhere (axes and hovers); every figure has a title, axis
labels and a legend, and a height that reads on a laptop screen.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stockcast.config import CANDIDATES
from stockcast.frames import require_columns

COLORS = {
    "close": "#1f2937",
    "champion": "#d9480f",
    "band": "rgba(217, 72, 15, 0.15)",
    "naive": "#868e96",
    "ar": "#0c8599",
    "ridge": "#1971c2",
    "xgboost": "#2f9e44",
    "pooled": "#9c36b5",
}
FONT = {"family": "Inter, Helvetica, Arial, sans-serif", "size": 13}
PRICE = ",.2f"


def _layout(figure: go.Figure, title: str, height: int) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 17}},
        height=height,
        font=FONT,
        template="plotly_white",
        margin={"l": 70, "r": 30, "t": 90, "b": 50},
        hovermode="x unified",
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
    )
    return figure


def price_figure(prices: pd.DataFrame, preds: pd.DataFrame, ticker: str, level: float) -> go.Figure:
    """One ticker's closes, the champion's forecasts with their interval band, and naive's.

    prices: date, close (as traded); preds: `stock_pred` rows (target_date, model, pred_close,
    pred_lower, pred_upper, is_champion). Both already cut to the dates to show.
    """
    require_columns(prices, ("date", "close"), "prices")
    require_columns(
        preds,
        ("target_date", "model", "pred_close", "pred_lower", "pred_upper", "is_champion"),
        "preds",
    )
    champion = preds[preds["is_champion"].astype(bool)].sort_values("target_date")
    naive = preds[preds["model"] == "naive"].sort_values("target_date")
    band = champion.dropna(subset=["pred_lower", "pred_upper"])
    figure = go.Figure()
    figure.add_scatter(
        x=band["target_date"],
        y=band["pred_upper"],
        mode="lines",
        line={"width": 0},
        hoverinfo="skip",
        showlegend=False,
        legendgroup="band",
    )
    figure.add_scatter(
        x=band["target_date"],
        y=band["pred_lower"],
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor=COLORS["band"],
        name=f"{level:.0%} interval",
        legendgroup="band",
        hovertemplate="interval %{customdata:,.2f} – %{y:,.2f}<extra></extra>",
        customdata=band["pred_upper"],
    )
    figure.add_scatter(
        x=prices["date"],
        y=prices["close"],
        mode="lines",
        name="close",
        line={"color": COLORS["close"], "width": 2},
        hovertemplate="close %{y:,.2f}<extra></extra>",
    )
    # naive on top of the champion: both show on days naive was served
    figure.add_scatter(
        x=champion["target_date"],
        y=champion["pred_close"],
        mode="lines+markers",
        name="champion forecast",
        line={"color": COLORS["champion"], "width": 2},
        marker={"size": 7},
        customdata=champion[["model"]],
        hovertemplate="forecast %{y:,.2f} (%{customdata[0]})<extra></extra>",
    )
    figure.add_scatter(
        x=naive["target_date"],
        y=naive["pred_close"],
        mode="lines",
        name="naive (last close)",
        line={"color": COLORS["naive"], "width": 1.5, "dash": "dash"},
        hovertemplate="naive %{y:,.2f}<extra></extra>",
    )
    _mark_latest(figure, champion)
    _layout(figure, f"{ticker}: close and next-session forecasts", 470)
    figure.update_xaxes(title_text="session")
    figure.update_yaxes(title_text="price (as traded)", tickformat=PRICE, hoverformat=".2f")
    return figure


def _mark_latest(figure: go.Figure, champion: pd.DataFrame) -> None:
    """A star on the newest forecast, labelled with its value: what the reader came for."""
    if champion.empty:
        return
    latest = champion.iloc[-1]
    figure.add_scatter(
        x=[latest["target_date"]],
        y=[latest["pred_close"]],
        mode="markers",
        showlegend=False,
        marker={
            "symbol": "star",
            "size": 15,
            "color": COLORS["champion"],
            "line": {"color": "white", "width": 1},
        },
        hoverinfo="skip",
    )
    figure.add_annotation(
        x=latest["target_date"],
        y=latest["pred_close"],
        text=f"{latest['pred_close']:,.2f}",
        showarrow=True,
        arrowhead=0,
        ax=0,
        ay=-30,
        font={"color": COLORS["champion"]},
        bgcolor="rgba(255,255,255,0.85)",
    )


TRACK_PANELS = (
    "Rolling error of the served forecast vs naive (price units)",
    "RMSE ratio to naive (below 1: better than naive)",
    "Directional accuracy and interval coverage (%)",
)


def track_record_figure(record: pd.DataFrame, ticker: str, window: int, level: float):
    """Three panels over target sessions from a rolling track record (see
    dashboard.rolling_track_record): RMSE/MAE champion vs naive, their ratio, hit rates."""
    require_columns(
        record,
        (
            "target_date",
            "champion_rmse",
            "naive_rmse",
            "champion_mae",
            "naive_mae",
            "rmse_ratio",
            "coverage",
        ),
        "record",
    )
    figure = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.09, subplot_titles=TRACK_PANELS
    )
    x = record["target_date"]
    errors = (  # the champion wide and naive thin on top: both show where they coincide
        ("champion_rmse", "champion RMSE", COLORS["champion"], "solid", 4),
        ("champion_mae", "champion MAE", COLORS["champion"], "dot", 4),
        ("naive_rmse", "naive RMSE", COLORS["naive"], "solid", 1.5),
        ("naive_mae", "naive MAE", COLORS["naive"], "dot", 1.5),
    )
    for column, name, color, dash, width in errors:
        figure.add_scatter(
            x=x,
            y=record[column],
            name=name,
            legend="legend",
            row=1,
            col=1,
            line={"color": color, "dash": dash, "width": width},
            hovertemplate=f"{name} %{{y:,.2f}}<extra></extra>",
        )
    figure.add_scatter(
        x=x,
        y=record["rmse_ratio"],
        name="champion / naive",
        legend="legend2",
        row=2,
        col=1,
        line={"color": COLORS["champion"]},
        hovertemplate="ratio %{y:.3f}<extra></extra>",
    )
    figure.add_hline(y=1, line={"color": COLORS["naive"], "dash": "dash"}, row=2, col=1)
    _add_hit_rates(figure, record, level)
    _layout(figure, f"{ticker}: track record, rolling over {window} evaluated sessions", 820)
    figure.update_layout(hovermode="x unified", margin={"r": 190})
    for row, name in enumerate(("legend", "legend2", "legend3")):
        domain = figure.layout[f"yaxis{row + 1 if row else ''}"].domain
        figure.update_layout(
            {
                name: {
                    "x": 1.01,
                    "xanchor": "left",
                    "y": domain[1],
                    "yanchor": "top",
                    "orientation": "v",
                    "font": {"size": 12},
                }
            }
        )
    figure.update_yaxes(title_text="price", tickformat=PRICE, row=1, col=1)
    figure.update_yaxes(title_text="ratio", tickformat=".2f", row=2, col=1)
    figure.update_yaxes(title_text="%", range=[0, 105], row=3, col=1)
    figure.update_xaxes(title_text="target session", row=3, col=1)
    return figure


def _add_hit_rates(figure: go.Figure, record: pd.DataFrame, level: float) -> None:
    x = record["target_date"]
    rates = [("coverage", f"champion {level:.0%} interval coverage", COLORS["champion"], "dot")]
    rates.append(("champion_direction", "champion direction", COLORS["champion"], "solid"))
    for model in (name for name in CANDIDATES if name != "naive"):  # naive calls no direction
        if f"{model}_direction" in record:
            rates.append((f"{model}_direction", f"{model} direction", COLORS[model], "solid"))
    for column, name, color, dash in rates:
        if column not in record or record[column].isna().all():
            continue  # e.g. naive served every day: it calls no direction
        figure.add_scatter(
            x=x,
            y=record[column] * 100,
            name=name,
            legend="legend3",
            row=3,
            col=1,
            line={"color": color, "dash": dash},
            connectgaps=False,
            hovertemplate=f"{name} %{{y:.0f}} %<extra></extra>",
        )
    figure.add_hline(
        y=level * 100, line={"color": COLORS["champion"], "dash": "dash"}, row=3, col=1
    )
    figure.add_hline(y=50, line={"color": COLORS["naive"], "dash": "dash"}, row=3, col=1)
