"""Bring your own portfolio: CTGAN on a lender's CSV, personal data kept out, quality and privacy reported,
bad CSVs refused with one line and nothing written."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from data_gen.make_data import make_data
from data_gen.portfolio import (
    PortfolioError,
    collapse_warning,
    collapsed_modes,
    detection,
    portfolio_rules,
    privacy,
    read_portfolio,
    sample_portfolio,
)
from data_gen.rollouts import make_rollouts
from debtgpt.records import _REASON_TEXTS, PORTFOLIO_COLUMNS, generate_records
from eval.run import evaluate_collectors
from pipeline.config import CTGANConfig, DataConfig, EvalConfig, RolloutsConfig

ROOT = Path(__file__).resolve().parents[1]
# Columns a lender's export carries beside the contract; none of their values may appear in any output.
PERSONAL = {
    "full_name": lambda i: f"Wilhelmina Quastberg-{i:03d}",
    "email": lambda i: f"w.quastberg{i}@larkmail.example",
    "phone": lambda i: f"+44 7700 9{i:05d}",
    "national_id": lambda i: f"QQ{i:06d}C",
    "address": lambda i: f"{i} Larkspur Lane, Bexleyheath DA7 {i % 9}XY",
    "notes": lambda i: f'Promised to pay after the harvest fair, said "my cousin Ottoline" will help\nref {i}',
}
# Words every personal value contains: a partial copy would show up as one of these.
PERSONAL_TOKENS = (
    "Quastberg",
    "quastberg",
    "larkmail",
    "7700 9",
    "Larkspur",
    "Bexleyheath",
    "harvest fair",
    "Ottoline",
)


def portfolio_rows(n: int, seed: int = 3) -> list[dict]:
    rows = []
    for i, record in enumerate(generate_records(n, seed)):
        row = {c: getattr(record, c) for c in PORTFOLIO_COLUMNS}
        rows.append(
            {
                "full_name": PERSONAL["full_name"](i),
                "email": PERSONAL["email"](i),
                **row,
                "phone": PERSONAL["phone"](i),
                "national_id": PERSONAL["national_id"](i),
                "address": PERSONAL["address"](i),
                "notes": PERSONAL["notes"](i),
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def ctgan_config(real_csv: Path, out_dir: Path, **overrides) -> DataConfig:
    ctgan = CTGANConfig(epochs=2, batch_size=50, min_rows=50, progress=False)
    return DataConfig(
        source="ctgan", real_csv=str(real_csv), out_dir=str(out_dir), num_records=40, ctgan=ctgan, **overrides
    )


@pytest.fixture(scope="module")
def portfolio_run(tmp_path_factory):
    """data (CTGAN, through the command line), rollouts and eval on a CSV full of personal data."""
    root = tmp_path_factory.mktemp("portfolio")
    (root / "input").mkdir()
    real_csv = write_csv(root / "input" / "loans.csv", portfolio_rows(80))
    written = root / "written"
    command = [
        sys.executable,
        "-m",
        "data_gen.make_data",
        "source=ctgan",
        f"real_csv={real_csv}",
        f"out_dir={written / 'data'}",
        "num_records=40",
        "ctgan.epochs=2",
        "ctgan.batch_size=50",
        "ctgan.min_rows=50",
        "ctgan.progress=true",
        f"hydra.run.dir={written / 'hydra'}",
    ]
    data = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert data.returncode == 0, data.stderr[-2000:]
    make_rollouts(
        OmegaConf.structured(
            RolloutsConfig(
                data_dir=str(written / "data"),
                out_dir=str(written / "rollouts"),
                max_scenarios=4,
                samples_per_scenario=2,
                progress=False,
            )
        )
    )
    evaluate_collectors(
        EvalConfig(
            data_dir=str(written / "data"), collectors=["firm", "expert"], max_scenarios=4, samples=1, progress=False
        ),
        written / "report",
    )
    return real_csv, written, data


@pytest.mark.slow
def test_no_personal_value_reaches_any_written_file(portfolio_run):
    real_csv, written, data = portfolio_run
    values = [make(i) for make in PERSONAL.values() for i in range(80)]
    # Quotes and line breaks are escaped differently in CSV, JSON and logs: search the runs between them.
    pieces = {piece for value in values for piece in re.split(r'["\n]', value) if len(piece) >= 8}
    needles = [p.encode() for p in sorted(pieces)] + [t.encode() for t in PERSONAL_TOKENS]
    assert all(needle in real_csv.read_bytes() for needle in needles)  # the search finds them where they are
    files = [p for p in written.rglob("*") if p.is_file()]
    assert {"card.json", "records.jsonl", "make_data.log", "metrics.json", "marginals.png"} <= {p.name for p in files}
    for path in files:
        content = path.read_bytes()
        found = [n.decode() for n in needles if n in content]
        assert not found, f"{path.relative_to(written)} holds {found[:3]}"
    output = (data.stdout + data.stderr).encode()
    assert not [n for n in needles if n in output]


def test_fitting_shows_progress_and_the_layout_is_the_usual_one(portfolio_run):
    _, written, data = portfolio_run
    assert re.search(r"2/2 \[", data.stderr), data.stderr[-500:]  # CTGAN's bar over the epochs
    assert "detection AUC" in data.stdout
    card = json.loads((written / "data" / "card.json").read_text())
    assert card["counts"]["all"] == 40 and card["config"]["source"] == "ctgan"
    assert f"data: {card['portfolio']['rules']['redrawn_rows']} sampled rows redrawn" in data.stdout
    last = data.stdout.strip().splitlines()[-1]  # make data ends on the collapse warning when the card has one
    assert last == (collapse_warning(card["portfolio"]) or last) and last.startswith(("warning:", "data:"))
    assert card["versions"]["ctgan"]
    assert json.loads((written / "report" / "metrics.json").read_text())["collectors"]["expert"]["n"] == 4


def test_record_text_comes_from_its_categorys_template(portfolio_run):
    _, written, _ = portfolio_run
    records = [json.loads(line) for line in (written / "data" / "records.jsonl").read_text().splitlines()]
    for record in records:
        template = re.escape(_REASON_TEXTS[record["overdue_reason_category"]]).replace(r"\{months\}", r"\d+")
        assert re.fullmatch(template, record["overdue_reason"])
        assert set(record) == {*PORTFOLIO_COLUMNS, "id", "overdue_reason"}


def test_card_reports_marginals_correlations_detection_and_distances(portfolio_run):
    _, written, _ = portfolio_run
    report = json.loads((written / "data" / "card.json").read_text())["portfolio"]
    assert set(report["marginals"]) == set(PORTFOLIO_COLUMNS)
    assert 0 <= report["marginals"]["principal"]["ks"] <= 1 and 0 <= report["marginals"]["gender"]["tvd"] <= 1
    assert len(report["correlations"]["real"]) == len(report["correlations"]["synthetic"]) == 8
    assert 0 <= report["detection"]["roc_auc"] <= 1
    dcr = report["distance_to_closest_record"]
    assert dcr["exact_copies"] == 0 and 0 <= dcr["share_closer_than_real_median"] <= 1
    for plot in report["plots"]:
        assert (written / "data" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_detection_and_distances_tell_copies_from_fresh_draws(tmp_path):
    real = read_portfolio(write_csv(tmp_path / "a.csv", portfolio_rows(300, seed=1)), 50)
    fresh = read_portfolio(write_csv(tmp_path / "b.csv", portfolio_rows(300, seed=2)), 50)
    shifted = fresh.assign(daily_income=fresh.daily_income * 4, age=fresh.age + 20)
    assert detection(real, fresh, seed=0)["roc_auc"] < 0.65
    assert detection(real, shifted, seed=0)["roc_auc"] > 0.9
    copied = privacy(real, real.iloc[:100], dropped_copies=0)
    assert copied["exact_copies"] == 100 and copied["share_closer_than_real_p05"] == 1.0
    independent = privacy(real, fresh, dropped_copies=0)
    assert independent["exact_copies"] == 0 and 0.3 < independent["share_closer_than_real_median"] < 0.7


def test_sampling_redraws_rows_equal_to_real_ones(tmp_path):
    real = read_portfolio(write_csv(tmp_path / "a.csv", portfolio_rows(60)), 50)
    fresh = read_portfolio(write_csv(tmp_path / "b.csv", portfolio_rows(60, seed=9)), 50)

    class Copier:  # a generator that first hands back real rows, then new ones
        draws = iter([real.iloc[:30], fresh])

        def sample(self, n):
            return next(self.draws)

    rows, dropped, redrawn = sample_portfolio(Copier(), real, 40)
    assert dropped == 30 and len(rows) == 40 and sum(redrawn.values()) == 0
    assert privacy(real, rows, dropped)["exact_copies"] == 0


def _bad(rows: list[dict], change) -> list[dict]:
    rows = [dict(r) for r in rows]
    change(rows)
    return rows


def _drop(rows, *columns):
    for row in rows:
        for column in columns:
            del row[column]


def _set(rows, index, column, value):
    rows[index][column] = value


BAD_CSVS = {
    "missing columns": (
        lambda rows: _drop(rows, "principal", "daily_income"),
        "real_csv is missing required columns: principal, daily_income",
    ),
    "not a number": (
        lambda rows: _set(rows, 6, "total_loan", "12,5OO"),
        "real_csv column total_loan is not a number in data row 7$",
    ),
    "empty cell": (lambda rows: _set(rows, 0, "age", ""), "real_csv column age is not a number in data row 1$"),
    "negative amounts": (
        lambda rows: (_set(rows, 2, "current_assets", -50), _set(rows, 4, "current_assets", -1.5)),
        r"real_csv has negative amounts: current_assets \(data rows 3, 5\); every number must be 0 or more",
    ),
    "too few rows": (
        lambda rows: rows.__delitem__(slice(30, None)),
        "real_csv has 30 data rows; at least ctgan.min_rows=50 are needed",
    ),
    "unknown categories": (
        lambda rows: (
            _set(rows, 1, "overdue_reason_category", "divorce"),
            _set(rows, 3, "overdue_reason_category", "Theft"),
            _set(rows, 5, "gender", "F"),
        ),
        "real_csv has unknown categories: gender 'f' \\(allowed values: female, male\\); "
        "overdue_reason_category 'divorce', 'theft' \\(allowed values: job loss, ",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CSVS))
def test_bad_csv_fails_with_one_line_and_writes_nothing(tmp_path, case):
    change, message = BAD_CSVS[case]
    real_csv = write_csv(tmp_path / "loans.csv", _bad(portfolio_rows(60), change))
    with pytest.raises(PortfolioError, match=message) as error:
        make_data(ctgan_config(real_csv, tmp_path / "data"))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "data").exists()


def test_bad_csv_on_the_command_line_is_one_error_line(tmp_path):
    real_csv = write_csv(tmp_path / "loans.csv", _bad(portfolio_rows(60), lambda r: _drop(r, "gender")))
    command = [
        sys.executable,
        "-m",
        "data_gen.make_data",
        "source=ctgan",
        f"real_csv={real_csv}",
        f"out_dir={tmp_path / 'data'}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: real_csv is missing required columns: gender (the contract: {', '.join(PORTFOLIO_COLUMNS)})"
    ]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(source="ctgan"), "source=ctgan needs real_csv=PATH"),
        (dict(real_csv="loans.csv"), "real_csv='loans.csv' is read only with source=ctgan"),
        (
            dict(source="ctgan", real_csv="loans.csv", ctgan=CTGANConfig(batch_size=55)),
            "ctgan.batch_size=55 must be a positive multiple of 10",
        ),
    ],
)
def test_source_settings_are_checked_before_anything_is_read(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_data(DataConfig(out_dir=str(tmp_path / "data"), **overrides))
    assert not (tmp_path / "data").exists()


def test_a_missing_csv_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="real_csv='.*nowhere.csv' does not exist"):
        make_data(ctgan_config(tmp_path / "nowhere.csv", tmp_path / "data"))


def test_only_contract_columns_are_read(tmp_path):
    path = write_csv(tmp_path / "loans.csv", portfolio_rows(60))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a spreadsheet export's byte-order mark
    real = read_portfolio(path, 50)
    assert list(real.columns) == list(PORTFOLIO_COLUMNS)
    assert isinstance(real, pd.DataFrame) and real["age"].dtype.kind == "i"


RULES = {"principal <= total_loan", "outstanding_balance <= total_loan", "principal <= outstanding_balance"}


def test_the_rules_every_real_row_keeps_are_learned_and_declared_ones_checked(tmp_path):
    real = read_portfolio(write_csv(tmp_path / "a.csv", portfolio_rows(60)), 50)
    assert {str(rule) for rule in portfolio_rules(real)} == RULES
    assert {str(r) for r in portfolio_rules(real, ["daily_income <= total_loan"])} == RULES | {
        "daily_income <= total_loan"
    }
    with pytest.raises(
        PortfolioError,
        match=r"^ctgan.rules entry 'total_loan <= principal' does not hold in real_csv data rows 1, 2, 3",
    ):
        portfolio_rules(real, ["total_loan <= principal"])
    with pytest.raises(
        PortfolioError,
        match=(
            r"'loan <= principal' must be 'a <= b' with two numeric contract columns; "
            r"allowed columns: age, principal"
        ),
    ):
        portfolio_rules(real, ["loan <= principal"])


def test_rows_that_break_a_rule_are_redrawn_and_counted(tmp_path):
    real = read_portfolio(write_csv(tmp_path / "a.csv", portfolio_rows(60)), 50)
    fresh = read_portfolio(write_csv(tmp_path / "b.csv", portfolio_rows(100, seed=9)), 50)
    broken = fresh.iloc[:20].assign(principal=fresh.total_loan.iloc[:20] * 2)  # a principal above the whole loan
    negative = fresh.iloc[20:25].assign(principal=-50.0)  # clipping these would pile them onto one value

    class Breaker:
        draws = iter([pd.concat([broken, negative, fresh.iloc[25:45]]), fresh.iloc[45:]])

        def sample(self, n):
            return next(self.draws)

    rows, dropped, redrawn = sample_portfolio(Breaker(), real, 40, portfolio_rules(real))
    assert redrawn == {
        "principal > 0": 5,
        "principal <= outstanding_balance": 20,
        "outstanding_balance <= total_loan": 0,
        "principal <= total_loan": 0,
    }  # counted under the first rule broken
    assert len(rows) == 40 and (rows.principal <= rows.total_loan).all() and (rows.principal > 0).all()


@pytest.mark.slow
def test_ctgan_records_keep_the_real_rules_and_the_card_counts_the_redraws(tmp_path):
    """A real (tiny) CTGAN on a CSV where the rules hold: two epochs break them often; no record does."""
    real_csv = write_csv(tmp_path / "loans.csv", portfolio_rows(80))
    card = make_data(ctgan_config(real_csv, tmp_path / "data"))
    rules = card["portfolio"]["rules"]
    assert {r["rule"] for r in rules["kept"]} == RULES | {"principal > 0"} and rules["broken_in_records"] == 0
    assert rules["redrawn_rows"] == sum(rules["redrawn_by_rule"].values()) > 0
    records = [json.loads(line) for line in (tmp_path / "data" / "records.jsonl").read_text().splitlines()]
    assert len(records) == 40
    assert all(0 < r["principal"] <= r["outstanding_balance"] <= r["total_loan"] for r in records)


def test_a_collapsed_mode_is_flagged_on_the_card_and_in_one_warning_line(tmp_path):
    real = read_portfolio(write_csv(tmp_path / "a.csv", portfolio_rows(100)), 50)
    synthetic = read_portfolio(write_csv(tmp_path / "b.csv", portfolio_rows(100, seed=9)), 50)
    assert collapsed_modes(real, synthetic) == []  # fresh draws of the same portfolio repeat nothing
    synthetic.loc[:11, "principal"] = 1.0  # 12 % of records at one value the real rows never hold
    [mode] = collapsed_modes(real, synthetic)
    assert mode == {"column": "principal", "value": 1.0, "synthetic_share": 0.12, "real_share": 0.0}
    line = collapse_warning({"collapsed_modes": [mode]})
    assert (
        "\n" not in line
        and line.startswith("warning: CTGAN repeats values")
        and "principal=1.0 in 12.0% of records (0.0% of real rows)" in line
    )
    assert collapse_warning({"collapsed_modes": []}) is None
