"""What a training run prints: one line per milestone, from the main process only."""

from __future__ import annotations

import os


def say(message: str) -> None:
    """Print from rank 0 only (accelerate launches several processes)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(message, flush=True)
