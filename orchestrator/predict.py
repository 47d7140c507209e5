"""`python -m orchestrator.predict ADAPTER --images DIR --out DIR`: apply a trial's adapter to
new images.

ADAPTER is a trial's MLflow run id (found with `--tracking-uri`, or in the sweep `--name` under
`--storage`, or in any sweep under `--storage`) or an adapter folder (orchestrator.adapters).
The backbone loads at the trial's scale and weights (`--weights BACKBONE=URI` overrides), the
adapter through diffusers' `load_lora_weights` on the backbone's own pipeline, and each image,
fitted to the trial's resolution as the task data is, is sampled as the trial sampled its
validation inputs (its frames, prompt, seed and sampling steps): the prediction is the video's
last frame, `OUT/NAME.png` (and with `--videos` the video, `OUT/NAME.mp4`). `--targets DIR`
scores the predictions against the targets of the same names with the trial task's metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from orchestrator.adapters import WEIGHTS_FILE, Adapter, open_adapter
from orchestrator.image_folder import list_images, read_fitted, targets_for
from orchestrator.sweep import check_weights
from tasks import get_task
from tasks import metrics as task_metrics
from tasks.datasets.pairs import scores_from_target_alone
from trainables.backbones import Backbone, load, min_sample_steps
from trainables.config import TrialConfig
from trainables.media import write_atomically, write_png, write_video

METRICS_FILE = "metrics.json"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.predict",
        description="Apply a trial's LoRA adapter to a folder of images.",
    )
    parser.add_argument(
        "adapter",
        metavar="ADAPTER",
        help="a trial's MLflow run id, or an adapter folder (a trial's adapter/ or its final "
        "checkpoint folder)",
    )
    parser.add_argument("--images", required=True, type=Path, metavar="DIR", help="the inputs")
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="writes NAME.png per input"
    )
    parser.add_argument(
        "--targets", type=Path, metavar="DIR", help="score against these (same names)"
    )
    parser.add_argument("--videos", action="store_true", help="also write NAME.mp4")
    parser.add_argument(
        "--steps", type=positive, help="sampling steps (default: the trial's sample_steps)"
    )
    parser.add_argument(
        "--batch-size",
        type=positive,
        help="inputs sampled at once (default: the trial's sample_batch)",
    )
    parser.add_argument("--seed", type=int, help="sampling seed (default: the trial's)")
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="BACKBONE=URI",
        help="the trial's backbone's weights: a hub-layout folder, s3://… or hf://REPO[@REV] "
        "(default: the trial's)",
    )
    runs = parser.add_argument_group("where a run id is looked up")
    runs.add_argument("--tracking-uri", help="an MLflow tracking URI")
    runs.add_argument(
        "--storage", default="./sweeps", help="the sweeps' folder, as the sweep's (./sweeps)"
    )
    runs.add_argument("--name", help="the sweep's name (default: every sweep under --storage)")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Plan:
    """Everything checked before a model loads: what to sample, how, and where it goes."""

    config: TrialConfig
    weights: str | None
    steps: int
    batch_size: int
    seed: int
    images: dict[str, Path]
    targets: dict[str, Path] | None
    scored: tuple[str, ...]  # the task's metrics that the targets alone score
    out: Path
    videos: bool

    @property
    def size(self) -> tuple[int, int]:
        return self.config.height, self.config.width


def trial_weights(config: TrialConfig, items: list[str]) -> str | None:
    """The weights to load (a folder or a URI, trainables.weight_sources): `--weights` for the
    trial's backbone, else the trial's own."""
    given: dict[str, str] = {}
    for item in items:
        backbone, sep, source = item.partition("=")
        if not sep or not backbone or not source:
            raise ValueError(f"bad --weights {item!r}; expected BACKBONE=URI")
        check_weights(backbone, source)
        if backbone != config.backbone:
            raise ValueError(
                f"--weights {backbone}=...: the adapter was trained on {config.backbone}; "
                f"allowed: {config.backbone}=URI"
            )
        given[backbone] = source if "://" in source else str(Path(source).expanduser())
    if config.backbone in given:
        return given[config.backbone]
    if config.weights:
        from trainables.backbones import backbone_class
        from trainables.weight_sources import check_source, first_line

        spec = backbone_class(config.backbone)
        try:
            check_source(config.weights, spec.subfolders, spec.hub_id)
        except (ValueError, OSError) as error:
            raise ValueError(
                f"the trial's weights: {first_line(error)}; give --weights {config.backbone}=URI"
            ) from None
    return config.weights


def scored_metrics(config: TrialConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The trial's metrics (its task's, or those its folder of pairs names) that a target image
    alone scores, and those that need the task's own ground truth besides (an inpainting mask,
    depth, labels, keypoints)."""
    scored, skipped = [], []
    for name in get_task(config.task).metrics_for(config.dataset, config.data_root):
        (scored if scores_from_target_alone(name) else skipped).append(name)
    return tuple(scored), tuple(skipped)


def make_plan(args: argparse.Namespace, adapter: Adapter) -> Plan:
    config = adapter.config
    weights = trial_weights(config, args.weights)
    steps = config.sample_steps if args.steps is None else args.steps
    fewest = min_sample_steps(config.backbone)
    if steps < fewest:
        raise ValueError(f"bad --steps {steps}; allowed: ≥ {fewest} for {config.backbone}")
    images = list_images(args.images, "--images")
    targets, scored = None, ()
    if args.targets is not None:
        scored, skipped = scored_metrics(config)
        if not scored:
            raise ValueError(
                f"--targets: task {config.task!r} scores with {', '.join(skipped)}, which need "
                "the task's own ground truth beyond a target image"
            )
        targets = targets_for(list(images), args.targets)
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a file; expected a folder")
    for flag, folder in (("--images", args.images), ("--targets", args.targets)):
        if folder is not None and args.out.resolve() == folder.resolve():
            raise ValueError(
                f"--out {str(args.out)!r} is the {flag} folder; its images would be overwritten"
            )
    return Plan(
        config=config,
        weights=weights,
        steps=steps,
        batch_size=config.sample_batch if args.batch_size is None else args.batch_size,
        seed=config.seed if args.seed is None else args.seed,
        images=images,
        targets=targets,
        scored=scored,
        out=args.out,
        videos=args.videos,
    )


def adapted_backbone(plan: Plan, folder: Path) -> Backbone:
    """The trial's backbone with its prompt embedded and the adapter loaded by diffusers."""
    config = plan.config
    backbone = load(config.backbone, config.scale, plan.weights)
    backbone.check_frames(config.frames)
    backbone.check_size(config.height, config.width)
    backbone.use_prompt(backbone.encode_prompt(config.prompt))
    try:
        backbone.pipeline.load_lora_weights(str(folder), weight_name=WEIGHTS_FILE)
    except (ValueError, RuntimeError, KeyError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"the adapter does not load into {config.backbone}: {reason}") from None
    return backbone


@contextlib.contextmanager
def progress(total: int, console: Console) -> Iterator[Callable[[int], None]]:
    """A rich bar on a terminal; elsewhere (a log, a pipe) one plain line per batch."""
    if console.is_terminal:
        columns = (
            TextColumn("predicting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("predict", total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    start = time.monotonic()
    yield lambda done: console.print(
        f"predict: {done}/{total} images ({time.monotonic() - start:.0f} s)",
        highlight=False,
        soft_wrap=True,
    )


def sample_all(plan: Plan, backbone: Backbone, console: Console) -> dict[str, np.ndarray]:
    """Sample every input, `batch_size` at a time; write each prediction as it comes (and its
    video); return the predictions (last frames) by name."""
    names = list(plan.images)
    predictions: dict[str, np.ndarray] = {}
    plan.out.mkdir(parents=True, exist_ok=True)
    with progress(len(names), console) as tick:
        for start in range(0, len(names), plan.batch_size):
            batch = names[start : start + plan.batch_size]
            images = [read_fitted(plan.images[name], plan.size) for name in batch]
            samples = backbone.sample_many(images, plan.config.frames, plan.steps, plan.seed)
            for name, sample in zip(batch, samples, strict=True):
                write_png(plan.out / f"{name}.png", sample.last_frame)
                if plan.videos:
                    write_video(plan.out / f"{name}.mp4", sample.video)
                predictions[name] = sample.last_frame
            tick(len(predictions))
    return predictions


def score(plan: Plan, predictions: dict[str, np.ndarray]) -> dict:
    """Each scored metric per image and its mean over the images (as a task averages them)."""
    assert plan.targets is not None
    per_image = {}
    for name, prediction in predictions.items():
        target = read_fitted(plan.targets[name], plan.size)
        per_image[name] = {
            metric: float(getattr(task_metrics, metric)(prediction, target))
            for metric in plan.scored
        }
    mean = {m: float(np.mean([v[m] for v in per_image.values()])) for m in plan.scored}
    _, skipped = scored_metrics(plan.config)
    return {"task": plan.config.task, "mean": mean, "images": per_image, "not_scored": skipped}


def metrics_table(result: dict) -> Table:
    table = Table()
    table.add_column(f"{result['task']}: image")
    for metric in result["mean"]:
        table.add_column(metric, justify="right")
    for name, values in result["images"].items():
        table.add_row(name, *(f"{v:.4f}" for v in values.values()))
    table.add_section()
    table.add_row("mean", *(f"{v:.4f}" for v in result["mean"].values()))
    return table


def describe(plan: Plan, adapter: Adapter) -> str:
    c = plan.config
    return (
        f"predict: {adapter.source}: task {c.task}, {c.backbone}/{c.scale}, {c.height}×{c.width}, "
        f"{c.frames} frames, {plan.steps} steps, seed {plan.seed}: {len(plan.images)} images "
        f"→ {plan.out}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)  # progress on stderr; the table and paths on stdout
    try:
        with open_adapter(args.adapter, args.tracking_uri, args.storage, args.name) as adapter:
            plan = make_plan(args, adapter)
            console.print(describe(plan, adapter), highlight=False, soft_wrap=True)
            backbone = adapted_backbone(plan, adapter.folder)
        predictions = sample_all(plan, backbone, console)
        if plan.targets is not None:
            result = score(plan, predictions)
            text = json.dumps(result, indent=1) + "\n"
            path = write_atomically(plan.out / METRICS_FILE, lambda tmp: tmp.write_text(text))
            Console().print(metrics_table(result))
            print(f"metrics: {path}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"predictions: {plan.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
