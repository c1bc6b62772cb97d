"""Sessions come from the ticker's exchange calendar: weekends, holidays, closes, bad as-of."""

from __future__ import annotations

import pandas as pd
import pytest

from stockcast import calendar
from stockcast.errors import NotASession


def test_next_session_skips_weekends_and_holidays():
    assert calendar.next_session("AAPL", "2013-03-01") == pd.Timestamp("2013-03-04")
    assert calendar.next_session("AAPL", "2012-12-24") == pd.Timestamp("2012-12-26")
    assert calendar.next_session("VOD.L", "2012-12-24") == pd.Timestamp("2012-12-27")


def test_sessions_before_2006_exist():
    days = calendar.sessions("AAPL", "2000-03-01", "2013-03-01")
    assert len(days) == 3270
    assert pd.Timestamp("2001-09-11") not in days  # markets closed after the attacks


def test_vectorised_next_sessions_match_the_scalar_one():
    days = pd.to_datetime(["2013-02-28", "2013-03-01", "2012-12-24"])
    expected = [calendar.next_session("AAPL", d) for d in days]
    assert calendar.next_sessions("AAPL", days).tolist() == expected


def test_last_closed_session_waits_for_the_close():
    before_close = pd.Timestamp("2013-03-01 20:59", tz="UTC")  # 15:59 in New York
    after_close = pd.Timestamp("2013-03-01 21:01", tz="UTC")
    assert calendar.last_closed_session("AAPL", before_close) == pd.Timestamp("2013-02-28")
    assert calendar.last_closed_session("AAPL", after_close) == pd.Timestamp("2013-03-01")


def test_an_as_of_on_a_weekend_names_the_previous_session():
    with pytest.raises(NotASession, match="2013-03-02 is not a XNYS session.*use 2013-03-01"):
        calendar.check_as_of("AAPL", "2013-03-02")


def test_an_as_of_in_the_future_is_rejected():
    now = pd.Timestamp("2013-03-01 22:00", tz="UTC")
    with pytest.raises(NotASession, match="has not closed yet: use 2013-03-01"):
        calendar.check_as_of("AAPL", "2013-03-04", now=now)
