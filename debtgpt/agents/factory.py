"""Agents by name: the scripted baselines, or a spec file under configs/agents/{collector,debtor,judge}/NAME.yaml.

A spec names its kind and its backend(s); specs are checked against `AgentSpec`, so a misspelt key fails
with its name. Backends with the same settings are built once and shared (one vLLM engine can serve the
collector, the debtor and the judge).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from debtgpt.agents.base import Agent
from debtgpt.agents.scripted import SCRIPTED_COLLECTORS, ScriptedDebtor, make_scripted_collector
from debtgpt.backends.base import Backend, Sampling

# Not Hydra config groups: a stage names several collectors at once (eval), so specs are selected by name.
DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs" / "agents"
SCRIPTED_DEBTORS = ("scripted",)
NO_JUDGE, HEURISTIC_JUDGE = "none", "heuristic"
SPEC_KINDS = {"collector": ("llm", "maden"), "debtor": ("llm",), "judge": ("llm",)}


@dataclass
class AgentSpec:
    # llm or maden (collectors); llm (debtors and judges)
    kind: str = "llm"
    # backend settings: {"kind": "hf"|"vllm"|"openai", ...}; see debtgpt/backends
    backend: dict = field(default_factory=dict)
    # sampling settings (debtgpt.backends.base.Sampling fields)
    sampling: dict = field(default_factory=dict)
    # ask the backend to constrain turns to the JSON schema where it can
    guided_json: bool = True
    # MADeN only: backends of the planning and judging modules (default: the main backend)
    planner_backend: Optional[dict] = None
    judge_backend: Optional[dict] = None
    # MADeN only: an LLM check after the deterministic envelope check, and how many drafts go back
    llm_judge: bool = False
    max_retries: int = 2
    # free text shown in listings
    description: str = ""


def spec_files(role: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> dict[str, Path]:
    folder = Path(configs_dir) / role
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def available(role: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> list[str]:
    builtin = {"collector": SCRIPTED_COLLECTORS, "debtor": SCRIPTED_DEBTORS, "judge": (NO_JUDGE, HEURISTIC_JUDGE)}[role]
    return sorted(set(builtin) | set(spec_files(role, configs_dir)))


def check_names(role: str, names, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> None:
    """Fail before any work starts if a name is unknown, naming the allowed ones."""
    allowed = available(role, configs_dir)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown {role}(s) {', '.join(map(repr, unknown))}; allowed {role}s: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{role}s must be distinct, got {list(names)}")


def load_spec(role: str, name: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> AgentSpec:
    from omegaconf import OmegaConf

    path = spec_files(role, configs_dir)[name]
    merged = OmegaConf.merge(OmegaConf.structured(AgentSpec), OmegaConf.load(path))
    spec = AgentSpec(**OmegaConf.to_container(merged, resolve=True))
    if spec.kind not in SPEC_KINDS[role]:
        raise ValueError(f"{path}: kind={spec.kind!r} is not allowed for a {role}; allowed kinds: {', '.join(SPEC_KINDS[role])}")
    if not spec.backend:
        raise ValueError(f"{path}: backend is missing; it needs at least kind (hf, vllm or openai) and model")
    return spec


def sampling_from(settings: dict) -> Sampling:
    allowed = {f.name for f in fields(Sampling)}
    unknown = set(settings) - allowed
    if unknown:
        raise ValueError(f"unknown sampling setting(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return Sampling(**settings)


class BackendPool:
    """Builds each distinct backend once; close() frees them all."""

    def __init__(self) -> None:
        self._backends: dict[str, Backend] = {}

    def get(self, settings: dict) -> Backend:
        from debtgpt.backends import make_backend

        key = json.dumps(settings, sort_keys=True, default=str)
        if key not in self._backends:
            self._backends[key] = make_backend(dict(settings))
        return self._backends[key]

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()


class AgentFactory:
    """Makes collectors, debtors and judges by name, sharing backends between them."""

    def __init__(self, configs_dir: str | Path = DEFAULT_CONFIGS_DIR, pool: BackendPool | None = None) -> None:
        self.configs_dir = configs_dir
        self.pool = pool or BackendPool()

    def collector(self, name: str) -> Agent:
        check_names("collector", [name], self.configs_dir)
        if name in SCRIPTED_COLLECTORS:
            return make_scripted_collector(name)
        spec = load_spec("collector", name, self.configs_dir)
        sampling = sampling_from(spec.sampling)
        backend = self.pool.get(spec.backend)
        if spec.kind == "maden":
            from debtgpt.agents.maden import MADeNCollector

            return MADeNCollector(
                backend, name=name, sampling=sampling, guided_json=spec.guided_json,
                planner_backend=self.pool.get(spec.planner_backend) if spec.planner_backend else None,
                judge_backend=self.pool.get(spec.judge_backend) if spec.judge_backend else None,
                llm_judge=spec.llm_judge, max_retries=spec.max_retries,
            )
        from debtgpt.agents.llm_collector import LLMCollector

        return LLMCollector(backend, name=name, sampling=sampling, guided_json=spec.guided_json)

    def debtor(self, name: str) -> Agent:
        check_names("debtor", [name], self.configs_dir)
        if name in SCRIPTED_DEBTORS:
            return ScriptedDebtor(name)
        from debtgpt.agents.llm_debtor import LLMDebtor

        spec = load_spec("debtor", name, self.configs_dir)
        return LLMDebtor(self.pool.get(spec.backend), name=name, sampling=sampling_from(spec.sampling), guided_json=spec.guided_json)

    def judge(self, name: str):
        """None for `none`, the offline heuristic stand-in for `heuristic`, else the LLM judge of a spec."""
        check_names("judge", [name], self.configs_dir)
        if name == NO_JUDGE:
            return None
        if name == HEURISTIC_JUDGE:
            from debtgpt.heuristic_judge import HeuristicJudge

            return HeuristicJudge()
        from debtgpt.agents.judge import LLMJudge

        spec = load_spec("judge", name, self.configs_dir)
        return LLMJudge(self.pool.get(spec.backend), sampling=sampling_from(spec.sampling) if spec.sampling else None)

    def close(self) -> None:
        self.pool.close()
