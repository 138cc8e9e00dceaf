"""An offline stand-in for the LLM judge: the same interface (agents/base.py, Judge), scored from rules.

It scores a collector turn 1 to 10 on each judging criterion from things a reader can check:
- respect_empathy: kind or trust-building words raise it, threats lower it, ignoring an angry debtor lowers it;
- transparency: stating the facts (amounts, days), naming concrete terms and asking open questions raise it;
  an unparseable turn gets the minimum;
- feasibility: the proposal (or the accepted one) inside the policy envelope given what was disclosed,
  affordable for this debtor (the SA and LS tests on its record, as the LLM judge sees its finances), and
  conceded in small steps; every broken rule and every extra field conceded at once costs points.
It is position-free, so the forward and reverse passes of `rank` agree; both still run, so that the
numbers have the LLM judge's scale (S_k = s_fwd + s_rev). It exists so the turn-level pipeline runs offline;
it is not a measure of quality.
"""

from __future__ import annotations

from statistics import fmean

from debtgpt import tone
from debtgpt.agents.base import Judge, RankRequest
from debtgpt.constants import JUDGE_CRITERIA
from debtgpt.dialogue import Scenario, Trajectory, Turn
from debtgpt.metrics import liquidity_ok, solvency_ok
from debtgpt.policy import disclosed_evidence, envelope_violations

SCORE_MIN, SCORE_MAX = 1.0, 10.0


def _clip(value: float) -> float:
    return max(SCORE_MIN, min(SCORE_MAX, value))


def turn_scores(scenario: Scenario, history: list[Turn], turn: Turn) -> dict:
    """{criterion: 1..10} for one collector turn said after `history`."""
    words = turn.dialogue.lower()
    heard = next((t.dialogue.lower() for t in reversed(history) if t.role == "debtor"), "")
    empathic = bool(tone.JUDGE_SEES_EMPATHY.search(words))

    respect = (
        6.0
        + 2.0 * empathic
        + 1.0 * bool(tone.JUDGE_SEES_TRUST.search(words))
        - 2.5 * bool(tone.JUDGE_SEES_THREAT.search(words))
    )
    if tone.ANGER.search(heard) and not empathic:
        respect -= 1.0  # an angry debtor deserves to be heard first

    transparency = 5.0 + 1.5 * bool(tone.FACTS.search(words)) + 1.0 * ("?" in words)
    mine = [t for t in history if t.role == "collector" and t.action == "ask" and t.proposal is not None]
    terms = turn.proposal if turn.action == "ask" else None
    if turn.action == "accept":
        terms = next((t.proposal for t in reversed(history) if t.role == "debtor" and t.action == "ask"), None)
    feasibility = 5.0
    if terms is not None:
        transparency += 2.0  # concrete terms on the table
        broken = envelope_violations(terms, disclosed_evidence(history))
        feasibility += 2.0 if not broken else -3.0 * len(broken)
        sa, ls = solvency_ok(scenario.record, terms), liquidity_ok(scenario.record, terms)
        feasibility += 1.5 * (sa + ls) - 1.5
        if mine:
            feasibility -= max(terms.concessions_from(mine[-1].proposal) - 1, 0)  # big jumps invite more haggling
    if turn.format_error is not None:
        return {criterion: SCORE_MIN for criterion in JUDGE_CRITERIA}
    return {"respect_empathy": _clip(respect), "transparency": _clip(transparency), "feasibility": _clip(feasibility)}


class HeuristicJudge(Judge):
    """Rule-based judge: `score` finished dialogues, `rank` candidate turns."""

    name = "heuristic"

    def score(self, trajectories: list[Trajectory]) -> list[dict | None]:
        """Per trajectory, each criterion's mean over the collector's turns; None when it never spoke."""
        results = []
        for t in trajectories:
            per_turn = [
                turn_scores(t.scenario, t.turns[:i], turn)
                for i, turn in enumerate(t.turns)
                if turn.role == "collector"
            ]
            results.append({c: round(fmean(s[c] for s in per_turn), 4) for c in JUDGE_CRITERIA} if per_turn else None)
        return results

    def _listwise(self, request: RankRequest, order: list[int]) -> list[float]:
        """One pass over the candidates in `order`: the sum of the criteria per shown candidate."""
        return [sum(turn_scores(request.scenario, request.history, request.candidates[c]).values()) for c in order]

    def rank(self, requests: list[RankRequest]) -> list[list[float | None]]:
        """Per request, per candidate (in the request's order): S_k = s_fwd + s_rev."""
        results = []
        for request in requests:
            n = len(request.candidates)
            forward = self._listwise(request, list(range(n)))
            reverse = self._listwise(request, list(range(n))[::-1])
            results.append([forward[c] + reverse[n - 1 - c] for c in range(n)])
        return results
