"""Is the learning robust? `make demo` once per seed, each in its own copy of the tree; DPO - SFT per seed.

    python -m benchmarks.learning_seeds --seeds 1 2 3 [--jobs 1]

Each seed runs in <work>/seed-N, a copy of the tracked files with .venv linked in, so the runs share
nothing but the installed packages. The seed drives data (so the personas, test split included, differ),
rollouts, training and evaluation. Writes benchmarks/results/learning_seeds.md with the command, and per
seed the comparisons of the demo's report (mean-reward difference, 95 % CI, n) and each collector's compliance
(deals outside the envelope, format errors, true debt facts, faithful evidence notes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "learning_seeds.md"
COMPLIANCE = ("SR", "out_of_envelope_deals", "void_deals", "format_errors", "debt_facts_true", "evidence_faithfulness")


def _share(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def prepare(work: Path, seed: int, fresh: bool = False) -> Path:
    """<work>/seed-N with this tree's tracked files; `fresh` first removes an earlier copy, whose code and
    outputs (which the demo's stages would reuse) may be older than the tree."""
    folder = work / f"seed-{seed}"
    if fresh and folder.exists():
        shutil.rmtree(folder)
    if not (folder / "Makefile").is_file():
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(
            b"\0"
        )
        for name in filter(None, (f.decode() for f in files)):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
        (folder / ".venv").symlink_to(ROOT / ".venv")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--work", default="runs/seeds", help="where the per-seed copies go (ignored by git)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (each uses the threads it is given)")
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="run seeds whose copy already holds a finished demo again, from a fresh copy of the tree",
    )
    parser.add_argument(
        "--table-only", action="store_true", help="run nothing: write the table of the demos that finished"
    )
    args = parser.parse_args()
    work = (ROOT / args.work).resolve()
    folders = {seed: prepare(work, seed, fresh=args.rerun and not args.table_only) for seed in args.seeds}
    done = [s for s in args.seeds if not args.rerun and (folders[s] / "reports" / "demo" / "metrics.json").is_file()]
    for seed in done:
        print(f"seed {seed}: {folders[seed]} already holds a finished demo (--rerun runs it again)", flush=True)
    env = {**os.environ, "WANDB_MODE": "disabled"}
    if args.jobs > 1:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // args.jobs))
    pending, running = [] if args.table_only else [s for s in args.seeds if s not in done], {}
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            log = open(folders[seed] / "demo.log", "w")
            # -o: the copies share this tree's .venv, installed already; make must not reinstall it from a copy
            running[seed] = (
                subprocess.Popen(
                    ["make", "-o", ".venv/.installed", "demo", f"SEED={seed}"],
                    cwd=folders[seed],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
                time.time(),
            )
            print(f"seed {seed}: make demo SEED={seed} in {folders[seed]} (log: demo.log)", flush=True)
        for seed, (process, log, started) in list(running.items()):
            if process.poll() is not None:
                log.close()
                del running[seed]
                print(f"seed {seed}: exit {process.returncode} after {time.time() - started:.0f} s", flush=True)
        time.sleep(5)

    lines = [
        "# Learning across seeds",
        "",
        f'Made by `make seeds SEEDS="{" ".join(map(str, args.seeds))}"` '
        f"(`python -m benchmarks.learning_seeds --seeds {' '.join(map(str, args.seeds))}`) on "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores; "
        "each seed is a whole `make demo SEED=N`, test split.",
        "",
        "| seed | comparison | difference | 95 % CI | half-width | n (scenarios) | above 0 |",
        "|---|---|---:|---|---:|---|---|",
    ]
    failed, dpo_sft, compliance = [], [], []
    for seed in args.seeds:
        metrics = folders[seed] / "reports" / "demo" / "metrics.json"
        if not metrics.is_file():
            failed.append(seed)
            lines.append(f"| {seed} | (the demo failed: see {folders[seed] / 'demo.log'}) | | | | | |")
            continue
        report = json.loads(metrics.read_text())
        for name, result in report["collectors"].items():
            compliance.append(
                f"| {seed} | {name} | " + " | ".join(_share(result["overall"].get(m)) for m in COMPLIANCE) + " |"
            )
        for name, c in report.get("comparisons", {}).items():
            a, b = name.split(":")
            if name == "dpo:sft":
                dpo_sft.append(c)
            lines.append(
                f"| {seed} | {a} - {b} | {c['difference']:+.3f} | [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | "
                f"{c.get('half_width', float('nan')):.3f} | {c['n']} ({c.get('scenarios', '?')}) | "
                f"{'yes' if c['ci_low'] > 0 else 'no' if c['ci_high'] < 0 else 'not shown'} |"
            )
    if dpo_sft:  # the robustness goal: above 0 in every seed, CI above 0 in at least two
        lines += [
            "",
            f"DPO - SFT is above 0 in {sum(c['difference'] > 0 for c in dpo_sft)} of {len(dpo_sft)} finished seeds, "
            f"and its CI lies above 0 in {sum(c['ci_low'] > 0 for c in dpo_sft)}.",
        ]
    if compliance:
        lines += [
            "",
            "Compliance on the test split (shares; n/a: nothing to count):",
            "",
            "| seed | collector | " + " | ".join(COMPLIANCE) + " |",
            "|---|---|" + "---:|" * len(COMPLIANCE),
            *compliance,
        ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"learning_seeds: {RESULTS}")
    if failed:
        sys.exit(f"learning_seeds: the demo failed for seed(s) {failed}")


if __name__ == "__main__":
    main()
