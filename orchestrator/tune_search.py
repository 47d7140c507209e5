"""A sweep's search (orchestrator.search) as Ray Tune's objects: the param space's trials, the
ASHA scheduler, the searcher (Tune's seeded random sampling, or Optuna) and a preview of the
random draws.

ASHA judges a trial only on the reports that carry its metric: a trial reports its loss every
`log_every` steps and its validation scores every `validate_every` steps (trainables.trial; a
report with scores is never held back, trainables.queued_reports), so the scheduler sees the
metric at validations only, with the trial's training step as its clock (`time_attr="step"`).
"""

from __future__ import annotations

import os
from typing import Any

from ray import tune
from ray.tune.result import TRAINING_ITERATION
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.sample import Domain, _BackwardsCompatibleNumpyRng
from ray.tune.search.variant_generator import generate_variants

from orchestrator.search import DEFAULT_REDUCTION_FACTOR, Range, Search
from trainables.config import TrialConfig


def domain(sampled: Range) -> Domain:
    """The Range as Tune's range object (Tune's integer ranges exclude their upper bound)."""
    low, high = (sampled.values + (None, None))[:2]
    builders = {
        "choice": lambda: tune.choice(list(sampled.values)),
        "uniform": lambda: tune.uniform(low, high),
        "loguniform": lambda: tune.loguniform(low, high),
        "randint": lambda: tune.randint(low, high + 1),
        "lograndint": lambda: tune.lograndint(low, high + 1),
    }
    return builders[sampled.kind]()


def domains(search: Search) -> dict[str, Domain]:
    return {name: domain(sampled) for name, sampled in search.space.items()}


def param_trials(search: Search, trials: list[dict[str, Any]]) -> Any:
    """What the Tuner's param space holds as "trial": the grid of the sweep's trials, each with
    the ranges to draw from (random), or the one base trial (Optuna's searcher holds the
    ranges and draws them itself)."""
    if search.search == "optuna":
        return dict(trials[0])
    if search.search == "random":
        space = domains(search)
        return tune.grid_search([{**trial, **space} for trial in trials])
    return tune.grid_search(trials)


def tune_settings(
    search: Search, trials: list[dict[str, Any]], max_concurrent: int | None = None
) -> dict[str, Any]:
    """`tune.TuneConfig`'s scheduler, searcher, sample count and concurrency for the search;
    for the default (Tune's FIFO over the grid), the concurrency alone."""
    settings: dict[str, Any] = {"max_concurrent_trials": max_concurrent}
    if search.scheduler == "asha":
        settings["scheduler"] = asha(search, trials)
    if search.search == "random":
        # Tune's own generator, seeded; it limits the concurrency itself (Tune ignores
        # TuneConfig's limit for a generator passed in).
        settings["search_alg"] = BasicVariantGenerator(
            random_state=search.seed, max_concurrent=max_concurrent or 0
        )
        settings["max_concurrent_trials"] = None
    elif search.search == "optuna":
        space = OptunaSearch.convert_search_space({"trial": domains(search)})
        settings["search_alg"] = StepOptunaSearch(
            space=space, metric=search.metric, mode=search.mode, seed=search.seed
        )
    if search.search != "grid":
        settings["num_samples"] = search.num_samples
    return settings


def asha(search: Search, trials: list[dict[str, Any]]) -> ASHAScheduler:
    """ASHA on the trials' steps: its first rung at their validation period (or the grace
    period given), each next one `reduction_factor` times later, up to their last step."""
    configs = [TrialConfig.from_dict(trial) for trial in trials]
    return ASHAScheduler(
        time_attr="step",
        metric=search.metric,
        mode=search.mode,
        max_t=max(c.steps for c in configs),
        grace_period=search.grace_period or max(c.validate_every for c in configs),
        reduction_factor=search.reduction_factor or DEFAULT_REDUCTION_FACTOR,
        # A trial ends itself at its last step: ASHA stops only those below a rung's cutoff.
        stop_last_trials=False,
    )


def prepare_driver(search: Search) -> None:
    """Before the Tuner runs (or is restored) in this process. Trials report their loss between
    validations, without the metric: ASHA and the searcher skip such reports, but Tune's strict
    check, that every report carries the metric, would fail the trials."""
    if search.metric is not None:
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"


class StepOptunaSearch(OptunaSearch):
    """Ray's Optuna searcher, told only the reports that carry its metric (validations; Ray's
    searcher expects the metric in every report), each at the trial's training step rather than
    at Tune's count of reports."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self.metric in result:
            super().on_trial_result(trial_id, {**result, TRAINING_ITERATION: result["step"]})


def preview(search: Search, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials a random search runs, in the order Tune makes them (its sampling is seeded),
    for `--dry-run`; Optuna's draws depend on the results: its base trial stands in."""
    if search.search != "random":
        return list(trials)
    rng = _BackwardsCompatibleNumpyRng(search.seed)
    spec = {"trial": param_trials(search, trials)}
    return [
        resolved["trial"]
        for _ in range(search.num_samples)
        for _, resolved in generate_variants(spec, random_state=rng)
    ]
