"""Refusals of a placement that would change a trial's recipe, said before trials start."""

from __future__ import annotations

from orchestrator.resources import placement_estimates
from trainables.config import memory_settings, placement_key


def check_batches(trials: list[dict], placement: dict[str, dict[str, float]]) -> None:
    """A trial spread over ranks keeps its global batch (its `batch_size`, Table 3's, resolved
    by `memory_settings` as `TrialConfig.from_dict` resolves it): each rank takes a whole part
    of it. A placement that cannot split it is refused, not silently made a batch of one per
    rank (Wan2.1 on four 24 GB cards trained with a global batch of 4)."""
    estimates: dict[str, dict] | None = None
    for trial in trials:
        key = placement_key(trial)
        workers = int(placement[key]["workers"])
        if workers <= 1:
            continue
        batch_size = memory_settings(trial).batch_size
        if batch_size % workers == 0:
            continue
        if estimates is None:
            estimates = placement_estimates(trials, placement)
        whole = estimates.get(key, {}).get("memory_gb")
        cards = f"cards of {whole:g} GB or more (--card-gb)" if whole else "cards that hold it"
        raise ValueError(
            f"bad batch_size {batch_size} for {key} on {workers} ranks: the global batch "
            f"is the trial's batch_size, split over its ranks; allowed: {cards}, which hold "
            f"the trial whole, or batch_size a multiple of {workers}"
        )
