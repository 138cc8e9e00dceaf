"""Checks the domain shares with the stages: a count below its minimum, and the error that ends a run."""

from __future__ import annotations


class StageError(RuntimeError):
    """A stage cannot go on, or its result would not be true (a collector that cannot run); one line says why."""


def require_at_least(minimum: int, **counts) -> None:
    """Fail at start-up on a count below its minimum (a batch_size of 0 would loop for ever), naming it."""
    for name, value in counts.items():
        if value is None or isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name}={value!r} must be an integer of at least {minimum}")
