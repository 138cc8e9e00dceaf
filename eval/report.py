"""DebtBench reports: metrics.json, a markdown leaderboard overall and per archetype, PNG plots, trajectories.
The tables and the metric lists are debtgpt/leaderboard.py's, shared with the viewer and the model card.

`write_report` writes a whole report folder and replaces what an earlier run left there, so a rerun under
the same `run=` name never mixes old trajectories or plots with new metrics.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import stdev

from debtgpt.constants import ARCHETYPES, METRIC_DIRECTIONS, PROPORTION_METRICS
from debtgpt.io import atomic_write_text, write_json, write_jsonl
from debtgpt.leaderboard import HEADLINE_METRICS, leaderboard_markdown

# Metrics averaged over deals only; every other one is over all dialogues of the group.
PER_DEAL_METRICS = ("CE", *(name for name, unit in PROPORTION_METRICS.items() if unit == "deals"))
# Metrics that are the mean of a per-dialogue value (the `dialogue_scores` column, or the reward): their error
# bars are normal intervals of the mean. Shares (constants.PROPORTION_METRICS) get Wilson intervals instead;
# composites (CCI) get none.
PER_DIALOGUE_COLUMNS = {
    "AT": "turns",
    "CR": "CR",
    "CE": "CE",
    "concessions": "concessions",
    "first_offer_discount": "first_offer_discount",
    "reward": "reward",
}
# z of a two-sided 95 % interval: the error bars of the plots.
Z_95 = 1.96


def per_dialogue_value(metric: str, trajectory):
    """The per-dialogue value a metric is the mean of, or None where the metric is not such a mean."""
    from debtgpt.metrics import dialogue_scores

    column = PER_DIALOGUE_COLUMNS.get(metric)
    if column is None:
        return None
    value = trajectory.reward if column == "reward" else dialogue_scores(trajectory)[column]
    return None if value is None else float(value)


def error_half_width(values: list[float]) -> float | None:
    """Half-width of the 95 % normal interval of a mean; None under two values."""
    return Z_95 * stdev(values) / math.sqrt(len(values)) if len(values) >= 2 else None


def wilson_interval(share: float, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson's score interval of a share of n trials: inside [0, 1] even at 0 or 1, unlike the normal one."""
    if n < 1:
        return None
    z2 = z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return max(0.0, min(share, centre - half)), min(
        1.0, max(share, centre + half)
    )  # rounding must not drop the share itself


def proportion_trials(metric: str, trajectories) -> int:
    """How many trials a share rests on in this group: its dialogues, or its deals (constants.PROPORTION_METRICS)."""
    from debtgpt.dialogue import OUTCOME_ERROR

    if metric == "agent_errors":
        return len(trajectories)
    ran = [t for t in trajectories if t.outcome != OUTCOME_ERROR]
    return sum(bool(t.success) for t in ran) if PROPORTION_METRICS[metric] == "deals" else len(ran)


def metric_interval(metric: str, value: float | None, trajectories) -> tuple[float, float] | None:
    """The 95 % interval of a group's metric from its trajectories: Wilson for a share, normal for a mean of
    per-dialogue values, None for anything else (a composite) or too little data."""
    if value is None:
        return None
    if metric in PROPORTION_METRICS:
        return wilson_interval(value, proportion_trials(metric, trajectories))
    points = [v for v in (per_dialogue_value(metric, t) for t in trajectories) if v is not None]
    half = error_half_width(points) if metric in PER_DIALOGUE_COLUMNS else None
    return None if half is None else (value - half, value + half)


def collector_intervals(result: dict, trajectories) -> dict:
    """{group: {metric: [low, high]}}: the 95 % interval of every metric of one collector that has one."""
    intervals = {}
    for group in ("overall", *ARCHETYPES):
        values = result["overall"] if group == "overall" else result["by_archetype"][group]
        members = [t for t in trajectories if group == "overall" or t.archetype == group]
        found = {metric: metric_interval(metric, value, members) for metric, value in values.items()}
        intervals[group] = {metric: list(interval) for metric, interval in found.items() if interval is not None}
    return intervals


def _bar_count(metric: str, result: dict, group: str) -> int | None:
    """How many dialogues a bar averages over: the group's dialogues, or its deals for per-deal metrics."""
    n = result["n"] if group == "overall" else result.get("n_by_archetype", {}).get(group)
    if n is None or metric not in PER_DEAL_METRICS:
        return n
    sr = (result["overall"] if group == "overall" else result["by_archetype"][group]).get("SR")
    return round(sr * n) if sr is not None else 0


def write_plots(
    results: dict, out_dir: str | Path, metrics: tuple[str, ...] = HEADLINE_METRICS, trajectories: dict | None = None
) -> list[Path]:
    """One grouped bar chart per metric: archetypes (and overall) on x, collectors side by side.

    Each bar is labelled with its value and its n; zero values get a marker in the collector's colour.
    With each collector's `intervals_95` (write_report's) or its `trajectories` ({collector: [Trajectory]}),
    shares get 95 % Wilson error bars and means of per-dialogue values normal ones. The legend sits outside the axes
    so it never covers a bar. Metrics with no value anywhere (e.g. the reward of a report made without one) get no
    plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    collectors = results["collectors"]
    groups = ("overall", *ARCHETYPES)
    width = 0.8 / max(len(collectors), 1)
    known = {
        name: result.get("intervals_95")
        or (collector_intervals(result, trajectories[name]) if name in (trajectories or {}) else {})
        for name, result in collectors.items()
    }
    paths = []
    for metric in metrics:
        table = {
            name: [(result["overall"] if g == "overall" else result["by_archetype"][g]).get(metric) for g in groups]
            for name, result in collectors.items()
        }
        if all(v is None for values in table.values() for v in values):
            continue
        fig, ax = plt.subplots(figsize=(9, 4.2))
        top = max((abs(v) for values in table.values() for v in values if v is not None), default=1.0) or 1.0
        for i, (name, values) in enumerate(table.items()):
            xs = [x + (i - (len(collectors) - 1) / 2) * width for x in range(len(groups))]
            intervals = [known[name].get(group, {}).get(metric) for group in groups]
            below = [max(0.0, v - iv[0]) if iv else 0 for v, iv in zip(values, intervals)]
            above = [max(0.0, iv[1] - v) if iv else 0 for v, iv in zip(values, intervals)]
            bars = ax.bar(
                xs,
                [v if v is not None else 0 for v in values],
                width,
                label=name,
                yerr=[below, above] if any(intervals) else None,
                error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"},
            )
            colour = bars.patches[0].get_facecolor()
            for k, (bar, value) in enumerate(zip(bars, values)):
                x = bar.get_x() + bar.get_width() / 2
                n = _bar_count(metric, collectors[name], groups[k])
                if value is None:
                    ax.annotate(f"n/a\nn={n}", (x, 0), ha="center", va="bottom", fontsize=6)
                    continue
                if value == 0:  # a stub in the collector's colour, so a zero never looks like a missing bar
                    ax.bar([x], [top * 0.015], width, color=colour, zorder=3)
                y = max(value, 0, intervals[k][1] if intervals[k] else 0)
                ax.annotate(
                    f"{value:.3g}\nn={n}",
                    (x, y),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
        ax.axhline(0, color="0.3", linewidth=0.6)
        ax.set_ylim(min(0, min(v for values in table.values() for v in values if v is not None) * 1.15), top * 1.3)
        ax.set_xticks(range(len(groups)), groups)
        direction = "higher" if METRIC_DIRECTIONS.get(metric) == "higher" else "lower"
        kind = "Wilson" if metric in PROPORTION_METRICS else "normal" if metric in PER_DIALOGUE_COLUMNS else None
        bars_note = f"bars: 95 % {kind} CI" if kind and any(known.values()) else "n: dialogues behind each bar"
        ax.set_title(f"{metric} per archetype ({direction} is better; {bars_note})", fontsize=10)
        ax.set_ylabel(metric)
        ax.legend(fontsize=8, title="collector", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(axis="y", alpha=0.3)
        path = out / f"{metric}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def write_leaderboard(results: dict, path: str | Path) -> None:
    atomic_write_text(path, leaderboard_markdown(results))


def write_report(out_dir: str | Path, results: dict, trajectories: dict, plots: bool = True) -> None:
    """metrics.json (with each collector's 95 % intervals, as the plots draw them), leaderboard.md,
    trajectories/<collector>.jsonl and plots/*.png, replacing earlier ones.

    Files an earlier run left (a collector no longer evaluated, a plot no longer drawn) are removed, so the
    folder holds this report only.
    """
    out = Path(out_dir)
    for stale in [*(out / "trajectories").glob("*.jsonl"), *(out / "plots").glob("*.png")]:
        stale.unlink()
    for name, rows in trajectories.items():
        write_jsonl(out / "trajectories" / f"{name}.jsonl", (t.to_dict() for t in rows))
        if name in results["collectors"]:
            results["collectors"][name]["intervals_95"] = collector_intervals(results["collectors"][name], rows)
    write_json(out / "metrics.json", results)
    write_leaderboard(results, out / "leaderboard.md")
    if plots:
        write_plots(results, out / "plots", trajectories=trajectories)
