"""Seconds per training step of a real trial against a bare PyTorch loop, interleaved in one run.

The real trial is `trainables.trial.train` as a sweep runs it: DeepSpeed engine, the batch drawn
from the prepared examples, LoRA, its checkpoint cadence through `StoredSession` (DeepSpeed
checkpoint + upload + manifest on a storage folder), metric logging to a real MLflow store and to
Tune: it runs as the function of a one-trial Tune run on a local Ray, whose driver answers its
reports as a sweep's does (`--report direct` reports on the training thread, as trials did before
`trainables.queued_reports`; `--report none` leaves Tune out). The bare loop trains the very same
backbone and LoRA-wrapped transformer objects the trial built (caught as `train` makes them) on the
same prepared examples and batch size, with its own `torch.optim.AdamW`, gradient clipping and
warm-up schedule (the recipe), and nothing else. A second instance built the same way was tried
first: two instances of one tiny model differ by up to ~8 % in step time on this machine (memory
layout), more than the overhead measured. They alternate: after every `--block` steps of the trial
(through `train`'s `on_step` hook) `--block` bare steps run, so drift of the machine hits both
alike. The trial's time per step is measured between hook calls (the hook's own time is outside).
The first block (warm-up) and the trial's last step (validation sampling and final artifacts, not a
training step) are left out.

    .venv/bin/python -m benchmarks.step_overhead [--steps 300] [--block 10] [--backbones ltx]
        [--repeats 3] [--report queued|direct|none]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import harness

TARGET = 1.03


def measure(
    name: str, steps: int, block: int, checkpoint_every: int, log_every: int, report: str
) -> dict:
    """`report`: how the trial's metrics reach Tune. "queued": as a sweep's one-process trial
    does (trainables.queued_reports; this runs inside a Tune trial); "direct": `tune.report`
    on the training thread (before queued reports); "none": no Tune at all."""
    if report == "none":
        return measure_with(name, steps, block, checkpoint_every, log_every, lambda m: None)
    from ray import tune

    from trainables.queued_reports import TUNE_REPORT_SECONDS, queued_reports

    if report == "direct":
        return measure_with(name, steps, block, checkpoint_every, log_every, tune.report)
    with queued_reports(tune.report, TUNE_REPORT_SECONDS) as publish:
        return measure_with(name, steps, block, checkpoint_every, log_every, publish)


def measure_with(
    name: str,
    steps: int,
    block: int,
    checkpoint_every: int,
    log_every: int,
    publish: Callable[[dict], None],
) -> dict:
    import numpy as np
    import torch

    from orchestrator.tracking import start_parent_run
    from tasks import get_task, render
    from trainables.cache import TensorCache
    from trainables.config import TrialConfig
    from trainables.lora import trainable_parameters
    from trainables.sweep_trial import StoredSession
    from trainables.trial import prepare, train

    torch.set_num_threads(1)  # one trial per core, as sweeps run here
    config = TrialConfig.from_dict(
        {
            "task": "hflip",
            "backbone": name,
            "steps": steps,
            "checkpoint_every": checkpoint_every,
            "log_every": log_every,
            "n_val": 1,
            "sample_steps": 2,
        }
    )
    work = Path(tempfile.mkdtemp(prefix="step-overhead-"))

    import trainables.trial as trial_module

    # The bare loop runs on the trial's own backbone and LoRA-wrapped transformer, caught as
    # `train` builds them; it is set up at the first step (see `on_step`).
    built: dict = {}

    def catch(phase: str, args: tuple, proceed):
        result = proceed()
        if phase == "load":
            built["backbone"] = result
        elif phase == "build_engine":
            built["engine"] = result
        return result

    trial_module.PHASE_OBSERVERS.append(catch)
    split = get_task(config.task).pairs(
        config.n, config.seed, n_val=config.n_val, size=(config.height, config.width)
    )
    videos = [render(p.x, p.y, config.trajectory, config.frames, config.seed) for p in split.train]
    bare: dict = {}

    def set_up_bare() -> None:
        backbone, model = built["backbone"], built["engine"].module
        examples = prepare(backbone, config, videos, TensorCache(str(work / "cache")))
        params = trainable_parameters(model)
        optimizer = torch.optim.AdamW(
            params,
            lr=config.lr,
            betas=(config.beta1, config.beta2),
            weight_decay=config.weight_decay,
        )
        warmup = config.warmup_steps
        bare.update(
            backbone=backbone,
            model=model,
            count=len(examples),
            stacked={
                k: torch.stack([e[k] for e in examples]).to(backbone.device) for k in examples[0]
            },
            params=params,
            optimizer=optimizer,
            schedule=torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
            ),
            generator=torch.Generator(backbone.device).manual_seed(config.seed + 1),
        )

    def bare_steps(count: int) -> float:
        if not bare:
            set_up_bare()
        backbone, model, generator = bare["backbone"], bare["model"], bare["generator"]
        params, optimizer, schedule = bare["params"], bare["optimizer"], bare["schedule"]
        start = time.perf_counter()
        for _ in range(count):
            order = torch.randint(
                bare["count"], (config.batch_size,), generator=generator, device=backbone.device
            )
            batch = {k: v.index_select(0, order) for k, v in bare["stacked"].items()}
            loss = backbone.loss(model, batch, generator)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm, foreach=True)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    trial_times: list[float] = []
    trial_steps: list[int] = []
    bare_times: list[float] = []
    clock = {"last": None}

    def on_step(step: int) -> None:
        now = time.perf_counter()
        if clock["last"] is not None and step > block:
            trial_times.append(now - clock["last"])
            trial_steps.append(step)
        if step % block == 0 and step < steps:
            seconds = bare_steps(block)
            if step > block:
                bare_times.extend([seconds / block] * block)
        clock["last"] = time.perf_counter()

    session = StoredSession(str(work / "storage"), "bench", "bench", publish)
    tracking = start_parent_run(
        f"sqlite:///{work / 'mlflow.db'}", "bench", (work / "artifacts").as_uri(), "benchmark"
    )
    train(config, session, tracking, str(work / "cache"), on_step=on_step)
    trial_s = float(np.mean(trial_times))
    bare_s = float(np.mean(bare_times))
    # Where the trial's time above the bare loop goes, as shares of the bare loop's time (they
    # sum to ratio - 1). A step's time includes the logging and checkpointing of the step
    # before it; "after_checkpoint": the steps while a checkpoint is written in the background.
    excess: dict[str, float] = {}
    for step, seconds in zip(trial_steps, trial_times, strict=True):
        since = (step - 1) % checkpoint_every
        if since == 0 and step > 1:
            kind = "checkpoint"
        elif step > checkpoint_every and since <= 20:
            kind = "after_checkpoint"
        elif (step - 1) % log_every == 0:
            kind = "logging"
        else:
            kind = "plain"
        excess[kind] = excess.get(kind, 0.0) + (seconds - bare_s) / (bare_s * len(trial_times))
    # The mean step's excess by its place between two checkpoints, in tenths of the interval.
    by_place: dict[int, list[float]] = {}
    for step, seconds in zip(trial_steps, trial_times, strict=True):
        place = ((step - 1) % checkpoint_every) * 10 // checkpoint_every
        by_place.setdefault(place, []).append(seconds / bare_s - 1)
    return {
        "backbone": name,
        "steps_timed": len(trial_times),
        "trial_s_per_step": trial_s,
        "trial_median_s": float(np.median(trial_times)),
        "bare_s_per_step": bare_s,
        "ratio": trial_s / bare_s,
        "excess_by_kind": {kind: round(share, 4) for kind, share in excess.items()},
        "excess_by_place": [round(float(np.mean(by_place[p])), 4) for p in sorted(by_place)],
        # Where the time above the median goes: the slowest steps (a step's time includes the
        # logging and checkpointing of the step before it).
        "slowest_steps": sorted(
            ([s, round(x, 4)] for s, x in zip(trial_steps, trial_times, strict=True)),
            key=lambda pair: -pair[1],
        )[:8],
        "checkpoint_every": checkpoint_every,
        "log_every": log_every,
        "batch_size": config.batch_size,
        "size": f"{config.frames}x{config.height}x{config.width}",
    }


def in_tune(name: str, *knobs) -> dict:
    """`measure` as the function of a one-trial Tune run on a local Ray (the driver's Tune loop
    answers the trial's reports, as in a sweep)."""
    import ray
    from ray import tune

    out = Path(tempfile.mkdtemp(prefix="step-overhead-tune-")) / "row.json"

    def trial(config: dict) -> None:
        import torch

        torch.set_num_threads(1)
        out.write_text(json.dumps(measure(name, *knobs)))

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        tuner = tune.Tuner(
            tune.with_resources(trial, {"cpu": 1}),
            run_config=tune.RunConfig(storage_path=str(out.parent / "tune"), verbose=0),
        )
        result = tuner.fit()[0]
        if result.error is not None:
            raise result.error
    finally:
        ray.shutdown()
    return json.loads(out.read_text())


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, "benchmarks/results/step_overhead.json")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--backbones", default="cogvideox,ltx,wan")
    parser.add_argument(
        "--report",
        choices=("queued", "direct", "none"),
        default="queued",
        help="how metrics reach Tune: as sweeps do (queued), on the training thread (direct, "
        "the old way), or no Tune (none)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each backbone")
    parser.add_argument("--only", help="measure one backbone in this process (internal)")
    quick = {"steps": 6, "block": 2, "checkpoint_every": 3, "log_every": 1, "backbones": "ltx"}
    args = harness.parse(parser, argv, quick=quick)
    knobs = (args.steps, args.block, args.checkpoint_every, args.log_every, args.report)
    if args.only:
        print(
            json.dumps(
                in_tune(args.only, *knobs) if args.report != "none" else measure(args.only, *knobs)
            )
        )
        return 0
    rows = []
    names = args.backbones.split(",")
    for repeat in range(args.repeats):  # each backbone once per round, the order rotating
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            command = [sys.executable, "-m", "benchmarks.step_overhead", "--only", name]
            command += ["--steps", str(args.steps), "--block", str(args.block)]
            command += ["--checkpoint-every", str(args.checkpoint_every)]
            command += ["--log-every", str(args.log_every), "--report", args.report]
            command += harness.passed(args)
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append({"repeat": repeat, **json.loads(done.stdout.strip().splitlines()[-1])})
    print(
        "| backbone | trial s/step | bare s/step | ratio: median (runs) | excess by kind (median) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        mine = [r for r in rows if r["backbone"] == name]
        ratio = statistics.median(r["ratio"] for r in mine)
        kinds = sorted({k for r in mine for k in r["excess_by_kind"]})
        excess = ", ".join(
            f"{k} {statistics.median(r['excess_by_kind'].get(k, 0.0) for r in mine):.1%}"
            for k in kinds
        )
        verdict = "ok" if ratio <= TARGET else f"over {TARGET}"
        runs = " / ".join(f"{r['ratio']:.3f}" for r in mine)
        print(
            f"| {name} | {statistics.median(r['trial_s_per_step'] for r in mine):.4f} | "
            f"{statistics.median(r['bare_s_per_step'] for r in mine):.4f} | **{ratio:.3f}** "
            f"({runs}) {verdict} | {excess} |"
        )
    harness.write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
