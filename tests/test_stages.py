"""The stage runner of `make demo` (pipeline/stages.py): stages in order, each as `python -m` would run it."""

import sys

import pytest

from pipeline.stages import parse_stage, run_stages


@pytest.fixture
def stage_modules(tmp_path, monkeypatch):
    (tmp_path / "record_stage.py").write_text(
        "import pathlib, sys\n"
        "assert __name__ == '__main__'\n"
        "out = pathlib.Path(sys.argv[1])\n"
        "out.write_text(out.read_text() + ' '.join(sys.argv[2:]) + '\\n' if out.exists() "
        "else ' '.join(sys.argv[2:]) + '\\n')\n"
    )
    (tmp_path / "refusing_stage.py").write_text("raise SystemExit('error: n_samples=-1 must be >= 1')\n")
    (tmp_path / "crashing_stage.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_stages_run_in_order_with_their_own_arguments(stage_modules):
    log = stage_modules / "log.txt"
    status = run_stages([f"record_stage {log} first a=1", f"record_stage {log} second 'b=two words'"], modules=())
    assert status == 0
    assert log.read_text() == "first a=1\nsecond b=two words\n"


@pytest.mark.parametrize("failing", ["refusing_stage", "crashing_stage"])
def test_a_failing_stage_stops_the_run_with_its_status(stage_modules, failing, capfd):
    log = stage_modules / "log.txt"
    status = run_stages([f"record_stage {log} before", failing, f"record_stage {log} after"], modules=())
    assert status == 1
    assert log.read_text() == "before\n"  # the stage after the failure never ran
    err = capfd.readouterr().err
    assert ("n_samples=-1" in err) if failing == "refusing_stage" else ("RuntimeError: boom" in err)


@pytest.mark.parametrize("bad", ["", "--seed=0"])
def test_a_stage_must_name_a_module(bad):
    with pytest.raises(SystemExit, match="must start with a module name"):
        parse_stage(bad)


def test_the_parent_keeps_its_own_argv(stage_modules):
    before = list(sys.argv)
    run_stages([f"record_stage {stage_modules / 'log.txt'} x"], modules=())
    assert sys.argv == before
