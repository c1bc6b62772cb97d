"""Trading sessions per ticker, from the exchange calendar its suffix names (exchange_calendars).

Session dates are naive midnight `pd.Timestamp`s. Calendars start in 1990: exchange_calendars
otherwise starts 20 years before today and sessions before that would be missing.
"""

from __future__ import annotations

import warnings
from functools import cache

import pandas as pd

from stockcast.config import exchange_for
from stockcast.errors import NotASession

CALENDAR_START = "1990-01-01"


@cache
def _calendar(exchange: str):
    import exchange_calendars as xcals

    # exchange_calendars trips a pandas 3.1 deprecation warning while building; nothing to act on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar(exchange, start=CALENDAR_START)


def calendar_for(ticker: str):
    """The exchange_calendars calendar of a ticker (cached)."""
    return _calendar(exchange_for(ticker))


def _day(value) -> pd.Timestamp:
    day = pd.Timestamp(value)
    return (day.tz_localize(None) if day.tzinfo else day).normalize()


def sessions(ticker: str, start, end) -> pd.DatetimeIndex:
    """Every session of the ticker's exchange from start to end, both included."""
    cal = calendar_for(ticker)
    start, end = max(_day(start), cal.first_session), min(_day(end), cal.last_session)
    if start > end:
        return pd.DatetimeIndex([], name="date")
    return cal.sessions_in_range(start, end).tz_localize(None).rename("date")


def is_session(ticker: str, day) -> bool:
    cal = calendar_for(ticker)
    day = _day(day)
    return bool(cal.first_session <= day <= cal.last_session and cal.is_session(day))


def next_session(ticker: str, day) -> pd.Timestamp:
    """The first session strictly after `day` (a session or not)."""
    cal = calendar_for(ticker)
    return cal.date_to_session(_day(day) + pd.Timedelta(days=1), direction="next").tz_localize(None)


def previous_session(ticker: str, day) -> pd.Timestamp:
    """The last session strictly before `day` (a session or not)."""
    cal = calendar_for(ticker)
    return cal.date_to_session(_day(day) - pd.Timedelta(days=1), direction="previous").tz_localize(
        None
    )


def next_sessions(ticker: str, days) -> pd.DatetimeIndex:
    """Vectorised `next_session` for sorted or unsorted session dates."""
    days = pd.DatetimeIndex(days)
    if days.empty:
        return pd.DatetimeIndex([], name="date")
    cal_sessions = sessions(ticker, days.min(), days.max() + pd.Timedelta(days=30))
    positions = cal_sessions.searchsorted(days.normalize(), side="right")
    if (positions >= len(cal_sessions)).any():
        return pd.DatetimeIndex([next_session(ticker, d) for d in days], name="date")
    return pd.DatetimeIndex(cal_sessions[positions], name="date")


def last_closed_session(ticker: str, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The most recent session whose close has passed at `now` (default: the clock)."""
    cal = calendar_for(ticker)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    today = now.tz_localize(None).normalize()
    for session in reversed(
        sessions(ticker, today - pd.Timedelta(days=14), today + pd.Timedelta(days=1))
    ):
        if cal.session_close(session) <= now:
            return session
    return previous_session(ticker, today - pd.Timedelta(days=14))


def check_as_of(ticker: str, day, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """Return `day` as a session, or raise NotASession naming the session to use instead."""
    day = _day(day)
    latest = last_closed_session(ticker, now)
    if day > latest:
        raise NotASession(
            f"as-of date {day.date()} for {ticker} has not closed yet: use {latest.date()}, "
            "the last closed session"
        )
    if not is_session(ticker, day):
        before = previous_session(ticker, day)
        raise NotASession(
            f"as-of date {day.date()} is not a {exchange_for(ticker)} session for {ticker}: "
            f"use {before.date()}, the previous session"
        )
    return day
