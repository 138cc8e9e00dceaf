"""Stage outputs follow the user's umask (a teammate on a shared filesystem can read them) and stay atomic."""

import os
import stat
import sys

import pytest
from test_report import small_report

from data_gen.make_data import make_data
from debtgpt.io import atomic_write_text, staging_folder, write_json
from eval.report import write_report
from pipeline.config import DataConfig


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def modes(root):
    """{relative path: permission bits} of every file and folder under root (pytest makes root itself 0700)."""
    return {str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode) for path in root.rglob("*")}


def test_data_and_a_report_are_0644_files_in_0755_folders_under_umask_022(tmp_path, umask):
    umask(0o022)
    make_data(DataConfig(num_records=30, out_dir=str(tmp_path / "data")))
    results, by_collector = small_report()
    write_report(tmp_path / "report", results, by_collector)
    found = modes(tmp_path)
    files = {p: m for p, m in found.items() if (tmp_path / p).is_file()}
    folders = {p: m for p, m in found.items() if (tmp_path / p).is_dir()}
    assert {"data/card.json", "report/metrics.json", "report/trajectories/firm.jsonl", "report/plots/SR.png"} <= set(
        files
    )
    assert {p for p, m in files.items() if m != 0o644} == set()
    assert {p for p, m in folders.items() if m != 0o755} == set()


def test_a_stricter_umask_is_followed_too(tmp_path, umask):
    umask(0o077)
    atomic_write_text(tmp_path / "private" / "card.json", "{}\n")
    assert stat.S_IMODE((tmp_path / "private" / "card.json").stat().st_mode) == 0o600
    umask(0o027)
    write_json(tmp_path / "team.json", {"a": 1})
    assert stat.S_IMODE((tmp_path / "team.json").stat().st_mode) == 0o640
    assert stat.S_IMODE(staging_folder(tmp_path, ".build-").stat().st_mode) == 0o750


def test_a_write_that_fails_leaves_the_old_file_whole_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old\n")

    def no_sync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", no_sync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_reading_the_umask_leaves_it_as_it_was(umask):
    from debtgpt.io import current_umask

    umask(0o027)
    assert current_umask() == 0o027
    status = open("/proc/self/status").read()
    assert "Umask:\t0027" in status
