"""How a benchmark leaves its figures: a JSON file with the command that produced them."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def write_rows(out: str | Path, rows: list[dict]) -> None:
    """Write `{"command": ..., "rows": rows}` to `out`, atomically (a run stopped halfway leaves
    the last complete results in place)."""
    from trainables.media import write_atomically

    path = Path(out)
    text = json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text))
