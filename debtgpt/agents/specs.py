"""Agent spec files and backend blocks: their schemas, and the one-line errors of a file that does not fit them.

A spec, configs/agents/{collector,debtor,judge}/NAME.yaml, is merged into the structured config `AgentSpec` with
OmegaConf: a misspelt field or a value of the wrong type fails there. Its `sampling` is `Sampling`'s own fields
(debtgpt/backends/base.py); each backend's settings are merged into the schema of their `kind`
(debtgpt/backends/settings.py: `HFSettings`, `VLLMSettings`, `OpenAISettings`), so a setting the backend does
not take fails before any model loads. Every error is one line naming the file, the field and what is allowed.

Backend blocks. A backend several specs use lives once, in configs/agents/backends/NAME.yaml (the settings
alone: kind, model, ...), and a spec refers to it by name, with any settings of its own on top:

    backend: {use: qwen7b-vllm}
    backend: {use: qwen7b-vllm, gpu_memory_utilization: 0.9}   # this spec's engine differs, so it is its own

The same holds for a MADeN collector's planner_backend and judge_backend. Agents whose backends come out with the
same settings share one engine (debtgpt/agents/factory.py `BackendPool`): every spec that uses a block as it is
runs on the block's one engine.

OmegaConf is imported when a spec is loaded, never when debtgpt is (tests/test_layout.py).
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import asdict, dataclass, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from debtgpt.backends.base import Sampling
from debtgpt.backends.settings import BACKEND_KINDS, BACKEND_SETTINGS

DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs" / "agents"
BACKENDS_FOLDER = "backends"  # configs/agents/backends/NAME.yaml: the blocks specs refer to with {use: NAME}
USE = "use"
SPEC_KINDS = {"collector": ("llm", "maden"), "debtor": ("llm",), "judge": ("llm",)}
BACKEND_FIELDS = ("backend", "planner_backend", "judge_backend")
MADEN_FIELDS = ("planner_backend", "judge_backend", "llm_judge", "max_retries")
BACKEND_HELP = f"a mapping: a backend's settings (kind, model, ...) or {{{USE}: NAME}} of a backend block"


@dataclass
class AgentSpec:
    # llm or maden (collectors); llm (debtors and judges)
    kind: str = "llm"
    # the backend: its settings ({kind: hf|vllm|openai, model: ..., ...}) or {use: NAME} of a backend block;
    # after load_spec, the settings in full (a block's, with the spec's own on top)
    backend: dict[str, Any] | None = None
    # sampling settings (Sampling's fields); absent: the agent's default
    sampling: Sampling | None = None
    # ask the backend to constrain turns to the JSON schema where it can
    guided_json: bool = True
    # MADeN only: backends of the planning and judging modules (default: the main backend)
    planner_backend: dict[str, Any] | None = None
    judge_backend: dict[str, Any] | None = None
    # MADeN only: an LLM check after the deterministic envelope check, and how many drafts go back
    llm_judge: bool = False
    max_retries: int = 2
    # free text shown in listings
    description: str = ""


SPEC_FIELDS = tuple(f.name for f in fields(AgentSpec))
SAMPLING_FIELDS = tuple(f.name for f in fields(Sampling))
# Ranges the types alone do not say: (holds, allowed)
SAMPLING_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "temperature": (lambda v: v >= 0, ">= 0"),
    "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "max_tokens": (lambda v: v >= 1, ">= 1"),
}


def spec_files(role: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> dict[str, Path]:
    folder = Path(configs_dir) / role
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def backend_blocks(configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> dict[str, Path]:
    """The backend blocks specs can use, by name: configs/agents/backends/NAME.yaml."""
    return spec_files(BACKENDS_FOLDER, configs_dir)


def load_spec(role: str, name: str, configs_dir: str | Path = DEFAULT_CONFIGS_DIR) -> AgentSpec:
    """The spec file of an agent, checked in full: YAML, fields, kinds, backend blocks, backend and sampling
    settings and their types. Every error is one line naming the file, the field and what is allowed."""
    path = spec_files(role, configs_dir)[name]
    raw = read_mapping(path, f"allowed fields: {', '.join(SPEC_FIELDS)}")
    spec = merge_into(AgentSpec, raw, str(path), unknown=_unknown_spec_key)
    if spec.kind not in SPEC_KINDS[role]:
        raise ValueError(
            f"{path}: kind={spec.kind!r} is not allowed for a {role}; allowed kinds: {', '.join(SPEC_KINDS[role])}"
        )
    if not spec.backend:
        raise ValueError(
            f"{path}: backend is missing; give {{{USE}: NAME}} of a backend block "
            f"({', '.join(backend_blocks(configs_dir)) or 'none yet'}) or settings with at least kind "
            f"({', '.join(BACKEND_KINDS)}) and model"
        )
    if spec.max_retries < 0:
        raise ValueError(f"{path}: max_retries={spec.max_retries} must be 0 or more")
    for field_name in BACKEND_FIELDS:
        if getattr(spec, field_name) is not None:
            setattr(spec, field_name, resolve_backend(path, field_name, getattr(spec, field_name), configs_dir))
    if not raw.get("sampling"):
        spec.sampling = None  # `sampling: {}` is no sampling of its own, as before
    for key, (holds, allowed) in SAMPLING_RANGES.items():
        value = getattr(spec.sampling, key) if spec.sampling is not None else None
        if value is not None and not holds(value):
            # as the file writes it (-1, not the -1.0 it reads as)
            given = raw["sampling"].get(key, value) if isinstance(raw["sampling"], dict) else value
            raise ValueError(f"{path}: sampling.{key}={given!r} is out of range; allowed: {allowed}")
    if spec.kind != "maden":
        extra = [f for f in MADEN_FIELDS if f in raw and (raw[f] is not None or f not in BACKEND_FIELDS)]
        if extra:
            raise ValueError(f"{path}: {extra[0]} is a MADeN setting; set kind: maden or remove it")
    return spec


def resolve_backend(path: Path, field_name: str, settings: dict, configs_dir: str | Path) -> dict:
    """A spec's backend settings in full: a block's settings with the spec's own on top, each checked against the
    schema of its kind. Only the settings given are returned (a backend's defaults stay its own)."""
    settings = dict(settings)
    if USE not in settings:
        return check_backend_settings(str(path), f"{field_name}.", settings)
    name = settings.pop(USE)
    blocks = backend_blocks(configs_dir)
    if not isinstance(name, str) or name not in blocks:
        raise ValueError(
            f"{path}: {field_name}.{USE}={name!r} is not a backend block{_did_you_mean(name, blocks)}; "
            f"allowed blocks: {', '.join(blocks) or 'none'} (files in {Path(configs_dir) / BACKENDS_FOLDER})"
        )
    where = f"{blocks[name]} (the {field_name} of {path})"
    block = read_mapping(blocks[name], f"a backend's settings: kind ({', '.join(BACKEND_KINDS)}), model, ...", where)
    check_backend_settings(where, "", block)
    return check_backend_settings(str(path), f"{field_name}.", {**block, **settings})


def check_backend_settings(where: str, prefix: str, settings: dict) -> dict:
    """`kind` must be a backend kind, and every other key a setting of that backend (its schema in
    debtgpt/backends/settings.py), of the right type; returns the settings given, as the schema reads them."""
    kind = settings.get("kind")
    if kind not in BACKEND_SETTINGS:
        raise ValueError(f"{where}: {prefix}kind={kind!r} is not a backend; allowed kinds: {', '.join(BACKEND_KINDS)}")

    def unknown(full_key: str, key: str, schema: type) -> str:
        allowed = [f.name for f in fields(schema) if f.name != "kind"]
        return (
            f"{full_key} is not a setting of the {kind} backend{_did_you_mean(key, allowed)}; "
            f"allowed: {', '.join(allowed)}"
        )

    checked = asdict(merge_into(BACKEND_SETTINGS[kind], settings, where, unknown=unknown, prefix=prefix))
    return {key: str(checked[key]) if isinstance(checked[key], Enum) else checked[key] for key in settings}


def read_mapping(path: Path, allowed: str, where: str | None = None) -> dict:
    """A YAML file that must hold a mapping; `allowed` says what it may hold, `where` names it in errors."""
    import yaml

    where = where or str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(
            f"{where}: not valid YAML{line} ({getattr(exc, 'problem', None) or type(exc).__name__}); fix the file"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping of fields; {allowed}")
    return raw


def merge_into(schema: type, data: dict, where: str, unknown: Callable, prefix: str = ""):
    """`data` merged into the structured config of `schema` (a dataclass) and returned as its instance. OmegaConf
    refuses an unknown key, a value of the wrong type and a missing one; each becomes one line here:
    `unknown(full_key, key, schema_of_that_level)` words the first."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), data)
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ValueError(f"{where}: {prefix}{missing[0]} is missing; it has no default, so set it")
        return OmegaConf.to_object(cfg)
    except ConfigKeyError as exc:
        raise ValueError(f"{where}: {unknown(prefix + exc.full_key, exc.key, exc.object_type)}") from None
    except ValidationError as exc:
        value = _lookup(data, exc.full_key)
        expected = typing.get_type_hints(exc.object_type).get(exc.key) if is_dataclass(exc.object_type) else None
        if isinstance(expected, type) and issubclass(expected, Enum):
            allowed = ", ".join(member.value for member in expected)
            raise ValueError(f"{where}: {prefix}{exc.full_key}={value!r} is not allowed; allowed values: {allowed}")
        shown = BACKEND_HELP if exc.key in BACKEND_FIELDS and not prefix else _describe(expected)
        raise ValueError(f"{where}: {prefix}{exc.full_key}={value!r} has the wrong type; allowed: {shown}") from None
    except OmegaConfBaseException as exc:  # an interpolation that does not resolve, and the like
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{where}: {prefix}{exc.full_key}: {message}") from None


def _unknown_spec_key(full_key: str, key: str, schema: type) -> str:
    if schema is Sampling:
        return (
            f"{full_key} is not a sampling setting{_did_you_mean(key, SAMPLING_FIELDS)}; "
            f"allowed: {', '.join(SAMPLING_FIELDS)}"
        )
    return f"unknown field {key!r}{_did_you_mean(key, SPEC_FIELDS)}; allowed fields: {', '.join(SPEC_FIELDS)}"


def _lookup(data, full_key: str):
    for part in str(full_key).split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _describe(annotation) -> str:
    """A type as a one-line error shows it: int, a number, bool, str, a mapping, a list, ... or null."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        shown = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(shown + (["null"] if type(None) in args else []))
    if annotation is float:
        return "a number"
    if annotation is dict or typing.get_origin(annotation) is dict or is_dataclass(annotation):
        return "a mapping"
    if annotation is list or typing.get_origin(annotation) is list:
        return "a list"
    return getattr(annotation, "__name__", str(annotation))


def _did_you_mean(key, allowed) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
