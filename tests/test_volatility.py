"""volatility.py: the GARCH(1,1)-t reference interval covers near nominal and never looks ahead.
(The range-based scales are tested with the features they belong to, in test_features.py.)"""

import pandas as pd
from arch.univariate import GARCH, StudentsT, ZeroMean

from stockcast.volatility import garch_t_bounds


def simulated_returns(n=1300, seed=0) -> pd.Series:
    """Returns from a GARCH(1,1) with Student-t(6) shocks (percent scale / 100)."""
    model = ZeroMean(None, volatility=GARCH(), distribution=StudentsT(seed=seed))
    simulated = model.simulate([0.02, 0.08, 0.9, 6.0], n, burn=500)
    days = pd.bdate_range("2005-01-03", periods=n)
    return pd.Series(simulated["data"].to_numpy() / 100, index=days)


def test_garch_reference_covers_near_nominal_without_look_ahead():
    returns = simulated_returns()
    as_of = returns.index[1100:1299]
    bounds = garch_t_bounds(returns, as_of, level=0.9).set_index("as_of_date")
    outcome = returns.shift(-1).loc[as_of]
    inside = (bounds["lower_return"] <= outcome) & (outcome <= bounds["upper_return"])
    assert 0.84 <= inside.mean() <= 0.96
    assert (bounds["upper_return"] - bounds["lower_return"]).nunique() > 100  # it moves daily
    cut = returns.index[1130]
    later = returns.index > cut
    scrambled = returns.where(~later, returns * 3)  # a storm after the cut
    again = garch_t_bounds(scrambled, as_of, level=0.9).set_index("as_of_date")
    pd.testing.assert_frame_equal(bounds.loc[:cut], again.loc[:cut])
    assert not bounds.loc[cut:].iloc[1:].equals(again.loc[cut:].iloc[1:])
