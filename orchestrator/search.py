"""A sweep's search beyond its grid, opt in: Ray Tune's ASHA scheduler, which stops weak trials at
their validations, and trials sampled from ranges (Tune's random sampling, or Optuna) on top of
the sweep's trials. The paper's sweeps use neither: their grid, first in first out.

Ranges come from the command line (`--sample lr=loguniform:1e-5:1e-3 --sample rank=choice:4,8`)
or from a sweep module (`Sweep.search`, Tune's own range objects); both become the same text,
which the sweep's record keeps (orchestrator.identity): running the same command again resumes
the sweep, and another search under the same name is refused.

This module is the search as data and its checks, made before Ray starts (no Ray import here:
the CLI answers in a second); orchestrator.tune_search turns it into Tune's objects.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from tasks import get_task
from tasks.metrics import LOWER_IS_BETTER
from trainables.config import TrialConfig, placement_key

SCHEDULERS = ("fifo", "asha")
SEARCHES = ("grid", "random", "optuna")
RANGES = ("choice", "loguniform", "lograndint", "randint", "uniform")
#: Settings fixed before the sweep starts (data, weights and placement are checked on them).
FIXED = ("task", "backbone", "scale", "weights", "dataset", "data_root", "n", "n_val", "workers")
EXAMPLE = "e.g. lr=loguniform:1e-5:1e-3 or rank=choice:4,8,16"
INSTALL_OPTUNA = "pip install 'vdm-sweeps[search]' (or: pip install optuna)"
#: The Hyperband papers' η: a third of the trials at each rung go on.
DEFAULT_REDUCTION_FACTOR = 3.0


@dataclass(frozen=True)
class Range:
    """One sampled setting's range: `choice` over `values`, or `uniform` / `loguniform` over
    [low, high], or `randint` / `lograndint` over the integers low..high (both included)."""

    kind: str
    values: tuple[Any, ...]  # the choices, or (low, high)

    @property
    def text(self) -> str:
        """The `--sample` syntax, which the sweep's record keeps."""
        if self.kind == "choice":
            return "choice:" + ",".join(str(v) for v in self.values)
        return f"{self.kind}:{self.values[0]!r}:{self.values[1]!r}"

    def candidates(self) -> list[Any]:
        """The values that stand for the range in checks: every choice, or its bounds."""
        return list(self.values)


@dataclass(frozen=True)
class Search:
    """How a sweep searches: its scheduler (fifo, or asha judged on `metric`), and how its trials
    are made: the grid of the sweep's trials, or `num_samples` draws from `space` (trial setting
    → Range) on top of them, by Tune's random sampling or by Optuna, seeded by `seed`."""

    scheduler: str = "fifo"
    metric: str | None = None
    mode: str | None = None
    grace_period: int | None = None  # steps before ASHA may stop a trial; None: validate_every
    reduction_factor: float | None = None  # 1/F of the trials go on at each rung (ASHA)
    search: str = "grid"
    num_samples: int = 1
    space: dict[str, Range] = field(default_factory=dict)
    seed: int = 0

    def record(self) -> dict[str, Any]:
        """The search as plain data, for the sweep's record: same command, same record."""
        return {
            "scheduler": self.scheduler,
            "metric": self.metric,
            "mode": self.mode,
            "grace_period": self.grace_period,
            "reduction_factor": self.reduction_factor,
            "search": self.search,
            "num_samples": self.num_samples,
            "space": {name: r.text for name, r in sorted(self.space.items())},
            "seed": self.seed,
        }

    @property
    def stops_early(self) -> bool:
        return self.scheduler != "fifo"

    @property
    def stopped_label(self) -> str:
        return f"stopped early ({self.scheduler.upper()})"

    def trial_count(self, trials: list[dict[str, Any]]) -> int:
        """Optuna: `num_samples` around the one trial; random: that many of each trial."""
        if self.search == "optuna":
            return self.num_samples
        return self.num_samples * len(trials) if self.search == "random" else len(trials)

    def stopped_at(self, metrics: dict[str, Any], trial: dict[str, Any]) -> int | None:
        """The step at which the scheduler stopped this trial, or None: a trial Tune marked
        done (an interrupted sweep's running trials are not) before its last step."""
        if not self.stops_early or not metrics.get("done") or "step" not in metrics:
            return None
        step = int(metrics["step"])
        return step if step < TrialConfig.from_dict(trial).steps else None

    def describe(self) -> str:
        """What the sweep's first line adds: the sampling and the scheduler, if any."""
        parts = []
        if self.search != "grid":
            ranges = ", ".join(f"{n}={r.text}" for n, r in sorted(self.space.items()))
            parts.append(f"{self.search} search (seed {self.seed}): {ranges}")
        if self.stops_early:
            parts.append(f"{self.scheduler.upper()} on {self.metric} ({self.mode})")
        return "; ".join(parts)


def _field_type(name: str) -> type:
    hint = typing.get_type_hints(TrialConfig)[name]
    kinds = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    return kinds[0]


def samplable() -> list[str]:
    return sorted(f.name for f in dataclasses.fields(TrialConfig) if f.name not in FIXED)


def _check_name(name: str, where: str) -> type:
    if name in FIXED:
        raise ValueError(
            f"cannot sample {name!r} in {where}: it is checked before the sweep starts; "
            f"samplable: {', '.join(samplable())}"
        )
    if name not in samplable():
        raise ValueError(
            f"unknown trial setting {name!r} in {where}; samplable: {', '.join(samplable())}"
        )
    return _field_type(name)


def _value(text: str, kind: type, where: str) -> Any:
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        return kind(text)
    except ValueError:
        raise ValueError(f"bad value {text!r} in {where}: {kind.__name__} expected") from None


def check_range(name: str, kind: str, values: tuple[Any, ...], where: str) -> Range:
    """The range, if it fits the setting's type and its bounds are in order."""
    field_type = _check_name(name, where)
    if kind not in RANGES:
        raise ValueError(f"unknown range {kind!r} in {where}; allowed: {', '.join(RANGES)}")
    if kind == "choice":
        if not values:
            raise ValueError(f"bad {where}: choice needs at least one value")
        return Range(kind, tuple(values))
    integer = kind.endswith("randint")
    if field_type is not (int if integer else float):
        fits = {int: "randint, lograndint or choice", float: "uniform, loguniform or choice"}
        raise ValueError(
            f"{where}: {name} is of type {field_type.__name__}; use "
            f"{fits.get(field_type, 'choice')}"
        )
    low, high = values
    if not low < high:
        raise ValueError(f"bad {where}: LOW must be below HIGH")
    if kind.startswith("log") and low <= 0:
        raise ValueError(f"bad {where}: a log range needs LOW above 0")
    return Range(kind, (low, high))


def parse_sample(text: str) -> tuple[str, Range]:
    """`NAME=KIND:ARGS` → the trial setting and its range: uniform:LOW:HIGH,
    loguniform:LOW:HIGH, randint:LOW:HIGH, lograndint:LOW:HIGH or choice:A,B,..."""
    where = f"--sample {text}"
    name, sep, spec = text.partition("=")
    kind, colon, args = spec.partition(":")
    if not sep or not name or not colon or not args:
        raise ValueError(f"bad --sample {text!r}; expected NAME=KIND:ARGS, {EXAMPLE}")
    field_type = _check_name(name, where)
    if kind == "choice":
        values = tuple(_value(v.strip(), field_type, where) for v in args.split(",") if v.strip())
        return name, check_range(name, kind, values, where)
    if kind not in RANGES:
        raise ValueError(f"unknown range {kind!r} in {where}; allowed: {', '.join(RANGES)}")
    number = int if kind.endswith("randint") else float
    bounds = args.split(":")
    try:
        if len(bounds) != 2:
            raise ValueError
        low, high = (number(b) for b in bounds)
    except ValueError:
        raise ValueError(f"bad {where}; expected {kind}:LOW:HIGH with {number.__name__}s") from None
    return name, check_range(name, kind, (low, high), where)


def from_domain(name: str, domain: Any) -> Range:
    """A sweep module's Tune range object (`Sweep.search`) as a Range: tune.choice,
    tune.uniform, tune.loguniform, tune.randint, tune.lograndint (whose upper bound Tune
    excludes; a Range includes it)."""
    from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Uniform

    where = f"the sweep's search[{name!r}]"
    sampler = getattr(domain, "get_sampler", lambda: None)()
    log = isinstance(sampler, LogUniform)
    if isinstance(domain, Categorical):
        return check_range(name, "choice", tuple(domain.categories), where)
    plain = isinstance(sampler, Uniform | LogUniform)
    if isinstance(domain, Float) and plain:
        kind = "loguniform" if log else "uniform"
        return check_range(name, kind, (domain.lower, domain.upper), where)
    if isinstance(domain, Integer) and plain:
        kind = "lograndint" if log else "randint"
        return check_range(name, kind, (domain.lower, domain.upper - 1), where)
    raise ValueError(
        f"{where} is {domain!r}; expected tune.choice, tune.uniform, tune.loguniform, "
        "tune.randint or tune.lograndint"
    )


def check_space(space: dict[str, Range], trials: list[dict[str, Any]]) -> None:
    """Every value a sampled setting can take (each choice, a range's bounds) makes a valid
    trial of each of the sweep's trials."""
    for name, sampled in space.items():
        for value in sampled.candidates():
            for trial in trials:
                try:
                    TrialConfig.from_dict({**trial, name: value})
                except ValueError as error:
                    raise ValueError(f"--sample {name}={sampled.text}: {error}") from None


def sizing_trials(search: Search, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials the resources policy sizes: the sweep's own, and where a sampled setting moves
    a trial's memory (full scale: rank, modules, resolution, batch), each of its choices.
    A range of such a setting cannot be sized before the sweep starts: a one-line error."""
    if search.search == "grid":
        return trials
    out: list[dict[str, Any]] = []
    for trial in trials:
        variants = [trial]
        for name, sampled in sorted(search.space.items()):
            keys = {placement_key({**trial, name: v}) for v in sampled.candidates()}
            if keys == {placement_key(trial)}:
                continue
            if sampled.kind != "choice":
                raise ValueError(
                    f"--sample {name}={sampled.text}: {name} moves the trial's memory at "
                    f"{trial.get('scale', 'tiny')} scale; sample it with choice:A,B,... so "
                    "each value's share is sized before the sweep starts"
                )
            variants = [{**v, name: c} for v in variants for c in sampled.values]
        out += variants
    return out


def allowed_metrics(trials: list[dict[str, Any]]) -> list[str]:
    """The validation scores every trial of the sweep reports (`val_<metric of its task>`)."""
    tasks = list(dict.fromkeys(t["task"] for t in trials))
    common = set.intersection(*(set(get_task(task).metrics) for task in tasks))
    return [f"val_{m}" for m in get_task(tasks[0]).metrics if m in common]


def optuna_installed() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(
    trials: list[dict[str, Any]],
    sweep_space: dict[str, Any],
    scheduler: str = "fifo",
    metric: str | None = None,
    mode: str | None = None,
    grace_period: int | None = None,
    reduction_factor: float | None = None,
    search: str | None = None,
    num_samples: int | None = None,
    samples: list[str] | tuple[str, ...] = (),
    seed: int = 0,
) -> Search:
    """The CLI's search options (None: not given) on a sweep's trials and its own ranges
    (`Sweep.search`), checked before anything starts: each mistake a one-line ValueError."""
    parsed = dict(parse_sample(text) for text in samples)
    if search is None:
        search = "random" if parsed or sweep_space else "grid"
    space: dict[str, Range] = {}
    if search == "grid":
        if parsed:
            raise ValueError("--sample needs --search random or optuna (a grid samples nothing)")
        if num_samples is not None:
            raise ValueError(
                "--num-samples needs --search random or optuna (a grid runs each trial once)"
            )
    else:
        space = {name: from_domain(name, d) for name, d in sweep_space.items()} | parsed
        if not space:
            raise ValueError(
                f"--search {search} needs ranges to sample: --sample NAME=KIND:ARGS ({EXAMPLE}) "
                "or a sweep with search={...}"
            )
        check_space(space, trials)
    if num_samples is not None and num_samples < 1:
        raise ValueError(f"bad --num-samples {num_samples}; expected 1 or more")
    if search == "optuna":
        if not optuna_installed():
            raise ValueError(
                f"--search optuna needs Optuna, which is not installed: {INSTALL_OPTUNA}"
            )
        if len(trials) != 1:
            raise ValueError(
                f"--search optuna samples around one trial; this sweep has {len(trials)}: narrow "
                "it (--tasks, --modules, --ranks, ...) or use --search random"
            )
    metric, mode = _judged_by(trials, scheduler, search, metric, mode)
    if scheduler != "asha" and (grace_period is not None or reduction_factor is not None):
        raise ValueError("--grace-period and --reduction-factor are ASHA's: add --scheduler asha")
    result = Search(
        scheduler=scheduler,
        metric=metric,
        mode=mode,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        search=search,
        num_samples=1 if num_samples is None else num_samples,
        space=space,
        seed=seed,
    )
    if scheduler == "asha":
        _check_asha(result, trials)
    return result


def _judged_by(
    trials: list[dict[str, Any]], scheduler: str, search: str, metric: str | None, mode: str | None
) -> tuple[str | None, str | None]:
    """The metric and mode ASHA or Optuna judge trials by (the mode defaults to the metric's
    direction); none for a search that judges nothing."""
    judged = scheduler == "asha" or search == "optuna"
    allowed = allowed_metrics(trials)
    if metric is None:
        if judged:
            need = "--scheduler asha" if scheduler == "asha" else "--search optuna"
            raise ValueError(f"{need} needs --metric; allowed: {', '.join(allowed)}")
        if mode is not None:
            raise ValueError("--mode needs --metric")
        return None, None
    if not judged:
        raise ValueError("--metric judges trials for --scheduler asha or --search optuna")
    if metric not in allowed:
        raise ValueError(
            f"bad --metric {metric!r}: not reported by every trial; allowed: {', '.join(allowed)}"
        )
    if mode is None:
        mode = "min" if metric.removeprefix("val_") in LOWER_IS_BETTER else "max"
    return metric, mode


def _check_asha(search: Search, trials: list[dict[str, Any]]) -> None:
    configs = [TrialConfig.from_dict(t) for t in sizing_trials(search, trials)]
    blind = sum(1 for c in configs if not c.validate_every)
    if blind:
        raise ValueError(
            f"--scheduler asha judges trials at their validations, but {blind} trial(s) validate "
            "only at their end (validate_every = 0): give --validate-every STEPS"
        )
    max_t = max(c.steps for c in configs)
    grace = search.grace_period or max(c.validate_every for c in configs)
    if not 1 <= grace < max_t:
        raise ValueError(
            f"bad --grace-period {grace}: ASHA needs 1 <= grace period < the trials' {max_t} steps"
        )
    if search.reduction_factor is not None and search.reduction_factor <= 1:
        raise ValueError(f"bad --reduction-factor {search.reduction_factor:g}; expected above 1")


def add_arguments(parser: Any) -> None:
    """The CLI's search options (`python -m orchestrator.sweep`), in a group of their own."""
    group = parser.add_argument_group(
        "search", "Ray Tune's scheduler and sampling, opt in (default: the sweep's grid, FIFO)"
    )
    group.add_argument(
        "--scheduler", choices=SCHEDULERS, default="fifo", help="asha: stop weak trials early"
    )
    group.add_argument("--metric", help="what ASHA / Optuna judge trials on, e.g. val_psnr")
    group.add_argument("--mode", choices=("max", "min"), help="default: the metric's direction")
    group.add_argument(
        "--grace-period",
        type=int,
        metavar="STEPS",
        help="ASHA: steps before a trial may be stopped (default: validate_every)",
    )
    group.add_argument(
        "--reduction-factor",
        type=float,
        metavar="F",
        help=f"ASHA: 1/F of the trials go on at each rung (default {DEFAULT_REDUCTION_FACTOR:g})",
    )
    group.add_argument(
        "--validate-every",
        type=int,
        metavar="STEPS",
        help="every trial validates every STEPS steps (what ASHA judges trials on)",
    )
    group.add_argument(
        "--search",
        choices=SEARCHES,
        help=f"grid (default; random when ranges are given), random, or optuna ({INSTALL_OPTUNA})",
    )
    group.add_argument(
        "--num-samples",
        type=int,
        metavar="K",
        help="trials to sample (random: K of each of the sweep's trials)",
    )
    group.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="NAME=KIND:ARGS",
        help="a range to sample a trial setting from (repeatable): uniform:LOW:HIGH, "
        "loguniform:LOW:HIGH, randint:LOW:HIGH, lograndint:LOW:HIGH (bounds included), "
        "choice:A,B,...",
    )
    group.add_argument(
        "--search-seed", type=int, default=0, metavar="S", help="seeds the sampling (default 0)"
    )


def from_args(args: Any, trials: list[dict[str, Any]], sweep_space: dict[str, Any]) -> Search:
    """`resolve` on the parsed command line."""
    return resolve(
        trials,
        sweep_space,
        scheduler=args.scheduler,
        metric=args.metric,
        mode=args.mode,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        search=args.search,
        num_samples=args.num_samples,
        samples=args.sample,
        seed=args.search_seed,
    )


def with_validate_every(trials: list[dict[str, Any]], steps: int | None) -> list[dict[str, Any]]:
    """`--validate-every STEPS` on every trial."""
    if steps is None:
        return trials
    if steps < 1:
        raise ValueError(f"bad --validate-every {steps}; expected 1 or more steps")
    return [{**t, "validate_every": steps} for t in trials]
