"""Bring your own portfolio: CTGAN fitted on a lender's CSV, sampled into debt records, with a quality and
privacy report.

    make data ARGS="source=ctgan real_csv=loans.csv num_records=975 ctgan.epochs=100"

Only the contract columns (debtgpt.records.PORTFOLIO_COLUMNS) are ever read from the CSV: pandas parses the
others away (`usecols`), so names, contact details, ids, addresses and notes never reach the model, a log,
the card or a record. The fitted model is never saved (it could memorise rows); only samples leave it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from debtgpt.constants import OVERDUE_REASON_CATEGORIES
from debtgpt.records import (
    AMOUNT_COLUMNS,
    CATEGORICAL_COLUMNS,
    GENDERS,
    INTEGER_COLUMNS,
    PORTFOLIO_COLUMNS,
    DebtRecord,
    record_from_row,
)

NUMERIC_COLUMNS = tuple(c for c in PORTFOLIO_COLUMNS if c not in CATEGORICAL_COLUMNS)
CATEGORIES = {"gender": GENDERS, "overdue_reason_category": OVERDUE_REASON_CATEGORIES}
# Bounds of a plausible record; CTGAN's mode-specific normalisation can overshoot a column's range a little.
# The principal has no floor to clip to: a drawn debt of 0 or less is redrawn, since clipping piles every
# such draw onto one value (a collapsed mode: 10 % of records at exactly 1.0).
FLOORS = {"age": 18, "days_overdue": 1}
CEILINGS = {"age": 100}
# Redraw rounds before giving up on samples distinct from every real row and within the rules.
MAX_DRAWS = 20
# Contract columns whose order a portfolio fixes (the overdue part of a balance of a loan): each "a <= b"
# among them that holds in every real row becomes a rule every synthetic row keeps.
CONTRACT_AMOUNTS = ("principal", "outstanding_balance", "total_loan")
_RULE_RE = re.compile(r"^\s*(\w+)\s*<=\s*(\w+)\s*$")
# A synthetic value is a collapsed mode when at least this share of the records holds it and that share is
# this many times the real rows' share of it.
COLLAPSE_MIN_SHARE = 0.05
COLLAPSE_RATIO = 5.0


class PortfolioError(ValueError):
    """A CSV that cannot be fitted; the message is one line that names the column, row or value."""


def _rows(mask: pd.Series) -> str:
    """'data row 7' or 'data rows 7, 9 and 3 more', counted from 1 below the header."""
    rows = [int(i) + 1 for i in np.flatnonzero(mask.to_numpy())]
    shown = ", ".join(map(str, rows[:3]))
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return f"data row{'s' if len(rows) > 1 else ''} {shown}{more}"


def read_portfolio(path: str | Path, min_rows: int) -> pd.DataFrame:
    """The contract columns of a lender's CSV, checked and typed; every other column is left unread."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"real_csv={str(path)!r} does not exist")
    try:
        header = [str(c).strip() for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        raise PortfolioError(f"real_csv={str(path)!r} is not a CSV file with a header row") from None
    missing = [c for c in PORTFOLIO_COLUMNS if c not in header]
    if missing:
        raise PortfolioError(
            f"real_csv is missing required columns: {', '.join(missing)} "
            f"(the contract: {', '.join(PORTFOLIO_COLUMNS)})"
        )
    twice = sorted({c for c in PORTFOLIO_COLUMNS if header.count(c) > 1})
    if twice:
        raise PortfolioError(f"real_csv has columns more than once: {', '.join(twice)}")
    try:
        # Strings first, so a bad cell can be named by row and column rather than guessed by pandas.
        raw = pd.read_csv(
            path,
            usecols=lambda name: str(name).strip() in PORTFOLIO_COLUMNS,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
        )  # utf-8-sig: spreadsheet exports start with a BOM
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise PortfolioError(f"real_csv cannot be parsed as CSV: {str(error).splitlines()[0]}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    if len(raw) < min_rows:
        raise PortfolioError(
            f"real_csv has {len(raw)} data rows; at least ctgan.min_rows={min_rows} are needed to fit CTGAN"
        )
    real = pd.DataFrame(index=raw.index)
    for column in NUMERIC_COLUMNS:
        values = pd.to_numeric(raw[column].str.strip(), errors="coerce")
        bad = values.isna() | ~np.isfinite(values)
        if bad.any():
            raise PortfolioError(f"real_csv column {column} is not a number in {_rows(bad)}")
        real[column] = values
    negative = [f"{c} ({_rows(real[c] < 0)})" for c in NUMERIC_COLUMNS if (real[c] < 0).any()]
    if negative:
        raise PortfolioError(f"real_csv has negative amounts: {'; '.join(negative)}; every number must be 0 or more")
    if (real["principal"] == 0).any():
        raise PortfolioError(
            f"real_csv column principal is 0 in {_rows(real['principal'] == 0)}; a record is an overdue debt"
        )
    unknown = []
    for column in CATEGORICAL_COLUMNS:
        real[column] = raw[column].str.strip().str.lower()
        values = sorted(set(real[column]) - set(CATEGORIES[column]))
        if values:
            unknown.append(
                f"{column} {', '.join(map(repr, values))} (allowed values: {', '.join(CATEGORIES[column])})"
            )
    if unknown:
        raise PortfolioError(f"real_csv has unknown categories: {'; '.join(unknown)}")
    for column in INTEGER_COLUMNS:
        real[column] = real[column].round().astype(int)
    return real[list(PORTFOLIO_COLUMNS)].reset_index(drop=True)


@dataclass(frozen=True)
class Rule:
    """smaller <= larger in every row: learned from the real rows, or declared (ctgan.rules)."""

    smaller: str
    larger: str
    source: str = "learned"

    def __str__(self) -> str:
        return f"{self.smaller} <= {self.larger}"

    def broken(self, rows: pd.DataFrame) -> pd.Series:
        return rows[self.smaller].astype(float) > rows[self.larger].astype(float)


# Every record's debt is positive (read_portfolio refuses a principal of 0): a draw of 0 or less is redrawn.
POSITIVE_PRINCIPAL = "principal > 0"


def learn_rules(real: pd.DataFrame) -> list[Rule]:
    """Each order between the contract amounts that every real row keeps (principal <= total_loan, ...)."""
    return [
        Rule(a, b) for a in CONTRACT_AMOUNTS for b in CONTRACT_AMOUNTS if a != b and not Rule(a, b).broken(real).any()
    ]


def portfolio_rules(real: pd.DataFrame, declared=()) -> list[Rule]:
    """The learned rules and the declared ones ("a <= b" over numeric contract columns); a declared rule must
    hold in every real row, or the CSV and the rule disagree and the stage says where."""
    rules = learn_rules(real)
    for text in declared:
        match = _RULE_RE.match(str(text))
        if not match or not set(match.groups()) <= set(NUMERIC_COLUMNS) or match[1] == match[2]:
            raise PortfolioError(
                f"ctgan.rules entry {text!r} must be 'a <= b' with two numeric contract columns; "
                f"allowed columns: {', '.join(NUMERIC_COLUMNS)}"
            )
        rule = Rule(match[1], match[2], "declared")
        if rule.broken(real).any():
            raise PortfolioError(
                f"ctgan.rules entry {str(rule)!r} does not hold in real_csv {_rows(rule.broken(real))}"
            )
        rules = [r for r in rules if (r.smaller, r.larger) != (rule.smaller, rule.larger)] + [rule]
    return rules


def fit_ctgan(real: pd.DataFrame, epochs: int, batch_size: int, seed: int, progress: bool = True):
    """CTGAN fitted on the CPU; `progress` shows a bar over the epochs with both losses."""
    from ctgan import CTGAN

    logging.getLogger("rdt").setLevel(logging.WARNING)  # one "no missing values" line per column otherwise
    model = CTGAN(epochs=epochs, batch_size=batch_size, verbose=progress, enable_gpu=False)
    model.set_random_state(seed)
    model.fit(real, discrete_columns=list(CATEGORICAL_COLUMNS))
    return model


def _plausible(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    for column in NUMERIC_COLUMNS:
        values = rows[column].astype(float).clip(lower=FLOORS.get(column, 0.0), upper=CEILINGS.get(column))
        rows[column] = values.round().astype(int) if column in INTEGER_COLUMNS else values.round(2)
    return rows


def _row_keys(rows: pd.DataFrame) -> list[tuple]:
    """Rows as they end up in a record (integers, amounts to the cent), for equality with real rows."""
    return list(_plausible(rows)[list(PORTFOLIO_COLUMNS)].itertuples(index=False, name=None))


def sample_portfolio(model, real: pd.DataFrame, n: int, rules=()) -> tuple[pd.DataFrame, int, dict]:
    """n plausible rows, none equal to a real row and every one within the rules; also how many draws were
    dropped for equalling a real row, and how many were redrawn for breaking each rule."""
    real_keys = set(_row_keys(real))
    kept: list[pd.DataFrame] = []
    dropped = have = 0
    redrawn = {POSITIVE_PRINCIPAL: 0, **{str(rule): 0 for rule in rules}}
    for _ in range(MAX_DRAWS):
        draw = _plausible(model.sample(max(n - have, 64))).reset_index(drop=True)
        outside = draw["principal"] <= 0
        redrawn[POSITIVE_PRINCIPAL] += int(outside.sum())
        for rule in rules:  # a row is counted under the first rule it breaks
            broken = rule.broken(draw) & ~outside
            redrawn[str(rule)] += int(broken.sum())
            outside |= broken
        draw = draw[~outside]
        copies = np.array([key in real_keys for key in _row_keys(draw)], dtype=bool)
        dropped += int(copies.sum())
        kept.append(draw[~copies])
        have += int((~copies).sum())
        if have >= n:
            return pd.concat(kept, ignore_index=True).iloc[:n][list(PORTFOLIO_COLUMNS)], dropped, redrawn
    if sum(redrawn.values()) > dropped:
        worst = max(redrawn, key=redrawn.get)
        raise PortfolioError(
            f"CTGAN kept breaking the real data's rules ({sum(redrawn.values())} rows redrawn in {MAX_DRAWS} "
            f"draws, most for {worst}); train it longer (ctgan.epochs)"
        )
    raise PortfolioError(
        f"CTGAN kept reproducing real rows ({dropped} copies in {MAX_DRAWS} draws); it memorised the CSV"
    )


def records_from_samples(rows: pd.DataFrame, seed: int) -> list[DebtRecord]:
    rng = np.random.default_rng(seed)
    return [record_from_row(f"R{i:04d}", row, rng) for i, row in enumerate(rows.to_dict("records"))]


# --- quality and privacy ----------------------------------------------------------------------------------


def _features(rows: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Numbers on the reference's scale (amounts as log1p, then standardised), categories one-hot."""
    columns = []
    for column in NUMERIC_COLUMNS:
        values, ref = rows[column].astype(float), reference[column].astype(float)
        if column in AMOUNT_COLUMNS:
            values, ref = np.log1p(values), np.log1p(ref)
        std = ref.std() or 1.0
        columns.append(((values - ref.mean()) / std).to_numpy())
    for column in CATEGORICAL_COLUMNS:
        columns += [(rows[column] == value).to_numpy(dtype=float) for value in CATEGORIES[column]]
    return np.column_stack(columns)


def _summary(values: pd.Series) -> dict:
    v = values.astype(float).to_numpy()
    return {
        "mean": round(float(v.mean()), 3),
        "std": round(float(v.std()), 3),
        "p05": round(float(np.quantile(v, 0.05)), 3),
        "p50": round(float(np.quantile(v, 0.5)), 3),
        "p95": round(float(np.quantile(v, 0.95)), 3),
    }


def _ks(a: pd.Series, b: pd.Series) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs (0 = same)."""
    a, b = np.sort(a.astype(float).to_numpy()), np.sort(b.astype(float).to_numpy())
    grid = np.concatenate([a, b])
    gap = np.abs(np.searchsorted(a, grid, side="right") / len(a) - np.searchsorted(b, grid, side="right") / len(b))
    return round(float(gap.max()), 4)


def _shares(values: pd.Series, column: str) -> dict:
    counts = values.value_counts(normalize=True)
    return {value: round(float(counts.get(value, 0.0)), 4) for value in CATEGORIES[column]}


def marginals(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Per column: summaries of real and synthetic, and their distance (KS for numbers, total variation for
    categories)."""
    report = {}
    for column in NUMERIC_COLUMNS:
        report[column] = {
            "real": _summary(real[column]),
            "synthetic": _summary(synthetic[column]),
            "ks": _ks(real[column], synthetic[column]),
        }
    for column in CATEGORICAL_COLUMNS:
        r, s = _shares(real[column], column), _shares(synthetic[column], column)
        report[column] = {"real": r, "synthetic": s, "tvd": round(0.5 * sum(abs(r[k] - s[k]) for k in r), 4)}
    return report


def correlations(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Spearman correlations of the numeric columns (rank-based: amounts are heavily skewed)."""
    r = real[list(NUMERIC_COLUMNS)].astype(float).corr(method="spearman").fillna(0.0)
    s = synthetic[list(NUMERIC_COLUMNS)].astype(float).corr(method="spearman").fillna(0.0)
    return {
        "columns": list(NUMERIC_COLUMNS),
        "real": r.round(3).to_numpy().tolist(),
        "synthetic": s.round(3).to_numpy().tolist(),
        "mean_abs_difference": round(float(np.abs(r.to_numpy() - s.to_numpy())[np.triu_indices(len(r), 1)].mean()), 4),
    }


def detection(real: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> dict:
    """How well a logistic regression tells real rows from synthetic ones (cross-validated ROC AUC).

    AUC 0.5: it cannot tell them apart; 1.0: it always can.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.vstack([_features(real, real), _features(synthetic, real)])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(synthetic))])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    return {
        "classifier": "logistic regression, 5-fold cross-validated",
        "roc_auc": round(auc, 4),
        "score": round(1 - max(0.0, 2 * auc - 1), 4),
    }


def closest_record_distances(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each synthetic row's distance to its closest real row, and each real row's to its closest other real row."""
    from sklearn.neighbors import NearestNeighbors

    real_x = _features(real, real)
    index = NearestNeighbors(n_neighbors=2).fit(real_x)
    synthetic_to_real = index.kneighbors(_features(synthetic, real), n_neighbors=1)[0][:, 0]
    real_to_real = index.kneighbors(real_x, n_neighbors=2)[0][:, 1]  # the first neighbour is the row itself
    return synthetic_to_real, real_to_real


def privacy(real: pd.DataFrame, synthetic: pd.DataFrame, dropped_copies: int) -> dict:
    """Distance to closest record (DCR). A generator that does not copy puts synthetic rows about as close to
    the real ones as real rows are to each other: about half below the real median, 5 % below its 5th percentile."""
    dcr, real_nn = closest_record_distances(real, synthetic)
    p05, median = float(np.quantile(real_nn, 0.05)), float(np.quantile(real_nn, 0.5))
    real_keys = set(_row_keys(real))
    return {
        "exact_copies": sum(key in real_keys for key in _row_keys(synthetic)),
        "copies_dropped_while_sampling": dropped_copies,
        "synthetic_to_real": {
            "p05": round(float(np.quantile(dcr, 0.05)), 4),
            "median": round(float(np.median(dcr)), 4),
        },
        "real_to_real": {"p05": round(p05, 4), "median": round(median, 4)},
        "share_closer_than_real_median": round(float((dcr < median).mean()), 4),
        "share_closer_than_real_p05": round(float((dcr < p05).mean()), 4),
    }


def collapsed_modes(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[dict]:
    """Numeric values the synthetic rows repeat far more often than the real rows do (a GAN's collapsed mode)."""
    real, found = _plausible(real), []
    for column in NUMERIC_COLUMNS:
        shares = synthetic[column].value_counts(normalize=True)
        value, share = shares.index[0], float(shares.iloc[0])
        real_share = float((real[column] == value).mean())
        if share >= COLLAPSE_MIN_SHARE and share >= COLLAPSE_RATIO * real_share:
            found.append(
                {
                    "column": column,
                    "value": value.item() if hasattr(value, "item") else value,
                    "synthetic_share": round(share, 4),
                    "real_share": round(real_share, 4),
                }
            )
    return found


def collapse_warning(report: dict) -> str | None:
    """The one warning line `make data` ends with when the card flags collapsed modes."""
    modes = report.get("collapsed_modes") or []
    if not modes:
        return None
    listed = "; ".join(
        f"{m['column']}={m['value']} in {m['synthetic_share']:.1%} of records ({m['real_share']:.1%} of real rows)"
        for m in modes
    )
    return (
        f"warning: CTGAN repeats values far more often than the real data (collapsed modes): {listed}; "
        "train it longer (ctgan.epochs) before using these records"
    )


def portfolio_report(
    real: pd.DataFrame, synthetic: pd.DataFrame, dropped_copies: int, seed: int, rules=(), redrawn: dict | None = None
) -> dict:
    """The quality and privacy section of the data card: aggregates only, never a real row."""
    redrawn = redrawn or {}
    return {
        "real_rows": len(real),
        "synthetic_rows": len(synthetic),
        "columns": list(PORTFOLIO_COLUMNS),
        "rules": {
            "kept": [{"rule": str(rule), "source": rule.source} for rule in rules]
            + [{"rule": POSITIVE_PRINCIPAL, "source": "contract"}],
            "redrawn_rows": sum(redrawn.values()),
            "redrawn_by_rule": redrawn,
            "broken_in_records": sum(int(rule.broken(synthetic).sum()) for rule in rules)
            + int((synthetic["principal"] <= 0).sum()),
        },
        "collapsed_modes": collapsed_modes(real, synthetic),
        "marginals": marginals(real, synthetic),
        "correlations": correlations(real, synthetic),
        "detection": detection(real, synthetic, seed),
        "distance_to_closest_record": privacy(real, synthetic, dropped_copies),
    }


def write_quality_plots(real: pd.DataFrame, synthetic: pd.DataFrame, report: dict, out_dir: str | Path) -> list[Path]:
    """marginals.png, correlations.png and distances.png: real against synthetic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in ("marginals.png", "correlations.png", "distances.png")]

    fig, axes = plt.subplots(3, 4, figsize=(16, 10))
    for ax, column in zip(axes.flat, PORTFOLIO_COLUMNS):
        if column in CATEGORICAL_COLUMNS:
            shares = report["marginals"][column]
            xs = np.arange(len(CATEGORIES[column]))
            ax.bar(xs - 0.2, list(shares["real"].values()), 0.4, label="real")
            ax.bar(xs + 0.2, list(shares["synthetic"].values()), 0.4, label="synthetic")
            ax.set_xticks(xs, CATEGORIES[column], rotation=30, ha="right", fontsize=7)
            ax.set_title(f"{column} (TVD {shares['tvd']:.3f})", fontsize=9)
        else:
            transform = np.log1p if column in AMOUNT_COLUMNS else (lambda v: v)
            r, s = transform(real[column].astype(float)), transform(synthetic[column].astype(float))
            bins = np.histogram_bin_edges(np.concatenate([r, s]), bins=30)
            ax.hist(r, bins=bins, density=True, alpha=0.5, label="real")
            ax.hist(s, bins=bins, density=True, alpha=0.5, label="synthetic")
            label = f"log(1 + {column})" if column in AMOUNT_COLUMNS else column
            ax.set_title(f"{label} (KS {report['marginals'][column]['ks']:.3f})", fontsize=9)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(PORTFOLIO_COLUMNS) :]:
        ax.axis("off")
    fig.suptitle("Marginals: real against synthetic")
    fig.tight_layout()
    fig.savefig(paths[0], dpi=90)
    plt.close(fig)

    corr = report["correlations"]
    matrices = {"real": np.array(corr["real"]), "synthetic": np.array(corr["synthetic"])}
    matrices["synthetic - real"] = matrices["synthetic"] - matrices["real"]
    fig, axes = plt.subplots(1, 3, figsize=(18, 6), layout="constrained")
    for ax, (title, matrix) in zip(axes, matrices.items()):
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="coolwarm")
        ax.set_xticks(range(len(corr["columns"])), corr["columns"], rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(corr["columns"])), corr["columns"], fontsize=7)
        ax.set_title(f"Spearman correlations: {title}")
    fig.colorbar(image, ax=axes, shrink=0.7)
    fig.savefig(paths[1], dpi=90)
    plt.close(fig)

    dcr, real_nn = closest_record_distances(real, synthetic)
    fig, ax = plt.subplots(figsize=(8, 4))
    bins = np.histogram_bin_edges(np.concatenate([dcr, real_nn]), bins=40)
    ax.hist(real_nn, bins=bins, density=True, alpha=0.5, label="real to closest other real")
    ax.hist(dcr, bins=bins, density=True, alpha=0.5, label="synthetic to closest real")
    privacy_report = report["distance_to_closest_record"]
    ax.set_title(
        f"Distance to closest record ({privacy_report['share_closer_than_real_median']:.0%} of synthetic rows "
        f"below the real median; detection AUC {report['detection']['roc_auc']:.2f})",
        fontsize=9,
    )
    ax.set_xlabel("distance (standardised features)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[2], dpi=90)
    plt.close(fig)
    return paths
