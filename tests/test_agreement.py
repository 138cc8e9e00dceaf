import pytest

from debtgpt.agreement import Agreement, OffGridError


def test_an_agreement_on_the_grid_keeps_its_values():
    a = Agreement(0.10, 0.25, 7, 6)
    assert (a.disc_ratio, a.pmt_ratio, a.pmt_days, a.inst_prds) == (0.10, 0.25, 7, 6)


@pytest.mark.parametrize(
    "fields, field, allowed",
    [
        ((0.12, 0.25, 7, 6), "disc_ratio", "0%, 5%, 10%, 15%, 20%, 25%, 30%"),
        ((0.10, 0.27, 7, 6), "pmt_ratio", "5%, 10%, 15%"),
        ((0.10, 0.25, 15, 6), "pmt_days", "1, 2, 3"),
        ((0.10, 0.25, 7, 7), "inst_prds", "3, 6, 9, 12, 18, 24"),
        ((0.10, 0.55, 7, 6), "pmt_ratio", "50%"),
    ],
)
def test_off_grid_values_are_rejected_with_the_field_and_allowed_values(fields, field, allowed):
    with pytest.raises(OffGridError) as error:
        Agreement(*fields)
    assert error.value.field == field
    assert field in str(error.value) and allowed in str(error.value)


def test_values_are_never_rounded_onto_the_grid():
    with pytest.raises(OffGridError):
        Agreement(0.1, 0.25, 7.4, 6)


def test_from_dict_reads_percents_and_fractions():
    assert Agreement.from_dict({"disc_ratio": "10%", "pmt_ratio": 25, "pmt_days": "7", "inst_prds": 6.0}) == Agreement(
        0.1, 0.25, 7, 6
    )
    assert Agreement.from_dict({"disc_ratio": 0.1, "pmt_ratio": 0.25, "pmt_days": 7, "inst_prds": 6}) == Agreement(
        0.1, 0.25, 7, 6
    )


def test_from_dict_names_a_missing_field():
    with pytest.raises(OffGridError, match="inst_prds"):
        Agreement.from_dict({"disc_ratio": 0, "pmt_ratio": 25, "pmt_days": 7})


def test_booleans_and_words_are_not_numbers():
    with pytest.raises(OffGridError, match="pmt_days"):
        Agreement(0.0, 0.25, True, 6)
    with pytest.raises(OffGridError, match="disc_ratio"):
        Agreement.from_dict({"disc_ratio": "none", "pmt_ratio": 25, "pmt_days": 7, "inst_prds": 6})


def test_concessions_count_fields_moved_towards_the_debtor():
    assert Agreement(0.1, 0.2, 10, 12).concessions_from(Agreement(0.0, 0.25, 7, 6)) == 4
    assert Agreement(0.0, 0.3, 5, 3).concessions_from(Agreement(0.0, 0.25, 7, 6)) == 0
