"""The paper's claim on a CPU: does a *pretrained* video prior let a few examples specify a task?

`python -m benchmarks.micro_claim` scores four predictions on held-out validation pairs (cut from
photographs no training pair and no pretraining clip came from), per task, n and seed:

- pretrained: LoRA on the micro LTX-Video backbone (`weights/ltx-micro`), a real trial
  (`trainables.trial.train`, DeepSpeed engine, the pipeline's sampler);
- random: the same LoRA trial on the same architecture with its transformer at a seeded random
  init (the VAE and text encoder kept pretrained: only the video prior differs);
- identity: the validation input returned as the prediction;
- mean target: the mean of the n training targets, whatever the input.

It prints and writes a table (benchmarks/results/micro_claim.json, the markdown for
BENCHMARKS.md) and a plot of each task's score against n, and checks the bar of issue 16:
pretrained beats random on ≥ 4 tasks by ≥ 2 dB PSNR (0.1 mIoU), beats identity on ≥ 2 tasks,
and improves from the smallest to the largest n on ≥ 3 tasks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import harness
from tasks import get_task

PREDICTORS = ("pretrained", "random", "identity", "mean_target")
TASKS = ("hflip", "rot90", "colorization", "zoom", "inpainting", "binary_segmentation")
#: The bar's margins, per headline metric.
MARGINS = {"psnr": 2.0, "miou": 0.1}
TRIAL = dict(
    backbone="ltx",
    scale="micro",
    trajectory="linear",
    modules="all-linear",
    n_val=16,
    sample_steps=10,
    sample_batch=16,
    log_every=50,
    videos_logged=0,
)


def headline(task: str) -> str:
    """The metric a task is judged by here: mIoU for segmentation, else PSNR."""
    return "miou" if "miou" in get_task(task).metrics else "psnr"


def random_transformer_folder(root: Path, seed: int) -> Path:
    """A copy of the micro folder whose transformer is the architecture's seeded random init."""
    from diffusers import LTXVideoTransformer3DModel

    from trainables.backbones import micro_weights, seeded
    from trainables.backbones.ltx import LTXVideo

    folder = root / f"ltx-micro-random{seed}"
    shutil.copytree(micro_weights("ltx"), folder)
    with seeded(seed):
        transformer = LTXVideoTransformer3DModel(**LTXVideo.micro_transformer)
    shutil.rmtree(folder / "transformer")
    transformer.save_pretrained(folder / "transformer", safe_serialization=True)
    return folder


def lora_score(settings: dict, work: Path) -> float:
    """One real trial from its settings; its validation score on the headline metric."""
    from trainables.config import TrialConfig
    from trainables.sweep_trial import StoredSession
    from trainables.trial import train

    config = TrialConfig.from_dict(settings)
    key = f"{config.task}-n{config.n}-s{config.seed}-{Path(config.weights or 'micro').name}"
    reports: list[dict] = []
    session = StoredSession(str(work / "trials"), key, key, reports.append)
    metrics = train(config, session, keep_backbone=True)
    return float(metrics[f"val_{headline(config.task)}"])


def baseline_scores(task_name: str, n: int, seed: int, n_val: int, size: int) -> dict:
    """Identity and mean-target predictions on the same split a trial of these settings sees."""
    task = get_task(task_name)
    split = task.pairs(n, seed, n_val=n_val, size=(size, size))
    metric = headline(task_name)
    mean = np.rint(np.mean([p.y.astype(np.float64) for p in split.train], axis=0))
    mean = mean.astype(np.uint8)
    return {
        "identity": task.score([p.x for p in split.val], split.val)[metric],
        "mean_target": task.score([mean for _ in split.val], split.val)[metric],
    }


def run(args: argparse.Namespace) -> list[dict]:
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="micro-claim-") as tmp:
        work = Path(tmp)
        random_folder = random_transformer_folder(work, seed=1234)
        weights = {"pretrained": None, "random": str(random_folder)}
        for predictor, folder in weights.items():  # one backbone kept across its trials
            for task in args.tasks:
                for n in args.n:
                    for seed in args.seeds:
                        start = time.monotonic()
                        settings = {
                            **TRIAL,
                            "task": task,
                            "n": n,
                            "seed": seed,
                            "steps": args.steps,
                            "checkpoint_every": args.steps,
                            "batch_size": args.batch_size,
                            "lr": args.lr,
                            "rank": args.rank,
                            "alpha": float(args.rank),
                            "n_val": args.n_val,
                            "sample_batch": args.n_val,
                            "weights": folder,
                        }
                        score = lora_score(settings, work)
                        row = {"task": task, "n": n, "seed": seed, "predictor": predictor}
                        row |= {"metric": headline(task), "score": score}
                        row["seconds"] = round(time.monotonic() - start, 1)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
        for task in args.tasks:
            for n in args.n:
                for seed in args.seeds:
                    scores = baseline_scores(task, n, seed, args.n_val, 64)
                    for predictor, score in scores.items():
                        rows.append(
                            {"task": task, "n": n, "seed": seed, "predictor": predictor}
                            | {"metric": headline(task), "score": score, "seconds": 0.0}
                        )
    return rows


def summarize(rows: list[dict]):
    """Mean and std over seeds: one row per task and n, a column pair per predictor."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["task", "metric", "n", "predictor"])["score"].agg(["mean", "std"])
    return grouped.unstack("predictor")


def check_bar(table, ns: list[int]) -> list[tuple[str, bool, str]]:
    """The issue's three criteria, each with what was measured."""
    means = table["mean"]
    tasks = sorted({task for task, _, _ in means.index})
    beats_random, beats_identity, improves = [], [], []
    for task in tasks:
        rows = means.xs(task, level="task")
        metric = rows.index.get_level_values("metric")[0]
        by_n = rows.droplevel("metric")
        gap = (by_n["pretrained"] - by_n["random"]).max()
        if gap >= MARGINS[metric]:
            beats_random.append(task)
        if (by_n["pretrained"] > by_n["identity"]).any():
            beats_identity.append(task)
        if by_n.loc[max(ns), "pretrained"] > by_n.loc[min(ns), "pretrained"]:
            improves.append(task)
    return [
        ("pretrained beats random by the margin on ≥ 4 tasks", len(beats_random) >= 4,
         ", ".join(beats_random) or "none"),
        ("pretrained beats identity on ≥ 2 tasks", len(beats_identity) >= 2,
         ", ".join(beats_identity) or "none"),
        (f"pretrained improves from n = {min(ns)} to n = {max(ns)} on ≥ 3 tasks",
         len(improves) >= 3, ", ".join(improves) or "none"),
    ]  # fmt: skip


def markdown(table, bar: list[tuple[str, bool, str]]) -> str:
    lines = ["| task | metric | n | " + " | ".join(PREDICTORS) + " |"]
    lines.append("|---" * (3 + len(PREDICTORS)) + "|")
    for (task, metric, n), row in table.iterrows():
        cells = [
            f"{row[('mean', p)]:.3f} ± {row[('std', p)]:.3f}"
            if metric == "miou"
            else f"{row[('mean', p)]:.2f} ± {row[('std', p)]:.2f}"
            for p in PREDICTORS
        ]
        lines.append(f"| {task} | {metric} | {n} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {'PASS' if ok else 'FAIL'}: {what} ({said})" for what, ok, said in bar]
    return "\n".join(lines)


def plot(table, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = table["mean"]
    tasks = sorted({task for task, _, _ in means.index})
    figure, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3), squeeze=False)
    for axis, task in zip(axes[0], tasks, strict=True):
        rows = means.xs(task, level="task")
        metric = rows.index.get_level_values("metric")[0]
        rows = rows.droplevel("metric")
        for predictor in PREDICTORS:
            axis.plot(rows.index, rows[predictor], marker="o", label=predictor)
        axis.set_title(task)
        axis.set_xlabel("n")
        axis.set_ylabel(metric)
        axis.set_xscale("log")
        axis.set_xticks(list(rows.index), [str(n) for n in rows.index])
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    from trainables.media import write_atomically

    write_atomically(out, lambda tmp: figure.savefig(tmp, format="png", dpi=90))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.arguments(__doc__, "benchmarks/results/micro_claim.json", threads=2)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--n", nargs="+", type=int, default=[1, 3, 10])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-val", type=int, default=16)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=16)
    quick = {"tasks": ["hflip"], "n": [1, 2], "seeds": [0], "n_val": 2, "steps": 2}
    args = harness.parse(parser, argv, quick=quick | {"batch_size": 1})
    for task in args.tasks:
        get_task(task)  # an unknown task: one line naming it and the allowed ones
    if len(args.seeds) < 1 or len(args.n) < 2:
        parser.error("give at least one seed and two values of n")
    return args


@harness.entry
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = run(args)
    harness.write_rows(args.out, rows)
    table = summarize(rows)
    bar = check_bar(table, args.n)
    text = markdown(table, bar)
    print(text)
    plot(table, args.out.with_suffix(".png"))
    from trainables.media import write_atomically

    write_atomically(args.out.with_suffix(".md"), lambda tmp: tmp.write_text(text + "\n"))
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    print(json.dumps({"settings": settings | {"trial": TRIAL}}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
