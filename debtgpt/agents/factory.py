"""Agents by name: the scripted baselines, or a spec file under configs/agents/{collector,debtor,judge}/NAME.yaml.

A spec names its kind and its backend(s); specs are checked against `AgentSpec`, so a misspelt key fails
with its name. Backends with the same settings are built once and shared (one vLLM engine can serve the
collector, the debtor and the judge).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from debtgpt.agents.base import Agent
from debtgpt.agents.guard import GUARD_SUFFIX, EnvelopeGuard
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


def load_spec(role: str, name: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> AgentSpec:
    """The spec file of an agent, checked in full: YAML, fields, kinds, backend and sampling settings and
    their types. Every error is one line naming the file, the field and what is allowed."""
    import yaml

    path = spec_files(role, configs_dir)[name]
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(
            f"{path}: not valid YAML{where} ({getattr(exc, 'problem', None) or type(exc).__name__}); fix the file"
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: must be a mapping of fields; allowed fields: {', '.join(SPEC_FIELDS)}")
    for key, value in raw.items():
        if key not in SPEC_FIELDS:
            raise ValueError(
                f"{path}: unknown field {key!r}{_did_you_mean(key, SPEC_FIELDS)}; "
                f"allowed fields: {', '.join(SPEC_FIELDS)}"
            )
        _check_type(path, key, value, SPEC_FIELDS[key])
    spec = AgentSpec(**raw)
    if spec.kind not in SPEC_KINDS[role]:
        raise ValueError(
            f"{path}: kind={spec.kind!r} is not allowed for a {role}; allowed kinds: {', '.join(SPEC_KINDS[role])}"
        )
    if not spec.backend:
        raise ValueError(f"{path}: backend is missing; it needs at least kind (hf, vllm or openai) and model")
    if spec.max_retries < 0:
        raise ValueError(f"{path}: max_retries={spec.max_retries} must be 0 or more")
    for field_name in ("backend", "planner_backend", "judge_backend"):
        if getattr(spec, field_name) is not None:
            check_backend_settings(path, field_name, getattr(spec, field_name))
    check_sampling_settings(path, spec.sampling)
    if spec.kind != "maden":
        extra = [f for f in ("planner_backend", "judge_backend") if raw.get(f) is not None] + [
            f for f in ("llm_judge", "max_retries") if f in raw
        ]
        if extra:
            raise ValueError(f"{path}: {extra[0]} is a MADeN setting; set kind: maden or remove it")
    return spec


# The fields of a spec file and the types their values must have.
SPEC_FIELDS = {f.name: f.type for f in fields(AgentSpec)}
_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "dict": (dict,),
    "list": (list,),
    "None": (type(None),),
}


def _did_you_mean(key, allowed) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_types(annotation: str) -> tuple | None:
    """Python types of an annotation written as text ("int", "str | None", "Optional[dict]"); None: unchecked."""
    text = annotation.replace(" ", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional[") : -1] + "|None"
    names = [part.split("[")[0] for part in text.split("|") if part]
    if not names or any(n not in _TYPES for n in names):
        return None
    return tuple(t for n in names for t in _TYPES[n])


def _check_type(path, name: str, value, annotation) -> None:
    allowed = _allowed_types(annotation if isinstance(annotation, str) else getattr(annotation, "__name__", ""))
    if allowed is None:
        return
    wrong_bool = isinstance(value, bool) and bool not in allowed
    if wrong_bool or not isinstance(value, allowed):
        shown = " or ".join(
            sorted({"null" if t is type(None) else "a number" if t is float else t.__name__ for t in allowed})
        )
        raise ValueError(f"{path}: {name}={value!r} has the wrong type; allowed: {shown}")


def check_backend_settings(path, field_name: str, settings) -> None:
    """kind must be a backend kind, and every other key an argument of that backend, of the right type."""
    import inspect

    from debtgpt.backends.registry import BACKEND_KINDS, backend_class

    kind = settings.get("kind")
    if kind not in BACKEND_KINDS:
        raise ValueError(
            f"{path}: {field_name}.kind={kind!r} is not a backend; allowed kinds: {', '.join(BACKEND_KINDS)}"
        )
    parameters = {
        name: p
        for name, p in inspect.signature(backend_class(kind).__init__).parameters.items()
        if name not in ("self", "engine", "model_obj", "tokenizer")
    }
    for key, value in settings.items():
        if key == "kind":
            continue
        if key not in parameters:
            raise ValueError(
                f"{path}: {field_name}.{key} is not a setting of the {kind} backend{_did_you_mean(key, parameters)}; "
                f"allowed: {', '.join(parameters)}"
            )
        _check_type(path, f"{field_name}.{key}", value, parameters[key].annotation)


def check_sampling_settings(path, settings: dict) -> None:
    """Known Sampling fields of the right types and in range: a temperature of `hot` fails here, not mid-run."""
    allowed = {f.name: f.type for f in fields(Sampling)}
    for key, value in settings.items():
        if key not in allowed:
            raise ValueError(
                f"{path}: sampling.{key} is not a sampling setting{_did_you_mean(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
        _check_type(path, f"sampling.{key}", value, allowed[key])
    ranges = {
        "temperature": (lambda v: v >= 0, ">= 0"),
        "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"),
        "max_tokens": (lambda v: v >= 1, ">= 1"),
    }
    for key, (ok, text) in ranges.items():
        if key in settings and not ok(settings[key]):
            raise ValueError(f"{path}: sampling.{key}={settings[key]!r} is out of range; allowed: {text}")


def sampling_from(settings: dict) -> Sampling:
    """Sampling of a spec; load_spec has checked every key, type and range (check_sampling_settings)."""
    return Sampling(**settings)


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
        return LLMJudge(self.pool.get(spec.backend), sampling=sampling_from(spec.sampling) if spec.sampling else None)

    def close(self) -> None:
        self.pool.close()
