"""Every constant of the negotiation world, in one place (docs/design.md sections 1 to 3).

Names follow the papers: compare this file with the design reference line by line.
"""

from __future__ import annotations

# --- Agreement grid (docs/design.md section 1). Ratios are fractions: 25 % is 0.25. -----------------
AGREEMENT_GRID: dict[str, tuple] = {
    "disc_ratio": (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30),
    "pmt_ratio": tuple(round(0.05 * k, 2) for k in range(1, 11)),  # 5 % to 50 %
    "pmt_days": tuple(range(1, 15)),  # 1 to 14 days
    "inst_prds": (3, 6, 9, 12, 18, 24),  # months
}
AGREEMENT_FIELDS: tuple[str, ...] = tuple(AGREEMENT_GRID)

# --- Policy envelope: the collector's rules (docs/design.md section 1) ------------------------------
POLICY_DEFAULT_TERMS = {"disc_ratio": 0.0, "pmt_ratio": 0.25, "pmt_days": 7, "inst_prds": 6}
POLICY_MIN_PMT_RATIO = 0.25  # at least 25 % up front
POLICY_MAX_PMT_DAYS = 7  # more days only on credible cash-flow evidence
POLICY_EVIDENCED_MAX_PMT_DAYS = 14
POLICY_PREFERRED_INST_PRDS = (3, 6)  # longer plans only on evidenced hardship (ours)

# --- Turn protocol ------------------------------------------------------------------------------
COLLECTOR_ACTIONS = ("ask", "accept", "non")
DEBTOR_ACTIONS = ("ask", "accept", "non", "hangup")  # hangup is ours
COLLECTOR_STRATEGIES = (
    "identity verification",
    "establish trust",
    "financial assessment",
    "emotional appeasement",
    "statement of facts",
    "constructive challenge",
    "ethical appeal",
    "legal deterrent",
    "repayment negotiation",
)
DEBTOR_STRATEGIES = (
    "honest disclosure",
    "vague response",
    "false compliance",
    "shift responsibility",
    "dilemma rendering",
    "emotional confrontation",
    "complaint",
    "repayment negotiation",
)
DEFAULT_MAX_TURNS = 20  # turns of both sides together (ours)

# --- Personas (DebtBench) -----------------------------------------------------------------------
ARCHETYPES = ("Confrontational", "Avoidant", "Helpless", "Cooperative")
ARCHETYPE_SHARES = {"Confrontational": 0.38, "Avoidant": 0.31, "Helpless": 0.25, "Cooperative": 0.06}
EMOTIONS = ("happiness", "sadness", "disgust", "fear", "surprise", "anger")  # each 0 to 10
RESILIENCE_LEVELS = ("very low", "low", "moderate", "high", "very high")
COGNITION_DIMENSIONS = ("legal_awareness", "financial_literacy", "responsibility", "credit_awareness")  # 1 to 5

# --- Debt records (MADeN) -----------------------------------------------------------------------
DEFAULT_NUM_RECORDS = 975
DEFAULT_TEST_FRACTION = 0.2  # 195 test personas of 975
OVERDUE_REASON_CATEGORIES = (
    "job loss",
    "medical expenses",
    "business failure",
    "family emergency",
    "income reduction",
    "overspending",
    "forgot to pay",
)

# --- Metrics (docs/design.md section 2) --------------------------------------------------------------
SA_SAFETY_FACTOR = 0.85  # share of liquid means a debtor can safely pay up front
LS_SAFETY_FACTOR = 0.95  # share of income a debtor can commit to installments
DAYS_PER_MONTH = 30
# CE of the policy-default deal (0 % off, 25 % within 7 days, the rest over 6 months): ~0.0399
POLICY_DEFAULT_CE = POLICY_DEFAULT_TERMS["pmt_ratio"] / POLICY_DEFAULT_TERMS["pmt_days"] + (
    1 - POLICY_DEFAULT_TERMS["pmt_ratio"]
) / (POLICY_DEFAULT_TERMS["inst_prds"] * DAYS_PER_MONTH)
JUDGE_CRITERIA = ("respect_empathy", "transparency", "feasibility")  # 1 to 10 each
# Metric names as reports print them, and whether higher is better.
METRIC_DIRECTIONS = {
    "SR": "higher",
    "AT": "lower",
    "CR": "higher",
    "CE": "higher",
    "SA": "higher",
    "LS": "higher",
    "CRI": "higher",
    "DHI": "higher",
    "CCI": "higher",
    "violations": "lower",
    "concessions": "lower",
    "first_offer_discount": "lower",
    "format_errors": "lower",  # share of the collector's turns
    "debtor_format_errors": "lower",  # share of the debtor's turns (LLM debtors)
    "hangups": "lower",
    "agent_errors": "lower",  # share of dialogues an agent failed to serve; left out of every other metric
    # compliance, as an officer reads it (debtgpt/metrics.py, `compliance`)
    "out_of_envelope_deals": "lower",  # share of deals whose terms break the envelope, given the evidence before them
    "evidence_faithfulness": "higher",  # share of "Evidence: ..." notes that match what the debtor had disclosed
    "debt_facts_true": "higher",  # share of dialogues stating the debt where every stated figure matches the record
    "void_deals": "lower",  # share of deals the reward voids (out of envelope, after a malformed turn, misstated debt)
    "reward": "higher",  # the rejection-sampling reward (debtgpt/reward.py), where it was computed
    **{name: "higher" for name in JUDGE_CRITERIA},
}

# Metrics that are shares (a count over a count) and what counts as one trial behind each: their error bars
# are binomial (Wilson), inside [0, 1]. Shares of turns count dialogues: turns of one dialogue are not independent.
PROPORTION_METRICS = {
    "SR": "dialogues",
    "SA": "deals",
    "LS": "deals",
    "violations": "dialogues",
    "format_errors": "dialogues",
    "debtor_format_errors": "dialogues",
    "hangups": "dialogues",
    "agent_errors": "dialogues",  # the only share that counts the dialogues an agent failed to serve
    "out_of_envelope_deals": "deals",
    "evidence_faithfulness": "dialogues",
    "debt_facts_true": "dialogues",
    "void_deals": "deals",
}
