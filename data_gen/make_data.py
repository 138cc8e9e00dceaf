"""Synthetic debt records and personas, split train/test stratified by archetype.

    python -m data_gen.make_data num_records=975 seed=0 out_dir=data
"""
from __future__ import annotations

import logging

import hydra
from omegaconf import OmegaConf

from debtgpt.cli import stage_errors
from debtgpt.config import DataConfig, register_configs

log = logging.getLogger(__name__)
register_configs()


def make_data(cfg: DataConfig) -> dict:
    from debtgpt.scenarios import build_scenarios, split_by_archetype, write_scenarios

    if cfg.num_records < 1:
        raise ValueError(f"num_records={cfg.num_records} must be at least 1")
    if not 0 < cfg.test_fraction < 1:
        raise ValueError(f"test_fraction={cfg.test_fraction} must be between 0 and 1")
    scenarios = build_scenarios(cfg.num_records, cfg.seed)
    splits = split_by_archetype(scenarios, cfg.test_fraction, cfg.seed + 2)
    config = OmegaConf.to_container(OmegaConf.structured(cfg)) if not isinstance(cfg, dict) else cfg
    return write_scenarios(cfg.out_dir, splits, config)


@hydra.main(config_path="../configs", config_name="data", version_base="1.3")
def main(cfg: DataConfig) -> None:
    with stage_errors():
        card = make_data(cfg)
    log.info("wrote %s scenarios to %s: %s", card["counts"]["all"], cfg.out_dir, card["counts"])
    print(f"data: {card['counts']} -> {cfg.out_dir}/ (shares {card['archetype_shares']['all']})")


if __name__ == "__main__":
    main()
