"""Run several stages in a row, importing the heavy libraries once: `make demo` uses it.

Each stage is its usual command line (`python -m <module> <overrides>`), run in a child process forked
from a parent that has already imported torch, transformers, TRL and datasets. A fresh interpreter spends
about 10 s on those imports on 2 cores, once per stage; a forked child starts with them done. Each stage is
still its own process, with its own Hydra run, logging and exit status, and runs the same code on the same
seeds as when started alone. The parent never runs a tensor operation, so no thread pool exists to be
copied into a child. Where fork is missing (Windows), each stage starts a fresh interpreter instead.

    python -m pipeline.stages "data_gen.make_data seed=0" "debtgpt.tiny" "train.sft"
"""

from __future__ import annotations

import argparse
import importlib
import os
import runpy
import shlex
import subprocess
import sys
import time

# What the stages of the loop import that costs most; the warm-up after installing compiles the same list.
PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "peft",
    "datasets",
    "trl",
    "trl.trainer.sft_trainer",
    "trl.trainer.dpo_trainer",
    "hydra",
    "matplotlib.pyplot",
)


def preload(modules=PRELOAD) -> None:
    for name in modules:
        importlib.import_module(name)


def parse_stage(text: str) -> tuple[str, list[str]]:
    """`module arg ...` -> (module, args); a stage is named by its module, as after `python -m`."""
    words = shlex.split(text)
    if not words or words[0].startswith("-"):
        raise SystemExit(f"error: stage {text!r} must start with a module name, as after `python -m`")
    return words[0], words[1:]


def _run_in_child(module: str, args: list[str]) -> int:
    """The stage in a forked child, as `python -m module args` would run it; the child's exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the parent's loop
        status = 0
        try:
            sys.argv = [module, *args]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as done:
            code = done.code
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)
            status = code if isinstance(code, int) else (0 if code is None else 1)
        except BaseException:  # noqa: BLE001 - a stage's traceback, as the interpreter would print it
            import traceback

            traceback.print_exc()
            status = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)
    try:
        _, wait_status = os.waitpid(pid, 0)
    except KeyboardInterrupt:  # Ctrl-C reached the child too: let it stop, then stop the run
        os.waitpid(pid, 0)
        return 130
    return os.waitstatus_to_exitcode(wait_status)


def run_stages(stages: list[str], modules=PRELOAD) -> int:
    """Each stage in order; the first that fails stops the run and its status is returned."""
    parsed = [parse_stage(s) for s in stages]  # every stage checked before any runs
    fork = hasattr(os, "fork")
    if fork:
        preload(modules)
    for module, args in parsed:
        print(" ".join(["python -m", module, *map(shlex.quote, args)]), flush=True)
        start = time.monotonic()
        if fork:
            status = _run_in_child(module, args)
        else:
            status = subprocess.call([sys.executable, "-m", module, *args])
        print(
            f"stages: {module} {'done' if status == 0 else f'failed (exit status {status})'} in "
            f"{time.monotonic() - start:.0f} s",
            flush=True,
        )
        if status != 0:
            return status
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stages", nargs="*", help='one quoted command per stage: "module override ..."')
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="only import (and so byte-compile) what the stages use; run after installing",
    )
    options = parser.parse_args(argv)
    if options.warm_up:
        preload()
        return
    if not options.stages:
        parser.error("name at least one stage")
    raise SystemExit(run_stages(options.stages))


if __name__ == "__main__":
    main()
