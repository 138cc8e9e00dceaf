"""Agents by name: the scripted baselines, or a spec file under configs/agents/{collector,debtor,judge}/NAME.yaml.

A spec names its kind, its backend(s) and its sampling. Specs are loaded by debtgpt/agents/specs.py, which merges
each into OmegaConf structured configs (`AgentSpec`, each backend kind's settings, `Sampling`), so a misspelt key
or a wrong type fails in one line naming the file, the field and what is allowed.

A backend several specs use has one home, configs/agents/backends/NAME.yaml, and specs refer to it by name:

    backend: {use: qwen7b-vllm}                                # the block as it is
    backend: {use: qwen7b-vllm, gpu_memory_utilization: 0.9}   # with settings of this spec's own on top

Backends with the same settings are built once and shared (`BackendPool`): the collector, the debtor and the judge
that use one block as it is run on one engine.
"""

from __future__ import annotations

import json
from pathlib import Path

from debtgpt.agents.base import Agent
from debtgpt.agents.guard import GUARD_SUFFIX, EnvelopeGuard
from debtgpt.agents.scripted import SCRIPTED_COLLECTORS, ScriptedDebtor, make_scripted_collector
from debtgpt.agents.specs import DEFAULT_CONFIGS_DIR, SPEC_KINDS, AgentSpec, backend_blocks, load_spec, spec_files
from debtgpt.backends.base import Backend, Sampling

__all__ = [
    "DEFAULT_CONFIGS_DIR",
    "SPEC_KINDS",
    "AgentFactory",
    "AgentSpec",
    "BackendPool",
    "available",
    "backend_blocks",
    "check_agents",
    "check_names",
    "load_spec",
    "spec_files",
]

# Not Hydra config groups: a stage names several collectors at once (eval), so specs are selected by name.
SCRIPTED_DEBTORS = ("scripted",)
NO_JUDGE, HEURISTIC_JUDGE = "none", "heuristic"


def available(role: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> list[str]:
    builtin = {"collector": SCRIPTED_COLLECTORS, "debtor": SCRIPTED_DEBTORS, "judge": (NO_JUDGE, HEURISTIC_JUDGE)}[
        role
    ]
    return sorted(set(builtin) | set(spec_files(role, configs_dir)))


def check_names(role: str, names, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> None:
    """Fail before any work starts if a name is unknown, naming the allowed ones."""
    allowed = available(role, configs_dir)
    # any collector can run behind the envelope guard as NAME+guard (agents/guard.py)
    unknown = [n for n in names if (n.removesuffix(GUARD_SUFFIX) if role == "collector" else n) not in allowed]
    if unknown:
        raise ValueError(f"unknown {role}(s) {', '.join(map(repr, unknown))}; allowed {role}s: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{role}s must be distinct, got {list(names)}")


def sampling_from(sampling: Sampling | None) -> Sampling:
    """The sampling of a spec (load_spec has checked its keys, types and ranges); none given: the defaults."""
    return sampling if sampling is not None else Sampling()


def check_agents(collectors=(), debtors=(), judges=(), configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> list[dict]:
    """Before any dialogue: every name known, every spec valid in full, and every backend able to run (its key,
    server, package and local checkpoint there). The first problem ends the run in one line; otherwise the
    backend settings checked are returned, each once (built-in agents have none)."""
    from debtgpt.backends.registry import backend_class
    from debtgpt.checks import StageError

    checked: dict[str, str | None] = {}
    for role, names in (("collector", collectors), ("debtor", debtors), ("judge", judges)):
        check_names(role, list(names), configs_dir)
        for name in names:
            name = name.removesuffix(GUARD_SUFFIX) if role == "collector" else name
            if name not in spec_files(role, configs_dir):
                continue  # built in
            spec = load_spec(role, name, configs_dir)
            for settings in (spec.backend, spec.planner_backend, spec.judge_backend):
                if settings is None:
                    continue
                key = json.dumps(settings, sort_keys=True, default=str)
                if key not in checked:
                    options = {k: v for k, v in settings.items() if k != "kind"}
                    checked[key] = backend_class(settings["kind"]).preflight(**options)
                if checked[key]:
                    path = spec_files(role, configs_dir)[name]
                    raise StageError(
                        f"{role} {name!r} ({path}, {settings['kind']} backend) cannot run: {checked[key]}"
                    )
    return [json.loads(key) for key in checked]


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
        if name.endswith(GUARD_SUFFIX):
            return EnvelopeGuard(self.collector(name.removesuffix(GUARD_SUFFIX)))
        if name in SCRIPTED_COLLECTORS:
            return make_scripted_collector(name)
        spec = load_spec("collector", name, self.configs_dir)
        sampling = sampling_from(spec.sampling)
        backend = self.pool.get(spec.backend)
        if spec.kind == "maden":
            from debtgpt.agents.maden import MADeNCollector

            return MADeNCollector(
                backend,
                name=name,
                sampling=sampling,
                guided_json=spec.guided_json,
                planner_backend=self.pool.get(spec.planner_backend) if spec.planner_backend else None,
                judge_backend=self.pool.get(spec.judge_backend) if spec.judge_backend else None,
                llm_judge=spec.llm_judge,
                max_retries=spec.max_retries,
            )
        from debtgpt.agents.llm_collector import LLMCollector

        return LLMCollector(backend, name=name, sampling=sampling, guided_json=spec.guided_json)

    def debtor(self, name: str) -> Agent:
        check_names("debtor", [name], self.configs_dir)
        if name in SCRIPTED_DEBTORS:
            return ScriptedDebtor(name)
        from debtgpt.agents.llm_debtor import LLMDebtor

        spec = load_spec("debtor", name, self.configs_dir)
        return LLMDebtor(
            self.pool.get(spec.backend), name=name, sampling=sampling_from(spec.sampling), guided_json=spec.guided_json
        )

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
        return LLMJudge(self.pool.get(spec.backend), sampling=spec.sampling)  # none given: the judge's own

    def close(self) -> None:
        self.pool.close()
