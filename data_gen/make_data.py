"""Debt records and personas, split train/val/test stratified by archetype.

    python -m data_gen.make_data num_records=975 seed=0 out_dir=data
    python -m data_gen.make_data source=ctgan real_csv=loans.csv ctgan.epochs=100

source=synthetic (the default) draws records from a seeded linear model; source=ctgan fits CTGAN on the
contract columns of a lender's CSV, samples num_records from it and adds a quality and privacy report to
the card, with plots in <out_dir>/quality/. Either way the layout is the same, so every later stage works
unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from pipeline.cli import run_stage, stage_errors
from pipeline.config import DataConfig, register_configs

log = logging.getLogger(__name__)
register_configs()


def check_data_config(cfg: DataConfig) -> None:
    """Fail before anything is read or written, naming the field (source is checked by the schema)."""
    if cfg.num_records < 1:
        raise ValueError(f"num_records={cfg.num_records} must be at least 1")
    if not 0 < cfg.test_fraction < 1:
        raise ValueError(f"test_fraction={cfg.test_fraction} must be between 0 and 1")
    if not 0 <= cfg.val_fraction < 1 - cfg.test_fraction:
        raise ValueError(
            f"val_fraction={cfg.val_fraction} must be >= 0 and leave training scenarios "
            f"beside test_fraction={cfg.test_fraction}"
        )
    if cfg.source == "synthetic" and cfg.real_csv:
        raise ValueError(f"real_csv={cfg.real_csv!r} is read only with source=ctgan; add source=ctgan")
    if cfg.source == "ctgan":
        if not cfg.real_csv:
            raise ValueError(
                "source=ctgan needs real_csv=PATH, a CSV with the columns of the README's column contract"
            )
        if cfg.num_records < 10:
            raise ValueError(
                f"num_records={cfg.num_records} must be at least 10 with source=ctgan "
                "(the detection score uses 5 folds)"
            )
        if cfg.ctgan.epochs < 1:
            raise ValueError(f"ctgan.epochs={cfg.ctgan.epochs} must be at least 1")
        if cfg.ctgan.batch_size < 10 or cfg.ctgan.batch_size % 10:
            raise ValueError(f"ctgan.batch_size={cfg.ctgan.batch_size} must be a positive multiple of 10")
        if cfg.ctgan.min_rows < 10:
            raise ValueError(
                f"ctgan.min_rows={cfg.ctgan.min_rows} must be at least 10 (the detection score uses 5 folds)"
            )


def make_data(cfg: DataConfig) -> dict:
    from debtgpt.records import generate_records
    from debtgpt.scenarios import join_personas, split_by_archetype, write_scenarios

    check_data_config(cfg)
    extra, versions = {}, ("numpy",)
    if cfg.source == "ctgan":
        from data_gen import portfolio

        real = portfolio.read_portfolio(cfg.real_csv, cfg.ctgan.min_rows)
        rules = portfolio.portfolio_rules(real, cfg.ctgan.rules)  # a declared rule the CSV breaks fails before fitting
        print(
            f"data: fitting CTGAN on {len(real)} rows of {cfg.real_csv} ({cfg.ctgan.epochs} epochs, CPU); "
            f"rules kept: {', '.join(map(str, rules)) or 'none'}",
            flush=True,
        )
        model = portfolio.fit_ctgan(real, cfg.ctgan.epochs, cfg.ctgan.batch_size, cfg.seed, cfg.ctgan.progress)
        synthetic, dropped, redrawn = portfolio.sample_portfolio(model, real, cfg.num_records, rules)
        records = portfolio.records_from_samples(synthetic, cfg.seed)
        report = portfolio.portfolio_report(real, synthetic, dropped, cfg.seed, rules, redrawn)
        plots = portfolio.write_quality_plots(real, synthetic, report, Path(cfg.out_dir) / "quality")
        extra = {"portfolio": report | {"plots": [str(p.relative_to(cfg.out_dir)) for p in plots]}}
        versions = ("numpy", "ctgan", "rdt", "torch", "scikit-learn")
    else:
        records = generate_records(cfg.num_records, cfg.seed)
    scenarios = join_personas(records, cfg.seed)
    splits = split_by_archetype(scenarios, cfg.test_fraction, cfg.seed + 2, cfg.val_fraction)
    config = OmegaConf.to_container(OmegaConf.structured(cfg)) if not isinstance(cfg, dict) else cfg
    return write_scenarios(cfg.out_dir, splits, config, extra, versions)


@hydra.main(config_path="../configs", config_name="data", version_base="1.3")
def main(cfg: DataConfig) -> None:
    with stage_errors(cfg, DataConfig):
        card = make_data(cfg)
    log.info("wrote %s scenarios to %s: %s", card["counts"]["all"], cfg.out_dir, card["counts"])
    print(f"data: {card['counts']} -> {cfg.out_dir}/ (shares {card['archetype_shares']['all']})")
    if "portfolio" in card:
        from data_gen.portfolio import collapse_warning

        report = card["portfolio"]
        privacy = report["distance_to_closest_record"]
        print(
            f"data: detection AUC {report['detection']['roc_auc']:.3f} (0.5 = indistinguishable), "
            f"{privacy['exact_copies']} copies of real rows, {privacy['share_closer_than_real_median']:.0%} of rows "
            f"closer to a real row than the real median neighbour; plots in {cfg.out_dir}/quality/"
        )
        print(
            f"data: {report['rules']['redrawn_rows']} sampled rows redrawn for breaking the real data's rules "
            f"({', '.join(f'{rule}: {n}' for rule, n in report['rules']['redrawn_by_rule'].items())})"
        )
        if warning := collapse_warning(report):
            print(warning)  # last, so it is what the user sees when make data ends


if __name__ == "__main__":
    run_stage(main)
