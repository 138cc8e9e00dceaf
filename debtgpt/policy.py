"""The policy envelope: a deterministic validator of the collector's proposals (DESIGN.md section 1).

Prompts only guide a model; this module decides. A rule may depend on what the debtor has disclosed so
far, read from what the collector heard (never from the debtor's private thoughts or finances).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from debtgpt.agreement import Agreement
from debtgpt.constants import POLICY_MAX_PMT_DAYS, POLICY_MIN_PMT_RATIO, POLICY_PREFERRED_INST_PRDS

# Concrete causes of hardship, as a debtor would name them (a bare "I can't pay" is a claim, not evidence).
HARDSHIP_CUES = (
    "laid off", "lost my job", "unemployed", "out of work", "no job",
    "hospital", "medical", "surgery", "illness", "sick", "treatment",
    "shop closed", "business closed", "closed down", "went bankrupt", "business failed",
    "family emergency", "funeral", "emergency back home",
    "cut my hours", "pay dropped", "salary was cut", "income dropped", "pay cut",
)
# Concrete, dated sources of money coming in.
CASH_FLOW_CUES = (
    "get paid on", "paid on the", "payday", "my salary comes", "salary arrives", "wages come",
    "next paycheck", "pension arrives", "customer owes me", "invoice is due", "bonus comes",
)
_HARDSHIP_RE = re.compile("|".join(re.escape(c) for c in HARDSHIP_CUES))
_CASH_FLOW_RE = re.compile("|".join(re.escape(c) for c in CASH_FLOW_CUES))

# Rule names, as reported in violations.
DISCOUNT_WITHOUT_HARDSHIP = "discount_without_hardship"
UPFRONT_BELOW_MINIMUM = "upfront_below_minimum"
PAYMENT_DAYS_WITHOUT_CASH_FLOW = "payment_days_without_cash_flow"
LONG_PLAN_WITHOUT_HARDSHIP = "long_plan_without_hardship"


@dataclass(frozen=True)
class Evidence:
    """What the debtor has disclosed so far."""

    hardship: bool = False
    cash_flow: bool = False


def evidence_in(text: str) -> Evidence:
    lowered = text.lower()
    return Evidence(hardship=bool(_HARDSHIP_RE.search(lowered)), cash_flow=bool(_CASH_FLOW_RE.search(lowered)))


def disclosed_evidence(turns) -> Evidence:
    """Evidence in everything the debtor has said in `turns` so far."""
    hardship = cash_flow = False
    for turn in turns:
        if turn.role == "debtor":
            found = evidence_in(turn.dialogue)
            hardship |= found.hardship
            cash_flow |= found.cash_flow
    return Evidence(hardship, cash_flow)


def envelope_violations(agreement: Agreement, evidence: Evidence) -> tuple[str, ...]:
    """The envelope rules this agreement breaks, given the evidence; () when it is within policy."""
    broken = []
    if agreement.disc_ratio > 0 and not evidence.hardship:
        broken.append(DISCOUNT_WITHOUT_HARDSHIP)
    if agreement.pmt_ratio < POLICY_MIN_PMT_RATIO - 1e-9:
        broken.append(UPFRONT_BELOW_MINIMUM)
    if agreement.pmt_days > POLICY_MAX_PMT_DAYS and not evidence.cash_flow:
        broken.append(PAYMENT_DAYS_WITHOUT_CASH_FLOW)
    if agreement.inst_prds > max(POLICY_PREFERRED_INST_PRDS) and not evidence.hardship:
        broken.append(LONG_PLAN_WITHOUT_HARDSHIP)
    return tuple(broken)
