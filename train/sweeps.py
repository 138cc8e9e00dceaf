"""A sweep's answer: one row per point (its overrides, job, state, training loss, held-out metric, checkpoint) and
the best point, read from what each point left in its folder. The Hydra launchers of hydra_plugins/debtgpt_sweep
write it at the end of every sweep as sweep_summary.md and sweep_summary.json in the sweep folder.

    python -m train.sweeps checkpoints/sft-sweep      # the table again, from the sweep folder alone

A training point (train.sft, train.dpo) is read from final/train_card.json; an evaluation point (eval.run) from
metrics.json. The held-out metric is the one the stage records: DPO's preference accuracy on its held-out pairs,
an evaluation's mean reward (of its first collector); SFT records none, so its points are ranked by training loss.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

SUMMARY_MD, SUMMARY_JSON, JOBS_FILE = "sweep_summary.md", "sweep_summary.json", "sweep_jobs.json"
TRAIN_CARD = "train_card.json"
# held-out metrics a training run logs, in order of preference, each with whether higher is better
HELDOUT_METRICS = (("eval_rewards/accuracies", True), ("eval_loss", False))
COMPLETED, SUBMITTED = "COMPLETED", "SUBMITTED"


@dataclass
class PointResult:
    """One sweep point as the summary shows it."""

    # the point's command-line overrides, those every point shares included
    overrides: list[str]
    folder: str
    job_id: str = "local"
    # COMPLETED, or why not: FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, LOST (no result, no record),
    # UNFINISHED
    state: str = COMPLETED
    train_loss: float | None = None
    global_step: int | None = None
    heldout_name: str | None = None
    heldout: float | None = None
    higher_is_better: bool = True
    checkpoint: str | None = None
    note: str = ""


def _finite(value) -> float | None:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else None
    )


def read_point(
    folder: str | Path, overrides: list[str], job_id: str = "local", state: str = COMPLETED, note: str = ""
) -> PointResult:
    """What a point left in its folder: a finished training run, an evaluation report, or a partial run's newest
    checkpoint."""
    folder = Path(folder)
    point = PointResult(overrides=overrides, folder=str(folder), job_id=job_id, state=state, note=note)
    card_path, metrics_path = folder / "final" / TRAIN_CARD, folder / "metrics.json"
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        history = card.get("log_history", [])
        losses = [row["loss"] for row in history if _finite(row.get("loss")) is not None]
        # the last logged loss; a run shorter than logging_steps logged only the run's mean (train_loss)
        point.train_loss = (
            _finite(losses[-1])
            if losses
            else next((_finite(r.get("train_loss")) for r in reversed(history) if "train_loss" in r), None)
        )
        point.global_step = card.get("global_step")
        for name, higher in HELDOUT_METRICS:
            values = [row[name] for row in history if _finite(row.get(name)) is not None]
            if values:
                point.heldout_name, point.heldout, point.higher_is_better = name, float(values[-1]), higher
                break
        point.checkpoint = str(folder / "final")
    elif metrics_path.is_file():
        report = json.loads(metrics_path.read_text())
        collectors = report.get("collectors", {})
        # the first collector as the run named them (the report's own keys are sorted)
        order = [c for c in report.get("config", {}).get("collectors", []) if c in collectors] or list(collectors)
        if order:
            name = order[0]
            point.heldout_name, point.heldout = (
                f"reward({name})",
                _finite(collectors[name].get("overall", {}).get("reward")),
            )
        point.checkpoint = str(folder)
    else:
        from train.checkpoints import last_checkpoint

        point.checkpoint = last_checkpoint(folder)  # what a rerun of the sweep resumes from
    if state == COMPLETED and point.checkpoint is None:
        point.state, point.note = "FAILED", note or f"no result in {folder}"
    return point


def best_point(points: list[PointResult]) -> tuple[PointResult | None, str]:
    """The best completed point and the rule that chose it: the held-out metric when every completed point has
    the same one, else the lowest training loss."""
    done = [p for p in points if p.state == COMPLETED]
    names = {p.heldout_name for p in done}
    if done and len(names) == 1 and None not in names and all(p.heldout is not None for p in done):
        higher = done[0].higher_is_better
        best = max(done, key=lambda p: p.heldout if higher else -p.heldout)
        return best, f"{done[0].heldout_name}, {'higher' if higher else 'lower'} is better"
    ranked = [p for p in done if p.train_loss is not None]
    if ranked:
        reason = "no held-out metric recorded" if None in names else "held-out metrics differ between points"
        return min(ranked, key=lambda p: p.train_loss), f"final training loss, lower is better; {reason}"
    return None, "no point completed"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def shared_overrides(points: list[PointResult]) -> list[str]:
    """The overrides every point has (ARGS of make sweep): said once above the table, not in each row."""
    if len(points) < 2:
        return []
    return [o for o in points[0].overrides if all(o in p.overrides for p in points[1:])]


def point_label(point: PointResult, shared: list[str]) -> str:
    return " ".join(o for o in point.overrides if o not in shared) or "(defaults)"


def summary_markdown(points: list[PointResult], title: str) -> str:
    best, rule = best_point(points)
    shared = shared_overrides(points)
    lines = [f"# {title}", ""]
    if shared:
        lines += [f"every point: {' '.join(shared)}", ""]
    lines += [
        "| point | overrides | job | state | train loss | held-out | checkpoint | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(points):
        heldout = "-" if p.heldout is None else f"{p.heldout_name}={p.heldout:.4f}"
        mark = " (best)" if p is best else ""
        lines.append(
            f"| {i}{mark} | {point_label(p, shared)} | {p.job_id} | {p.state} | {_cell(p.train_loss)} | {heldout} | "
            f"{p.checkpoint or '-'} | {p.note.replace('|', '/')} |"
        )
    failed = [p for p in points if p.state != COMPLETED]
    lines += [
        "",
        f"best: {point_label(best, shared)} (by {rule}): {best.checkpoint}" if best else f"best: none ({rule})",
    ]
    if failed:
        lines.append(
            f"failed: {len(failed)} of {len(points)} points ({', '.join(point_label(p, shared) for p in failed)}); "
            "rerun the same sweep to retry them (a training point resumes from its newest checkpoint)"
        )
    return "\n".join(lines) + "\n"


def write_summary(sweep_dir: str | Path, points: list[PointResult], title: str) -> str:
    """sweep_summary.md and sweep_summary.json in the sweep folder; returns the table."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    text = summary_markdown(points, title)
    best, rule = best_point(points)
    (sweep_dir / SUMMARY_MD).write_text(text)
    record = {
        "points": [asdict(p) for p in points],
        "best": None if best is None else points.index(best),
        "best_by": rule,
    }
    (sweep_dir / SUMMARY_JSON).write_text(json.dumps(record, indent=2) + "\n")
    return text


@dataclass
class SweepJobs:
    """sweep_jobs.json: each submitted point's overrides, folder and job id, written as soon as they are submitted,
    so a sweep whose launcher died can still be summarized (python -m train.sweeps SWEEP_DIR)."""

    points: list[dict] = field(default_factory=list)

    def save(self, sweep_dir: Path) -> None:
        (Path(sweep_dir) / JOBS_FILE).write_text(json.dumps(self.points, indent=2) + "\n")


def summarize_folder(sweep_dir: str | Path) -> str:
    """The summary of a sweep folder from its sweep_jobs.json (states taken as the points' files show them)."""
    sweep_dir = Path(sweep_dir)
    jobs = sweep_dir / JOBS_FILE
    if not jobs.is_file():
        raise FileNotFoundError(f"{jobs} not found: not a sweep folder written by the debtgpt launchers")
    points = []
    for p in json.loads(jobs.read_text()):
        state = p.get("state", SUBMITTED)
        if state == SUBMITTED:  # the launcher ended before this point did: its files say how far it went
            state = (
                COMPLETED
                if (Path(p["folder"]) / "final" / TRAIN_CARD).is_file()
                or (Path(p["folder"]) / "metrics.json").is_file()
                else "UNFINISHED"
            )
        points.append(read_point(p["folder"], p["overrides"], p.get("job_id", "local"), state, p.get("note", "")))
    return write_summary(sweep_dir, points, f"sweep {sweep_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m train.sweeps SWEEP_DIR")
    try:
        print(summarize_folder(sys.argv[1]), end="")
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
