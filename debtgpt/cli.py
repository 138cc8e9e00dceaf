"""What every stage's command line shares: bad input ends the run with one line that says what is wrong."""
from __future__ import annotations

import os
from contextlib import contextmanager


class StageError(RuntimeError):
    """A stage cannot go on, or its result would not be true (a collector that cannot run); one line says why."""


@contextmanager
def stage_errors():
    """Turn input errors (unknown names, off-grid values, missing files) into `error: ...` and exit status 1.

    Set DEBTGPT_TRACEBACK=1 to see the full traceback instead.
    """
    try:
        yield
    except (ValueError, FileNotFoundError, StageError) as error:  # MissingDataError is a FileNotFoundError
        if os.environ.get("DEBTGPT_TRACEBACK"):
            raise
        raise SystemExit("error: " + " ".join(str(error).split())) from None  # always one line
