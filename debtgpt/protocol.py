"""The turn protocol: each LLM turn is one JSON object. Writing is strict; parsing is tolerant.

A turn that cannot be used (no JSON object, wrong action, missing dialogue, off-grid proposal) comes back
as a `non` turn with `format_error` set and the raw text kept, so one bad turn never crashes a batch.
"""
from __future__ import annotations

import json
import re

from debtgpt.agreement import RATIO_FIELDS, Agreement, OffGridError
from debtgpt.constants import (
    AGREEMENT_FIELDS,
    COLLECTOR_ACTIONS,
    COLLECTOR_STRATEGIES,
    DEBTOR_ACTIONS,
    DEBTOR_STRATEGIES,
)
from debtgpt.dialogue import Turn

ACTIONS = {"collector": COLLECTOR_ACTIONS, "debtor": DEBTOR_ACTIONS}
STRATEGIES = {"collector": COLLECTOR_STRATEGIES, "debtor": DEBTOR_STRATEGIES}

_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")


def proposal_json(agreement: Agreement) -> dict:
    """Ratios as whole percents: what models read and write most reliably."""
    row = agreement.to_dict()
    for field in RATIO_FIELDS:
        row[field] = round(row[field] * 100)
    return row


def write_turn(turn: Turn) -> str:
    """The JSON text of a turn, as an LLM agent is asked to write it (and as SFT targets show it)."""
    row = {"thoughts": turn.thoughts, "strategy": turn.strategy, "action": turn.action, "dialogue": turn.dialogue}
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
    """The first balanced JSON object in text, ignoring code fences and anything around it."""
    fenced = _FENCE_RE.search(text)
    candidates = [fenced.group(1), text] if fenced else [text]
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            end = _matching_brace(candidate, start)
            if end is None:
                break
            snippet = candidate[start : end + 1]
            for attempt in (snippet, _TRAILING_COMMA_RE.sub(r"\1", snippet)):
                try:
                    value = json.loads(attempt)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    return value
            start = candidate.find("{", start + 1)
    return None


def _matching_brace(text: str, start: int) -> int | None:
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _normalise_label(value, allowed: tuple[str, ...]) -> str | None:
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace("_", " ").replace("-", " ")
    return key if key in allowed else None


def parse_turn(text: str, role: str) -> Turn:
    """A Turn from a model's text; never raises. Unusable parts are recorded in `format_error`."""
    row = extract_json_object(text or "")
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
        errors.append(f"strategy {row.get('strategy')!r} is not one of: {', '.join(STRATEGIES[role])}")
    action = _normalise_label(row.get("action"), ACTIONS[role])
    if action is None:
        errors.append(f"action {row.get('action')!r} is not one of: {', '.join(ACTIONS[role])}")

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
            role=role, action="non", strategy=strategy or "", dialogue=dialogue, thoughts=thoughts,
            raw=text, format_error="; ".join(errors),
        )
    return Turn(role=role, action=action, strategy=strategy, dialogue=dialogue, thoughts=thoughts, proposal=proposal, raw=text)
