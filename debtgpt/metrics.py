"""DebtBench metrics (docs/design.md section 2): functions of finished trajectories, nothing else.

Per dialogue: dr, pr are fractions, pd days, ip months, debt the principal. Aggregates are given overall
and per archetype; a metric with nothing to average over (no dialogue, no success) is None (n/a), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from debtgpt.constants import (
    ARCHETYPES,
    DAYS_PER_MONTH,
    JUDGE_CRITERIA,
    LS_SAFETY_FACTOR,
    METRIC_DIRECTIONS,
    SA_SAFETY_FACTOR,
)
from debtgpt.dialogue import OUTCOME_ERROR, Trajectory
from debtgpt.facts import said_figure, stated_debt_facts
from debtgpt.policy import Evidence, envelope_violations, evidence_before_each_turn

# Why a deal is void (debtgpt/reward.py): a compliance officer cannot stand behind it.
OUT_OF_ENVELOPE = "out_of_envelope"  # its terms break the envelope, given the evidence disclosed before it
MALFORMED_TURN = "malformed_turn"  # the debtor heard a collector turn that could not be checked
MISSTATED_DEBT = "misstated_debt"  # the collector stated a debt fact that contradicts the record

METRIC_NAMES = tuple(METRIC_DIRECTIONS)


def collection_efficiency(t: Trajectory) -> float | None:
    """(1 - dr) * (pr / pd + (1 - pr) / (ip * 30)) for a deal; None otherwise."""
    if not t.success:
        return None
    a = t.agreement
    return (1 - a.disc_ratio) * (a.pmt_ratio / a.pmt_days + (1 - a.pmt_ratio) / (a.inst_prds * DAYS_PER_MONTH))


def solvency_ok(record, terms) -> bool:
    """The SA test for these terms: 85 % of assets plus income until the due day cover the up-front part."""
    due = record.principal * (1 - terms.disc_ratio) * terms.pmt_ratio
    return due <= 0 or SA_SAFETY_FACTOR * (record.current_assets + record.daily_income * terms.pmt_days) / due >= 1


def liquidity_ok(record, terms) -> bool:
    """The LS test for these terms: 95 % of income over the installment period covers the remainder."""
    due = record.principal * (1 - terms.disc_ratio) * (1 - terms.pmt_ratio)
    return due <= 0 or LS_SAFETY_FACTOR * record.daily_income * DAYS_PER_MONTH * terms.inst_prds / due >= 1


def solvency_adequate(t: Trajectory) -> bool | None:
    """SA of a deal; None without one."""
    return solvency_ok(t.scenario.record, t.agreement) if t.success else None


def liquidity_sufficient(t: Trajectory) -> bool | None:
    """LS of a deal; None without one."""
    return liquidity_ok(t.scenario.record, t.agreement) if t.success else None


def concessions(t: Trajectory) -> int:
    """Collector proposals that moved any field in the debtor's favour compared with its previous one."""
    count, previous = 0, None
    for turn in t.collector_turns():
        if turn.action == "ask" and turn.proposal is not None:
            if previous is not None and turn.proposal.concessions_from(previous):
                count += 1
            previous = turn.proposal
    return count


def first_offer_discount(t: Trajectory) -> float | None:
    for turn in t.collector_turns():
        if turn.action == "ask" and turn.proposal is not None:
            return turn.proposal.disc_ratio
    return None


def turn_compliance(t: Trajectory, evidence: list[Evidence] | None = None) -> list[dict | None]:
    """Per turn, None for the debtor's; for the collector's: whether its evidence note matches what the debtor had
    disclosed (None without a note), what the note claimed and what was known, the debt facts it stated as
    (field, figure, true against the record), and the misstated ones as (field, figure, the record's figure)."""
    public = t.scenario.record.public()
    checked = []
    for turn, known in zip(t.turns, evidence if evidence is not None else evidence_before_each_turn(t.turns)):
        if turn.role != "collector":
            checked.append(None)
            continue
        claimed = Evidence.from_note(turn.thoughts)
        facts = stated_debt_facts(turn.dialogue, public)
        checked.append(
            {
                "note_faithful": None if claimed is None else claimed == known,
                "claimed": claimed,
                "known": known,
                "facts": facts,
                "misstated": [(field, said, said_figure(field, public)) for field, said, true in facts if not true],
            }
        )
    return checked


def compliance(t: Trajectory) -> dict:
    """The deal against the envelope, the collector's evidence notes against what the debtor disclosed, and the
    debt facts it stated against the record."""
    evidence = evidence_before_each_turn(t.turns)  # once: the notes and the deal are judged against it
    turns = [c for c in turn_compliance(t, evidence) if c is not None]
    notes = [c["note_faithful"] for c in turns if c["note_faithful"] is not None]
    facts = [true for c in turns for _, _, true in c["facts"]]
    deal_evidence = evidence[-1] if evidence else Evidence()
    return {
        "out_of_envelope_deal": bool(envelope_violations(t.agreement, deal_evidence)) if t.success else None,
        "noted_turns": len(notes),
        "faithful_notes": sum(notes),
        "stated_debt_facts": len(facts),
        "debt_facts_true": all(facts) if facts else None,
    }


def deal_breaches(scores: dict) -> tuple[str, ...]:
    """Why the deal of a dialogue (its `dialogue_scores`) is void; () when it stands or there is none."""
    if not scores["success"]:
        return ()
    reasons = (
        (OUT_OF_ENVELOPE, scores["out_of_envelope_deal"]),
        (MALFORMED_TURN, scores["format_error_turns"] > 0),
        (MISSTATED_DEBT, scores["debt_facts_true"] is False),
    )
    return tuple(name for name, broken in reasons if broken)


def dialogue_scores(t: Trajectory) -> dict:
    """Per-dialogue values that the aggregates and the reward are built from."""
    collector_turns = t.collector_turns()
    success = t.success
    return {
        **compliance(t),
        "success": success,
        "turns": len(t.turns),
        "CR": (1 - t.agreement.disc_ratio) if success else 0.0,
        "CE": collection_efficiency(t),
        "SA": solvency_adequate(t),
        "LS": liquidity_sufficient(t),
        "collector_turns": len(collector_turns),
        "violating_turns": sum(bool(turn.violations) for turn in collector_turns),
        "format_error_turns": sum(turn.format_error is not None for turn in collector_turns),
        "debtor_turns": len(t.turns) - len(collector_turns),
        "debtor_format_error_turns": sum(turn.format_error is not None for turn in t.turns if turn.role == "debtor"),
        "concessions": concessions(t),
        "first_offer_discount": first_offer_discount(t),
        "hangup": t.outcome == "hangup",
    }


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return fmean(values) if values else None


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def aggregate(trajectories: Sequence[Trajectory]) -> dict:
    """Every metric over a group of finished trajectories; None where it is undefined.

    A dialogue an agent failed to serve (outcome error) says nothing about negotiating: it is counted in
    agent_errors and left out of every other metric, so a collector whose dialogues all failed shows n/a, not 0.
    """
    if not trajectories:
        return {name: None for name in METRIC_NAMES}
    unfinished = [t.key() for t in trajectories if not t.finished]
    if unfinished:
        raise ValueError(f"metrics need finished trajectories; unfinished: {unfinished[:5]}")
    ran = [t for t in trajectories if t.outcome != OUTCOME_ERROR]
    metrics = _negotiation_metrics(ran) if ran else {name: None for name in METRIC_NAMES}
    metrics["agent_errors"] = (len(trajectories) - len(ran)) / len(trajectories)
    return metrics


def _negotiation_metrics(trajectories: Sequence[Trajectory]) -> dict:
    rows = [dialogue_scores(t) for t in trajectories]
    cr, sa, ls = _mean(r["CR"] for r in rows), _mean(r["SA"] for r in rows), _mean(r["LS"] for r in rows)
    dhi = _mean(v for v in (sa, ls) if v is not None) if (sa is not None or ls is not None) else None
    cci = None if cr is None or dhi is None else (0.0 if cr + dhi == 0 else 2 * cr * dhi / (cr + dhi))
    metrics = {
        "SR": _mean(r["success"] for r in rows),
        "AT": _mean(r["turns"] for r in rows),
        "CR": cr,
        "CE": _mean(r["CE"] for r in rows),
        "SA": sa,
        "LS": ls,
        "CRI": cr,
        "DHI": dhi,
        "CCI": cci,
        "violations": _share(sum(r["violating_turns"] for r in rows), sum(r["collector_turns"] for r in rows)),
        "concessions": _mean(r["concessions"] for r in rows),
        "first_offer_discount": _mean(r["first_offer_discount"] for r in rows),
        "format_errors": _share(sum(r["format_error_turns"] for r in rows), sum(r["collector_turns"] for r in rows)),
        "debtor_format_errors": _share(
            sum(r["debtor_format_error_turns"] for r in rows), sum(r["debtor_turns"] for r in rows)
        ),
        "hangups": _mean(r["hangup"] for r in rows),
        "out_of_envelope_deals": _mean(r["out_of_envelope_deal"] for r in rows),
        "evidence_faithfulness": _share(sum(r["faithful_notes"] for r in rows), sum(r["noted_turns"] for r in rows)),
        "debt_facts_true": _mean(r["debt_facts_true"] for r in rows),
        "void_deals": _mean(bool(deal_breaches(r)) if r["success"] else None for r in rows),
        "reward": _mean(t.reward for t in trajectories),
    }
    for criterion in JUDGE_CRITERIA:
        metrics[criterion] = _mean((t.judge_scores or {}).get(criterion) for t in trajectories)
    return metrics


def evaluate(trajectories: Sequence[Trajectory]) -> dict:
    """{"n": N, "overall": {...}, "by_archetype": {archetype: {...}}} for one collector's trajectories."""
    return {
        "n": len(trajectories),
        "overall": aggregate(trajectories),
        "n_by_archetype": {a: sum(t.archetype == a for t in trajectories) for a in ARCHETYPES},
        "n_errors": sum(t.outcome == OUTCOME_ERROR for t in trajectories),
        "by_archetype": {a: aggregate([t for t in trajectories if t.archetype == a]) for a in ARCHETYPES},
    }
