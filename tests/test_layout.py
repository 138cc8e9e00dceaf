"""The domain package stands alone: `debtgpt/` imports neither Hydra nor OmegaConf nor the stages' plumbing.

One exception: the agent spec loader (debtgpt/agents/specs.py) checks spec files against OmegaConf structured
configs, importing OmegaConf when a spec is loaded; importing debtgpt still loads neither."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[1] / "debtgpt"
STAGE_ONLY = ("hydra", "omegaconf", "pipeline", "data_gen", "train", "eval", "viewer")
# the one domain module that may import OmegaConf (inside the functions that load a spec), and nothing else here
ALLOWED = {"debtgpt/agents/specs.py": {"omegaconf"}}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_domain_module_imports_stage_plumbing():
    offenders = {
        rel: sorted((imported_roots(p) & set(STAGE_ONLY)) - ALLOWED.get(rel, set()))
        for p in DOMAIN.rglob("*.py")
        for rel in [p.relative_to(DOMAIN.parent).as_posix()]
    }
    assert {p: roots for p, roots in offenders.items() if roots} == {}
    assert len(offenders) > 20  # the walk saw the package
    assert all(imported_roots(DOMAIN.parent / p) & allowed for p, allowed in ALLOWED.items())  # no stale exception


def test_importing_every_domain_module_loads_no_hydra():
    code = (
        "import importlib, pkgutil, sys, debtgpt\n"
        "for m in pkgutil.walk_packages(debtgpt.__path__, 'debtgpt.'): importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('hydra', 'omegaconf', 'pipeline')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
