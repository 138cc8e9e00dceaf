"""Poison generations in a batch: every other dialogue finishes, and the counts say how many failed."""

import json

import pytest

from debtgpt.agents.llm_collector import LLMCollector
from debtgpt.agents.scripted import ScriptedDebtor
from debtgpt.backends.scripted import ScriptedBackend
from debtgpt.dialogue import OUTCOME_ERROR
from debtgpt.metrics import evaluate
from debtgpt.runner import DialogueJob, run_dialogues
from debtgpt.scenarios import build_scenarios

GOOD = json.dumps(
    {
        "thoughts": "t",
        "strategy": "repayment negotiation",
        "action": "ask",
        "dialogue": "Pay the usual terms.",
        "proposal": {"disc_ratio": 0, "pmt_ratio": 25, "pmt_days": 7, "inst_prds": 6},
    }
)
# What a broken model can write: each must become that turn's format error.
POISON_TEXTS = [
    GOOD.replace('"disc_ratio": 0', '"disc_ratio": ' + "1" * 320),  # OverflowError in the percent conversion
    GOOD.replace('"disc_ratio": 0', '"disc_ratio": ' + "9" * 5000),  # beyond Python's int digit limit
    '{"a": ' * 5000 + "1" + "}" * 5000,  # RecursionError in the JSON decoder
    "\x00\udcff" * 1000,
    "{" * 100_000,
]


def case_of(conversation) -> str:
    """The case id the collector's information card shows (the system message)."""
    system = conversation[0]["content"]
    return system.split("Case:", 1)[1].split()[0] if "Case:" in system else ""


def backend_with(poisoned: dict[str, str], raising: set[str]):
    """Answers GOOD, a poison text for some cases, and raises for others (a whole-batch exception)."""

    def respond(conversation, seed):
        case = case_of(conversation)
        if case in raising:
            raise RuntimeError(f"the engine failed on {case}")
        return poisoned.get(case, GOOD)

    return ScriptedBackend(respond)


def test_the_case_id_is_found_in_the_prompt():
    scenario = build_scenarios(1, seed=3)[0]
    seen = []
    backend = ScriptedBackend(lambda c, s: seen.append(case_of(c)) or GOOD)
    run_dialogues([DialogueJob(scenario)], LLMCollector(backend, name="llm"), ScriptedDebtor(), max_turns=2)
    assert seen == [scenario.id]


@pytest.mark.parametrize("batch_size", [1, 16])
def test_poison_generations_end_only_their_own_dialogues(batch_size):
    scenarios = build_scenarios(16, seed=3)
    poisoned = {s.id: text for s, text in zip(scenarios[:5], POISON_TEXTS)}
    raising = {scenarios[5].id, scenarios[9].id}
    collector = LLMCollector(backend_with(poisoned, raising), name="llm", guided_json=False)
    trajectories = run_dialogues(
        [DialogueJob(s) for s in scenarios], collector, ScriptedDebtor(), batch_size=batch_size, max_turns=8
    )

    assert len(trajectories) == 16 and all(t.finished for t in trajectories)
    errors = {t.scenario.id for t in trajectories if t.outcome == OUTCOME_ERROR}
    assert errors == raising
    assert all("the engine failed" in t.error for t in trajectories if t.outcome == OUTCOME_ERROR)
    for trajectory in trajectories:
        if trajectory.scenario.id in poisoned:  # a format error on every collector turn, never a crash
            turns = trajectory.collector_turns()
            assert turns and all(t.format_error for t in turns)
        elif trajectory.scenario.id not in raising:
            assert all(t.format_error is None for t in trajectory.collector_turns())
    report = evaluate(trajectories)
    assert report["n_errors"] == 2
    assert report["overall"]["agent_errors"] == pytest.approx(2 / 16)
    assert report["overall"]["format_errors"] > 0  # the poisoned dialogues ran, with their errors counted


def test_a_collector_whose_dialogues_all_fail_has_no_scores_only_errors():
    scenarios = build_scenarios(6, seed=3)
    collector = LLMCollector(backend_with({}, {s.id for s in scenarios}), name="llm")
    trajectories = run_dialogues([DialogueJob(s) for s in scenarios], collector, ScriptedDebtor(), batch_size=4)
    overall = evaluate(trajectories)["overall"]
    assert overall["agent_errors"] == 1.0
    assert all(value is None for name, value in overall.items() if name != "agent_errors")  # n/a, never 0


@pytest.mark.parametrize("bad", [0, -1, None, 2.5])
def test_batch_size_below_one_fails_at_once(bad):
    scenario = build_scenarios(1, seed=3)[0]
    with pytest.raises(ValueError, match="batch_size="):
        run_dialogues(
            [DialogueJob(scenario)],
            LLMCollector(backend_with({}, set()), name="llm"),
            ScriptedDebtor(),
            batch_size=bad,
        )


def test_eval_of_a_collector_whose_dialogues_all_fail_writes_n_a_and_exits_non_zero(tmp_path, monkeypatch):
    from data_gen.make_data import make_data
    from debtgpt.agents import factory
    from eval.run import evaluate_collectors
    from pipeline.cli import StageError
    from pipeline.config import DataConfig, EvalConfig

    make_data(DataConfig(num_records=40, out_dir=str(tmp_path / "data")))
    build = factory.AgentFactory.collector

    def collector(self, name):  # "expert" stands for a collector whose server fails every request
        if name == "expert":
            return LLMCollector(
                ScriptedBackend(lambda c, s: (_ for _ in ()).throw(RuntimeError("server down"))), name="expert"
            )
        return build(self, name)

    monkeypatch.setattr(factory.AgentFactory, "collector", collector)
    cfg = EvalConfig(collectors=["firm", "expert"], data_dir=str(tmp_path / "data"), progress=False, plots=False)
    with pytest.raises(StageError, match="every dialogue of expert failed.*server down"):
        evaluate_collectors(cfg, tmp_path / "report")
    board = (tmp_path / "report" / "leaderboard.md").read_text()
    expert_row = next(line for line in board.splitlines() if line.startswith("| expert |"))
    firm_row = next(line for line in board.splitlines() if line.startswith("| firm |"))
    assert "agent_errors" in board and expert_row.count("n/a") >= 10 and expert_row.rstrip(" |").endswith("1.000")
    assert "0.000 |" not in expert_row.replace("| 1.000", "") and "n/a" not in firm_row.split("|")[3]
