"""The LLM judge: experience scores of finished dialogues, and bidirectional listwise ranking of candidates.

Scores are 1 to 10 on JUDGE_CRITERIA, given the transcript and the debtor's persona. Ranking shows the
candidates in forward and in reverse order and sums each candidate's two scores (S_k = s_fwd + s_rev),
which cancels the judge's bias for early or late positions. Output is parsed tolerantly: what cannot be
read becomes None and the raw text is kept in `unparsed`.
"""

from __future__ import annotations

import json
import re

from debtgpt.agents.base import Judge, RankRequest
from debtgpt.agents.prompting import heard_text
from debtgpt.backends.base import Backend, Sampling
from debtgpt.constants import JUDGE_CRITERIA
from debtgpt.dialogue import Scenario, Trajectory, Turn
from debtgpt.prompts import render
from debtgpt.protocol import extract_json_object

SCORE_RANGE = (1, 10)
_NUMBER_RE = r"(-?\d+(?:\.\d+)?)"


def debtor_profile(scenario: Scenario) -> str:
    persona, record = scenario.persona, scenario.record
    cognition = ", ".join(f"{k} {v}/5" for k, v in persona.cognition.items())
    return (
        f"{persona.scenario}\nArchetype: {persona.archetype}. Cognition: {cognition}.\n"
        f"Debt: {record.principal:,.2f}, {record.days_overdue} days overdue. Daily income {record.daily_income:,.2f}, "
        f"savings {record.current_assets:,.2f}, monthly expenses {record.monthly_expenses:,.2f}."
    )


def transcript(turns: list[Turn]) -> str:
    """What was said and proposed, side by side; private thoughts stay out."""
    lines = [f"{t.role.capitalize()}: {heard_text(t)}" for t in turns]
    return "\n".join(lines) or "(no turns yet)"


def _in_range(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if SCORE_RANGE[0] <= number <= SCORE_RANGE[1] else None


def read_scores(text: str) -> dict | None:
    """{criterion: score} when every criterion has a score in range, else None."""
    row = extract_json_object(text or "") or {}
    scores = {}
    for criterion in JUDGE_CRITERIA:
        value = _in_range(row.get(criterion))
        if value is None:  # fall back to "criterion: 7" written as prose
            match = re.search(rf"{criterion}\W+{_NUMBER_RE}", text or "", re.I)
            value = _in_range(match.group(1)) if match else None
        if value is None:
            return None
        scores[criterion] = value
    return scores


def read_ranking(text: str, n: int) -> list[float] | None:
    """n scores in the order shown, or None unless exactly n scores in range can be read."""
    row = extract_json_object(text or "")
    values = row.get("scores") if isinstance(row, dict) else None
    if not isinstance(values, list):
        match = re.search(r"\[([^\]]*)\]", text or "")
        values = re.findall(_NUMBER_RE, match.group(1)) if match else None
    if not isinstance(values, list) or len(values) != n:
        return None
    scores = [_in_range(v) for v in values]
    return None if any(s is None for s in scores) else scores  # type: ignore[return-value]


class LLMJudge(Judge):
    """Scores dialogues and ranks candidate turns with one batched generation per call."""

    name = "llm"

    def __init__(self, backend: Backend, *, sampling: Sampling | None = None) -> None:
        super().__init__()
        self.backend = backend
        self.sampling = sampling or Sampling(temperature=0.0, max_tokens=128)

    def score_messages(self, trajectory: Trajectory) -> list[dict]:
        reply = json.dumps({c: "<1-10>" for c in JUDGE_CRITERIA})
        return [
            {"role": "system", "content": render("judge_score.j2", reply_format=reply)},
            {
                "role": "user",
                "content": f"## Debtor\n{debtor_profile(trajectory.scenario)}\n\n"
                f"## Transcript\n{transcript(trajectory.turns)}",
            },
        ]

    def score(self, trajectories: list[Trajectory]) -> list[dict | None]:
        """Experience scores per finished trajectory ({criterion: 1..10}); None where unreadable or failed."""
        if not trajectories:
            return []
        generations = self.backend.generate([self.score_messages(t) for t in trajectories], self.sampling)
        results = []
        for g in generations:
            scores = None if g.error is not None else read_scores(g.text)
            if scores is None:
                self.unparsed.append(g.error or g.text)
            results.append(scores)
        return results

    def rank_messages(self, request: RankRequest, order: list[int]) -> list[dict]:
        shown = "\n".join(f"{k + 1}. {heard_text(request.candidates[c])}" for k, c in enumerate(order))
        return [
            {"role": "system", "content": render("judge_rank.j2", n=len(order))},
            {
                "role": "user",
                "content": f"## Debtor\n{debtor_profile(request.scenario)}\n\n"
                f"## The call so far\n{transcript(request.history)}\n\n"
                f"## Candidates\n{shown}",
            },
        ]

    def rank(self, requests: list[RankRequest]) -> list[list[float | None]]:
        """Per request, per candidate (in the request's order): S_k = s_fwd + s_rev, or None if either pass was
        unreadable."""
        if not requests:
            return []
        conversations = []
        for request in requests:
            forward = list(range(len(request.candidates)))
            conversations += [self.rank_messages(request, forward), self.rank_messages(request, forward[::-1])]
        generations = self.backend.generate(conversations, self.sampling)
        results = []
        for k, request in enumerate(requests):
            n = len(request.candidates)
            passes = []
            for g in generations[2 * k : 2 * k + 2]:
                scores = None if g.error is not None else read_ranking(g.text, n)
                if scores is None:
                    self.unparsed.append(g.error or g.text)
                passes.append(scores)
            forward, reverse = passes
            if forward is None or reverse is None:
                results.append([None] * n)
            else:
                # The reverse pass lists candidate c at position n - 1 - c.
                results.append([forward[c] + reverse[n - 1 - c] for c in range(n)])
        return results
