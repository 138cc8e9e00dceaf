"""Debt facts: the overdue amount and days overdue a collector states, filled in from the record and checked
against it.

A collector writes the record's figures as slots (`{principal}`, `{days_overdue}`) and the runner fills them in
before the debtor hears the turn, so a stated debt is the record's, whatever the model can copy. In the
collector's own chat (its history, the SFT targets and the pair sides) the record's figures are written back
as slots, so a student learns the slot, never the digits. Misstating a debt breaks collection law in most
places (the US FDCPA forbids any false representation of a debt's amount), whatever the deal: every statement
is checked against the record, slot or not.
"""

from __future__ import annotations

import re

SLOTS = {"principal": "{principal}", "days_overdue": "{days_overdue}"}
_NUMBER = r"(?<![\d,.])\d[\d,]*(?:\.\d+)?(?![\d,])"  # whole figures only: no backtracking into "25" of "25 %"
_NOT_TERMS = r"(?!\s*(?:%|percent|days?|months?))"  # "a payment of 25 %" is a term, not the debt
# Statement forms: the teacher's phrasings and the common ones ("18,832 is overdue", "overdue for 24 days").
_AMOUNT_RES = (
    re.compile(rf"(?P<value>{_NUMBER})\s+(?:is\s+|are\s+|now\s+)?(?:overdue|past due)\b", re.I),
    re.compile(
        rf"\b(?:payment|overdue amount|amount overdue|debt) (?:of|is) (?:[$€£] ?)?(?P<value>{_NUMBER}){_NOT_TERMS}",
        re.I,
    ),
)
# Any figure, separators included: "outstanding for 6,873 days" (the amount said as days) is a misstatement too.
_DAYS_RES = (
    re.compile(rf"(?P<value>{_NUMBER}) days? (?:overdue|late|past due)\b", re.I),
    re.compile(rf"\b(?:overdue|outstanding|late|behind) for (?P<value>{_NUMBER}) days?\b", re.I),
)
_FACTS = (("principal", _AMOUNT_RES), ("days_overdue", _DAYS_RES))


def said_figure(field: str, public_record: dict) -> str:
    """A record figure as collectors say it: the amount in whole units with thousands separators."""
    value = public_record[field]
    return f"{value:,.0f}" if field == "principal" else str(value)


def fill_debt_facts(text: str, public_record: dict) -> str:
    """The text with each slot replaced by the record's figure."""
    for field, slot in SLOTS.items():
        if slot in text:
            text = text.replace(slot, said_figure(field, public_record))
    return text


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _true(field: str, stated: str, public_record: dict) -> bool:
    value = _number(stated)
    # the amount is said rounded to whole units; days exactly
    return value is not None and abs(value - public_record[field]) <= (0.5 if field == "principal" else 0)


def stated_debt_facts(text: str, public_record: dict) -> list[tuple[str, str, bool]]:
    """(field, stated figure, true against the record) for every debt fact the text states."""
    found = []
    for field, patterns in _FACTS:
        for pattern in patterns:
            for match in pattern.finditer(text):
                found.append((field, match.group("value"), _true(field, match.group("value"), public_record)))
    return found


def misstated_debt_facts(text: str, public_record: dict) -> list[str]:
    """The stated figures that contradict the record, as "field: figure"."""
    return [f"{field}: {value}" for field, value, true in stated_debt_facts(text, public_record) if not true]


def slot_debt_facts(text: str, public_record: dict) -> str:
    """The inverse of `fill_debt_facts` on true statements: each correctly stated figure back to its slot."""
    spans = []
    for field, patterns in _FACTS:
        for pattern in patterns:
            spans += [
                (m.start("value"), m.end("value"), SLOTS[field])
                for m in pattern.finditer(text)
                if _true(field, m.group("value"), public_record)
            ]
    for start, end, slot in sorted(set(spans), reverse=True):
        text = text[:start] + slot + text[end:]
    return text
