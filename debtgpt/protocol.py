"""The turn protocol: each LLM turn is one JSON object. Writing is strict; parsing is tolerant.

A turn that cannot be used (no JSON object, wrong action, missing dialogue, off-grid proposal) comes back
as a `non` turn with `format_error` set and the raw text kept, so one bad turn never crashes a batch.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from itertools import accumulate

from debtgpt.agreement import RATIO_FIELDS, Agreement, OffGridError, short_repr
from debtgpt.constants import (
    AGREEMENT_FIELDS,
    COLLECTOR_ACTIONS,
    COLLECTOR_STRATEGIES,
    DEBTOR_ACTIONS,
    DEBTOR_STRATEGIES,
)
from debtgpt.dialogue import Turn
from debtgpt.facts import slot_debt_facts

ACTIONS = {"collector": COLLECTOR_ACTIONS, "debtor": DEBTOR_ACTIONS}
STRATEGIES = {"collector": COLLECTOR_STRATEGIES, "debtor": DEBTOR_STRATEGIES}

_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")
_OBJECT_START_RE = re.compile(r'\{\s*["}]')
_DECODER = json.JSONDecoder()
MAX_JSON_ATTEMPTS = 64  # object starts handed to the decoder per text: bounds the work on adversarial input


def proposal_json(agreement: Agreement) -> dict:
    """Ratios as whole percents: what models read and write most reliably."""
    row = agreement.to_dict()
    for field in RATIO_FIELDS:
        row[field] = round(row[field] * 100)
    return row


def write_turn(turn: Turn, public_record: dict | None = None) -> str:
    """The JSON text of a turn, as an LLM agent is asked to write it (and as SFT targets show it). With the
    collector's `public_record`, the debt figures it stated truly are written as the slots it writes them in."""
    dialogue = slot_debt_facts(turn.dialogue, public_record) if public_record is not None else turn.dialogue
    row = {"thoughts": turn.thoughts, "strategy": turn.strategy, "action": turn.action, "dialogue": dialogue}
    if turn.action == "ask" and turn.proposal is not None:
        row["proposal"] = proposal_json(turn.proposal)
    return json.dumps(row, ensure_ascii=False)


def turn_json_schema(role: str) -> dict:
    """JSON schema of one turn, for guided decoding and JSON response formats."""
    proposal = {
        "type": "object",
        "properties": {field: {"type": "number"} for field in AGREEMENT_FIELDS},
        "required": list(AGREEMENT_FIELDS),
    }
    return {
        "type": "object",
        "properties": {
            "thoughts": {"type": "string"},
            "strategy": {"type": "string", "enum": list(STRATEGIES[role])},
            "action": {"type": "string", "enum": list(ACTIONS[role])},
            "dialogue": {"type": "string"},
            "proposal": proposal,
        },
        "required": ["thoughts", "strategy", "action", "dialogue"],
    }


def extract_json_object(text: str) -> dict | None:
    """The first JSON object in text, ignoring code fences and anything around it; trailing commas tolerated.

    The JSON decoder reads from each place an object can start (`{` then `"` or `}`) and stops at the
    object's end, so braces inside strings and prose around it do not matter. At most
    MAX_JSON_ATTEMPTS starts are tried per text, which bounds the work on adversarial input.
    """
    fenced = _fenced(text)
    for candidate in [fenced, text] if fenced is not None else [text]:
        commas = [(m.end(), m.end() - m.start() - 1) for m in _TRAILING_COMMA_RE.finditer(candidate)]
        without_commas = _TRAILING_COMMA_RE.sub(r"\1", candidate) if commas else None
        removed_before = list(accumulate(n for _, n in commas))
        for attempt, start in enumerate(_OBJECT_START_RE.finditer(candidate)):
            if attempt >= MAX_JSON_ATTEMPTS:
                break
            found = _object_at(candidate, start.start())
            if found is None and without_commas is not None:
                # the same start in the text without trailing commas (none can straddle a `{`)
                k = bisect_right([end for end, _ in commas], start.start())
                found = _object_at(without_commas, start.start() - (removed_before[k - 1] if k else 0))
            if found is not None:
                return found
    return None


def _object_at(text: str, start: int) -> dict | None:
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):  # also ints beyond Python's digit limit, and deep nesting
        return None
    return value if isinstance(value, dict) else None


def _fenced(text: str) -> str | None:
    """The body of the first ``` fence (a `json` tag dropped); found with two finds, so linear in the text."""
    start = text.find("```")
    end = text.find("```", start + 3) if start != -1 else -1
    if end == -1:
        return None
    body = text[start + 3 : end]
    return body[4:] if body[:4].lower() == "json" else body


def _normalise_label(value, allowed: tuple[str, ...]) -> str | None:
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace("_", " ").replace("-", " ")
    return key if key in allowed else None


def parse_turn(text: str, role: str) -> Turn:
    """A Turn from a model's text; never raises. Unusable parts are recorded in `format_error`."""
    try:
        return _parse_turn(text if isinstance(text, str) else "", role)
    except Exception as exc:  # whatever a model wrote, it is this turn's format error, not the batch's crash
        return Turn(
            role=role,
            action="non",
            strategy="",
            dialogue="",
            raw=text,
            format_error=f"could not be parsed ({type(exc).__name__})",
        )


def _parse_turn(text: str, role: str) -> Turn:
    row = extract_json_object(text)
    if row is None:
        return Turn(role=role, action="non", strategy="", dialogue="", raw=text, format_error="no JSON object found")

    errors = []
    dialogue = row.get("dialogue")
    if not isinstance(dialogue, str) or not dialogue.strip():
        errors.append("dialogue must be a non-empty string")
        dialogue = ""
    thoughts = row.get("thoughts", "")
    thoughts = thoughts if isinstance(thoughts, str) else json.dumps(thoughts)
    strategy = _normalise_label(row.get("strategy"), STRATEGIES[role])
    if strategy is None:
        errors.append(f"strategy {short_repr(row.get('strategy'))} is not one of: {', '.join(STRATEGIES[role])}")
    action = _normalise_label(row.get("action"), ACTIONS[role])
    if action is None:
        errors.append(f"action {short_repr(row.get('action'))} is not one of: {', '.join(ACTIONS[role])}")

    proposal = None
    if action == "ask":
        fields = row.get("proposal")
        if not isinstance(fields, dict):
            # Some models put the four fields at the top level.
            fields = {f: row[f] for f in AGREEMENT_FIELDS if f in row} or None
        if fields is None:
            errors.append("action 'ask' needs a proposal with " + ", ".join(AGREEMENT_FIELDS))
        else:
            try:
                proposal = Agreement.from_dict(fields)
            except OffGridError as exc:
                errors.append(str(exc))

    if errors:
        return Turn(
            role=role,
            action="non",
            strategy=strategy or "",
            dialogue=dialogue,
            thoughts=thoughts,
            raw=text,
            format_error="; ".join(errors),
        )
    return Turn(
        role=role, action=action, strategy=strategy, dialogue=dialogue, thoughts=thoughts, proposal=proposal, raw=text
    )
