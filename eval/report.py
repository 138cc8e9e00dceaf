"""DebtBench reports: metrics.json, a markdown leaderboard overall and per archetype, and PNG plots."""
from __future__ import annotations

from pathlib import Path

from debtgpt.constants import ARCHETYPES, MAIN_METRICS, METRIC_DIRECTIONS
from debtgpt.io import atomic_write_text

# Columns of the leaderboard, in reading order.
TABLE_METRICS = (
    "SR", "CR", "CE", "SA", "LS", "CCI", "reward", "AT", "violations", "concessions", "first_offer_discount",
    "format_errors", "hangups", "agent_errors", "respect_empathy", "transparency", "feasibility",
)


def fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(rows: dict[str, dict], metrics: tuple[str, ...], counts: dict[str, int]) -> list[str]:
    shown = [m for m in metrics if any(rows[c].get(m) is not None for c in rows)] or list(metrics[:1])
    arrows = {m: "↑" if METRIC_DIRECTIONS.get(m) == "higher" else "↓" for m in shown}
    lines = [
        "| collector | n | " + " | ".join(f"{m} {arrows[m]}" for m in shown) + " |",
        "|---|---:|" + "---:|" * len(shown),
    ]
    for name, metrics_row in rows.items():
        lines.append(f"| {name} | {counts[name]} | " + " | ".join(fmt(metrics_row.get(m)) for m in shown) + " |")
    return lines


def leaderboard_markdown(results: dict, title: str = "DebtBench leaderboard") -> str:
    collectors = results["collectors"]
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
    lines += ["## Overall", ""]
    lines += _table({c: r["overall"] for c, r in collectors.items()}, TABLE_METRICS, {c: r["n"] for c, r in collectors.items()})
    for archetype in ARCHETYPES:
        lines += ["", f"## {archetype}", ""]
        lines += _table(
            {c: r["by_archetype"][archetype] for c, r in collectors.items()},
            TABLE_METRICS,
            {c: r.get("n_by_archetype", {}).get(archetype, "?") for c, r in collectors.items()},
        )
    return "\n".join(lines) + "\n"


def write_plots(results: dict, out_dir: str | Path, metrics: tuple[str, ...] = MAIN_METRICS) -> list[Path]:
    """One grouped bar chart per metric: archetypes (and overall) on x, collectors side by side."""
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
        fig, ax = plt.subplots(figsize=(8, 4))
        for i, (name, result) in enumerate(collectors.items()):
            values = [
                (result["overall"] if g == "overall" else result["by_archetype"][g]).get(metric) for g in groups
            ]
            xs = [x + (i - (len(collectors) - 1) / 2) * width for x in range(len(groups))]
            bars = ax.bar(xs, [v if v is not None else 0 for v in values], width, label=name)
            for bar, value in zip(bars, values):
                if value is None:
                    ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(groups)), groups)
        direction = "higher" if METRIC_DIRECTIONS.get(metric) == "higher" else "lower"
        ax.set_title(f"{metric} per archetype ({direction} is better)")
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out / f"{metric}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_leaderboard(results: dict, path: str | Path) -> None:
    atomic_write_text(path, leaderboard_markdown(results))
