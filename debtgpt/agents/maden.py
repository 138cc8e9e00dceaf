"""The MADeN collector: plan, then speak, then judge, with a bounded number of retries.

A planning module writes a short plan for the turn (target terms, concession room, strategy); the
communication agent writes the turn from the plan; a judging module checks the proposed action against
the policy envelope and the debtor's disclosed situation (always, in code) and, optionally, with an LLM,
and sends the draft back with feedback. Every step is one batched generation across the views still in
play. Plans, feedback and retries are kept in `turn.info`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from debtgpt.agents.base import Agent, DialogueError, View
from debtgpt.agents.guard import breaks_envelope, safe_turn
from debtgpt.agents.prompting import collector_messages, heard_text, request_seeds
from debtgpt.backends.base import Backend, Sampling
from debtgpt.constants import (
    POLICY_DEFAULT_TERMS,
    POLICY_MAX_PMT_DAYS,
    POLICY_MIN_PMT_RATIO,
    POLICY_PREFERRED_INST_PRDS,
)
from debtgpt.dialogue import Turn
from debtgpt.policy import (
    DISCOUNT_WITHOUT_HARDSHIP,
    LONG_PLAN_WITHOUT_HARDSHIP,
    PAYMENT_DAYS_WITHOUT_CASH_FLOW,
    UPFRONT_BELOW_MINIMUM,
    envelope_violations,
)
from debtgpt.prompts import render
from debtgpt.protocol import extract_json_object, parse_turn, turn_json_schema, write_turn

RULE_FEEDBACK = {
    DISCOUNT_WITHOUT_HARDSHIP: f"a discount needs a hardship the debtor has disclosed, and none has been: "
    f"keep disc_ratio at {round(POLICY_DEFAULT_TERMS['disc_ratio'] * 100)}",
    UPFRONT_BELOW_MINIMUM: "the up-front share is below the policy minimum: "
    f"raise pmt_ratio to at least {round(POLICY_MIN_PMT_RATIO * 100)}",
    PAYMENT_DAYS_WITHOUT_CASH_FLOW: f"more than {POLICY_MAX_PMT_DAYS} days to pay needs "
    "a dated source of money the debtor has named: "
    f"set pmt_days to {POLICY_MAX_PMT_DAYS} or fewer",
    LONG_PLAN_WITHOUT_HARDSHIP: f"a plan longer than {max(POLICY_PREFERRED_INST_PRDS)} months "
    "needs disclosed hardship: "
    f"set inst_prds to {' or '.join(map(str, POLICY_PREFERRED_INST_PRDS))}",
}
MAX_PLAN_CHARS = 800  # a plan is a note for one turn, not an essay


@dataclass
class Draft:
    """One turn the communication agent wrote, and what the judging module found wrong with it (empty: send it)."""

    turn: Turn
    problems: list[str]


def envelope_feedback(view: View, turn: Turn) -> list[str]:
    """What is wrong with a draft turn, by the deterministic checks (empty when it may be sent)."""
    if turn.format_error is not None:
        return [f"the turn could not be used ({turn.format_error}); reply with one JSON object in the required format"]
    problems = []
    if turn.action == "ask" and turn.proposal is not None:
        problems += [RULE_FEEDBACK[r] for r in envelope_violations(turn.proposal, view.evidence)]
        previous = view.own_last_proposal()
        if previous is not None and turn.proposal.concessions_from(previous) > 1:
            problems.append("the draft concedes on several fields at once: move one field at a time")
    elif turn.action == "accept":
        standing = view.standing_proposal("debtor")
        if standing is None:
            problems.append("there is no debtor proposal to accept: make a proposal or keep talking")
        else:
            problems += [
                f"accepting the debtor's offer breaks policy: {RULE_FEEDBACK[r]}"
                for r in envelope_violations(standing, view.evidence)
            ]
    return problems


def with_note(messages: list[dict], note: str) -> list[dict]:
    """Append an instruction to the last user message (strictly alternating chat templates reject two in a row)."""
    messages = [dict(m) for m in messages]
    if messages and messages[-1]["role"] == "user":
        messages[-1]["content"] = f"{messages[-1]['content']}\n\n{note}"
    else:
        messages.append({"role": "user", "content": note})
    return messages


def read_plan(text: str) -> str:
    row = extract_json_object(text)
    return json.dumps(row, ensure_ascii=False) if row is not None else text.strip()[:MAX_PLAN_CHARS]


def read_verdict(text: str) -> tuple[str | None, str]:
    """("approve" | "revise" | None when unreadable, feedback)."""
    row = extract_json_object(text) or {}
    verdict = str(row.get("verdict", "")).strip().lower()
    feedback = row.get("feedback") if isinstance(row.get("feedback"), str) else ""
    return (verdict if verdict in ("approve", "revise") else None), feedback


class MADeNCollector(Agent):
    """Planning module -> communication agent -> judging module; each module may use its own backend."""

    role = "collector"

    def __init__(
        self,
        backend: Backend,
        *,
        name: str = "maden",
        planner_backend: Backend | None = None,
        judge_backend: Backend | None = None,
        llm_judge: bool = False,
        max_retries: int = 2,
        sampling: Sampling | None = None,
        plan_sampling: Sampling | None = None,
        judge_sampling: Sampling | None = None,
        guided_json: bool = True,
    ) -> None:
        """`llm_judge` adds an LLM check after the deterministic one; `max_retries` bounds the drafts sent back."""
        if max_retries < 0:
            raise ValueError(f"max_retries={max_retries} must be 0 or more")
        self.backend = backend
        self.planner_backend = planner_backend or backend
        self.judge_backend = judge_backend or backend
        self.name = name
        self.llm_judge = llm_judge
        self.max_retries = max_retries
        self.sampling = replace(
            sampling or Sampling(), json_schema=turn_json_schema("collector") if guided_json else None
        )
        self.plan_sampling = plan_sampling or Sampling(temperature=0.3, max_tokens=160)
        self.judge_sampling = judge_sampling or Sampling(temperature=0.0, max_tokens=96)

    def _plan_messages(self, view: View) -> list[dict]:
        own, theirs = view.own_last_proposal(), view.standing_proposal("debtor")
        note = render(
            "maden_plan.j2",
            evidence=view.evidence,
            own_offer=own.describe() if own else "",
            their_offer=theirs.describe() if theirs else "",
            turns_left=view.turns_left,
        )
        return with_note(collector_messages(view), note)

    def _turn_messages(self, view: View, plan: str, draft: str | None, feedback: str | None) -> list[dict]:
        messages = collector_messages(view)
        note = render("maden_turn.j2", plan=plan, draft=draft or "", feedback=feedback or "")
        messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{note}"}
        return messages

    def _judge_messages(self, view: View, draft: Turn) -> list[dict]:
        said = "\n".join(f"- {heard_text(t)}" for t in view.counterpart_turns()) or "- (nothing yet)"
        return [
            {
                "role": "user",
                "content": render("maden_judge.j2", evidence=view.evidence, debtor_said=said, draft=write_turn(draft)),
            }
        ]

    def act(self, views: list[View]) -> list[Turn | DialogueError]:
        if not views:
            return []
        results: list[Turn | DialogueError | None] = [None] * len(views)
        plans: dict[int, str] = {}
        generations = self.planner_backend.generate(
            [self._plan_messages(v) for v in views], self.plan_sampling, request_seeds(views)
        )
        for i, g in enumerate(generations):
            if g.error is not None:
                results[i] = DialogueError(f"{self.name} planning module: {g.error}")
            else:
                plans[i] = read_plan(g.text)

        drafts: dict[int, list[Draft]] = {i: [] for i in plans}
        pending = sorted(plans)
        for attempt in range(self.max_retries + 1):
            if not pending:
                break
            conversations = []
            for i in pending:
                last = drafts[i][-1] if drafts[i] else None
                draft_text = (last.turn.raw or write_turn(last.turn)) if last else None
                conversations.append(
                    self._turn_messages(views[i], plans[i], draft_text, "; ".join(last.problems) if last else None)
                )
            generations = self.backend.generate(
                conversations, self.sampling, request_seeds([views[i] for i in pending])
            )
            checked = []
            for i, g in zip(pending, generations):
                if g.error is not None:
                    results[i] = DialogueError(f"{self.name} communication agent: {g.error}")
                    continue
                turn = parse_turn(g.text, self.role)
                turn.info["tokens"] = {"prompt": g.prompt_tokens, "completion": g.completion_tokens}
                drafts[i].append(Draft(turn, envelope_feedback(views[i], turn)))
                checked.append(i)
            if self.llm_judge:
                self._llm_judge([i for i in checked if not drafts[i][-1].problems], views, drafts)
            pending = [i for i in checked if drafts[i][-1].problems]

        for i, history in drafts.items():
            if results[i] is not None or not history:
                continue
            # Out of retries: the usable draft with the fewest problems (the latest among equals), unless it
            # breaks the envelope: then a safe turn of the judging module goes out instead.
            best = min(
                range(len(history)),
                key=lambda k: (history[k].turn.format_error is not None, len(history[k].problems), -k),
            )
            sent = history[best]
            turn = sent.turn if not breaks_envelope(views[i], sent.turn) else safe_turn(views[i], sent.turn)
            turn.info.update(
                plan=plans[i],
                retries=len(history) - 1,
                feedback=[draft.problems for draft in history[:-1]],
                judge_unresolved=sent.problems,
            )
            results[i] = turn
        return results  # type: ignore[return-value]

    def _llm_judge(self, indices: list[int], views: list[View], drafts: dict[int, list[Draft]]) -> None:
        """The optional LLM check; its feedback joins the draft's problems. An unreadable verdict approves."""
        if not indices:
            return
        conversations = [self._judge_messages(views[i], drafts[i][-1].turn) for i in indices]
        generations = self.judge_backend.generate(
            conversations, self.judge_sampling, request_seeds([views[i] for i in indices])
        )
        for i, g in zip(indices, generations):
            draft = drafts[i][-1]
            verdict, feedback = (None, "") if g.error is not None else read_verdict(g.text)
            draft.turn.info.setdefault("judge_verdicts", []).append(verdict or "unreadable")
            if verdict == "revise":
                draft.problems.append(feedback or "the judging module asked for a more rational proposal")
