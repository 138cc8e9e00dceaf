"""Every agent spec is validated in full, and every agent's needs are checked, before the first dialogue."""

import socket
import subprocess
import sys

import pytest

from debtgpt.agents.factory import check_agents, load_spec
from pipeline.cli import StageError


def write_spec(root, role, name, text):
    (root / role).mkdir(parents=True, exist_ok=True)
    (root / role / f"{name}.yaml").write_text(text)
    return root / role / f"{name}.yaml"


# (spec text, what the one-line error must say besides the file's name)
BAD_SPECS = [
    ("kind: llm\nbackend: {kind: hf, model: tiny\n", ["not valid YAML", "line"]),
    ("- kind: llm\n", ["must be a mapping", "allowed fields: kind, backend"]),
    (
        "kind: llm\nbackend: {kind: hf, model: tiny}\nsampeling: {temperature: 0.5}\n",
        ["unknown field 'sampeling'", "did you mean 'sampling'"],
    ),
    (
        "kind: llm\nbackend: {kind: hf, model: tiny}\nsampling: {temperature: hot}\n",
        ["sampling.temperature='hot'", "a number"],
    ),
    (
        "kind: llm\nbackend: {kind: hf, model: tiny}\nsampling: {temperature: -1}\n",
        ["sampling.temperature=-1", ">= 0"],
    ),
    (
        "kind: llm\nbackend: {kind: hf, model: tiny}\nsampling: {top_k: 5}\n",
        ["sampling.top_k is not a sampling setting", "allowed: temperature"],
    ),
    ("kind: llm\nbackend: {kind: hf, model: tiny}\nsampling: {max_tokens: 1.5}\n", ["sampling.max_tokens=1.5", "int"]),
    (
        "kind: llm\nbackend: {kind: hf, model: tiny, devcie: cpu}\n",
        ["backend.devcie is not a setting of the hf backend", "did you mean 'device'", "allowed: model"],
    ),
    ("kind: llm\nbackend: {kind: hf, model: tiny, batch_size: many}\n", ["backend.batch_size='many'", "int"]),
    ("kind: llm\nbackend: {kind: tpu, model: tiny}\n", ["backend.kind='tpu'", "allowed kinds: hf, vllm, openai"]),
    ("kind: llm\nbackend: {kind: openai, model: m, max_concurrency: 1.5}\n", ["backend.max_concurrency=1.5"]),
    ("kind: maden\nbackend: {kind: hf, model: tiny}\nmax_retries: lots\n", ["max_retries='lots'", "int"]),
    ("kind: maden\nbackend: {kind: hf, model: tiny}\nmax_retries: -1\n", ["max_retries=-1", "0 or more"]),
    (
        "kind: maden\nbackend: {kind: hf, model: tiny}\njudge_backend: {kind: hf, modle: tiny}\n",
        ["judge_backend.modle", "did you mean 'model'"],
    ),
    ("kind: llm\nbackend: {kind: hf, model: tiny}\nmax_retries: 3\n", ["max_retries is a MADeN setting"]),
    ("kind: llm\nbackend: {kind: hf, model: tiny}\nguided_json: maybe\n", ["guided_json='maybe'", "bool"]),
    ("kind: planner\nbackend: {kind: hf, model: tiny}\n", ["kind='planner'", "allowed kinds: llm, maden"]),
    ("kind: llm\n", ["backend is missing"]),
    ("kind: llm\nbackend: {kind: hf, model: tiny}\n\xff\n", ["not valid YAML"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SPECS)
def test_a_bad_spec_fails_in_one_line_naming_the_file_and_field(tmp_path, text, expected):
    path = tmp_path / "collector" / "bad.yaml"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape") if "\xff" not in text else text.encode("latin-1"))
    with pytest.raises(ValueError) as caught:
        load_spec("collector", "bad", tmp_path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    for part in expected:
        assert part in message


def test_the_shipped_specs_are_valid():
    from debtgpt.agents.factory import available, spec_files

    for role in ("collector", "debtor", "judge"):
        for name in spec_files(role):
            assert load_spec(role, name).backend["kind"] in ("hf", "vllm", "openai"), name
        assert available(role)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_a_hosted_api_without_its_key_is_refused_before_any_dialogue(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    write_spec(
        tmp_path,
        "collector",
        "hosted",
        "kind: llm\nbackend: {kind: openai, model: m, base_url: 'https://api.example.com/v1', api_key_env: MY_KEY}\n",
    )
    with pytest.raises(
        StageError, match="collector 'hosted'.*cannot run: no API key: MY_KEY is not set; export MY_KEY="
    ):
        check_agents(["firm", "hosted"], configs_dir=tmp_path)


def test_an_unreachable_server_is_refused_before_any_dialogue(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    write_spec(tmp_path, "debtor", "served", f"kind: llm\nbackend: {{kind: openai, model: m, base_url: '{url}'}}\n")
    with pytest.raises(
        StageError, match=f"debtor 'served'.*the server at {url} cannot be reached.*start it or fix backend.base_url"
    ):
        check_agents(["firm"], ["served"], configs_dir=tmp_path)


def test_a_missing_package_is_refused_before_any_dialogue(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    write_spec(tmp_path, "judge", "big", "kind: llm\nbackend: {kind: vllm, model: Qwen/Qwen2.5-7B-Instruct}\n")
    with pytest.raises(StageError, match=r"judge 'big'.*vllm package is not installed; pip install -e \"\.\[vllm\]\""):
        check_agents(judges=["big"], configs_dir=tmp_path)


def test_a_missing_checkpoint_is_refused_before_any_dialogue(tmp_path):
    write_spec(
        tmp_path,
        "collector",
        "trained",
        f"kind: maden\nbackend: {{kind: hf, model: tiny}}\n"
        f"planner_backend: {{kind: hf, model: {tmp_path}/checkpoints/sft/final}}\n",
    )
    with pytest.raises(
        StageError, match=f"collector 'trained'.*model folder {tmp_path}/checkpoints/sft/final does not exist"
    ):
        check_agents(["trained"], configs_dir=tmp_path)
    write_spec(
        tmp_path,
        "collector",
        "adapted",
        "kind: llm\nbackend: {kind: hf, model: tiny, adapter: checkpoints/none/final}\n",
    )
    with pytest.raises(StageError, match="adapter folder checkpoints/none/final does not exist; train it first"):
        check_agents(["adapted"], configs_dir=tmp_path)


def test_agents_that_can_run_pass(tmp_path):
    write_spec(tmp_path, "collector", "local", "kind: llm\nbackend: {kind: hf, model: tiny}\n")
    checked = check_agents(["firm", "local"], ["scripted"], ["none", "heuristic"], configs_dir=tmp_path)
    assert checked == [{"kind": "hf", "model": "tiny"}]  # the one backend, checked; the built-in agents have none


def test_eval_with_an_unusable_collector_exits_non_zero_before_any_dialogue(tmp_path):
    from data_gen.make_data import make_data
    from pipeline.config import DataConfig

    make_data(DataConfig(num_records=40, out_dir=str(tmp_path / "data")))
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eval.run",
            "collectors=[firm,gpt-4o]",
            f"data_dir={tmp_path / 'data'}",
            f"reports_dir={tmp_path / 'reports'}",
            "run=r",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: collector 'gpt-4o'") and "OPENAI_API_KEY is not set" in lines[-1]
    assert not (tmp_path / "reports" / "r" / "trajectories").exists()  # firm never started
