"""Synthetic debt records (MADeN-style): basic debt information the collector sees, private finances it does not.

Financial numbers come from a seeded linear model plus Gaussian noise, as MADeN generated them after
fitting CTGAN on real data. A lender with real records fits CTGAN on the columns of PORTFOLIO_COLUMNS
instead (data_gen/portfolio.py, `make data ARGS="source=ctgan real_csv=PATH"`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from debtgpt.constants import OVERDUE_REASON_CATEGORIES

# Fields the collector may see; everything else in a record is private to the debtor.
PUBLIC_RECORD_FIELDS = ("id", "age", "gender", "principal", "days_overdue", "total_loan", "outstanding_balance")
PRIVATE_RECORD_FIELDS = (
    "overdue_reason_category",
    "overdue_reason",
    "daily_income",
    "current_assets",
    "monthly_expenses",
)

# The column contract of a lender's CSV: every record field but the id and the reason text (which always
# comes from its category's template, so no free text from a CSV ever reaches a record).
PORTFOLIO_COLUMNS = (
    "age",
    "gender",
    "principal",
    "days_overdue",
    "total_loan",
    "outstanding_balance",
    "overdue_reason_category",
    "daily_income",
    "current_assets",
    "monthly_expenses",
)
CATEGORICAL_COLUMNS = ("gender", "overdue_reason_category")
INTEGER_COLUMNS = ("age", "days_overdue")
AMOUNT_COLUMNS = (
    "principal",
    "total_loan",
    "outstanding_balance",
    "daily_income",
    "current_assets",
    "monthly_expenses",
)
GENDERS = ("female", "male")

_REASON_TEXTS = {
    "job loss": "I was laid off {months} months ago and have not found steady work since.",
    "medical expenses": "A family member was in hospital and the medical bills took all my savings.",
    "business failure": "My small shop closed down and I am still paying off its suppliers.",
    "family emergency": "A family emergency back home needed money urgently.",
    "income reduction": "My employer cut my hours, so my pay dropped by almost half.",
    "overspending": "I spent more than I earned on other loans and credit cards.",
    "forgot to pay": "I changed banks and the automatic payment stopped without my noticing.",
}
# How much each reason depresses income and assets (a hardship multiplier in the linear model).
_REASON_HARDSHIP = {
    "job loss": 0.45,
    "medical expenses": 0.8,
    "business failure": 0.6,
    "family emergency": 0.85,
    "income reduction": 0.6,
    "overspending": 1.0,
    "forgot to pay": 1.15,
}
_REASON_WEIGHTS = (0.2, 0.15, 0.12, 0.12, 0.18, 0.15, 0.08)


@dataclass(frozen=True)
class DebtRecord:
    id: str
    age: int
    gender: str
    principal: float  # the overdue amount: the debt the agreement settles
    days_overdue: int
    total_loan: float
    outstanding_balance: float
    overdue_reason_category: str
    overdue_reason: str
    daily_income: float
    current_assets: float
    monthly_expenses: float

    def public(self) -> dict:
        """What the collector's information card may show."""
        return {name: getattr(self, name) for name in PUBLIC_RECORD_FIELDS}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "DebtRecord":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


def reason_text(category: str, rng: np.random.Generator) -> str:
    """The debtor's own words for an overdue reason: a template of its category."""
    return _REASON_TEXTS[category].format(months=int(rng.integers(2, 10)))


def record_from_row(record_id: str, row: dict, rng: np.random.Generator) -> DebtRecord:
    """A record from the contract columns of one row (a CTGAN sample); the reason text from its category."""
    return DebtRecord(
        id=record_id,
        age=int(row["age"]),
        gender=str(row["gender"]),
        principal=round(float(row["principal"]), 2),
        days_overdue=int(row["days_overdue"]),
        total_loan=round(float(row["total_loan"]), 2),
        outstanding_balance=round(float(row["outstanding_balance"]), 2),
        overdue_reason_category=str(row["overdue_reason_category"]),
        overdue_reason=reason_text(str(row["overdue_reason_category"]), rng),
        daily_income=round(float(row["daily_income"]), 2),
        current_assets=round(float(row["current_assets"]), 2),
        monthly_expenses=round(float(row["monthly_expenses"]), 2),
    )


def generate_records(n: int, seed: int) -> list[DebtRecord]:
    """n records from a seeded parametric model: same (n, seed), same records."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        age = int(np.clip(rng.normal(36, 9), 21, 65))
        gender = GENDERS[0] if rng.random() < 0.45 else GENDERS[1]
        category = OVERDUE_REASON_CATEGORIES[rng.choice(len(OVERDUE_REASON_CATEGORIES), p=_REASON_WEIGHTS)]
        hardship = _REASON_HARDSHIP[category]
        # Linear model plus Gaussian noise: income rises with age until the fifties; hardship lowers it.
        base_income = 90 + 6.0 * min(age, 52) + rng.normal(0, 70)
        daily_income = float(np.clip(base_income * hardship, 40, 2000))
        monthly_expenses = float(np.clip(0.72 * daily_income * 30 + 300 + rng.normal(0, 450), 500, None))
        current_assets = float(np.clip(-1500 + 45 * daily_income * hardship + rng.normal(0, 3000), 0, None))
        total_loan = float(np.clip(rng.lognormal(10.2, 0.8), 3000, 300000))
        outstanding_balance = float(total_loan * rng.uniform(0.35, 0.95))
        principal = float(outstanding_balance * rng.uniform(0.15, 0.45))
        days_overdue = int(np.clip(rng.gamma(2.2, 40), 15, 720))
        records.append(
            DebtRecord(
                id=f"R{i:04d}",
                age=age,
                gender=gender,
                principal=round(principal, 2),
                days_overdue=days_overdue,
                total_loan=round(total_loan, 2),
                outstanding_balance=round(outstanding_balance, 2),
                overdue_reason_category=category,
                overdue_reason=reason_text(category, rng),
                daily_income=round(daily_income, 2),
                current_assets=round(current_assets, 2),
                monthly_expenses=round(monthly_expenses, 2),
            )
        )
    return records
