"""The report folder: leaderboard columns, plots that show every bar, and reruns that replace old files."""

import json

from debtgpt.agreement import Agreement
from debtgpt.leaderboard import leaderboard_markdown, leaderboard_tables
from debtgpt.metrics import evaluate
from debtgpt.reward import score_all
from eval.report import collector_intervals, error_half_width, wilson_interval, write_report
from pipeline.config import RewardConfig

from helpers import collector, deal, debtor, make_scenario, no_deal


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


def nine_deals_in_ten(name="firm"):
    terms = Agreement(0.0, 0.25, 7, 6)
    rows = [
        deal(make_scenario("Cooperative", sid=f"S{i}"), terms, [collector("ask", terms), debtor("accept")])
        for i in range(9)
    ]
    rows.append(
        no_deal(make_scenario("Cooperative", sid="S9"), [collector(), debtor("hangup"), collector(), debtor()])
    )
    for t in rows:
        t.collector = name
    return rows


def test_a_share_gets_a_wilson_interval_inside_0_and_1_where_the_normal_one_passes_1():
    rows = nine_deals_in_ten()
    result = evaluate(rows)
    assert result["overall"]["SR"] == 0.9
    assert 0.9 + error_half_width([float(t.success) for t in rows]) > 1  # what the plots drew before
    low, high = collector_intervals(result, rows)["overall"]["SR"]
    assert (round(low, 3), round(high, 3)) == (0.596, 0.982)  # Wilson's score interval of 9 of 10
    assert wilson_interval(1.0, 10)[1] == 1.0 and wilson_interval(0.0, 4)[0] == 0.0 and wilson_interval(0.5, 0) is None
    for share, n in (
        (0.0, 11),
        (1.0, 6),
        (1 / 3, 3),
        (0.0, 10_000),
    ):  # the share itself is always inside, despite rounding
        low, high = wilson_interval(share, n)
        assert 0.0 <= low <= share <= high <= 1.0
    low, high = collector_intervals(result, rows)["overall"]["hangups"]
    assert 0 < low < 0.1 < high < 1  # one hangup in ten dialogues


def test_shares_of_deals_count_deals_and_means_keep_their_normal_interval():
    rows = nine_deals_in_ten()
    intervals = collector_intervals(evaluate(rows), rows)["overall"]
    assert intervals["SA"] == list(wilson_interval(evaluate(rows)["overall"]["SA"], 9))  # 9 deals, not 10 dialogues
    turns = [float(len(t.turns)) for t in rows]
    mean = sum(turns) / len(turns)
    assert intervals["AT"] == [mean - error_half_width(turns), mean + error_half_width(turns)]
    assert "CCI" not in intervals  # a composite gets none


def test_the_report_keeps_the_intervals_it_plots(tmp_path):
    rows = nine_deals_in_ten()
    write_report(tmp_path, {"collectors": {"firm": evaluate(rows)}}, {"firm": rows})
    saved = json.loads((tmp_path / "metrics.json").read_text())["collectors"]["firm"]["intervals_95"]
    for group, metrics in saved.items():
        for name in ("SR", "SA", "LS", "hangups", "violations", "agent_errors"):
            if name in metrics:
                assert 0 <= metrics[name][0] <= metrics[name][1] <= 1, (group, name)
    assert saved["overall"]["SR"][1] < 1 and saved["Avoidant"] == {}  # an empty group is n/a, with no interval
