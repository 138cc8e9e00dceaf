"""Report runs on disk as the viewer reads them: <reports_dir>/<run>/{metrics.json, plots/, trajectories/}.

A run is any folder with a metrics.json (what `make eval` and the play page write). Trajectories are read
once per file version and kept, so paging and filtering a run of hundreds of dialogues stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from debtgpt.constants import ARCHETYPES
from debtgpt.dialogue import OUTCOME_DEAL, OUTCOME_ERROR, OUTCOME_HANGUP, OUTCOME_MAX_TURNS, Trajectory
from debtgpt.io import read_jsonl
from debtgpt.leaderboard import read_results

OUTCOMES = (OUTCOME_DEAL, OUTCOME_HANGUP, OUTCOME_MAX_TURNS, OUTCOME_ERROR)


class NotFound(LookupError):
    """A run, collector, persona or dialogue that is not there; the message says what exists."""


class BadRequest(ValueError):
    """A query value outside its allowed set; the message names the field and the allowed values."""


@dataclass
class RunSummary:
    name: str
    collectors: list[str]
    n: int
    debtor: str
    modified: str


@dataclass(frozen=True)
class Filters:
    """Which trajectories of a run to list; empty means all."""

    collector: str = ""
    archetype: str = ""
    outcome: str = ""

    def check(self, collectors: list[str]) -> None:
        for field, value, allowed in (
            ("collector", self.collector, collectors),
            ("archetype", self.archetype, ARCHETYPES),
            ("outcome", self.outcome, OUTCOMES),
        ):
            if value and value not in allowed:
                raise BadRequest(
                    f"{field}={value!r} is not allowed; allowed values: {', '.join(allowed)} (or empty for all)"
                )

    def keep(self, t: Trajectory) -> bool:
        return (
            (not self.collector or t.collector == self.collector)
            and (not self.archetype or t.archetype == self.archetype)
            and (not self.outcome or t.outcome == self.outcome)
        )


class ReportStore:
    def __init__(self, reports_dir: str | Path):
        self.root = Path(reports_dir)
        self._cache: dict[Path, tuple[tuple[int, int], list[Trajectory]]] = {}

    def run_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/metrics.json"))

    def runs(self) -> list[RunSummary]:
        summaries = []
        for name in self.run_names():
            metrics = self.metrics(name)
            path = self.root / name / "metrics.json"
            summaries.append(
                RunSummary(
                    name=name,
                    collectors=list(metrics["collectors"]),
                    n=sum(r["n"] for r in metrics["collectors"].values()),
                    debtor=str(metrics.get("config", {}).get("debtor", "?")),
                    modified=datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M"),
                )
            )
        return sorted(summaries, key=lambda s: s.modified, reverse=True)

    def folder(self, run: str) -> Path:
        # Only names listed from disk are served, so a crafted name ("../x") can never reach another folder.
        if run not in self.run_names():
            known = ", ".join(self.run_names()) or "none yet (run `make eval` or play a dialogue)"
            raise NotFound(f"no report run named {run!r}; runs in {self.root}: {known}")
        return self.root / run

    def metrics(self, run: str) -> dict:
        return read_results(self.folder(run) / "metrics.json")

    def plots(self, run: str) -> list[str]:
        return sorted(p.name for p in (self.folder(run) / "plots").glob("*.png"))

    def plot_path(self, run: str, name: str) -> Path:
        if name not in self.plots(run):
            raise NotFound(f"run {run!r} has no plot {name!r}; plots: {', '.join(self.plots(run)) or 'none'}")
        return self.folder(run) / "plots" / name

    def trajectories(self, run: str) -> dict[str, list[Trajectory]]:
        """{collector: trajectories in file order} for every trajectories/<collector>.jsonl of the run."""
        out = {}
        for path in sorted((self.folder(run) / "trajectories").glob("*.jsonl")):
            stat = path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            cached = self._cache.get(path)
            if cached is None or cached[0] != version:
                cached = (version, [Trajectory.from_dict(row) for row in read_jsonl(path)])
                self._cache[path] = cached
            out[path.stem] = cached[1]
        return out

    def listing(self, run: str, filters: Filters) -> list[Trajectory]:
        by_collector = self.trajectories(run)
        filters.check(list(by_collector))
        return [t for rows in by_collector.values() for t in rows if filters.keep(t)]

    def dialogue(self, run: str, collector: str, scenario: str, sample: int) -> Trajectory:
        by_collector = self.trajectories(run)
        if collector not in by_collector:
            raise NotFound(f"run {run!r} has no collector {collector!r}; collectors: {', '.join(by_collector)}")
        for t in by_collector[collector]:
            if t.scenario.id == scenario and t.sample == sample:
                return t
        raise NotFound(f"run {run!r} has no dialogue of {collector!r} with persona {scenario!r}, sample {sample}")

    def partners(self, run: str, trajectory: Trajectory) -> list[str]:
        """Other collectors of the run with a dialogue on the same persona and sample: the side-by-side choices."""
        return [
            name
            for name, rows in self.trajectories(run).items()
            if name != trajectory.collector
            and any(t.scenario.id == trajectory.scenario.id and t.sample == trajectory.sample for t in rows)
        ]
