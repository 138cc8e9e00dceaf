"""The DebtBench tables: the metric lists and the one renderer that the report (leaderboard.md), the web viewer
and the model card share. Functions of a report's metrics.json; nothing here runs a dialogue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from debtgpt.constants import ARCHETYPES, METRIC_DIRECTIONS

# Columns of the leaderboard, in reading order: a new metric joins every table (markdown, web, model card) by
# its name here.
TABLE_METRICS = (
    "SR",
    "CR",
    "CE",
    "SA",
    "LS",
    "CRI",
    "DHI",
    "CCI",
    "reward",
    "AT",
    "violations",
    "out_of_envelope_deals",
    "evidence_faithfulness",
    "debt_facts_true",
    "void_deals",
    "concessions",
    "first_offer_discount",
    "format_errors",
    "hangups",
    "agent_errors",
    "respect_empathy",
    "transparency",
    "feasibility",
)
# The headline of each metric group (docs/design.md section 2): plotted per archetype and shown in the model card.
HEADLINE_METRICS = (
    "SR",
    "CR",
    "CE",
    "SA",
    "LS",
    "CCI",
    "reward",
    "AT",
    "violations",
    "out_of_envelope_deals",
    "evidence_faithfulness",
    "debt_facts_true",
    "concessions",
    "format_errors",
)


def fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def arrow(metric: str) -> str:
    return "↑" if METRIC_DIRECTIONS.get(metric) == "higher" else "↓"


@dataclass
class Table:
    """One table: a row per collector (or per archetype), a column per metric that has a value somewhere."""

    title: str
    metrics: list[str]
    rows: list[tuple[str, object, list]]  # (row name, n, values in `metrics` order)
    row_label: str = "collector"


def _table(title: str, row_label: str, rows: dict, counts: dict, metrics) -> Table:
    shown = [m for m in metrics if any(row.get(m) is not None for row in rows.values())] or list(metrics[:1])
    return Table(
        title,
        shown,
        [(name, counts.get(name, "?"), [row.get(m) for m in shown]) for name, row in rows.items()],
        row_label,
    )


def leaderboard_tables(results: dict, metrics=TABLE_METRICS) -> list[Table]:
    """Collectors side by side: the overall table, then one per archetype."""
    collectors = results["collectors"]
    tables = [
        _table(
            "Overall",
            "collector",
            {n: r["overall"] for n, r in collectors.items()},
            {n: r["n"] for n, r in collectors.items()},
            metrics,
        )
    ]
    for archetype in ARCHETYPES:
        rows = {n: r["by_archetype"][archetype] for n, r in collectors.items()}
        counts = {n: r.get("n_by_archetype", {}).get(archetype, "?") for n, r in collectors.items()}
        tables.append(_table(archetype, "collector", rows, counts, metrics))
    return tables


def collector_table(results: dict, name: str, metrics=HEADLINE_METRICS) -> Table:
    """One collector: a row overall and one per archetype."""
    collectors = results["collectors"]
    if name not in collectors:
        raise ValueError(f"collector={name!r} is not in the report; allowed collectors: {', '.join(collectors)}")
    result = collectors[name]
    rows = {"overall": result["overall"], **result["by_archetype"]}
    counts = {"overall": result.get("n"), **result.get("n_by_archetype", {})}
    return _table(name, "archetype", rows, counts, metrics)


def markdown_table(table: Table) -> list[str]:
    lines = [
        f"| {table.row_label} | n | " + " | ".join(f"{m} {arrow(m)}" for m in table.metrics) + " |",
        "|---|---:|" + "---:|" * len(table.metrics),
    ]
    lines += [f"| {name} | {fmt(n)} | " + " | ".join(fmt(v) for v in values) + " |" for name, n, values in table.rows]
    return lines


def comparison_sentence(a: str, b: str, result: dict) -> str:
    """A bootstrap comparison of mean reward (eval/compare.py) in one sentence."""
    verdict = (
        f"{a} is above {b}"
        if result["ci_low"] > 0
        else f"{a} is below {b}"
        if result["ci_high"] < 0
        else f"no clear difference between {a} and {b}"
    )
    return (
        f"Mean reward {a} {result['mean_a']:.3f} vs {b} {result['mean_b']:.3f} on {result['n']} paired dialogues"
        f"{' of ' + str(result['scenarios']) + ' scenarios' if 'scenarios' in result else ''}: "
        f"difference {result['difference']:+.3f}, {round(result['confidence'] * 100)}% bootstrap CI "
        f"[{result['ci_low']:+.3f}, {result['ci_high']:+.3f}]"
        f"{' (half-width ' + format(result['half_width'], '.3f') + ')' if 'half_width' in result else ''} ({verdict})."
    )


def setting_line(config: dict) -> str:
    """Which split, debtor, turn limit and seed a report was made with, and how to read its tables."""
    return (
        f"Split `{config.get('split', '?')}`, debtor `{config.get('debtor', '?')}`, "
        f"max_turns {config.get('max_turns', '?')}, "
        f"seed {config.get('seed', '?')}. ↑ higher is better, ↓ lower is better; n/a: nothing to average."
    )


def leaderboard_markdown(results: dict, title: str = "DebtBench leaderboard") -> str:
    lines = [f"# {title}", ""]
    if results.get("config"):
        lines += [setting_line(results["config"]), ""]
    if results.get("comparisons"):
        lines += ["## Comparisons", ""]
        lines += [
            f"- {comparison_sentence(*spec.split(':'), result)}" for spec, result in results["comparisons"].items()
        ]
        lines += [""]
    for i, table in enumerate(leaderboard_tables(results)):
        lines += ([""] if i else []) + [f"## {table.title}", ""] + markdown_table(table)
    return "\n".join(lines) + "\n"


def read_results(path: str | Path) -> dict:
    """A report's metrics.json (written by `make eval` or the play page)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics={path} does not exist; run `make eval` to write a DebtBench report")
    return json.loads(path.read_text(encoding="utf-8"))
