"""The report folder: leaderboard columns, plots that show every bar, and reruns that replace old files."""
import json

from helpers import collector, deal, debtor, make_scenario, no_deal

from debtgpt.agreement import Agreement
from debtgpt.config import RewardConfig
from debtgpt.metrics import evaluate
from debtgpt.reward import score_all
from debtgpt.leaderboard import leaderboard_markdown, leaderboard_tables
from eval.report import error_half_width, write_report


def small_report(names=("firm", "expert"), reward=True):
    terms = Agreement(0.0, 0.25, 7, 6)
    by_collector = {}
    for name in names:
        rows = [
            deal(make_scenario("Cooperative", sid="S1"), terms, [collector("ask", terms), debtor("accept")]),
            no_deal(make_scenario("Avoidant", sid="S2"), [collector(), debtor("hangup")]),
        ]
        for t in rows:
            t.collector = name
        if reward:
            score_all(rows, RewardConfig())
        by_collector[name] = rows
    return {"collectors": {n: evaluate(rows) for n, rows in by_collector.items()}}, by_collector


def test_the_leaderboard_shows_cri_dhi_and_the_reward():
    results, _ = small_report()
    overall = leaderboard_tables(results)[0]
    assert overall.title == "Overall" and {"CRI", "DHI", "CCI", "reward"} <= set(overall.metrics)
    assert [row[0] for row in overall.rows] == ["firm", "expert"] and overall.rows[0][1] == 2
    assert "| CRI ↑ | DHI ↑ |" in leaderboard_markdown(results)


def test_error_bars_need_two_values():
    assert error_half_width([1.0]) is None
    assert abs(error_half_width([0.0, 1.0, 0.0, 1.0]) - 1.96 * 0.57735 / 2) < 1e-3


def test_a_rerun_into_the_same_folder_replaces_its_files(tmp_path):
    results, by_collector = small_report(("firm", "expert"))
    write_report(tmp_path, results, by_collector)
    assert {p.name for p in (tmp_path / "plots").glob("*.png")} >= {"SR.png", "reward.png", "violations.png"}
    results, by_collector = small_report(("conceder",), reward=False)  # no reward: no reward plot
    write_report(tmp_path, results, by_collector)
    assert [p.name for p in (tmp_path / "trajectories").glob("*.jsonl")] == ["conceder.jsonl"]
    assert set(json.loads((tmp_path / "metrics.json").read_text())["collectors"]) == {"conceder"}
    assert "reward.png" not in {p.name for p in (tmp_path / "plots").glob("*.png")}
    write_report(tmp_path, results, by_collector, plots=False)
    assert not list((tmp_path / "plots").glob("*.png"))
