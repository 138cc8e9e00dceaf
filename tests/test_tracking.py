"""wandb never holds up a stage: WANDB_MODE from the environment is honoured, and online with no server to
answer falls back to offline with one warning line instead of waiting minutes."""

import socket
import time
from types import SimpleNamespace

import pytest

from train.tracking import finish_wandb, start_wandb, wandb_mode


def settings(mode="auto"):
    return SimpleNamespace(wandb=SimpleNamespace(mode=mode, project="debtgpt-test", entity=None))


@pytest.fixture
def no_wandb_env(monkeypatch, tmp_path):
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    return monkeypatch


@pytest.mark.parametrize(
    "env, configured, expected",
    [
        ("offline", "auto", "offline"),  # the reported case: a key is set, the environment says offline
        ("dryrun", "auto", "offline"),
        ("disabled", "online", "disabled"),
        ("offline", "online", "offline"),  # an environment that says offline is never overridden into the network
        ("online", "offline", "offline"),  # an explicit config choice of offline holds too
        ("", "auto", "online"),  # no WANDB_MODE: the key decides
    ],
)
def test_wandb_mode_from_the_environment_is_honoured(no_wandb_env, env, configured, expected):
    no_wandb_env.setenv("WANDB_API_KEY", "k" * 40)
    if env:
        no_wandb_env.setenv("WANDB_MODE", env)
    assert wandb_mode(settings(configured)) == expected


def test_a_bad_wandb_mode_in_the_environment_names_the_allowed_values(no_wandb_env):
    no_wandb_env.setenv("WANDB_MODE", "of")
    with pytest.raises(
        ValueError, match="WANDB_MODE='of' in the environment is not allowed; allowed values: online, run, offline"
    ):
        wandb_mode(settings())


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_online_with_a_server_that_refuses_falls_back_to_offline_in_one_warning_line(no_wandb_env, tmp_path, capsys):
    import wandb

    url = f"http://127.0.0.1:{closed_port()}"
    no_wandb_env.setenv("WANDB_BASE_URL", url)
    no_wandb_env.setenv("WANDB_API_KEY", "k" * 40)
    started = time.monotonic()
    report_to = start_wandb(settings("online"), "offline-fallback", tmp_path, {"lr": 1e-3}, {"counts": {"all": 3}})
    try:
        assert time.monotonic() - started < 15
        assert report_to == "wandb" and wandb.run is not None and wandb.run.offline
        printed = capsys.readouterr().out.splitlines()
        warnings = [line for line in printed if line.startswith("warning:")]
        assert warnings == [line for line in printed if url in line] and len(warnings) == 1
        assert (
            f"the wandb server at {url} cannot be reached (ConnectError)" in warnings[0]
            and "wandb sync" in warnings[0]
        )
        assert printed[-1] == "wandb: offline (project debtgpt-test)"
        assert list((tmp_path / "wandb").glob("offline-run-*"))  # the run is there to sync later
    finally:
        finish_wandb(report_to)
