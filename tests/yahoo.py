"""Yahoo's chart API (v8) answers in their real JSON layout, and a fake network serving them.

`FakeYahoo.install(monkeypatch)` replaces `curl_cffi.requests.Session.request`, the one call
through which yfinance's `YfData` sends every request. All of yfinance above it still runs: the
cookie and crumb handshake (answered here, so nothing leaves the machine), the 429 handling,
and the parsing of the chart JSON into a tz-aware frame with dividends and splits.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np
import pandas as pd

NEW_YORK = "America/New_York"
CHART_URL = re.compile(r"/v8/finance/chart/([^/?]+)")
VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]


def make_bars(days, first_close: float = 100.0, seed: int = 0) -> pd.DataFrame:
    """Plausible daily bars (open, high, low, close, adj_close, volume) indexed by session date."""
    days = pd.DatetimeIndex(pd.to_datetime(days)).normalize()
    rng = np.random.default_rng(seed)
    close = first_close * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    open_ = close * (1 + rng.normal(0, 0.003, len(days)))
    return pd.DataFrame(
        {
            "open": open_.round(2),
            "high": (np.maximum(open_, close) * 1.01).round(2),
            "low": (np.minimum(open_, close) * 0.99).round(2),
            "close": close.round(2),
            "adj_close": close.round(2),
            "volume": rng.integers(1_000_000, 5_000_000, len(days)),
        },
        index=days,
    )


def open_times(days, tz: str = NEW_YORK, at: str = "09:30") -> list[int]:
    """Epoch seconds of each session's open: Yahoo stamps a daily bar with it."""
    local = pd.DatetimeIndex(pd.to_datetime(days)).normalize() + pd.Timedelta(at + ":00")
    return [int(stamp.timestamp()) for stamp in local.tz_localize(tz)]


def _trading_period(start: int, end: int, tz: str) -> dict:
    zone = pd.Timestamp(start, unit="s", tz="UTC").tz_convert(tz)
    return {
        "timezone": zone.tzname(),
        "start": start,
        "end": end,
        "gmtoffset": int(zone.utcoffset().total_seconds()),
    }


def _meta(symbol: str, tz: str, last_time: int, last_close: float | None) -> dict:
    zone = pd.Timestamp(last_time, unit="s", tz="UTC").tz_convert(tz)
    session_open = open_times([zone.tz_localize(None)], tz)[0]
    meta = {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "NMS",
        "fullExchangeName": "NasdaqGS",
        "instrumentType": "EQUITY",
        "firstTradeDate": 345479400,
        "regularMarketTime": last_time,
        "hasPrePostMarketData": True,
        "gmtoffset": int(zone.utcoffset().total_seconds()),
        "timezone": zone.tzname(),
        "exchangeTimezoneName": tz,
        "priceHint": 2,
        "currentTradingPeriod": {
            "pre": _trading_period(session_open - 19800, session_open, tz),
            "regular": _trading_period(session_open, session_open + 23400, tz),
            "post": _trading_period(session_open + 23400, session_open + 37800, tz),
        },
        "dataGranularity": "1d",
        "range": "",
        "validRanges": VALID_RANGES,
    }
    if last_close is not None:
        meta |= {"regularMarketPrice": last_close, "chartPreviousClose": last_close}
    return meta


def chart(
    symbol: str,
    bars: pd.DataFrame,
    dividends: dict | None = None,
    splits: dict | None = None,
    tz: str = NEW_YORK,
    timestamps: list[int] | None = None,
) -> dict:
    """The chart answer for daily bars; events are {date: amount} and {date: 'N:D'}."""
    if bars.empty:
        return empty_chart(symbol, tz)
    times = open_times(bars.index, tz) if timestamps is None else timestamps
    quote = {
        name: [None if pd.isna(v) else float(v) for v in bars[name]]
        for name in ("open", "high", "low", "close")
    }
    quote["volume"] = [int(v) for v in bars["volume"]]
    events = {}
    if dividends:
        events["dividends"] = {
            str(t): {"amount": amount, "date": t}
            for t, amount in zip(open_times(list(dividends), tz), dividends.values(), strict=True)
        }
    if splits:
        events["splits"] = {
            str(t): _split(t, ratio)
            for t, ratio in zip(open_times(list(splits), tz), splits.values(), strict=True)
        }
    result = {
        "meta": _meta(symbol, tz, times[-1], float(bars["close"].iloc[-1])),
        "timestamp": times,
        "indicators": {"quote": [quote], "adjclose": [{"adjclose": list(bars["adj_close"])}]},
    }
    if events:
        result["events"] = events
    return {"chart": {"result": [result], "error": None}}


def _split(time: int, ratio: str) -> dict:
    numerator, denominator = (float(part) for part in ratio.split(":"))
    return {"date": time, "numerator": numerator, "denominator": denominator, "splitRatio": ratio}


def empty_chart(symbol: str, tz: str = NEW_YORK) -> dict:
    """Yahoo's answer for a window without bars: metadata, no timestamps, empty quote lists."""
    now = int(pd.Timestamp("2024-03-15 20:00", tz="UTC").timestamp())
    result = {"meta": _meta(symbol, tz, now, None), "indicators": {"quote": [{}], "adjclose": [{}]}}
    return {"chart": {"result": [result], "error": None}}


def not_found() -> dict:
    """Yahoo's 404 answer for a symbol it does not know."""
    error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
    return {"chart": {"result": None, "error": error}}


@dataclass
class FakeResponse:
    """The attributes of a curl_cffi response that yfinance reads."""

    status_code: int
    text: str
    url: str
    headers: dict = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        return self.text.encode()

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self):
        return json.loads(self.text)

    def raise_for_status(self) -> None:
        from curl_cffi.requests.exceptions import HTTPError

        if self.status_code >= 400:
            raise HTTPError(f"HTTP Error {self.status_code} for url {self.url}")


@dataclass
class _Symbol:
    bars: pd.DataFrame | None = None
    dividends: dict | None = None
    splits: dict | None = None
    tz: str = NEW_YORK
    timestamps: list[int] | None = None
    payload: dict | None = None
    status: int = 200
    unreachable: bool = False
    throttled: float = 0  # how many more chart requests get HTTP 429


class FakeYahoo:
    """Yahoo's chart API for the symbols registered here; every other symbol is a 404.

    `chart_requests` records (symbol, params) of every chart request, rate-limited ones included.
    """

    def __init__(self):
        self.symbols: dict[str, _Symbol] = {}
        self.chart_requests: list[tuple[str, dict]] = []

    def install(self, monkeypatch) -> FakeYahoo:
        """Route yfinance's HTTP here, with fresh in-memory caches, until monkeypatch undoes it."""
        import curl_cffi.requests
        import yfinance.cache as yf_cache
        from yfinance.data import YfData

        monkeypatch.setattr(curl_cffi.requests.Session, "request", self.request)
        # No timezone or cookie remembered on disk from an earlier test or run.
        monkeypatch.setattr(yf_cache._TzCacheManager, "_tz_cache", yf_cache._TzCacheDummy())
        monkeypatch.setattr(
            yf_cache._CookieCacheManager, "_Cookie_cache", yf_cache._CookieCacheDummy()
        )
        data = YfData()
        for name, value in {"_crumb": None, "_cookie": None, "_cookie_strategy": "basic"}.items():
            monkeypatch.setattr(data, name, value)
        # YfData memoises past-window chart answers per URL and parameters, across tests.
        YfData.cache_get.cache_clear()
        return self

    def serve(self, symbol: str, bars: pd.DataFrame, **kwargs) -> None:
        """Answer `symbol` with these bars, cut to each request's window as Yahoo does."""
        self.symbols[symbol] = _Symbol(bars=bars, **kwargs)

    def serve_json(self, symbol: str, payload: dict, status: int = 200) -> None:
        """Answer `symbol` with this exact JSON, whatever the window."""
        self.symbols[symbol] = _Symbol(payload=payload, status=status)

    def rate_limit(self, symbol: str, times: float = math.inf) -> None:
        """Answer the next `times` requests for `symbol` with HTTP 429, as Yahoo throttles."""
        self.symbols.setdefault(symbol, _Symbol()).throttled = times

    def cut_off(self, symbol: str) -> None:
        """Fail every chart request for `symbol` as a dropped connection does."""
        self.symbols[symbol] = _Symbol(unreachable=True)

    def request(self, method: str, url: str, params: dict | None = None, **_) -> FakeResponse:
        """Stands in for `curl_cffi.requests.Session.request` (yfinance's only way out)."""
        if "fc.yahoo.com" in url:
            return FakeResponse(404, "", url)  # the real one is a 404 that sets the cookie
        if "/v1/test/getcrumb" in url:
            return FakeResponse(200, "FakeCrumb.123", url)
        match = CHART_URL.search(url)
        if match is None:
            return FakeResponse(404, json.dumps({"finance": {"result": None}}), url)
        symbol = unquote(match.group(1))
        self.chart_requests.append((symbol, dict(params or {})))
        return self._chart(symbol, params or {}, url)

    def _chart(self, symbol: str, params: dict, url: str) -> FakeResponse:
        spec = self.symbols.get(symbol, _Symbol())
        if spec.unreachable:
            from curl_cffi.requests import exceptions

            raise exceptions.ConnectionError(f"curl: (7) Failed to connect to {url}")
        if spec.throttled > 0:
            spec.throttled -= 1
            return FakeResponse(429, "Too Many Requests\r\n", url)
        if spec.bars is None and spec.payload is None:
            return FakeResponse(404, json.dumps(not_found()), url)
        if spec.payload is not None:
            return FakeResponse(spec.status, json.dumps(spec.payload), url)
        keep = self._in_window(spec, params)
        bars, times = spec.bars[keep], None
        if spec.timestamps is not None:
            times = [t for t, kept in zip(spec.timestamps, keep, strict=True) if kept]
        events = {
            name: {
                day: value
                for day, value in (getattr(spec, name) or {}).items()
                if pd.Timestamp(day) in bars.index
            }
            for name in ("dividends", "splits")
        }
        return FakeResponse(
            200, json.dumps(chart(symbol, bars, tz=spec.tz, timestamps=times, **events)), url
        )

    @staticmethod
    def _in_window(spec: _Symbol, params: dict) -> np.ndarray:
        """Which bars Yahoo returns: [period1, period2), or the last one for range=1d."""
        times = np.array(spec.timestamps or open_times(spec.bars.index, spec.tz))
        if params.get("range") == "1d":
            return times == times.max()
        first, last = params.get("period1"), params.get("period2")
        keep = np.ones(len(times), dtype=bool)
        if first is not None:
            keep &= times >= int(first)
        if last is not None:
            keep &= times < int(last)
        return keep
