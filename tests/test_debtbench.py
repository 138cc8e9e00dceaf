"""The DebtBench evaluation end to end on the default 195 test personas with the scripted agents."""

import json
import subprocess
import sys

import pytest

from data_gen.make_data import make_data
from debtgpt.dialogue import Trajectory
from debtgpt.policy import disclosed_evidence
from eval.run import evaluate_collectors
from pipeline.config import DataConfig, EvalConfig


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    make_data(DataConfig(out_dir=str(root / "data")))
    cfg = EvalConfig(data_dir=str(root / "data"), collectors=["firm", "conceder", "expert"], samples=1, progress=False)
    results = evaluate_collectors(cfg, root / "report")
    return root, results


def test_no_dialogue_is_lost(report):
    root, results = report
    for name in ("firm", "conceder", "expert"):
        lines = (root / "report" / "trajectories" / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == 195 == results["collectors"][name]["n"]
        assert len({json.loads(line)["key"] for line in lines}) == 195


def test_the_conceder_buys_success_with_recovery_and_rule_breaking(report):
    _, results = report
    firm, conceder = results["collectors"]["firm"]["overall"], results["collectors"]["conceder"]["overall"]
    assert conceder["SR"] >= firm["SR"]
    assert conceder["CR"] < firm["CR"]
    assert conceder["violations"] > firm["violations"]


@pytest.mark.parametrize("collector", ["firm", "expert"])
def test_confrontational_debtors_are_the_hardest(report, collector):
    _, results = report
    by = results["collectors"][collector]["by_archetype"]
    assert min(by, key=lambda a: by[a]["SR"]) == "Confrontational"


def test_the_expert_teacher_stays_within_policy(report):
    _, results = report
    assert results["collectors"]["expert"]["overall"]["violations"] == 0.0


def test_the_teachers_thoughts_open_with_the_evidence_disclosed_before_each_turn(report):
    root, _ = report
    notes = set()
    for line in (root / "report" / "trajectories" / "expert.jsonl").read_text().splitlines():
        turns = Trajectory.from_dict(json.loads(line)).turns
        for i, turn in enumerate(turns):
            if turn.role == "collector":
                note = disclosed_evidence(turns[:i]).note()
                assert turn.thoughts.startswith(note), (turn.thoughts, note)
                notes.add(note)
    assert notes >= {"Evidence: none.", "Evidence: hardship.", "Evidence: hardship and cash flow."}


def test_the_report_folder_has_metrics_leaderboard_and_plots(report):
    root, results = report
    saved = json.loads((root / "report" / "metrics.json").read_text())
    assert set(saved["collectors"]) == {"firm", "conceder", "expert"} and saved["config"]["split"] == "test"
    assert set(saved["collectors"]["firm"]["overall"]) >= {
        "SR",
        "AT",
        "CR",
        "CE",
        "SA",
        "LS",
        "CRI",
        "DHI",
        "CCI",
        "violations",
        "concessions",
        "first_offer_discount",
        "format_errors",
    }
    board = (root / "report" / "leaderboard.md").read_text()
    assert "## Confrontational" in board and "| conceder |" in board
    plots = sorted(p.name for p in (root / "report" / "plots").glob("*.png"))
    assert "SR.png" in plots and "CR.png" in plots and "violations.png" in plots


def run_eval(*overrides, cwd):
    return subprocess.run(
        [sys.executable, "-m", "eval.run", *overrides], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_an_unknown_collector_fails_at_start_naming_the_allowed_ones(report, tmp_path):
    root, _ = report
    result = run_eval(
        "collectors=[firm,haggler]", f"data_dir={root / 'data'}", f"reports_dir={tmp_path}", cwd=root.parent
    )
    assert result.returncode != 0
    assert "haggler" in result.stderr and "allowed collectors: " in result.stderr and "expert" in result.stderr
    assert not list(tmp_path.glob("*/metrics.json"))


def test_a_misspelt_key_fails_with_its_name(report, tmp_path):
    root, _ = report
    result = run_eval("colectors=[firm]", f"data_dir={root / 'data'}", f"reports_dir={tmp_path}", cwd=root.parent)
    assert result.returncode != 0 and "colectors" in result.stderr
