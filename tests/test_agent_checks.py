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
    (
        "kind: llm\nbackend: {kind: hf, model: tiny, dtype: float16}\n",
        ["backend.dtype='float16' is not allowed", "allowed values: auto, float32, bfloat16"],
    ),
    ("kind: llm\nbackend: {kind: openai}\n", ["backend.model is missing"]),
    (
        "kind: llm\nbackend: {kind: openai, model: m, response_format: xml}\n",
        ["backend.response_format='xml' is not allowed", "allowed values: json_schema, json_object, none"],
    ),
    ("kind: llm\nbackend: qwen7b-vllm\n", ["backend='qwen7b-vllm' has the wrong type", "{use: NAME}"]),
    ("kind: llm\nbackend: {kind: vllm, model: m, max_model_len: 5.5}\n", ["backend.max_model_len=5.5", "int or null"]),
    ("kind: llm\nbackend: {kind: hf, model: tiny}\nsampling: {stop: end}\n", ["sampling.stop='end'", "a list"]),
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


def test_the_shipped_qwen_specs_use_one_backend_block():
    import yaml

    from debtgpt.agents.factory import backend_blocks

    block = yaml.safe_load(backend_blocks()["qwen7b-vllm"].read_text())
    specs = [("collector", "qwen7b-vllm"), ("collector", "qwen7b-maden-vllm"), ("debtor", "qwen7b-vllm")]
    for role, name in [*specs, ("judge", "qwen7b-vllm")]:
        assert load_spec(role, name).backend == block, (role, name)


def test_each_backend_schema_is_its_backends_arguments():
    """The schemas specs are checked against (debtgpt/backends/settings.py) name every keyword argument of their
    backend, with the same default, and nothing else."""
    import dataclasses
    import inspect

    from debtgpt.backends.registry import backend_class
    from debtgpt.backends.settings import BACKEND_SETTINGS, MISSING

    for kind, schema in BACKEND_SETTINGS.items():
        parameters = {
            name: p.default
            for name, p in inspect.signature(backend_class(kind).__init__).parameters.items()
            if name not in ("self", "engine", "model_obj", "tokenizer")
        }
        defaults = {
            f.name: MISSING if f.default is dataclasses.MISSING else f.default
            for f in dataclasses.fields(schema)
            if f.name != "kind"
        }
        assert list(defaults) == list(parameters), kind
        for name, default in parameters.items():
            expected = MISSING if default is inspect.Parameter.empty else default
            assert defaults[name] == expected, (kind, name)


def test_the_training_config_and_the_backends_take_the_same_dtypes():
    from debtgpt.backends.hf import DTYPES as HF_DTYPES
    from debtgpt.backends.settings import DTYPES, HFSettings, VLLMSettings
    from pipeline.config import Dtype

    assert [d.value for d in Dtype] == list(DTYPES) == list(HF_DTYPES)
    for schema in (HFSettings, VLLMSettings):
        assert [d.value for d in type(schema.dtype)] == list(DTYPES)


def test_a_spec_uses_a_backend_block_by_name_and_may_override_it(tmp_path):
    from debtgpt.agents.factory import backend_blocks

    write_spec(tmp_path, "backends", "local", "kind: hf\nmodel: tiny\nbatch_size: 8\n")
    write_spec(tmp_path, "collector", "plain", "kind: llm\nbackend: {use: local}\n")
    write_spec(tmp_path, "collector", "big", "kind: llm\nbackend: {use: local, batch_size: 64, device: cpu}\n")
    write_spec(tmp_path, "collector", "maden", "kind: maden\nbackend: {use: local}\njudge_backend: {use: local}\n")
    assert list(backend_blocks(tmp_path)) == ["local"]
    assert load_spec("collector", "plain", tmp_path).backend == {"kind": "hf", "model": "tiny", "batch_size": 8}
    assert load_spec("collector", "big", tmp_path).backend == {
        "kind": "hf",
        "model": "tiny",
        "batch_size": 64,
        "device": "cpu",
    }
    maden = load_spec("collector", "maden", tmp_path)
    assert maden.judge_backend == maden.backend == {"kind": "hf", "model": "tiny", "batch_size": 8}


# (spec text, block text, what the one-line error must say, and whether it names the block's file)
BAD_BLOCK_USES = [
    (
        "kind: llm\nbackend: {use: locl}\n",
        "kind: hf\n",
        ["backend.use='locl' is not a backend block", "did you mean 'local'", "allowed blocks: local"],
        False,
    ),
    (
        "kind: maden\nbackend: {use: local}\nplanner_backend: {use: remote}\n",
        "kind: hf\n",
        ["planner_backend.use='remote'", "allowed blocks: local"],
        False,
    ),
    (
        "kind: llm\nbackend: {use: local, devcie: cpu}\n",
        "kind: hf\n",
        ["backend.devcie is not a setting of the hf backend", "did you mean 'device'"],
        False,
    ),
    (
        "kind: llm\nbackend: {use: local}\n",
        "kind: hf\nmodle: tiny\n",
        ["the backend of", "modle is not a setting of the hf backend", "did you mean 'model'"],
        True,
    ),
    (
        "kind: llm\nbackend: {use: local}\n",
        "kind: hf\ndtype: float16\n",
        ["dtype='float16' is not allowed", "allowed values: auto"],
        True,
    ),
    ("kind: llm\nbackend: {use: local}\n", "kind: tpu\n", ["kind='tpu' is not a backend", "allowed kinds: hf"], True),
    ("kind: llm\nbackend: {use: local}\n", "[kind, hf]\n", ["must be a mapping", "kind (hf, vllm, openai)"], True),
    ("kind: llm\nbackend: {use: local}\n", "kind: {hf\n", ["not valid YAML"], True),
]


@pytest.mark.parametrize(("spec", "block", "expected", "names_block"), BAD_BLOCK_USES)
def test_a_bad_block_or_an_unknown_block_name_fails_in_one_line(tmp_path, spec, block, expected, names_block):
    spec_path = write_spec(tmp_path, "collector", "bad", spec)
    block_path = write_spec(tmp_path, "backends", "local", block)
    with pytest.raises(ValueError) as caught:
        load_spec("collector", "bad", tmp_path)
    message = str(caught.value)
    assert "\n" not in message and (str(block_path) in message) == names_block
    assert str(spec_path) in message
    for part in expected:
        assert part in message, message


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
