import pytest

from debtgpt.agreement import Agreement
from debtgpt.dialogue import Turn
from debtgpt.protocol import parse_turn, write_turn

GOOD = (
    '{"thoughts": "t", "strategy": "repayment negotiation", "action": "ask", "dialogue": "How about this?", '
    '"proposal": {"disc_ratio": 10, "pmt_ratio": 25, "pmt_days": 7, "inst_prds": 6}}'
)


def test_written_turns_parse_back_to_the_same_turn():
    turn = Turn(
        "collector", "ask", "repayment negotiation", "Offer.", thoughts="why", proposal=Agreement(0.1, 0.25, 7, 6)
    )
    parsed = parse_turn(write_turn(turn), "collector")
    assert parsed.format_error is None
    assert (parsed.action, parsed.strategy, parsed.dialogue, parsed.thoughts, parsed.proposal) == (
        "ask",
        "repayment negotiation",
        "Offer.",
        "why",
        Agreement(0.1, 0.25, 7, 6),
    )


@pytest.mark.parametrize(
    "text",
    [
        "```json\n" + GOOD + "\n```",
        "Sure! Here is my turn:\n" + GOOD + "\nHope that helps {not json}",
        GOOD.replace("}}", "},}"),  # trailing comma
    ],
)
def test_fences_and_surrounding_text_are_tolerated(text):
    turn = parse_turn(text, "collector")
    assert turn.format_error is None and turn.proposal == Agreement(0.1, 0.25, 7, 6)


def test_labels_are_normalised():
    turn = parse_turn('{"strategy": "Repayment_Negotiation", "action": "NON", "dialogue": "hi"}', "collector")
    assert (turn.format_error, turn.strategy, turn.action, turn.thoughts) == (None, "repayment negotiation", "non", "")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("I will not answer in JSON.", "no JSON object"),
        ('{"strategy": "establish trust", "action": "non"}', "dialogue"),
        ('{"strategy": "establish trust", "action": "non", "dialogue": 42}', "dialogue"),
        ('{"strategy": "bribery", "action": "non", "dialogue": "hi"}', "strategy"),
        ('{"strategy": "establish trust", "action": "hangup", "dialogue": "bye"}', "action"),
        ('{"strategy": "repayment negotiation", "action": "ask", "dialogue": "deal?"}', "proposal"),
        (
            (
                '{"strategy": "repayment negotiation", "action": "ask", "dialogue": "deal?", '
                '"proposal": {"disc_ratio": 12, "pmt_ratio": 25, "pmt_days": 7, "inst_prds": 6}}'
            ),
            "disc_ratio",
        ),
        (
            (
                '{"strategy": "repayment negotiation", "action": "ask", "dialogue": "deal?", '
                '"proposal": {"disc_ratio": "lots", "pmt_ratio": 25, "pmt_days": 7, "inst_prds": 6}}'
            ),
            "disc_ratio",
        ),
        (
            '{"strategy": "repayment negotiation", "action": "ask", "dialogue": "deal?", "proposal": [1, 2]}',
            "proposal",
        ),
        ("", "no JSON object"),
    ],
)
def test_malformed_turns_become_recorded_format_errors(text, reason):
    turn = parse_turn(text, "collector")
    assert turn.format_error is not None and reason in turn.format_error
    assert turn.action == "non" and turn.proposal is None and turn.raw == text


def test_a_debtor_may_hang_up_but_a_collector_may_not():
    text = '{"strategy": "complaint", "action": "hangup", "dialogue": "Bye."}'
    assert parse_turn(text, "debtor").action == "hangup"
    assert parse_turn(text, "collector").format_error is not None


def test_top_level_fields_are_accepted_as_a_proposal():
    text = (
        '{"strategy": "repayment negotiation", "action": "ask", "dialogue": "x", '
        '"disc_ratio": 0, "pmt_ratio": 0.3, "pmt_days": 5, "inst_prds": 3}'
    )
    assert parse_turn(text, "collector").proposal == Agreement(0.0, 0.3, 5, 3)
