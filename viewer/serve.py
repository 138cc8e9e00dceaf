"""`make serve`: the DebtBench viewer and play page on http://127.0.0.1:8000 (localhost only by default).

python -m viewer.serve                        # reports/ and data/ of this folder
python -m viewer.serve port=8080 play_run=my-plays reports_dir=reports
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from pipeline.cli import run_stage, stage_errors
from pipeline.config import ServeConfig, register_configs

log = logging.getLogger(__name__)
register_configs()
LOCALHOST = ("127.0.0.1", "localhost", "::1")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def build_app(cfg: ServeConfig):
    """The app for these settings; without persona data the viewer still serves and play says why it is off."""
    from debtgpt.scenarios import MissingDataError, load_scenarios
    from viewer.app import create_app
    from viewer.play import PlayTable

    if not RUN_NAME.match(cfg.play_run):
        raise ValueError(f"play_run={cfg.play_run!r} must be a folder name: letters, digits, '.', '_' and '-'")
    if not 0 < cfg.port < 65536:
        raise ValueError(f"port={cfg.port} must be between 1 and 65535")
    try:
        scenarios = load_scenarios(cfg.data_dir, cfg.split)
    except MissingDataError as error:
        log.warning("play is off: %s", error)
        play = None
    else:
        play = PlayTable(
            scenarios,
            Path(cfg.reports_dir) / cfg.play_run,
            seed=cfg.seed,
            max_turns=cfg.max_turns,
            reward=cfg.reward,
            split=cfg.split,
            plots=cfg.plots,
        )
    return create_app(cfg.reports_dir, play)


@hydra.main(config_path="../configs", config_name="serve", version_base="1.3")
def main(cfg: ServeConfig) -> None:
    import uvicorn

    with stage_errors():
        settings = OmegaConf.to_object(cfg)
        app = build_app(settings)
    if settings.host not in LOCALHOST:
        log.warning("host=%s: the app has no login and anyone who can reach this address can use it", settings.host)
    print(f"DebtBench viewer: http://{settings.host}:{settings.port}  (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    run_stage(main)
