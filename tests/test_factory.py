"""Agents by name: spec files are typed, backends are shared, and eval puts every kind side by side."""

import pytest

from data_gen.make_data import make_data
from debtgpt.agents.factory import AgentFactory, available, check_names, load_spec
from eval.run import evaluate_collectors
from pipeline.config import DataConfig, EvalConfig


def write_spec(root, role, name, text):
    (root / role).mkdir(parents=True, exist_ok=True)
    (root / role / f"{name}.yaml").write_text(text)


def test_names_list_builtins_and_spec_files(tmp_path):
    write_spec(tmp_path, "collector", "mine", "kind: llm\nbackend: {kind: hf, model: tiny}\n")
    assert available("collector", tmp_path) == ["conceder", "expert", "firm", "mine"]
    assert available("judge", tmp_path) == ["heuristic", "none"]
    with pytest.raises(ValueError, match="unknown debtor.*'robot'.*allowed debtors: scripted"):
        check_names("debtor", ["robot"], tmp_path)


def test_a_misspelt_spec_key_fails_with_its_name(tmp_path):
    write_spec(tmp_path, "collector", "typo", "kind: llm\nbackend: {kind: hf}\nmax_retires: 3\n")
    with pytest.raises(Exception, match="max_retires"):
        load_spec("collector", "typo", tmp_path)


def test_a_wrong_kind_names_the_allowed_ones(tmp_path):
    write_spec(tmp_path, "debtor", "planner", "kind: maden\nbackend: {kind: hf}\n")
    with pytest.raises(ValueError, match="kind='maden' is not allowed for a debtor; allowed kinds: llm"):
        load_spec("debtor", "planner", tmp_path)


def test_agents_with_the_same_backend_share_one_engine(tmp_path, tiny_model_dir):
    backend = f"{{kind: hf, model: {tiny_model_dir}, device: cpu}}"
    write_spec(tmp_path, "collector", "plain", f"kind: llm\nbackend: {backend}\n")
    write_spec(tmp_path, "collector", "maden", f"kind: maden\nbackend: {backend}\nmax_retries: 1\n")
    write_spec(tmp_path, "debtor", "llm", f"kind: llm\nbackend: {backend}\n")
    agents = AgentFactory(tmp_path)
    plain, maden, debtor = agents.collector("plain"), agents.collector("maden"), agents.debtor("llm")
    assert plain.backend is maden.backend is debtor.backend
    agents.close()


def test_specs_that_use_one_backend_block_share_one_engine(tmp_path, tiny_model_dir, monkeypatch):
    """A collector, a debtor and a judge written apart, each naming the block configs/agents/backends/tiny-cpu.yaml:
    the factory builds that backend once; a spec that overrides a setting of the block gets an engine of its own."""
    import debtgpt.backends

    built = []
    real = debtgpt.backends.make_backend
    monkeypatch.setattr(debtgpt.backends, "make_backend", lambda cfg: built.append(cfg) or real(cfg))
    write_spec(tmp_path, "backends", "tiny-cpu", f"kind: hf\nmodel: {tiny_model_dir}\ndevice: cpu\n")
    write_spec(tmp_path, "collector", "talker", "kind: llm\nbackend: {use: tiny-cpu}\n")
    write_spec(
        tmp_path, "collector", "planner", "kind: maden\nbackend: {use: tiny-cpu}\nplanner_backend: {use: tiny-cpu}\n"
    )
    write_spec(tmp_path, "debtor", "llm", "kind: llm\nbackend: {use: tiny-cpu}\nsampling: {temperature: 0.9}\n")
    write_spec(tmp_path, "judge", "small", "kind: llm\nbackend: {use: tiny-cpu}\n")
    write_spec(tmp_path, "collector", "batched", "kind: llm\nbackend: {use: tiny-cpu, batch_size: 4}\n")
    agents = AgentFactory(tmp_path)
    collector, maden, debtor, judge = (
        agents.collector("talker"),
        agents.collector("planner"),
        agents.debtor("llm"),
        agents.judge("small"),
    )
    assert collector.backend is debtor.backend is judge.backend is maden.backend is maden.planner_backend
    assert len(built) == 1 and built[0] == {"kind": "hf", "model": str(tiny_model_dir), "device": "cpu"}
    batched = agents.collector("batched")
    assert batched.backend is not collector.backend and len(built) == 2 and built[1]["batch_size"] == 4
    agents.close()


@pytest.mark.slow
def test_scripted_llm_and_maden_collectors_side_by_side_with_an_llm_debtor_and_judge(
    tmp_path, tiny_model_dir, monkeypatch
):
    """The documented command: make eval ARGS="collectors=[expert,tiny-llm,tiny-maden] debtor=tiny-llm judge=tiny" """
    monkeypatch.setenv("DEBTGPT_TINY_DIR", str(tiny_model_dir))
    make_data(DataConfig(num_records=40, out_dir=str(tmp_path / "data")))
    cfg = EvalConfig(
        collectors=["expert", "tiny-llm", "tiny-maden"],
        debtor="tiny-llm",
        judge="tiny",
        data_dir=str(tmp_path / "data"),
        max_scenarios=2,
        samples=1,
        max_turns=4,
        progress=False,
        plots=False,
    )
    results = evaluate_collectors(cfg, tmp_path / "report")
    assert set(results["collectors"]) == {"expert", "tiny-llm", "tiny-maden"}
    for name, result in results["collectors"].items():
        assert result["n"] == 2 and result["overall"]["AT"] <= 4
        assert (tmp_path / "report" / "trajectories" / f"{name}.jsonl").read_text().count("\n") == 2
    # untrained weights: malformed turns are counted, never fatal
    assert results["collectors"]["tiny-llm"]["overall"]["format_errors"] > 0
    assert results["config"]["debtor"] == "tiny-llm" and results["config"]["judge"] == "tiny"
