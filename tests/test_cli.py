"""A stage refused before it starts work leaves no Hydra run folder behind; one that wrote something keeps it."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stage(cwd, module, *overrides):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", module, *overrides], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_refused_data_stage_leaves_no_outputs_folder(tmp_path):
    for bad in ("num_records=0", "+num_recordz=5"):
        done = stage(tmp_path, "data_gen.make_data", bad, f"out_dir={tmp_path / 'data'}")
        assert done.returncode == 1 and done.stderr.startswith("error: "), done.stderr
        assert list(tmp_path.iterdir()) == []  # neither outputs/data/<timestamp>/ nor outputs/


def test_a_data_stage_that_ran_keeps_its_run_folder(tmp_path):
    done = stage(tmp_path, "data_gen.make_data", "num_records=20", f"out_dir={tmp_path / 'data'}")
    assert done.returncode == 0, done.stderr
    [run] = (tmp_path / "outputs" / "data").iterdir()
    assert (run / ".hydra" / "config.yaml").is_file()


def test_a_refused_eval_drops_a_new_report_folder_and_keeps_an_earlier_report(tmp_path):
    earlier = tmp_path / "reports" / "kept"
    earlier.mkdir(parents=True)
    (earlier / "metrics.json").write_text("{}\n")
    for run in ("fresh", "kept"):
        done = stage(tmp_path, "eval.run", "collectors=[haggler]", f"run={run}")
        assert done.returncode == 1 and "haggler" in done.stderr, done.stderr
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["kept"]
    assert (earlier / "metrics.json").read_text() == "{}\n"
