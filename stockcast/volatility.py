"""Volatility forecasts that scale the intervals, and the GARCH reference they are measured by.

The scales are rolling range-based estimators of one ticker's adjusted OHLC (Garman-Klass,
Parkinson, Yang-Zhang) over the last 20 sessions, the current one included: the value at row t
uses bars up to t's close only, so it is free of look-ahead by construction, and a function of
the feature row, so a logged model reproduces its interval from its input. `garch_t_bounds` is
the reference every interval method is compared with: a GARCH(1,1) with Student-t innovations
(`arch`), refitted every `refit_every` sessions on the last `window` returns and filtered daily.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCALE_WINDOW = 20
# The scale column of each feature frame (per-session volatility of the log return).
SCALE_COLUMNS = ("vol_gk_20d", "vol_park_20d", "vol_yz_20d")


def compute_scales(rows: pd.DataFrame, window: int = SCALE_WINDOW) -> pd.DataFrame:
    """SCALE_COLUMNS of one ticker's adjusted bars (adj_open/high/low/close, sorted by date)."""
    log_open, log_high, log_low, log_close = (
        np.log(rows[column]) for column in ("adj_open", "adj_high", "adj_low", "adj_close")
    )
    high_low = log_high - log_low
    close_open = log_close - log_open
    garman_klass = (0.5 * high_low**2 - (2 * np.log(2) - 1) * close_open**2).clip(lower=0)
    parkinson = high_low**2 / (4 * np.log(2))
    # Yang-Zhang: overnight variance + k x open-to-close variance + (1 - k) x Rogers-Satchell.
    overnight = log_open - log_close.shift(1)
    rogers_satchell = (log_high - log_close) * (log_high - log_open) + (log_low - log_close) * (
        log_low - log_open
    )
    k = 0.34 / (1.34 + (window + 1) / (window - 1))
    yang_zhang = (
        overnight.rolling(window).var()
        + k * close_open.rolling(window).var()
        + (1 - k) * rogers_satchell.rolling(window).mean()
    )
    scales = {
        "vol_gk_20d": np.sqrt(garman_klass.rolling(window).mean()),
        "vol_park_20d": np.sqrt(parkinson.rolling(window).mean()),
        "vol_yz_20d": np.sqrt(yang_zhang.clip(lower=0)),
    }
    return pd.DataFrame(scales, index=rows.index).replace([np.inf, -np.inf], np.nan)


def garch_t_bounds(
    returns: pd.Series,
    as_of_dates,
    level: float = 0.9,
    window: int = 1000,
    refit_every: int = 20,
) -> pd.DataFrame:
    """The reference interval of the next return after each as-of date: a constant-mean
    GARCH(1,1) with Student-t innovations, fitted on the `window` returns up to the first date
    of each block of `refit_every` as-of dates and filtered with those parameters through the
    block (the forecast from date t uses returns up to t only).

    returns: one ticker's log returns indexed by date (the return of each session). Returns
    as_of_date, lower_return, upper_return.
    """
    from arch import arch_model
    from scipy import stats

    returns = returns.dropna()
    positions = returns.index.get_indexer(pd.DatetimeIndex(as_of_dates))
    if (positions < 0).any():
        raise KeyError("every as-of date needs its own return in `returns`")
    parts = []
    for first in range(0, len(positions), refit_every):
        block = positions[first : first + refit_every]
        start = max(block[0] + 1 - window, 0)
        # Percent returns: the optimizer is better conditioned on numbers near 1.
        model = arch_model(
            100 * returns.iloc[start : block[-1] + 1], mean="Constant", vol="GARCH", dist="t"
        )
        fitted = model.fit(last_obs=block[0] + 1 - start, disp="off")
        forecast = fitted.forecast(horizon=1, start=block[0] - start, reindex=False)
        rows = block - block[0]  # forecast rows start at the block's first origin
        mean = forecast.mean.iloc[rows, 0].to_numpy() / 100
        sigma = np.sqrt(forecast.variance.iloc[rows, 0].to_numpy()) / 100
        nu = fitted.params["nu"]
        # The standardized t has unit variance: scale the t quantile by sqrt((nu - 2) / nu).
        quantile = stats.t.ppf(1 - (1 - level) / 2, nu) * np.sqrt((nu - 2) / nu)
        parts.append(
            pd.DataFrame(
                {
                    "as_of_date": returns.index[block],
                    "lower_return": mean - quantile * sigma,
                    "upper_return": mean + quantile * sigma,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
