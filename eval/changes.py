"""What a training step changed: collector A against its starting point B, overall and per archetype.

    python -m eval.run collectors=[sft,dpo] explain=dpo:sft curves=checkpoints/dpo-tiny

Writes changes.md (both collectors' numbers and the difference, per archetype) and plots/changes.png (the
differences as bars), and copies the training curves of A's run (train.dpo's curves.png and curves.json:
preference accuracy and margin on training and held-out pairs) into the report folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from debtgpt.constants import ARCHETYPES
from debtgpt.io import atomic_write_text

CHANGE_METRICS = ("SR", "CR", "reward", "violations", "concessions", "format_errors", "agent_errors")


def _value(result: dict, group: str, metric: str):
    values = result["overall"] if group == "Overall" else result["by_archetype"][group]
    return values.get(metric)


def _n(result: dict, group: str):
    return result["n"] if group == "Overall" else result.get("n_by_archetype", {}).get(group)


def changes_markdown(results: dict, a: str, b: str, curves: dict | None = None) -> str:
    ra, rb = results["collectors"][a], results["collectors"][b]
    lines = [
        f"# What {a} changed against {b}",
        "",
        f"Each cell: {b} -> {a} (difference). n = dialogues per collector in the group.",
        "",
    ]
    header = "| group | n | " + " | ".join(CHANGE_METRICS) + " |"
    lines += [header, "|---|---:|" + "---:|" * len(CHANGE_METRICS)]
    for group in ("Overall", *ARCHETYPES):
        cells = []
        for metric in CHANGE_METRICS:
            va, vb = _value(ra, group, metric), _value(rb, group, metric)
            cells.append("n/a" if va is None or vb is None else f"{vb:.3f} -> {va:.3f} ({va - vb:+.3f})")
        lines.append(f"| {group} | {_n(ra, group)} | " + " | ".join(cells) + " |")
    comparison = results.get("comparisons", {}).get(f"{a}:{b}")
    if comparison:
        lines += [
            "",
            f"Mean reward {a} - {b}: {comparison['difference']:+.3f}, {round(comparison['confidence'] * 100)} % CI "
            f"[{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}], n = {comparison['n']} paired dialogues.",
        ]
    if curves:
        final = {name: points[-1][1] for name, points in curves.items() if points}
        lines += ["", f"## {a}'s training curves (curves.png)", ""]
        lines += [f"- {name}: last value {value:.3f}" for name, value in sorted(final.items())]
    return "\n".join(lines) + "\n"


def write_changes(out_dir: str | Path, results: dict, a: str, b: str, run_dir: str | None = None) -> None:
    """changes.md, plots/changes.png and, from `run_dir`, curves.png and curves.json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out_dir)
    curves = None
    if run_dir:
        for name in ("curves.png", "curves.json"):
            source = Path(run_dir) / name
            if not source.is_file():
                raise FileNotFoundError(f"curves={run_dir} has no {name}; train it with `python -m train.dpo` first")
            shutil.copyfile(source, out / name)
        curves = json.loads((out / "curves.json").read_text())
    atomic_write_text(out / "changes.md", changes_markdown(results, a, b, curves))

    groups = ("Overall", *ARCHETYPES)
    ra, rb = results["collectors"][a], results["collectors"][b]
    fig, axes = plt.subplots(1, len(CHANGE_METRICS), figsize=(2.4 * len(CHANGE_METRICS), 3.6), sharey=False)
    for ax, metric in zip(axes, CHANGE_METRICS):
        diffs = [(_value(ra, g, metric) or 0.0) - (_value(rb, g, metric) or 0.0) for g in groups]
        ax.bar(np.arange(len(groups)), diffs, color=["#444", "#c44", "#c84", "#48c", "#4a4"])
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(metric, fontsize=9)
        ax.set_xticks(np.arange(len(groups)), [g[:5] for g in groups], rotation=60, fontsize=7)
    fig.suptitle(f"{a} minus {b}, overall and per archetype")
    fig.tight_layout()
    (out / "plots").mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "plots" / "changes.png", dpi=110)
    plt.close(fig)
