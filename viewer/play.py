"""Play the debtor: a person negotiates in the browser against any collector `make eval` accepts.

The collector is built by `AgentFactory` from its name, and the dialogue advances with the runner's own
`start_dialogue` and `apply_turn`, so each side sees exactly what it sees in `make eval` (the collector's
view never holds the persona or the private finances). The person is an agent too (`HumanDebtor`): its
turn is the one they submitted. A finished dialogue gets the reward and is saved, with every other
dialogue played into the same run, as a report folder that the viewer lists.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from debtgpt.agents.base import Agent, DialogueError, View
from debtgpt.agents.factory import AgentFactory, available
from debtgpt.agreement import Agreement
from debtgpt.constants import DEBTOR_ACTIONS, DEBTOR_STRATEGIES
from debtgpt.dialogue import OUTCOME_ERROR, Scenario, Trajectory, Turn
from debtgpt.io import read_jsonl
from debtgpt.metrics import evaluate
from debtgpt.reward import check_weights, score_all
from debtgpt.runner import DialogueJob, apply_turn, start_dialogue
from eval.report import write_report
from viewer.reports import BadRequest, NotFound

log = logging.getLogger(__name__)

HUMAN_DEBTOR = "human"  # the debtor's name in played trajectories and reports
MAX_WORDS_CHARS = 2000
KEEP_GAMES = 200  # games kept in memory; the oldest finished ones go first (saved ones are on disk)


class HumanDebtor(Agent):
    """The person at the browser: for each dialogue, its turn is the one they submitted."""

    role, name = "debtor", HUMAN_DEBTOR

    def __init__(self) -> None:
        self.submitted: dict[str, Turn] = {}

    def act(self, views: list[View]) -> list[Turn]:
        return [self.submitted.pop(view.key) for view in views]


@dataclass
class Game:
    id: str
    collector: Agent
    live: object  # the runner's live dialogue: its trajectory and each side's view
    saved: bool = False
    notes: list[str] = field(default_factory=list)  # what the person should know (e.g. the collector failed)

    @property
    def trajectory(self) -> Trajectory:
        return self.live.trajectory

    @property
    def debtor_view(self) -> View:
        """The dialogue as the person may see it: their own turns in full, the collector's redacted."""
        return self.live.views["debtor"]


def human_turn(action: str, strategy: str, words: str, terms: dict | None) -> Turn:
    """The person's turn from the form; every field checked, terms only on the agreement grid."""
    if action not in DEBTOR_ACTIONS:
        raise BadRequest(f"action={action!r} is not allowed; allowed values: {', '.join(DEBTOR_ACTIONS)}")
    if strategy not in DEBTOR_STRATEGIES:
        raise BadRequest(f"strategy={strategy!r} is not allowed; allowed values: {', '.join(DEBTOR_STRATEGIES)}")
    words = words.strip()
    if len(words) > MAX_WORDS_CHARS:
        raise BadRequest(f"what you say is {len(words)} characters long; at most {MAX_WORDS_CHARS} are allowed")
    if action == "non" and not words:
        raise BadRequest("say something, or propose terms, accept, or hang up")
    proposal = None
    if action == "ask":
        try:
            proposal = Agreement.from_dict(terms or {})
        except ValueError as error:  # OffGridError names the field and its allowed values
            raise BadRequest(str(error)) from None
    return Turn("debtor", action, strategy, words, proposal=proposal)


class PlayTable:
    """Games in progress and the run folder they are saved to. One lock: agents are not thread-safe."""

    def __init__(
        self,
        scenarios: list[Scenario],
        run_dir: str | Path,
        *,
        agents: AgentFactory | None = None,
        seed: int = 0,
        max_turns: int = 20,
        reward=None,
        split: str = "test",
        plots: bool = True,
    ):
        from pipeline.config import RewardConfig

        if max_turns < 2:
            raise ValueError(f"max_turns={max_turns} must be >= 2")
        self.scenarios = {s.id: s for s in scenarios}
        self.run_dir = Path(run_dir)
        self.agents = agents or AgentFactory()
        self.seed, self.max_turns, self.split, self.plots = seed, max_turns, split, plots
        self.reward = reward if reward is not None else RewardConfig()
        check_weights(self.reward)
        self.debtor = HumanDebtor()
        self.games: OrderedDict[str, Game] = OrderedDict()
        self._collectors: dict[str, Agent] = {}
        self._lock = threading.RLock()

    def collector_names(self) -> list[str]:
        return available("collector", self.agents.configs_dir)

    def scenario(self, scenario_id: str) -> Scenario:
        if scenario_id not in self.scenarios:
            sample = ", ".join(list(self.scenarios)[:5])
            raise NotFound(f"no {self.split} persona {scenario_id!r}; {len(self.scenarios)} personas, e.g. {sample}")
        return self.scenarios[scenario_id]

    def _collector(self, name: str) -> Agent:
        if name not in self.collector_names():
            raise NotFound(f"no collector named {name!r}; allowed collectors: {', '.join(self.collector_names())}")
        if name not in self._collectors:
            self._check(name)
            try:
                self._collectors[name] = self.agents.collector(name)
            except Exception as error:  # a missing checkpoint or a bad spec: say so, keep serving
                log.exception("collector %s could not be built", name)
                raise BadRequest(f"collector {name!r} could not be started: {error}") from None
        return self._collectors[name]

    def _check(self, name: str) -> None:
        """eval's start-up check (key, server, package, checkpoint), so a collector that cannot run is refused in
        one line before its first turn instead of failing in it and leaving an error dialogue in the report."""
        from debtgpt.agents.factory import check_agents
        from pipeline.cli import StageError

        try:
            check_agents(collectors=[name], configs_dir=self.agents.configs_dir)
        except (StageError, ValueError) as error:
            raise BadRequest(" ".join(str(error).split())) from None

    def start(self, collector_name: str, scenario_id: str) -> Game:
        """A new dialogue; the collector speaks first, so its opening turn is there when the page shows."""
        with self._lock:
            scenario = self.scenario(scenario_id)
            collector = self._collector(collector_name)
            job = DialogueJob(scenario, self._next_sample(scenario.id, collector.name))
            game = Game(
                secrets.token_urlsafe(9),
                collector,
                start_dialogue(job, collector, self.debtor, self.seed, self.max_turns),
            )
            self.games[game.id] = game
            self._forget_old_games()
            self._move(game, "collector")
            self._save_if_finished(game)
            return game

    def game(self, game_id: str) -> Game:
        if game_id not in self.games:
            raise NotFound(f"no dialogue in progress with id {game_id!r}; start one from the play page")
        return self.games[game_id]

    def debtor_turn(self, game_id: str, action: str, strategy: str, words: str, terms: dict | None = None) -> Game:
        """The person's turn, then the collector's answer unless the dialogue ended."""
        with self._lock:
            game = self.game(game_id)
            if game.trajectory.finished:
                raise BadRequest("this dialogue has ended; start a new one from the play page")
            turn = human_turn(action, strategy, words, terms)
            if action == "accept" and game.debtor_view.standing_proposal("collector") is None:
                raise BadRequest("there is no offer from the collector to accept yet; propose terms or keep talking")
            self.debtor.submitted[game.trajectory.key()] = turn
            self._move(game, "debtor")
            if not game.trajectory.finished:
                self._move(game, "collector")
            self._save_if_finished(game)
            return game

    def _move(self, game: Game, role: str) -> None:
        """One turn of one side, handled as run_dialogues handles it (an agent error ends the dialogue)."""
        agent = game.collector if role == "collector" else self.debtor
        try:
            [turn] = agent.act([game.live.views[role]])
        except Exception as error:  # e.g. a served model that is not running: end this dialogue, not the app
            log.exception("%s failed in %s", agent.name, game.trajectory.key())
            turn = DialogueError(f"{agent.name} failed: {error}")
        if isinstance(turn, DialogueError):
            game.trajectory.outcome, game.trajectory.error = OUTCOME_ERROR, turn.message
            game.notes.append(turn.message)
        else:
            apply_turn(game.live, turn, self.max_turns)

    def _next_sample(self, scenario_id: str, collector: str) -> int:
        """A fresh sample index, so each played dialogue has its own key (persona/collector/sample)."""
        taken = {t.sample for t in self.saved().get(collector, []) if t.scenario.id == scenario_id}
        taken |= {
            g.trajectory.sample
            for g in self.games.values()
            if g.trajectory.scenario.id == scenario_id and g.trajectory.collector == collector
        }
        return max(taken, default=-1) + 1

    def saved(self) -> dict[str, list[Trajectory]]:
        folder = self.run_dir / "trajectories"
        return {p.stem: [Trajectory.from_dict(row) for row in read_jsonl(p)] for p in sorted(folder.glob("*.jsonl"))}

    def _save_if_finished(self, game: Game) -> None:
        """Score a finished dialogue and rewrite the run's report with it (metrics over every saved dialogue)."""
        if not game.trajectory.finished or game.saved:
            return
        trajectory = game.trajectory
        score_all([trajectory], self.reward)
        by_collector = self.saved()
        by_collector.setdefault(trajectory.collector, []).append(trajectory)
        reward = self.reward if isinstance(self.reward, dict) else asdict(self.reward)
        results = {
            "collectors": {name: evaluate(rows) for name, rows in by_collector.items()},
            "config": {
                "split": self.split,
                "debtor": HUMAN_DEBTOR,
                "max_turns": self.max_turns,
                "seed": self.seed,
                "judge": "none",
                "reward": reward,
            },
        }
        write_report(self.run_dir, results, by_collector, plots=self.plots)
        game.saved = True
        log.info("saved %s (%s) to %s", trajectory.key(), trajectory.outcome, self.run_dir)

    def _forget_old_games(self) -> None:
        while len(self.games) > KEEP_GAMES:
            oldest = next((gid for gid, g in self.games.items() if g.saved), None)
            if oldest is None:
                break
            del self.games[oldest]

    def close(self) -> None:
        self.agents.close()
