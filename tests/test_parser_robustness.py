"""The turn parser never raises, whatever a model writes: random text, random JSON, adversarial numbers."""

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from debtgpt.agreement import Agreement
from debtgpt.protocol import parse_turn

GOOD = {
    "thoughts": "t",
    "strategy": "repayment negotiation",
    "action": "ask",
    "dialogue": "Here is my offer.",
    "proposal": {"disc_ratio": 0, "pmt_ratio": 25, "pmt_days": 7, "inst_prds": 6},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# Numbers a model may write for a proposal field: huge ints, exponents, percents, negative zero, junk.
adversarial_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.sampled_from(["1" * 320, "9" * 5000, "1e999", "-1e999", "NaN", "Infinity", "-0", "25%", "0x19", "1_000"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
settings.register_profile("parser", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _usable_or_format_error(turn):
    assert turn.action in ("ask", "accept", "non", "hangup")
    assert turn.format_error is None or isinstance(turn.format_error, str)
    if turn.action == "ask":
        assert isinstance(turn.proposal, Agreement)


@settings(settings.get_profile("parser"))
@given(st.text(max_size=400))
def test_random_text_never_raises(text):
    _usable_or_format_error(parse_turn(text, "collector"))


@settings(settings.get_profile("parser"))
@given(json_values, st.sampled_from(["collector", "debtor"]))
def test_random_json_never_raises(value, role):
    text = json.dumps(value)
    _usable_or_format_error(parse_turn(text, role))
    _usable_or_format_error(parse_turn(f"Sure: {{ {text} {{ ```json\n{text}\n```", role))


@settings(settings.get_profile("parser"))
@given(st.sampled_from(sorted(GOOD["proposal"])), adversarial_numbers, st.booleans())
def test_adversarial_proposal_numbers_are_format_errors_not_crashes(field, number, raw_literal):
    body = json.dumps(GOOD)
    literal = number if raw_literal and isinstance(number, str) else json.dumps(number)
    text = body.replace(f'"{field}": {GOOD["proposal"][field]}', f'"{field}": {literal}')
    turn = parse_turn(text, "collector")
    _usable_or_format_error(turn)
    if turn.format_error is None:
        assert turn.proposal is not None


def test_the_known_crashes_are_format_errors():
    for literal in ("1" * 320, "9" * 5000):  # OverflowError in the percent conversion; ValueError in json
        turn = parse_turn(json.dumps(GOOD).replace('"disc_ratio": 0', f'"disc_ratio": {literal}'), "collector")
        assert turn.action == "non" and turn.format_error
    deep = '{"a": ' * 3000 + "1" + "}" * 3000  # RecursionError in json.loads
    assert parse_turn(deep, "collector").format_error


def test_an_unbalanced_brace_before_the_turn_does_not_hide_it():
    turn = parse_turn("I think {the offer is fair. " + json.dumps(GOOD), "collector")
    assert turn.format_error is None and turn.proposal == Agreement(0.0, 0.25, 7, 6)
    turn = parse_turn('It is 5" long {and} more { ' + json.dumps(GOOD), "collector")  # a stray quote in the prose too
    assert turn.format_error is None and turn.action == "ask"


def test_megabyte_inputs_parse_in_under_a_second():
    inputs = [
        "{" * 1_000_000,
        '{"a": ' * 200_000 + "}" * 200_000,
        "x" * 1_000_000,
        '"' * 500_000 + "{" * 500_000,
        "```" * 330_000,
        "{}" * 500_000,
        '{"a": 1,}' * 110_000,  # trailing commas everywhere
        json.dumps({**GOOD, "thoughts": "t" * 1_000_000}),
    ]
    for text in inputs:
        started = time.perf_counter()
        turn = parse_turn(text, "collector")
        assert time.perf_counter() - started < 1.0, text[:20]
        _usable_or_format_error(turn)
    assert parse_turn(inputs[-1], "collector").format_error is None
