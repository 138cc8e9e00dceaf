"""LLM collector, MADeN collector, LLM debtor and judge: prompts, privacy, retries, and whole dialogues."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from debtgpt.agents.base import RankRequest
from debtgpt.agents.judge import LLMJudge, read_ranking, read_scores
from debtgpt.agents.llm_collector import LLMCollector
from debtgpt.agents.llm_debtor import LLMDebtor, debtor_messages
from debtgpt.agents.maden import MADeNCollector
from debtgpt.agents.prompting import CALL_OPENING, collector_messages
from debtgpt.agreement import Agreement
from debtgpt.backends import Sampling
from debtgpt.backends.scripted import ScriptedBackend
from debtgpt.dialogue import Trajectory, Turn
from debtgpt.protocol import write_turn
from debtgpt.runner import DialogueJob, apply_turn, run_dialogues, start_dialogue

from helpers import make_scenario

SHORT = Sampling(max_tokens=16)
POLICY_TERMS = Agreement(disc_ratio=0.0, pmt_ratio=0.25, pmt_days=7, inst_prds=6)
GREEDY_DISCOUNT = Agreement(disc_ratio=0.2, pmt_ratio=0.25, pmt_days=7, inst_prds=6)


def collector_ask(terms: Agreement) -> str:
    return write_turn(
        Turn(
            role="collector",
            action="ask",
            strategy="repayment negotiation",
            dialogue="Here is my offer.",
            proposal=terms,
        )
    )


def live_dialogue(scenario, collector=None, debtor=None):
    collector = collector or LLMCollector(ScriptedBackend(lambda c, s: ""))
    debtor = debtor or LLMDebtor(ScriptedBackend(lambda c, s: ""))
    return start_dialogue(DialogueJob(scenario), collector, debtor, seed=0, max_turns=10)


def play(live, role: str, text: str, thoughts: str = "", action: str = "non", proposal=None) -> None:
    strategy = (
        "repayment negotiation"
        if action == "ask"
        else ("establish trust" if role == "collector" else "vague response")
    )
    apply_turn(
        live,
        Turn(role=role, action=action, strategy=strategy, dialogue=text, thoughts=thoughts, proposal=proposal),
        max_turns=10,
    )


# --- what each side's prompt may contain -----------------------------------------------------------


def private_values(scenario) -> list[str]:
    record, persona = scenario.record, scenario.persona
    values = [record.overdue_reason, persona.scenario, ", ".join(persona.traits), persona.linguistic_style]
    for number in (record.daily_income, record.current_assets, record.monthly_expenses):
        values += [str(number), f"{number:,.2f}"]
    values += list(persona.cognition_text.values())
    return values


def test_collector_prompt_never_shows_private_fields(scenarios):
    for scenario in scenarios:
        live = live_dialogue(scenario)
        play(live, "collector", "Hello, I am calling about your loan.", thoughts="start polite")
        play(
            live,
            "debtor",
            "Who is this?",
            thoughts=f"SECRET-THOUGHT I only have {scenario.record.current_assets} saved",
        )
        play(live, "collector", "We can settle this.", action="ask", proposal=POLICY_TERMS)
        play(live, "debtor", "Maybe.", thoughts="SECRET-THOUGHT again", action="ask", proposal=POLICY_TERMS)
        view = live.views["collector"]
        maden = MADeNCollector(ScriptedBackend(lambda c, s: ""))
        prompts = [
            collector_messages(view),
            maden._plan_messages(view),
            maden._turn_messages(view, "plan", "draft", "fb"),
        ]
        prompts.append(maden._judge_messages(view, live.trajectory.turns[2]))
        text = json.dumps(prompts, ensure_ascii=False)
        assert scenario.record.id in text and "SECRET-THOUGHT" not in text
        for value in private_values(scenario):
            assert value not in text, value


def test_collector_messages_alternate_as_a_chat(scenarios):
    live = live_dialogue(scenarios[0])
    play(live, "collector", "Hello.", thoughts="open")
    play(live, "debtor", "I can pay 25% in a week.", action="ask", proposal=POLICY_TERMS)
    messages = collector_messages(live.views["collector"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == CALL_OPENING
    assert json.loads(messages[2]["content"])["thoughts"] == "open"  # own turns in full
    assert "[Proposal: disc_ratio=0, pmt_ratio=25, pmt_days=7, inst_prds=6]" in messages[3]["content"]
    for phrase in (
        "repayment negotiation",
        "legal deterrent",
        "5, 10, 15, 20, 25, 30, 35, 40, 45, 50",
        "3, 6, 9, 12, 18, 24",
    ):
        assert phrase in messages[0]["content"]


def test_debtor_prompt_carries_the_persona_and_suppresses_literacy_when_low(scenarios):
    scenario = scenarios[0]
    live = live_dialogue(scenario)
    play(live, "collector", "Hello.", thoughts="COLLECTOR-THOUGHT")
    view = live.views["debtor"]
    low = replace(scenario.persona, cognition={**scenario.persona.cognition, "financial_literacy": 2})
    high = replace(scenario.persona, cognition={**scenario.persona.cognition, "financial_literacy": 4})
    low_prompt = debtor_messages(replace(view, persona=low))
    high_prompt = debtor_messages(replace(view, persona=high))
    assert "NOT financially literate" in low_prompt[0]["content"]
    assert "NOT financially literate" not in high_prompt[0]["content"]
    system = high_prompt[0]["content"]
    assert scenario.record.overdue_reason in system and scenario.persona.archetype in system
    assert [m["role"] for m in high_prompt] == ["system", "user"] and "COLLECTOR-THOUGHT" not in json.dumps(
        high_prompt
    )


# --- whole dialogues on the tiny model ---------------------------------------------------------------


def count_batches(backend, monkeypatch) -> list[int]:
    sizes = []
    generate = backend.generate

    def spy(conversations, sampling, seeds=None):
        sizes.append(len(conversations))
        return generate(conversations, sampling, seeds)

    monkeypatch.setattr(backend, "generate", spy)
    return sizes


def test_llm_collector_and_debtor_finish_every_dialogue(hf_backend, scenarios, monkeypatch):
    sizes = count_batches(hf_backend, monkeypatch)
    collector, debtor = LLMCollector(hf_backend, sampling=SHORT), LLMDebtor(hf_backend, sampling=SHORT)
    trajectories = run_dialogues([DialogueJob(s) for s in scenarios], collector, debtor, max_turns=6, seed=1)
    assert all(t.finished and t.error is None and 1 <= len(t.turns) <= 6 for t in trajectories)
    turns = [turn for t in trajectories for turn in t.turns]
    assert sum(turn.format_error is not None for turn in turns) > 0  # untrained weights: counted, not fatal
    assert all(turn.raw is not None and turn.info["tokens"]["completion"] <= SHORT.max_tokens for turn in turns)
    assert sizes[0] == len(scenarios)  # one generation for all collectors at once


def test_maden_collector_finishes_every_dialogue(hf_backend, scenarios):
    collector = MADeNCollector(
        hf_backend,
        sampling=SHORT,
        llm_judge=True,
        max_retries=1,
        plan_sampling=Sampling(max_tokens=12),
        judge_sampling=Sampling(max_tokens=12),
    )
    trajectories = run_dialogues(
        [DialogueJob(s) for s in scenarios], collector, LLMDebtor(hf_backend, sampling=SHORT), max_turns=6
    )
    assert all(t.finished and t.error is None for t in trajectories)
    for turn in (turn for t in trajectories for turn in t.collector_turns()):
        assert "plan" in turn.info and 0 <= turn.info["retries"] <= 1


# --- MADeN's judging module, with a scripted backend --------------------------------------------------


def maden_backend(drafts: list[str], verdicts: list[str] | None = None):
    """Plans, then the given drafts in order, and the LLM judge's verdicts in order."""
    drafts, verdicts = list(drafts), list(verdicts or [])

    def respond(conversation, seed):
        last = conversation[-1]["content"]
        if "[Planning module]" in last:
            return (
                '{"target_terms": {"disc_ratio": 0, "pmt_ratio": 25, "pmt_days": 7, "inst_prds": 6}, '
                '"strategy": "repayment negotiation", "plan": "hold"}'
            )
        if "judging module" in last:
            return verdicts.pop(0)
        return drafts.pop(0)

    return ScriptedBackend(respond)


def test_maden_sends_back_a_discount_without_hardship(scenarios):
    backend = maden_backend([collector_ask(GREEDY_DISCOUNT), collector_ask(POLICY_TERMS)])
    collector = MADeNCollector(backend, max_retries=2)
    live = live_dialogue(scenarios[0], collector=collector)
    [turn] = collector.act([live.views["collector"]])
    assert turn.proposal == POLICY_TERMS and turn.info["retries"] == 1
    assert "disc_ratio at 0" in turn.info["feedback"][0][0]
    assert json.loads(turn.info["plan"])["plan"] == "hold"
    retry_prompt = backend.calls[-1][0][0]["content"]
    assert "sent back by the judging module" in retry_prompt and "disc_ratio at 0" in retry_prompt


def test_maden_allows_a_discount_once_hardship_is_disclosed(scenarios):
    collector = MADeNCollector(maden_backend([collector_ask(GREEDY_DISCOUNT)]))
    live = live_dialogue(scenarios[0], collector=collector)
    play(live, "collector", "Hello.")
    play(live, "debtor", "I was laid off in March.")
    [turn] = collector.act([live.views["collector"]])
    assert turn.proposal == GREEDY_DISCOUNT and turn.info["retries"] == 0


def test_maden_out_of_retries_never_sends_an_out_of_envelope_draft(scenarios):
    worse = Agreement(disc_ratio=0.3, pmt_ratio=0.1, pmt_days=14, inst_prds=24)
    collector = MADeNCollector(
        maden_backend([collector_ask(worse), collector_ask(GREEDY_DISCOUNT), "not json"]), max_retries=2
    )
    [turn] = collector.act([live_dialogue(scenarios[0], collector=collector).views["collector"]])
    assert (
        turn.proposal == POLICY_TERMS and turn.info["fallback"] == "safe terms"
    )  # the safe turn, not the least bad draft
    assert turn.info["retries"] == 2 and turn.info["judge_unresolved"] and "20" in turn.info["rejected_draft"]


def test_maden_out_of_retries_keeps_its_own_standing_offer_when_it_is_within_policy(scenarios):
    collector = MADeNCollector(maden_backend([collector_ask(GREEDY_DISCOUNT)] * 2), max_retries=1)
    live = live_dialogue(scenarios[0], collector=collector)
    own = Agreement(disc_ratio=0.0, pmt_ratio=0.3, pmt_days=7, inst_prds=3)
    play(live, "collector", "Here is my offer.", action="ask", proposal=own)
    play(live, "debtor", "Too much.")
    [turn] = collector.act([live.views["collector"]])
    assert turn.action == "ask" and turn.proposal == own


def test_maden_out_of_retries_does_not_accept_an_out_of_envelope_offer(scenarios):
    accept = write_turn(Turn(role="collector", action="accept", strategy="repayment negotiation", dialogue="Deal."))
    collector = MADeNCollector(maden_backend([accept] * 3), max_retries=2)
    live = live_dialogue(scenarios[0], collector=collector)
    play(live, "collector", "Hello.")
    play(live, "debtor", "Thirty percent off or nothing.", action="ask", proposal=Agreement(0.3, 0.25, 7, 6))
    [turn] = collector.act([live.views["collector"]])
    assert turn.action == "ask" and turn.proposal == POLICY_TERMS


def test_maden_llm_judge_feedback_is_retried(scenarios):
    backend = maden_backend(
        [collector_ask(POLICY_TERMS), collector_ask(POLICY_TERMS)],
        ['{"verdict": "revise", "feedback": "ask about income first"}', '{"verdict": "approve", "feedback": ""}'],
    )
    collector = MADeNCollector(backend, llm_judge=True)
    [turn] = collector.act([live_dialogue(scenarios[0], collector=collector).views["collector"]])
    assert turn.info["retries"] == 1 and turn.info["feedback"] == [["ask about income first"]]
    assert turn.info["judge_verdicts"] == ["approve"]


# --- the judge -------------------------------------------------------------------------------------


def test_judge_scores_are_read_tolerantly(scenarios):
    answers = iter(
        [
            '{"respect_empathy": 8, "transparency": 7, "feasibility": 6}',
            "Scores - respect_empathy: 9, transparency: 4, feasibility: 5.",
            "I cannot judge this.",
            '{"respect_empathy": 11, "transparency": 7, "feasibility": 6}',
        ]
    )
    judge = LLMJudge(ScriptedBackend(lambda c, s: next(answers)))
    trajectories = [Trajectory(scenario=s, collector="c", debtor="d", seed=0) for s in scenarios[:4]]
    scores = judge.score(trajectories)
    assert scores[0] == {"respect_empathy": 8, "transparency": 7, "feasibility": 6}
    assert scores[1] == {"respect_empathy": 9, "transparency": 4, "feasibility": 5}
    assert scores[2] is None and scores[3] is None and len(judge.unparsed) == 2


def test_judge_ranking_sums_forward_and_reverse_to_cancel_position_bias(scenarios):
    quality = {"Offer A": 3.0, "Offer B": 6.0, "Offer C": 4.0}

    def biased_judge(conversation, seed):
        shown = re.findall(r"^\d+\. (Offer \w)", conversation[-1]["content"], re.M)
        # Favours early positions by 2 points per place: forward order alone would crown A over C.
        return json.dumps({"scores": [quality[c] + 2 * (len(shown) - 1 - k) for k, c in enumerate(shown)]})

    backend = ScriptedBackend(biased_judge)
    candidates = [Turn(role="collector", action="non", strategy="establish trust", dialogue=d) for d in quality]
    [summed] = LLMJudge(backend).rank([RankRequest(scenarios[0], [], candidates)])
    assert summed == [2 * q + 4 for q in quality.values()]
    assert len(backend.calls) == 1 and len(backend.calls[0]) == 2  # both orders in one batch


def test_unreadable_ranking_gives_none_per_candidate(scenarios):
    judge = LLMJudge(ScriptedBackend(lambda c, s: '{"scores": [5]}'))
    candidates = [Turn(role="collector", action="non", strategy="establish trust", dialogue=d) for d in ("a", "b")]
    assert judge.rank([RankRequest(scenarios[0], [], candidates)]) == [[None, None]]
    assert read_ranking("[7, 8]", 2) == [7.0, 8.0] and read_scores("{}") is None


def test_the_llm_and_the_heuristic_judge_share_one_interface():
    from debtgpt.agents.base import Judge
    from debtgpt.heuristic_judge import HeuristicJudge

    scenario = make_scenario()
    candidates = [
        Turn("collector", "non", "establish trust", "I understand, let us find a way together."),
        Turn("collector", "non", "legal deterrent", "Pay or we go to court!"),
    ]

    def kind_first(chat, seed):  # an LLM that likes the kind turn wherever it is shown
        shown = chat[-1]["content"]
        return '{"scores": [8, 2]}' if shown.index("understand") < shown.index("court") else '{"scores": [2, 8]}'

    for judge in (HeuristicJudge(), LLMJudge(ScriptedBackend(kind_first))):
        assert isinstance(judge, Judge) and judge.unparsed == []
        [summed] = judge.rank([RankRequest(scenario, [], candidates)])
        assert summed[0] > summed[1]  # both prefer the kind turn to the threat
