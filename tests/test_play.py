"""Playing the debtor: the person's turns, the collector's answers through the runner, the saved report, bad input."""

import json

import pytest
from fastapi.testclient import TestClient

from pipeline.config import stage_config
from viewer.app import create_app
from viewer.play import PlayTable
from viewer.reports import BadRequest, NotFound

from helpers import make_scenario

DEFAULT_TERMS = {"disc_ratio": "0.0", "pmt_ratio": "0.25", "pmt_days": "7", "inst_prds": "6"}


def make_table(tmp_path, plots=False):
    scenarios = [make_scenario("Avoidant", sid="S1"), make_scenario("Helpless", sid="S2")]
    return PlayTable(scenarios, tmp_path / "reports" / "play", plots=plots)


@pytest.fixture
def table(tmp_path):
    return make_table(tmp_path)


def test_a_hang_up_is_saved_with_the_reward_metrics_and_plots(tmp_path):
    table = make_table(tmp_path, plots=True)
    game = table.start("firm", "S1")
    assert [t.role for t in game.trajectory.turns] == ["collector"]  # the collector speaks first
    table.debtor_turn(game.id, "hangup", "emotional confrontation", "Stop calling me.")
    saved = json.loads((table.run_dir / "metrics.json").read_text())
    assert saved["config"]["debtor"] == "human" and saved["collectors"]["firm"]["overall"]["hangups"] == 1.0
    [row] = [json.loads(line) for line in (table.run_dir / "trajectories" / "firm.jsonl").read_text().splitlines()]
    assert row["outcome"] == "hangup" and row["debtor"] == "human" and row["reward"] is not None
    assert (table.run_dir / "leaderboard.md").exists() and (table.run_dir / "plots" / "SR.png").exists()


def test_each_played_dialogue_keeps_its_own_sample_and_earlier_ones_stay(table):
    for _ in range(2):
        game = table.start("expert", "S1")
        table.debtor_turn(game.id, "hangup", "vague response", "")
    rows = table.saved()["expert"]
    assert [t.sample for t in rows] == [0, 1] and len({t.key() for t in rows}) == 2


def test_a_proposal_within_policy_can_close_a_deal(table):
    game = table.start("expert", "S2")
    table.debtor_turn(game.id, "non", "honest disclosure", "I was laid off in spring and have little left.")
    for _ in range(8):
        if game.trajectory.finished:
            break
        offer = game.debtor_view.standing_proposal("collector")
        if offer is None:
            table.debtor_turn(game.id, "ask", "repayment negotiation", "Could we do this?", DEFAULT_TERMS)
        else:
            table.debtor_turn(game.id, "accept", "repayment negotiation", "Agreed.")
    assert game.trajectory.outcome == "deal" and game.saved
    assert table.saved()["expert"][0].agreement is not None


@pytest.mark.parametrize(
    "action, strategy, terms, words",
    [
        ("shout", "complaint", None, "'shout' is not allowed; allowed values: ask, accept, non, hangup"),
        ("non", "bribery", None, "strategy='bribery' is not allowed"),
        (
            "ask",
            "repayment negotiation",
            {**DEFAULT_TERMS, "disc_ratio": "0.33"},
            "disc_ratio=0.33 is not on the grid; allowed values: 0%",
        ),
        ("ask", "repayment negotiation", {**DEFAULT_TERMS, "pmt_days": None}, "pmt_days=None is missing"),
        ("accept", "repayment negotiation", None, "no offer from the collector to accept"),
    ],
)
def test_bad_turns_are_refused_with_a_clear_message(table, action, strategy, terms, words):
    game = table.start("firm", "S1")
    with pytest.raises(BadRequest, match=words.replace("(", r"\(")):
        table.debtor_turn(game.id, action, strategy, "Hello", terms)
    assert len(game.trajectory.turns) == 1  # nothing was applied


def test_unknown_collectors_and_personas_name_what_exists(table):
    with pytest.raises(NotFound, match="no collector named 'haggler'; allowed collectors: .*expert"):
        table.start("haggler", "S1")
    with pytest.raises(NotFound, match="no test persona 'S9'; 2 personas, e.g. S1, S2"):
        table.start("expert", "S9")
    with pytest.raises(NotFound, match="no dialogue in progress"):
        table.debtor_turn("nope", "hangup", "complaint", "")


@pytest.fixture
def client(table, tmp_path):
    return TestClient(create_app(tmp_path / "reports", table), raise_server_exceptions=False)


def test_typed_text_is_escaped_in_the_play_page_and_the_transcript(client, table):
    started = client.post("/play", data={"collector": "firm", "persona": "S1"}, follow_redirects=False)
    assert started.status_code == 303
    page = client.post(
        started.headers["location"] + "/turn",
        data={"action": "hangup", "strategy": "complaint", "dialogue": "<script>alert('x')</script> bye"},
    )
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; bye" in page.text and "<script>alert" not in page.text
    transcript = client.get("/runs/play/dialogues/firm/S1/0")
    assert (
        transcript.status_code == 200
        and "&lt;script&gt;" in transcript.text
        and "<script>alert" not in transcript.text
    )


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("/runs/nope", 404, "no report run named &#39;nope&#39;"),
        ("/runs/..%2Fplay", 404, ""),
        ("/play?persona=S9", 404, "no test persona &#39;S9&#39;"),
        ("/play/unknown-game", 404, "no dialogue in progress"),
        ("/nowhere", 404, "no such page"),
    ],
)
def test_unknown_names_get_a_clear_page_and_no_traceback(client, path, status, words):
    page = client.get(path)
    assert page.status_code == status and words in page.text and 'id="error-message"' in page.text
    assert "Traceback" not in page.text


def test_bad_form_input_gets_a_clear_page(client):
    page = client.post("/play", data={"collector": "haggler", "persona": "S1"})
    assert page.status_code == 404 and "allowed collectors:" in page.text and "Traceback" not in page.text
    page = client.post("/play", data={"persona": "S1"})
    assert page.status_code == 400 and "collector: Field required" in page.text


def test_the_server_binds_to_localhost_by_default():
    assert stage_config("serve").host == "127.0.0.1"  # what `make serve` runs


def test_an_llm_collector_plays_through_the_same_path(table, tiny_model_dir, monkeypatch):
    """Any collector name `make eval` accepts: here the prompted tiny model (untrained, so format errors are fine)."""
    monkeypatch.setenv("DEBTGPT_TINY_DIR", str(tiny_model_dir))
    game = table.start("tiny-llm", "S1")
    collector_turn = game.trajectory.turns[0]
    assert collector_turn.role == "collector" and collector_turn.raw is not None  # the model's own text, kept
    table.debtor_turn(game.id, "non", "vague response", "Who is this?")
    table.debtor_turn(game.id, "hangup", "complaint", "Bye.")
    [saved] = table.saved()["tiny-llm"]
    assert saved.outcome == "hangup" and [t.role for t in saved.turns] == [
        "collector",
        "debtor",
        "collector",
        "debtor",
    ]
    table.close()


def test_a_collector_that_cannot_run_is_refused_before_its_first_turn_and_nothing_is_saved(client, table, monkeypatch):
    """As `make eval` checks at start-up: gpt-4o without its key gets one line at once, and no error dialogue."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(
        BadRequest,
        match=(
            r"^collector 'gpt-4o' \(.*gpt-4o.yaml, openai backend\) cannot run: "
            r"no API key: OPENAI_API_KEY is not set"
        ),
    ):
        table.start("gpt-4o", "S1")
    page = client.post("/play", data={"collector": "gpt-4o", "persona": "S1"})
    assert page.status_code == 400 and "OPENAI_API_KEY is not set" in page.text and "Traceback" not in page.text
    assert not table.games and not table.run_dir.exists()  # no game started, no report written
