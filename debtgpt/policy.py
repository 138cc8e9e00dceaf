"""The policy envelope: a deterministic validator of the collector's proposals (docs/design.md section 1).

Prompts only guide a model; this module decides. A rule may depend on what the debtor has disclosed so
far, read from what the collector heard (never from the debtor's private thoughts or finances).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from debtgpt.agreement import Agreement
from debtgpt.constants import POLICY_MAX_PMT_DAYS, POLICY_MIN_PMT_RATIO, POLICY_PREFERRED_INST_PRDS

# Concrete causes of hardship, as a debtor would name them (a bare "I can't pay" is a claim, not evidence).
# Each cue is a regular expression matched on whole words of the lower-cased text.
_BE = r"(?:am|i'm|im|is|was|were|are|been|being|be|got|gotten|get|fell|fallen|became|he's|she's|they're|we're)"
HARDSHIP_CUES = (
    # work
    r"laid off",
    r"lost (?:my|his|her|our|their) (?:job|jobs|work|income)",
    r"(?:got|was|been|were) (?:fired|sacked)",
    r"made redundant",
    r"redundancy",
    r"unemployed",
    r"out of work",
    r"jobless",
    r"no (?:job|income)",
    r"(?:don't|do not|didn't|can't|cannot) (?:have|find|get) (?:a job|any work|work)",
    # health ("sick of these calls" is anger, "the treatment I get" is a complaint)
    r"hospitali[sz]ed",
    r"(?:in|to|from) (?:the )?hospital",
    r"hospital (?:bills?|stay|costs?)",
    r"medical (?:bills?|expenses|costs?|debts?|emergency|treatment|condition|leave|problems?|issues?|care)",
    rf"{_BE} (?:very |seriously |really |chronically )?(?:sick|ill)(?! of| and tired| to death)",
    r"sick (?:leave|pay)",
    r"illness",
    r"disease",
    r"cancer",
    r"chemo(?:therapy)?",
    r"surgery",
    r"(?:medical|cancer|hospital|long-term) treatment",
    r"treatment for",
    r"in treatment",
    # business
    r"(?:shop|store|business|company|restaurant) (?:closed|failed|went bust|went under|shut down)",
    r"closed down",
    r"went bankrupt",
    r"bankruptcy",
    r"went bust",
    # family
    r"family emergency",
    r"emergency back home",
    r"funeral",
    r"passed away",
    r"(?:father|mother|dad|mum|mom|husband|wife|partner|son|daughter|brother|sister|child) (?:died|was killed)",
    # income
    r"cut my hours",
    r"(?:my )?hours (?:were|got) cut",
    r"pay (?:dropped|was cut|got cut)",
    r"pay cut",
    r"salary (?:was|got) cut",
    r"income (?:dropped|fell|halved)",
)
# Concrete, dated sources of money coming in ("a payday loan" and "already paid on the 3rd" are not).
_NOT_LOAN = r"(?! loans?\b)"
CASH_FLOW_CUES = (
    r"(?:get|gets|getting|am|i'm|are|we're|is|be) paid (?:on|every|next|at the end)",
    rf"payday{_NOT_LOAN} (?:is|comes|falls)",
    rf"(?:on|my|next|until|after) payday{_NOT_LOAN}",
    (
        r"(?:my )?(?:salary|wages?|pension|paycheck|pay cheque|benefits?) "
        r"(?:comes?|arrives?|lands?|is paid|are paid|goes in)"
    ),
    r"next (?:paycheck|pay cheque|salary)",
    r"customer owes me",
    r"invoice is due",
    r"bonus comes",
)
_HARDSHIP_RE = re.compile(r"\b(?:" + "|".join(HARDSHIP_CUES) + r")\b")
_CASH_FLOW_RE = re.compile(r"\b(?:" + "|".join(CASH_FLOW_CUES) + r")\b")
# A cue is negated when one of these comes at most two words before it, in the same clause.
_NEGATORS = frozenset(
    "not never no nobody nothing neither nor without isn't wasn't aren't weren't haven't hasn't hadn't "
    "didn't don't doesn't won't wouldn't can't cannot couldn't ain't isnt wasnt havent hasnt didnt dont doesnt "
    "wont cant couldnt".split()
)
_CLAUSE_BREAK_RE = re.compile(r"[.,;:!?()\n\"]|\b(?:but|because|since|so|and|after|when|though|although|as|until)\b")
_WORD_RE = re.compile(r"[a-z']+")
_NOTE_RE = re.compile(r"\s*Evidence:\s*([^.]*)\.")
NEGATION_WINDOW = 2  # words allowed between a negator and its cue ("I have never been in hospital")

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

    def note(self) -> str:
        """The evidence in words, as the teacher's thoughts open with it (see ExpertCollector)."""
        return f"Evidence: {self.described()}."

    def described(self) -> str:
        named = [name for name, held in (("hardship", self.hardship), ("cash flow", self.cash_flow)) if held]
        return " and ".join(named) or "none"

    @classmethod
    def from_note(cls, thoughts: str) -> "Evidence | None":
        """The evidence a collector's thoughts claim in an opening `note()`; None when they open without one."""
        match = _NOTE_RE.match(thoughts or "")
        if match is None:
            return None
        named = {part.strip() for part in match.group(1).split(" and ")}
        return cls(hardship="hardship" in named, cash_flow="cash flow" in named)


def _normalise(text: str) -> str:
    """Lower case, compatibility forms folded (full-width letters), curly apostrophes straightened."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("\u2018", "'")


def _negated(text: str, start: int) -> bool:
    """Whether a negator stands at most NEGATION_WINDOW words before `start`, in the same clause."""
    before = text[max(0, start - 200) : start]
    breaks = list(_CLAUSE_BREAK_RE.finditer(before))
    clause = before[breaks[-1].end() :] if breaks else before
    return any(word in _NEGATORS for word in _WORD_RE.findall(clause)[-(NEGATION_WINDOW + 1) :])


def _asserts(pattern: re.Pattern, text: str) -> bool:
    return any(not _negated(text, match.start()) for match in pattern.finditer(text))


def evidence_in(text: str) -> Evidence:
    """The evidence one debtor utterance asserts: a cue on word boundaries that is not negated."""
    text = _normalise(text)
    return Evidence(hardship=_asserts(_HARDSHIP_RE, text), cash_flow=_asserts(_CASH_FLOW_RE, text))


def disclosed_evidence(turns) -> Evidence:
    """Evidence in everything the debtor has said in `turns` so far."""
    hardship = cash_flow = False
    for turn in turns:
        if turn.role == "debtor":
            found = evidence_in(turn.dialogue)
            hardship |= found.hardship
            cash_flow |= found.cash_flow
    return Evidence(hardship, cash_flow)


def evidence_before_each_turn(turns) -> list[Evidence]:
    """The evidence disclosed before each turn of a dialogue (what the collector knew when it spoke)."""
    seen, before = Evidence(), []
    for turn in turns:
        before.append(seen)
        if turn.role == "debtor":
            found = evidence_in(turn.dialogue)
            seen = Evidence(seen.hardship or found.hardship, seen.cash_flow or found.cash_flow)
    return before


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
