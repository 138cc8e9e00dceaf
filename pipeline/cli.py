"""What every stage's command line shares: bad input ends the run with one line that says what is wrong."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

from debtgpt.checks import StageError  # noqa: F401  (a stage's error, raised in the domain and the stages alike)

_IMPORTED = time.monotonic()


def process_seconds() -> float:
    """Seconds since this process started (Linux: /proc), else since this module was imported."""
    try:
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])  # field 22: start time
        uptime = float(open("/proc/uptime").read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


def say_startup(what: str) -> None:
    """One log line with the time from the process start to `what`, from the main process only."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"start-up: {process_seconds():.1f} s from the process start to {what}", flush=True)


# Libraries that transformers and TRL import whenever they are installed: scikit-learn (transformers' assisted
# generation, at import) and wandb (TRL's trainers, at import). Both are installed (CTGAN needs scikit-learn),
# and a stage that runs a model (training, rollouts, eval) but uses neither paid about 1.4 s for them at every start.
UNUSED_WHERE_MODELS_RUN = ("sklearn",)


def skip_unused_imports(*, wandb_used: bool) -> list[str]:
    """Mark libraries this stage does not use as absent, before transformers loads: its availability checks
    (importlib.util.find_spec) then answer "not installed" and nothing imports them. Only in a single run
    (`python -m STAGE ...`): a Hydra sweep runs its jobs in one process, and they may differ in what they use.
    Returns the names marked."""
    import sys

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.RUN:
        return []
    names = [*UNUSED_WHERE_MODELS_RUN, *(() if wandb_used else ("wandb",))]
    marked = [name for name in names if name not in sys.modules]
    for name in marked:
        sys.modules[name] = None  # `import name` raises ImportError; find_spec(name) returns None
    return marked


@contextmanager
def stage_errors(cfg=None, schema=None):
    """Turn input errors (unknown names, off-grid values, missing files) into `error: ...` and exit status 1.

    With a stage's `cfg` and its `schema`, a key the schema lacks (`+key=value`) is refused first: Hydra
    would otherwise carry it along in silence. Set DEBTGPT_TRACEBACK=1 to see the full traceback instead.
    """
    say_startup("the stage's own work (Python, imports, the config)")
    try:
        if cfg is not None:
            from pipeline.config import reject_unknown_keys

            reject_unknown_keys(cfg, schema)
        yield
    except (ValueError, FileNotFoundError, StageError) as error:  # MissingDataError is a FileNotFoundError
        drop_unused_run_folder()
        if os.environ.get("DEBTGPT_TRACEBACK"):
            raise
        raise SystemExit("error: " + " ".join(str(error).split())) from None  # always one line


# What Hydra puts in a run folder before the stage starts: its config copies and the job's log.
HYDRA_BOOKKEEPING = (".hydra",)


def drop_unused_run_folder() -> None:
    """Remove the Hydra run folder (outputs/<stage>/<timestamp>/) of a stage that failed before writing anything
    into it, and the parents that only held it: a refused run leaves nothing behind. A folder holding any
    output (an earlier report under the same run name, a partial one) is kept whole."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.RUN:
        return  # a sweep's folder holds its other jobs too
    folder = Path(hydra_cfg.runtime.output_dir)
    log_name = f"{hydra_cfg.job.name}.log"
    if not folder.is_dir() or any(p.name not in (*HYDRA_BOOKKEEPING, log_name) for p in folder.iterdir()):
        return
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    stop = Path.cwd().resolve()
    for parent in folder.resolve().parents:
        if parent == stop or stop not in parent.parents:
            break  # never above the directory the stage was started in
        try:
            parent.rmdir()  # only succeeds while empty
        except OSError:
            break


def config_error_line(error: Exception) -> str:
    """One line for a config that Hydra could not compose: a bad choice names the field and its allowed
    values, as the stages' own checks do; anything else names the key and OmegaConf's reason."""
    from omegaconf.errors import OmegaConfBaseException
    from omegaconf.nodes import EnumNode

    cause = error if isinstance(error, OmegaConfBaseException) else error.__cause__
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        renamed = _renamed_setting(cause)
        if renamed:
            return renamed
        node = cause.child_node
        if isinstance(node, EnumNode):
            allowed = ", ".join(member.name for member in node.enum_type)
            return f"{cause.full_key}={cause.value!r} is not allowed; allowed values: {allowed}"
        return f"{cause.full_key}: {cause.msg.splitlines()[0]}"
    return " ".join(str(error).split(" Config search path")[0].split())


def _renamed_setting(cause) -> str | None:
    """The line for an old name of a training setting (lr=...), from OmegaConf's "Key 'lr' not in 'SFTRunConfig'"."""
    import dataclasses
    import re

    from pipeline import config

    found = re.match(r"Key '([^']+)' not in '(\w+)'", str(cause.msg))
    schema = getattr(config, found.group(2), None) if found else None
    if schema is None or not dataclasses.is_dataclass(schema):
        return None
    return config.renamed_setting_line(cause.full_key, {f.name for f in dataclasses.fields(schema)})


def run_stage(main) -> None:
    """Run a stage's @hydra.main: a config that does not compose (a misspelt key, a value of the wrong type,
    a choice outside its allowed values) ends with one `error: ...` line instead of Hydra's report."""
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import OmegaConfBaseException

    traceback = os.environ.get("DEBTGPT_TRACEBACK")
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra raises instead of printing, so we can word it
    try:
        main()
    except (ConfigCompositionException, OmegaConfBaseException) as error:
        if traceback:
            raise
        raise SystemExit(f"error: {config_error_line(error)}") from None
