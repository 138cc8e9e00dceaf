"""Agents by name: the scripted baselines, or a spec file in configs/collector/ (LLM, MADeN, trained checkpoints)."""
from __future__ import annotations

from pathlib import Path

from debtgpt.agents.base import Agent
from debtgpt.agents.scripted import SCRIPTED_COLLECTORS, ScriptedDebtor, make_scripted_collector

DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
SCRIPTED_DEBTORS = ("scripted",)


def collector_spec_files(configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> dict[str, Path]:
    folder = Path(configs_dir) / "collector"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def available_collectors(configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> list[str]:
    return sorted(set(SCRIPTED_COLLECTORS) | set(collector_spec_files(configs_dir)))


def check_collector_names(names, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> None:
    """Fail before any work starts if a collector name is unknown, naming the allowed ones."""
    allowed = available_collectors(configs_dir)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown collector(s) {', '.join(map(repr, unknown))}; allowed collectors: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"collectors must be distinct, got {list(names)}")


def make_collector(name: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> Agent:
    check_collector_names([name], configs_dir)
    if name in SCRIPTED_COLLECTORS:
        return make_scripted_collector(name)
    from omegaconf import OmegaConf

    spec = OmegaConf.to_container(OmegaConf.load(collector_spec_files(configs_dir)[name]), resolve=True)
    return make_llm_collector(name, spec)


def make_llm_collector(name: str, spec: dict) -> Agent:
    raise ValueError(f"collector {name!r}: LLM collector specs are not supported yet (kind={spec.get('kind')!r})")


def make_debtor(name: str) -> Agent:
    if name not in SCRIPTED_DEBTORS:
        raise ValueError(f"unknown debtor {name!r}; allowed debtors: {', '.join(SCRIPTED_DEBTORS)}")
    return ScriptedDebtor(name)
