"""universe.py: bundled and file universes; comments, separators, repeats and bad symbols."""

from __future__ import annotations

import pytest

from stockcast.errors import BadInput
from stockcast.universe import bundled_universes, load_universe, parse_universe


def test_the_bundled_sp500_is_dated_and_holds_yahoo_symbols():
    sp500 = load_universe("sp500")
    assert "sp500" in bundled_universes()
    assert 490 <= len(sp500.tickers) <= 510 and not sp500.repeated
    assert {"AAPL", "MSFT", "BRK-B", "BF-B"} <= set(sp500.tickers)
    assert not any("." in ticker for ticker in sp500.tickers)  # a dot would read as a suffix
    from stockcast.universe import BUNDLED

    header = BUNDLED.joinpath("sp500.txt").read_text().splitlines()[:3]
    assert "github.com/datasets/s-and-p-500-companies" in header[1]
    assert "at commit 56509dd of 2026-08-08" in header[2]


def test_a_file_takes_one_symbol_a_line_comments_and_blank_lines():
    text = "# my list\n\naapl  # Apple\nMSFT\n  BRK-B\t\n0700.HK\n^GSPC\n"
    universe = parse_universe(text, "mine.txt")
    assert universe.tickers == ["AAPL", "MSFT", "BRK-B", "0700.HK", "^GSPC"]
    assert universe.note() == "universe mine.txt: 5 symbols"


def test_repeats_are_kept_once_and_reported_with_their_line():
    universe = parse_universe("AAPL\nMSFT\naapl\nIBM\nMSFT\nMSFT\n", "mine.txt")
    assert universe.tickers == ["AAPL", "MSFT", "IBM"]
    assert universe.repeated == {"AAPL": 3, "MSFT": 5}
    assert universe.note() == (
        "universe mine.txt: 3 symbols; repeated symbols kept once: AAPL (line 3), MSFT (line 5)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AAPL\nAPPLE!\n", "universe u.txt line 2: 'APPLE!' is not a valid symbol"),
        ("Symbol,Security\nMMM,3M\n", "universe u.txt line 1: 'Symbol,Security' is not a valid"),
        ("AAPL Apple Inc\n", "universe u.txt line 1: 'AAPL Apple Inc' is not a valid symbol"),
        ("AAPL\n\nVOD.XX\n", "universe u.txt line 3: 'VOD.XX' has suffix '.XX' with no"),
        ("# nothing\n\n", "universe u.txt has no symbols: add one a line"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_line_and_symbol(text, message):
    with pytest.raises(BadInput) as refused:
        parse_universe(text, "u.txt")
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert str(refused.value).endswith(("or remove the line", "(e.g. AAPL)"))


def test_a_universe_file_is_read_from_a_path_and_a_missing_one_is_refused(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("IBM\nMSFT\n")
    assert load_universe(str(path)).tickers == ["IBM", "MSFT"]
    assert load_universe("mine.txt", folder=tmp_path).tickers == ["IBM", "MSFT"]
    with pytest.raises(BadInput, match="universe 'nasdaq9' is neither a bundled universe"):
        load_universe("nasdaq9")


def test_a_run_takes_its_universe_from_the_flag_or_the_settings_file(tmp_path, outputs, capsys):
    from runner.cli import build_parser
    from runner.pipeline_config import check_pipeline
    from runner.plan import plan_run
    from stockcast.config import load_settings

    (tmp_path / "mine.txt").write_text("IBM\nAAPL\nIBM\n")
    settings = load_settings()
    args = build_parser().parse_args(["daily", "--universe", str(tmp_path / "mine.txt")])
    plan = plan_run(args, {}, settings)
    assert plan.common["tickers"] == ["IBM", "AAPL"]
    assert "symbols; repeated symbols kept once: IBM (line 3)" in capsys.readouterr().out
    config = tmp_path / "pipeline.yaml"  # a relative file is read from the settings' folder
    pipeline = check_pipeline({"tickers": "mine.txt"}, config)
    assert pipeline["tickers"] == str(tmp_path / "mine.txt")
    plan = plan_run(build_parser().parse_args(["daily"]), pipeline, settings)
    assert plan.common["tickers"] == ["IBM", "AAPL"]
    assert check_pipeline({"tickers": "sp500"}, config)["tickers"] == "sp500"


def test_a_bad_universe_in_the_settings_names_the_file_and_line(tmp_path):
    from runner.pipeline_config import check_pipeline

    (tmp_path / "mine.txt").write_text("IBM\nI B M\n")
    with pytest.raises(BadInput, match=r"p.yaml: tickers: universe .*mine.txt line 2: 'I B M'"):
        check_pipeline({"tickers": "mine.txt"}, tmp_path / "p.yaml")
    with pytest.raises(BadInput, match="p.yaml: tickers: universe .*gone.txt' is neither"):
        check_pipeline({"tickers": "gone.txt"}, tmp_path / "p.yaml")


def test_tickers_and_universe_flags_exclude_each_other(capsys):
    from runner.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["daily", "--tickers", "AAPL", "--universe", "sp500"])
    assert exited.value.code == 2
    assert "not allowed with argument --tickers" in capsys.readouterr().err
