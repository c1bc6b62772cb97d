"""The scale bench's verdicts against issue 12's targets (PASS or MISS, never an assertion) and
its summary tables, from the `scale` section of `bench.json`."""

from __future__ import annotations

from bench.scale import LIMITS


def succeeded(scale: dict, name: str) -> dict | None:
    """The figures of measure `name`, or None when it was not run or failed."""
    figures = scale.get(name)
    return figures if figures and "error" not in figures else None


def is_failure(figures) -> bool:
    return isinstance(figures, dict) and "error" in figures


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def chain_targets(chains: dict, backfill: dict | None) -> list[dict]:
    """Daily and weekly wall time and peak memory at the full size (the backfill's memory too)."""
    large = chains["large"]
    rows = [
        {
            "target": f"{kind} wall, {large['tickers']} tickers (s)",
            "measured": large[kind]["wall_seconds"],
            "limit": f"<= {LIMITS[f'{kind}_wall_s']:.0f}",
            "verdict": verdict(large[kind]["wall_seconds"] <= LIMITS[f"{kind}_wall_s"]),
        }
        for kind in ("daily", "weekly")
    ]
    peaks = [large[kind]["peak_rss_mb"] or 0.0 for kind in ("daily", "weekly")]
    if backfill:
        peaks.append(backfill["peak_rss_mb"] or 0.0)
    rows.append(
        {
            "target": "peak memory, runner and its kernels (MB)",
            "measured": max(peaks),
            "limit": f"<= {LIMITS['peak_rss_mb']:.0f}",
            "verdict": verdict(max(peaks) <= LIMITS["peak_rss_mb"]),
        }
    )
    return rows


def flatness_targets(chains: dict) -> list[dict]:
    """Per stage, the seconds per ticker at the full size over those at the small size."""
    sizes = f"{chains['small']['tickers']}->{chains['large']['tickers']}"
    drift = LIMITS["per_ticker_drift"]
    return [
        {
            "target": f"{kind} {stage}: s/ticker ratio {sizes}",
            "measured": ratio,
            "limit": f"{1 - drift:.2f}..{1 + drift:.2f}",
            "verdict": verdict(round(abs(ratio - 1), 9) <= drift),  # 0.85 is within 15 %
        }
        for kind, stages in chains["per_ticker_ratio"].items()
        for stage, ratio in stages.items()
    ]


def executor_targets(executors: dict) -> list[dict]:
    speedup, dask = executors["speedup_1_to_2"], executors["dask_vs_processes"]
    return [
        {
            "target": "train speedup, 1 -> 2 processes",
            "measured": speedup,
            "limit": f">= {LIMITS['train_speedup_1_to_2']}",
            "verdict": verdict(speedup >= LIMITS["train_speedup_1_to_2"]),
        },
        {
            "target": "train, dask LocalCluster(2) / processes(2)",
            "measured": dask,
            "limit": f"<= {LIMITS['dask_vs_processes']}",
            "verdict": verdict(dask <= LIMITS["dask_vs_processes"]),
        },
    ]


def check_targets(scale: dict) -> list[dict]:
    """Every target whose measure is in `scale`, with its figure and PASS or MISS."""
    rows = []
    if succeeded(scale, "chains"):
        rows += chain_targets(scale["chains"], succeeded(scale, "backfill"))
        rows += flatness_targets(scale["chains"])
    if succeeded(scale, "executors"):
        rows += executor_targets(scale["executors"])
    return rows


def floor_comparison(scale: dict) -> list[dict]:
    """Seconds per ticker of each full-size chain beside the compute floor on one core and its
    ideal share on the executor's 2 cores: how close the chain gets to the floor."""
    floor, large = scale["floor"], scale["chains"]["large"]
    rows = []
    for kind in ("weekly", "daily"):
        chain = large[kind]["wall_seconds"] / large["tickers"]
        one_core = floor[f"{kind}_s_per_ticker"]
        rows.append(
            {
                "chain": kind,
                "chain_s_per_ticker": round(chain, 4),
                "floor_s_per_ticker": one_core,
                "chain_over_floor": round(chain / one_core, 2),
                "chain_over_floor_on_2_cores": round(chain / (one_core / 2), 2),
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """A list of same-keyed dicts as a Markdown table."""
    if not rows:
        return ""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


def stage_rows(chains: dict) -> list[dict]:
    """Per chain and stage at both sizes: seconds, seconds per ticker, peak memory, ratio."""
    rows = []
    for kind in ("weekly", "daily"):
        small = {s["stage"]: s for s in chains["small"][kind]["stages"]}
        for stage in chains["large"][kind]["stages"]:
            name = stage["stage"]
            rows.append(
                {
                    "chain": kind,
                    "stage": name,
                    f"s ({chains['large']['tickers']})": stage["seconds"],
                    "s/ticker": chains["large"][kind]["per_ticker_s"][name],
                    f"s ({chains['small']['tickers']})": small.get(name, {}).get("seconds"),
                    "s/ticker small": chains["small"][kind]["per_ticker_s"].get(name),
                    "ratio": chains["per_ticker_ratio"][kind].get(name),
                    "peak MB": stage["peak_rss_mb"],
                }
            )
    return rows


def summarize_scale(scale: dict) -> str:
    """The readable summary: the label, the stage table, the floor and the targets."""
    parts = [f"{scale['label']}: {scale['tickers']} tickers x {scale['sessions']} sessions"]
    parts += [f"{name} FAILED: {scale[name]['error']}" for name in scale if is_failure(scale[name])]
    if succeeded(scale, "chains"):
        parts.append(markdown_table(stage_rows(scale["chains"])))
    if succeeded(scale, "backfill"):
        backfill = scale["backfill"]
        parts.append(
            f"backfill of {backfill['sessions']} sessions x {backfill['tickers']} tickers: "
            f"{backfill['wall_seconds']} s, peak {backfill['peak_rss_mb']} MB, "
            f"stages {backfill['per_ticker_s']} s/ticker"
        )
    if succeeded(scale, "floor") and succeeded(scale, "chains"):
        parts.append(markdown_table(floor_comparison(scale)))
    parts.append(markdown_table(check_targets(scale)))
    return "\n\n".join(part for part in parts if part)
