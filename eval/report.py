"""DebtBench reports: metrics.json, a markdown leaderboard overall and per archetype, PNG plots, trajectories.

`write_report` writes a whole report folder and replaces what an earlier run left there, so a rerun under
the same `run=` name never mixes old trajectories or plots with new metrics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import stdev

from debtgpt.constants import ARCHETYPES, MAIN_METRICS, METRIC_DIRECTIONS
from debtgpt.io import atomic_write_text, write_json, write_jsonl

# Columns of the leaderboard, in reading order: a new metric joins every table (markdown and web) by its name here.
TABLE_METRICS = (
    "SR", "CR", "CE", "SA", "LS", "CRI", "DHI", "CCI", "reward", "AT", "violations", "concessions",
    "first_offer_discount", "format_errors", "hangups", "agent_errors", "respect_empathy", "transparency", "feasibility",
)
# Metrics averaged over deals only; every other one is over all dialogues of the group.
PER_DEAL_METRICS = ("CE", "SA", "LS")
# Metrics that are the mean of a per-dialogue value (the `dialogue_scores` column, or the reward): these get
# error bars. Shares of turns (violations, format errors) and composites (CCI) do not.
PER_DIALOGUE_COLUMNS = {
    "SR": "success", "AT": "turns", "CR": "CR", "CE": "CE", "SA": "SA", "LS": "LS", "concessions": "concessions",
    "first_offer_discount": "first_offer_discount", "hangups": "hangup", "reward": "reward",
}
# z of a two-sided 95 % normal interval: the error bars of the plots.
Z_95 = 1.96


def fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def arrow(metric: str) -> str:
    return "↑" if METRIC_DIRECTIONS.get(metric) == "higher" else "↓"


@dataclass
class Table:
    """One leaderboard table: a row per collector, a column per metric that has a value somewhere."""

    title: str
    metrics: list[str]
    rows: list[tuple[str, object, list]]  # (collector, n, values in `metrics` order)


def leaderboard_tables(results: dict, metrics: tuple[str, ...] = TABLE_METRICS) -> list[Table]:
    """The overall table, then one per archetype."""
    collectors = results["collectors"]
    groups = [("Overall", lambda r: r["overall"], lambda r: r["n"])]
    groups += [
        (a, lambda r, a=a: r["by_archetype"][a], lambda r, a=a: r.get("n_by_archetype", {}).get(a, "?"))
        for a in ARCHETYPES
    ]
    tables = []
    for title, pick, count in groups:
        rows = {name: pick(result) for name, result in collectors.items()}
        shown = [m for m in metrics if any(row.get(m) is not None for row in rows.values())] or list(metrics[:1])
        tables.append(Table(title, shown, [(name, count(collectors[name]), [row.get(m) for m in shown]) for name, row in rows.items()]))
    return tables


def _markdown_table(table: Table) -> list[str]:
    lines = [
        "| collector | n | " + " | ".join(f"{m} {arrow(m)}" for m in table.metrics) + " |",
        "|---|---:|" + "---:|" * len(table.metrics),
    ]
    lines += [f"| {name} | {n} | " + " | ".join(fmt(v) for v in values) + " |" for name, n, values in table.rows]
    return lines


def leaderboard_markdown(results: dict, title: str = "DebtBench leaderboard") -> str:
    lines = [f"# {title}", ""]
    config = results.get("config", {})
    if config:
        lines += [
            f"Split `{config.get('split')}`, debtor `{config.get('debtor')}`, max_turns {config.get('max_turns')}, "
            f"seed {config.get('seed')}. ↑ higher is better, ↓ lower is better; n/a: nothing to average.",
            "",
        ]
    if results.get("comparisons"):
        from eval.compare import comparison_sentence

        lines += ["## Comparisons", ""]
        for spec, result in results["comparisons"].items():
            a, b = spec.split(":")
            lines += [f"- {comparison_sentence(a, b, result)}"]
        lines += [""]
    for i, table in enumerate(leaderboard_tables(results)):
        lines += ([""] if i else []) + [f"## {table.title}", ""] + _markdown_table(table)
    return "\n".join(lines) + "\n"


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


def _bar_count(metric: str, result: dict, group: str) -> int | None:
    """How many dialogues a bar averages over: the group's dialogues, or its deals for per-deal metrics."""
    n = result["n"] if group == "overall" else result.get("n_by_archetype", {}).get(group)
    if n is None or metric not in PER_DEAL_METRICS:
        return n
    sr = (result["overall"] if group == "overall" else result["by_archetype"][group]).get("SR")
    return round(sr * n) if sr is not None else 0


def write_plots(results: dict, out_dir: str | Path, metrics: tuple[str, ...] = MAIN_METRICS,
                trajectories: dict | None = None) -> list[Path]:
    """One grouped bar chart per metric: archetypes (and overall) on x, collectors side by side.

    Each bar is labelled with its value and its n; zero values get a marker in the collector's colour.
    With `trajectories` ({collector: [Trajectory]}), metrics that are means of per-dialogue values get 95 %
    error bars. The legend sits outside the axes so it never covers a bar. Metrics with no value anywhere
    (e.g. the reward of a report made without one) get no plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    collectors = results["collectors"]
    groups = ("overall", *ARCHETYPES)
    width = 0.8 / max(len(collectors), 1)
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
            errors = [None] * len(groups)
            if trajectories and name in trajectories:
                for k, group in enumerate(groups):
                    members = [t for t in trajectories[name] if group == "overall" or t.archetype == group]
                    points = [v for v in (per_dialogue_value(metric, t) for t in members) if v is not None]
                    errors[k] = error_half_width(points) if values[k] is not None else None
            bars = ax.bar(xs, [v if v is not None else 0 for v in values], width, label=name,
                          yerr=[e or 0 for e in errors] if any(e is not None for e in errors) else None,
                          error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"})
            colour = bars.patches[0].get_facecolor()
            for k, (bar, value) in enumerate(zip(bars, values)):
                x = bar.get_x() + bar.get_width() / 2
                n = _bar_count(metric, collectors[name], groups[k])
                if value is None:
                    ax.annotate(f"n/a\nn={n}", (x, 0), ha="center", va="bottom", fontsize=6)
                    continue
                if value == 0:  # a stub in the collector's colour, so a zero never looks like a missing bar
                    ax.bar([x], [top * 0.015], width, color=colour, zorder=3)
                y = max(value, 0) + (errors[k] or 0)
                ax.annotate(f"{value:.3g}\nn={n}", (x, y), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=6)
        ax.axhline(0, color="0.3", linewidth=0.6)
        ax.set_ylim(min(0, min(v for values in table.values() for v in values if v is not None) * 1.15), top * 1.3)
        ax.set_xticks(range(len(groups)), groups)
        direction = "higher" if METRIC_DIRECTIONS.get(metric) == "higher" else "lower"
        bars_note = "bars: 95 % CI of the mean" if trajectories and metric in PER_DIALOGUE_COLUMNS else "n: dialogues behind each bar"
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
    """metrics.json, leaderboard.md, trajectories/<collector>.jsonl and plots/*.png, replacing earlier ones.

    Files an earlier run left (a collector no longer evaluated, a plot no longer drawn) are removed, so the
    folder holds this report only.
    """
    out = Path(out_dir)
    for stale in [*(out / "trajectories").glob("*.jsonl"), *(out / "plots").glob("*.png")]:
        stale.unlink()
    for name, rows in trajectories.items():
        write_jsonl(out / "trajectories" / f"{name}.jsonl", (t.to_dict() for t in rows))
    write_json(out / "metrics.json", results)
    write_leaderboard(results, out / "leaderboard.md")
    if plots:
        write_plots(results, out / "plots", trajectories=trajectories)
