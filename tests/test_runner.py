from debtgpt.agents.base import Agent, DialogueError
from debtgpt.agents.scripted import ScriptedDebtor, make_scripted_collector
from debtgpt.agreement import Agreement
from debtgpt.dialogue import OUTCOME_ERROR, Turn
from debtgpt.runner import DialogueJob, run_dialogues
from debtgpt.scenarios import build_scenarios

from helpers import make_scenario


def jobs(n=40, samples=1):
    return [DialogueJob(s, k) for s in build_scenarios(n, seed=11) for k in range(samples)]


def test_every_dialogue_ends_and_none_is_lost():
    todo = jobs(40, samples=2)
    trajectories = run_dialogues(todo, make_scripted_collector("expert"), ScriptedDebtor(), batch_size=7)
    assert len(trajectories) == 80 and all(t.finished for t in trajectories)
    assert [t.key() for t in trajectories] == [f"{j.scenario.id}/expert/{j.sample}" for j in todo]
    assert len({t.key() for t in trajectories}) == 80


def test_results_do_not_depend_on_the_batch_size():
    one = run_dialogues(jobs(), make_scripted_collector("expert"), ScriptedDebtor(), seed=5, batch_size=1)
    many = run_dialogues(jobs(), make_scripted_collector("expert"), ScriptedDebtor(), seed=5, batch_size=64)
    assert [t.to_dict() for t in one] == [t.to_dict() for t in many]


def test_the_turn_limit_is_enforced():
    trajectories = run_dialogues(jobs(), make_scripted_collector("firm"), ScriptedDebtor(), max_turns=4)
    assert all(len(t.turns) <= 4 for t in trajectories)
    assert {t.outcome for t in trajectories if len(t.turns) == 4} <= {"max_turns", "deal", "hangup"}


class Recorder(Agent):
    """Wraps an agent and records the size of every batch it is asked for."""

    def __init__(self, inner):
        self.inner, self.role, self.name, self.batches = inner, inner.role, inner.name, []

    def act(self, views):
        self.batches.append(len(views))
        return self.inner.act(views)


def test_each_side_is_asked_once_per_step_for_the_whole_batch_and_finished_dialogues_leave():
    collector = Recorder(make_scripted_collector("conceder"))
    run_dialogues(jobs(30), collector, ScriptedDebtor(), batch_size=30)
    assert collector.batches[0] == 30
    assert collector.batches[-1] < 30  # dialogues that ended were dropped from later batches
    assert len(collector.batches) <= 10  # one call per step, never one per dialogue


def test_queued_dialogues_refill_the_batch():
    collector = Recorder(make_scripted_collector("conceder"))
    run_dialogues(jobs(40), collector, ScriptedDebtor(), batch_size=10)
    assert max(collector.batches) == 10 and sum(collector.batches) > 40


class FailsOnSome(Agent):
    role, name = "collector", "flaky"

    def act(self, views):
        return [
            DialogueError("server never answered")
            if v.key.startswith("R0001")
            else Turn("collector", "non", "establish trust", "I am here to help you.")
            for v in views
        ]


def test_an_agent_error_ends_only_that_dialogue():
    trajectories = run_dialogues(jobs(5), FailsOnSome(), ScriptedDebtor(), max_turns=6)
    failed = [t for t in trajectories if t.outcome == OUTCOME_ERROR]
    assert [t.scenario.id for t in failed] == ["R0001"] and "never answered" in failed[0].error
    assert all(t.finished for t in trajectories)


class Spy(Agent):
    role, name = "collector", "spy"

    def __init__(self):
        self.views = []

    def act(self, views):
        self.views.extend(views)
        return [
            Turn(
                "collector",
                "ask",
                "repayment negotiation",
                "Offer.",
                thoughts="secret plan",
                proposal=Agreement(0.0, 0.25, 7, 6),
            )
            for _ in views
        ]


def test_each_side_sees_only_what_it_may():
    spy = Spy()
    [trajectory] = run_dialogues([DialogueJob(make_scenario("Avoidant"))], spy, ScriptedDebtor(), max_turns=6)
    seen = spy.views[-1]
    assert seen.persona is None and seen.record is None
    assert "daily_income" not in seen.public_record and "overdue_reason" not in seen.public_record
    heard = [t for t in seen.history if t.role == "debtor"]
    assert heard and all(t.thoughts == "" and t.strategy == "" for t in heard)
    assert any(t.role == "debtor" and t.thoughts for t in trajectory.turns)  # the trajectory keeps them


class AcceptsAtOnce(Agent):
    role, name = "collector", "eager"

    def act(self, views):
        return [Turn("collector", "accept", "repayment negotiation", "Deal!") for _ in views]


def test_accepting_with_no_standing_proposal_is_not_a_deal():
    [t] = run_dialogues([DialogueJob(make_scenario())], AcceptsAtOnce(), ScriptedDebtor(), max_turns=2)
    assert t.outcome != "deal" and t.turns[0].info["invalid_accept"]


def test_in_play_the_collector_sees_only_what_it_may(tmp_path):
    """The same guarantee on the play page's path: a person is the debtor, the collector comes by name."""
    from debtgpt.agents.factory import AgentFactory
    from debtgpt.records import PUBLIC_RECORD_FIELDS
    from viewer.play import PlayTable

    spy = Spy()

    class SpyingFactory(AgentFactory):
        def collector(self, name):
            return spy

    scenario = make_scenario("Avoidant")
    table = PlayTable([scenario], tmp_path / "play", agents=SpyingFactory(), plots=False)
    game = table.start("expert", scenario.id)
    table.debtor_turn(game.id, "non", "dilemma rendering", "I want to pay, but I can't right now.")
    table.debtor_turn(game.id, "hangup", "complaint", "Goodbye.")
    assert game.trajectory.outcome == "hangup" and len(spy.views) == 2
    private = (scenario.persona.scenario, scenario.record.overdue_reason, repr(scenario.record.daily_income))
    for seen in spy.views:
        assert seen.persona is None and seen.record is None and set(seen.public_record) == set(PUBLIC_RECORD_FIELDS)
        assert all(t.thoughts == "" and t.strategy == "" for t in seen.history if t.role == "debtor")
        assert not any(text in repr(seen) for text in private)
