"""The four-field agreement: the terminal state of a negotiation. Off-grid values are rejected, never rounded."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from debtgpt.constants import AGREEMENT_FIELDS, AGREEMENT_GRID

RATIO_FIELDS = ("disc_ratio", "pmt_ratio")


class OffGridError(ValueError):
    """A proposed value is not on the agreement grid; the message names the field and the allowed values."""

    def __init__(self, field: str, value, reason: str = "is not on the grid"):
        self.field = field
        self.value = value
        allowed = ", ".join(_show(field, v) for v in AGREEMENT_GRID.get(field, ()))
        super().__init__(f"{field}={short_repr(value)} {reason}; allowed values: {allowed}")


def short_repr(value, limit: int = 40) -> str:
    """A value's repr cut to `limit` characters: a model can write a number thousands of digits long."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"<int of {value.bit_length()} bits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(field: str, value) -> str:
    return f"{round(value * 100)}%" if field in RATIO_FIELDS else str(value)


def _on_grid(field: str, value: float):
    for allowed in AGREEMENT_GRID[field]:
        try:
            if abs(allowed - value) < 1e-9:
                return allowed
        except OverflowError:  # an int too large for a float is on no grid
            break
    raise OffGridError(field, value)


@dataclass(frozen=True)
class Agreement:
    """disc_ratio and pmt_ratio are fractions (25 % = 0.25); pmt_days in days; inst_prds in months."""

    disc_ratio: float
    pmt_ratio: float
    pmt_days: int
    inst_prds: int

    def __post_init__(self):
        for field in AGREEMENT_FIELDS:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OffGridError(field, value, "is not a number")
            object.__setattr__(self, field, _on_grid(field, value))

    @classmethod
    def from_dict(cls, fields: dict) -> "Agreement":
        """Build from a mapping; ratios may be fractions (0.25) or percents (25, "25%")."""
        missing = [f for f in AGREEMENT_FIELDS if f not in fields or fields[f] is None]
        if missing:
            raise OffGridError(missing[0], None, "is missing")
        values = {}
        for field in AGREEMENT_FIELDS:
            value = _as_number(field, fields[field])
            if field in RATIO_FIELDS and value > 1:
                value = value / 100
            values[field] = value
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    def concessions_from(self, previous: "Agreement") -> int:
        """How many fields moved in the debtor's favour compared with an earlier offer."""
        return (
            (self.disc_ratio > previous.disc_ratio)
            + (self.pmt_ratio < previous.pmt_ratio)
            + (self.pmt_days > previous.pmt_days)
            + (self.inst_prds > previous.inst_prds)
        )

    def describe(self) -> str:
        return (
            f"{round(self.disc_ratio * 100)}% off, {round(self.pmt_ratio * 100)}% paid within "
            f"{self.pmt_days} days, the rest over {self.inst_prds} months"
        )


def _as_number(field: str, value) -> float:
    if isinstance(value, bool):
        raise OffGridError(field, value, "is not a number")
    if isinstance(value, int):
        try:
            float(value)  # an int too large for a float would overflow in the percent conversion
        except OverflowError:
            raise OffGridError(field, value, "is out of range") from None
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        try:
            return float(text)
        except ValueError:
            pass
    raise OffGridError(field, value, "is not a number")
