"""GPU settings that can be pinned on the CPU: the trainer config exists before the model loads, and final/ is
saved (and loaded) in the training dtype."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf
from safetensors import safe_open

import train.checkpoints
import train.model_loading
import train.trainer_config
from pipeline.config import stage_config
from train.dpo import train_dpo
from train.sft import train_sft
from train.trainer_config import training_dtype

from workload import SFT_SET, write_workload


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return write_workload(tmp_path_factory.mktemp("pairs"), n_scenarios=2)


# the workload's pairs are turn level, with every collector token in the loss
TURN_LEVEL = dict(level="turn", decision_tokens=None, eval_steps=None, precompute_ref_log_probs=False)


def run_config(kind, tiny_model_dir, pairs_dir, root, **overrides):
    if kind == "sft":
        base = dict(data=str(pairs_dir / SFT_SET), model={"name": str(tiny_model_dir)})
    else:
        base = dict(pairs_dir=str(pairs_dir), init_from=str(tiny_model_dir), lora={"r": 4, "alpha": 8}, **TURN_LEVEL)
    cfg = stage_config(kind)
    base.update(
        checkpoints_dir=str(root),
        per_device_train_batch_size=1,
        max_steps=1,
        logging_steps=1,
        wandb={"mode": "disabled"},
        trl={"disable_tqdm": True},
    )
    return OmegaConf.merge(cfg, base, overrides)


class ModelLoaded(Exception):
    pass


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_the_trainer_config_is_built_before_the_model_loads(kind, tiny_model_dir, pairs_dir, tmp_path, monkeypatch):
    # Building TrainingArguments sets up the distributed state that ZeRO-3's partitioned init and FSDP's
    # cpu-RAM-efficient loading read inside from_pretrained, so it must come first.
    import trl

    events = []
    config_class = trl.SFTConfig if kind == "sft" else trl.DPOConfig

    class Recorded(config_class):
        def __post_init__(self):
            events.append("trainer config")
            super().__post_init__()

    def load_model(path, model_cfg):
        events.append("model")
        raise ModelLoaded

    monkeypatch.setattr(trl, config_class.__name__, Recorded)
    monkeypatch.setattr(train.model_loading, "load_model", load_model)
    with pytest.raises(ModelLoaded):
        (train_sft if kind == "sft" else train_dpo)(
            run_config(kind, tiny_model_dir, pairs_dir, tmp_path), tmp_path / kind
        )
    assert events == ["trainer config", "model"]


def test_the_training_dtype_is_bf16_on_a_gpu_that_has_it_unless_the_model_dtype_says_otherwise(monkeypatch):
    cfg = stage_config("sft")
    assert training_dtype(cfg) == "float32"  # this machine: CPU, fp32
    monkeypatch.setattr(train.trainer_config, "_gpu_has_bf16", lambda: True)
    assert training_dtype(cfg) == "bfloat16"
    assert training_dtype(OmegaConf.merge(cfg, {"model": {"dtype": "float32"}})) == "float32"
    assert training_dtype(OmegaConf.merge(cfg, {"precision": "fp32"})) == "float32"
    assert training_dtype(OmegaConf.merge(cfg, {"model": {"dtype": "bfloat16"}, "precision": "fp32"})) == "bfloat16"


def weight_dtypes(folder) -> set:
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        return {weights.get_slice(name).get_dtype() for name in weights.keys()}


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_final_is_saved_and_loaded_in_the_training_dtype(kind, tiny_model_dir, pairs_dir, tmp_path, monkeypatch):
    # Stand in for a GPU with bf16: the 1-step run trains in fp32 here, final/ must still come out in bf16.
    monkeypatch.setattr(train.checkpoints, "training_dtype", lambda cfg: "bfloat16")
    out = (train_sft if kind == "sft" else train_dpo)(
        run_config(kind, tiny_model_dir, pairs_dir, tmp_path), tmp_path / kind
    )
    final = tmp_path / kind / "final"
    assert not out["trainer"].args.bf16  # the run itself was fp32
    assert json.loads((final / "config.json").read_text())["dtype"] == "bfloat16"
    assert weight_dtypes(final) == {"BF16"}
    assert sorted(p.name for p in final.glob("model*")) == ["model.safetensors"]

    from debtgpt.backends.hf import HFBackend

    assert (
        HFBackend(str(final), device="cpu").model.dtype == torch.bfloat16
    )  # evaluation loads it as saved (dtype=auto)


def test_the_hf_backend_never_compiles_decoding_unless_asked(tiny_model_dir):
    # transformers 5.17 would torch.compile decoding by itself with the static cache on CUDA
    from debtgpt.backends.base import Sampling
    from debtgpt.backends.hf import HFBackend

    backend = HFBackend(str(tiny_model_dir), device="cpu", batch_size=2, prefix_cache_gib=0)  # the model.generate path
    passed = []
    generate = backend.model.generate
    backend.model.generate = lambda **options: passed.append(options) or generate(**options)
    backend.generate([[{"role": "user", "content": "hello"}]], Sampling(temperature=0.0, max_tokens=2))
    assert passed[0]["disable_compile"] is True and passed[0]["cache_implementation"] == "static"
    with pytest.raises(
        ValueError, match="compile=true needs device=cuda, cache_implementation='static' and prefix_cache_gib=0"
    ):
        HFBackend(str(tiny_model_dir), device="cpu", compile=True)
