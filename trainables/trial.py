"""One trial, top to bottom: task pairs → transition videos → latents → LoRA → DeepSpeed loop with
checkpoints → sampled validation predictions → the task's metric → MLflow.

Nothing here knows of Ray: a sweep runs `train` through trainables.sweep_trial (Tune's
trainable, the sweep's storage as the trial's session, groups of ranks). Tests drive `train`
with their own session.

One module over 400 lines on purpose: a trial reads top to bottom here, as a torchtune recipe
does (STYLE.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from tasks import Split, get_task, render
from trainables import kept_backbone, preemption
from trainables.backbones import Backbone, Sample, load
from trainables.background_writes import BackgroundWrites
from trainables.cache import TensorCache, content_key
from trainables.config import TrialConfig
from trainables.engine import (
    OptimSettings,
    all_ranks,
    build_engine,
    full_parameters,
    load_checkpoint,
    rank,
    samples_on_every_rank,
    save_checkpoint,
    shard_fraction,
    write_checkpoints_with,
)
from trainables.lora import add_lora
from trainables.media import strip, write_png, write_video
from trainables.run_log import RunLog


class Session(Protocol):
    """Where a trial reports to and restores from (Ray Tune in a sweep, a test harness alone)."""

    trial_id: str
    trial_name: str

    def restored(self) -> contextlib.AbstractContextManager[Path | None]: ...

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None = None) -> None: ...

    @property
    def store(self) -> Callable[[Path, int], None] | None:
        """Puts a checkpoint folder written for a step where `restored` finds it, from any
        thread; then a one-process trial writes its big checkpoints out while it trains on,
        and reports their steps without the folder. None: checkpoints go through `report`."""
        ...


CACHE_VERSION = 1

#: Observers of a trial's named phases: each is called as `observer(phase, args, proceed)` and
#: returns `proceed()`, the phase's result (it may time the call, count it, or keep what it
#: returns). Empty in the product; the benchmarks observe a trial here instead of replacing
#: this module's names.
PhaseObserver = Callable[[str, tuple[Any, ...], Callable[[], Any]], Any]
PHASE_OBSERVERS: list[PhaseObserver] = []


def in_phase(phase: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)` as the phase `phase`, seen by every phase observer."""
    proceed = functools.partial(function, *args, **kwargs)
    for observer in PHASE_OBSERVERS:
        proceed = functools.partial(observer, phase, args, proceed)
    return proceed()


def optim_settings(config: TrialConfig) -> OptimSettings:
    return OptimSettings(
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm,
        batch_size=config.rank_batch_size,  # DeepSpeed's micro batch: one rank's part
        zero_stage=config.zero_stage,
        offload_optimizer=config.offload_optimizer,
        persistence_threshold=0 if config.scale != "full" else None,
    )


def validate(
    backbone: Backbone, config: TrialConfig, pairs: list
) -> tuple[dict[str, float], list[Sample]]:
    """Sample from each validation input (no CFG), `sample_batch` inputs at a time, keep the
    last frame, score it."""
    task = get_task(config.task)
    samples: list[Sample] = []
    for start in range(0, len(pairs), config.sample_batch):
        images = [pair.x for pair in pairs[start : start + config.sample_batch]]
        samples += backbone.sample_many(images, config.frames, config.sample_steps, config.seed)
    metrics = task.metrics_for(config.dataset, config.data_root)  # a folder may name its own
    scores = task.score([s.last_frame for s in samples], pairs, metrics)
    return {f"val_{name}": value for name, value in scores.items()}, samples


def prepare(
    backbone: Backbone, config: TrialConfig, videos: list[np.ndarray], cache: TensorCache
) -> list[dict[str, torch.Tensor]]:
    """Prompt embedding and per-video latents, from the sweep's cache when another trial has
    already computed them for the same weights and the same video bytes."""
    # The dtype: a bf16 GPU entry must not feed an fp32 CPU trial; the version: bump
    # CACHE_VERSION when what prepare_example computes changes, so old entries are not served.
    ident = {
        "backbone": backbone.name,
        "weights": backbone.weights_id,
        "dtype": str(backbone.dtype),
        "version": CACHE_VERSION,
    }
    prompt_key = content_key(kind="prompt", prompt=config.prompt, **ident)
    backbone.use_prompt(cache.fetch(prompt_key, lambda: backbone.encode_prompt(config.prompt)))
    return [
        cache.fetch(
            content_key(kind="example", video=video, **ident),
            lambda video=video: backbone.prepare_example(video),
        )
        for video in videos
    ]


def train(
    config: TrialConfig,
    session: Session,
    tracking: dict[str, str] | None = None,
    cache_dir: str | None = None,
    on_step: Callable[[int], None] | None = None,
    keep_backbone: bool = False,
) -> dict[str, float]:
    """Train one trial to its end (or its spot notice). `on_step(step)` is called right after
    each optimizer step, before any logging or checkpointing of that step (the step-overhead
    benchmark interleaves a bare loop there). `keep_backbone`: take the frozen backbone this
    process kept from its last trial, and keep it for the next (trainables.kept_backbone)."""
    split = task_pairs(config)
    backbone = frozen_backbone(config, keep_backbone)
    videos = [render(p.x, p.y, config.trajectory, config.frames, config.seed) for p in split.train]
    cache = TensorCache(cache_dir)
    examples = in_phase("prepare", prepare, backbone, config, videos, cache)
    print(f"{session.trial_name}: {cache.summary()}", flush=True)
    engine, shards = lora_engine(backbone, config)
    this_rank = rank()
    # One generator per rank drives data order, noise and timesteps; every rank's state is in
    # each checkpoint, which is what makes a resumed trial continue bit for bit.
    generator = torch.Generator(backbone.device).manual_seed(config.seed + this_rank)
    start = restore(session, engine, generator, this_rank)
    if start.finished(config.steps):
        result = report_finished(session, tracking, start, this_rank)
    else:
        run = open_run(tracking, session, config, start, cache) if this_rank == 0 else None
        loop = Loop(config, session, backbone, engine, shards, generator, run, on_step, split.val)
        result = loop.train(examples, start.step)
    if keep_backbone:
        keep_for_next_trial(
            (config.backbone, config.scale, config.weights), backbone, engine, config.compile
        )
    return result


def task_pairs(config: TrialConfig) -> Split:
    """The task's training and validation pairs (its dataset's, when the trial names one)."""
    task = get_task(config.task)
    data = None if config.data_root is None else task.open_data(config.dataset, config.data_root)
    return task.pairs(
        config.n, config.seed, n_val=config.n_val, size=(config.height, config.width), data=data
    )


def frozen_backbone(config: TrialConfig, keep_backbone: bool) -> Backbone:
    """The trial's backbone, checked against its clip size, its transformer in host memory."""
    ident = (config.backbone, config.scale, config.weights)
    # The transformer waits in host memory while the prompt and the examples are encoded (a
    # cache miss loads the text encoder: the peak moment of a trial whose transformer sat on the
    # device, orchestrator.gpu_estimates). The engine brings it to the device: DeepSpeed moves a
    # ZeRO-0/1/2 model whole, and a ZeRO-3 one arrives as this rank's shards only.
    if keep_backbone:
        backbone = kept_backbone.take(*ident)
    else:
        backbone = in_phase("load", load, *ident, transformer_on_host=True)
    backbone.check_frames(config.frames)
    backbone.check_size(config.height, config.width)
    if config.gradient_checkpointing:
        backbone.enable_gradient_checkpointing()
    return backbone


def lora_engine(backbone: Backbone, config: TrialConfig) -> tuple[Any, list[float]]:
    """LoRA on the transformer, in DeepSpeed's engine; and every rank's share of the model."""
    in_phase("add_lora", add_lora, backbone, config.modules, config.rank, config.alpha, config.seed)
    if config.compile:
        backbone.compile_blocks()
    engine = in_phase("build_engine", build_engine, backbone.transformer, optim_settings(config))
    shards = all_ranks(in_phase("shard_fraction", shard_fraction, engine))
    if len(shards) != config.workers:  # the batch split assumes the group the config says
        raise RuntimeError(f"{len(shards)} ranks run a trial configured for {config.workers}")
    return engine, shards


@dataclasses.dataclass
class Start:
    """Where a trial starts: step 0, or its newest checkpoint's step, MLflow run and (for a
    trial that had finished) final metrics."""

    step: int = 0
    run_id: str | None = None
    final_metrics: dict[str, float] | None = None

    def finished(self, steps: int) -> bool:
        return self.final_metrics is not None and self.step >= steps


def restore(session: Session, engine: Any, generator: torch.Generator, this_rank: int) -> Start:
    """Load the session's checkpoint, if any, into the engine and this rank's generator."""
    with session.restored() as directory:
        if directory is None:
            return Start()
        state = load_checkpoint(engine, directory)
        generator.set_state(state["generators"][this_rank])
        return Start(state["step"], state.get("mlflow_run_id"), state.get("final_metrics"))


def report_finished(
    session: Session, tracking: dict[str, str] | None, start: Start, this_rank: int
) -> dict[str, float]:
    """A trial that finished before the driver lost track of it (a lagging snapshot): report
    the result again, train and log nothing; only close its MLflow run if the loss came
    between the final checkpoint and the run's end."""
    if tracking and this_rank == 0 and start.run_id is not None:
        RunLog.open(tracking, session.trial_id, session.trial_name, {}, start.run_id).finish()
    session.report({**start.final_metrics, "step": start.step})
    return {**start.final_metrics, "step": start.step}


def open_run(
    tracking: dict[str, str] | None,
    session: Session,
    config: TrialConfig,
    start: Start,
    cache: TensorCache,
) -> RunLog | None:
    """Rank 0's MLflow run (the one a resumed trial started), with the cache's hits logged."""
    if not tracking:
        return None
    run = RunLog.open(
        tracking, session.trial_id, session.trial_name, config.as_params(), start.run_id
    )
    run.log_metrics({"cache_hits": cache.hits, "cache_misses": cache.misses}, start.step)
    return run


class Loop:
    """A trial's steps, to its last (or its spot notice): each draws a batch and updates the
    LoRA weights; logging steps average the loss, validation steps sample and score, and
    checkpoint steps save every rank's state for the session."""

    def __init__(
        self,
        config: TrialConfig,
        session: Session,
        backbone: Backbone,
        engine: Any,
        shards: list[float],
        generator: torch.Generator,
        run: RunLog | None,
        on_step: Callable[[int], None] | None,
        val_pairs: list,
    ) -> None:
        self.config = config
        self.session = session
        self.backbone = backbone
        self.engine = engine
        self.shards = shards  # every rank's share of the model
        self.this_rank = rank()
        self.generator = generator
        self.run = run
        self.on_step = on_step
        self.val_pairs = val_pairs
        self.losses: list[torch.Tensor] = []  # since the last logging step
        self.samples: list[Sample] = []  # the last validation's
        # One process in a sweep: big checkpoints are written out while the next steps train.
        self.writes = BackgroundWrites(enabled=session.store is not None and len(shards) == 1)

    def train(self, examples: list[dict[str, torch.Tensor]], step: int) -> dict[str, float]:
        """Train from `step` to the last; the last step's metrics, and the step."""
        # The examples live on the device for the whole trial (they are small: latents).
        stacked = {
            key: torch.stack([e[key] for e in examples]).to(self.backbone.device)
            for key in examples[0]
        }
        if self.writes.enabled:
            write_checkpoints_with(self.engine, self.writes.submit)
        metrics: dict[str, float] = {}
        try:
            while step < self.config.steps:
                self.update(stacked, len(examples))
                step += 1
                if self.on_step is not None:
                    self.on_step(step)
                last = step == self.config.steps
                metrics = self.measure(step, last)
                if self.run is not None and metrics:
                    self.run.log_metrics(metrics, step)
                stopping = preemption.requested() and not last
                if step % self.config.checkpoint_every == 0 or last or stopping:
                    self.checkpoint(step, metrics, last, in_line=last or stopping)
                    if stopping:
                        self.stop(step)
                elif metrics:
                    self.session.report({**metrics, "step": step})
        except BaseException as error:
            # A checkpoint already on its way is still a good one: let it land, then fail.
            with contextlib.suppress(Exception):
                self.writes.close()
            if self.run is not None:
                # SystemExit: Tune stopped the trial (its scheduler, or the sweep's end), which
                # is no failure; a retry or a resume re-opens the run either way.
                self.run.finish("KILLED" if isinstance(error, SystemExit) else "FAILED")
            raise
        self.writes.close()
        if self.run is not None:
            self.run.finish()
        return {**metrics, "step": step}

    def update(self, stacked: dict[str, torch.Tensor], count: int) -> None:
        """One optimizer step on a batch drawn from the `count` examples."""
        # The batch is drawn on the device: no host round trip on the step path.
        # Each rank draws its part of the global batch; DeepSpeed averages their gradients.
        order = torch.randint(
            count,
            (self.config.rank_batch_size,),
            generator=self.generator,
            device=self.backbone.device,
        )
        batch = {key: stacked[key].index_select(0, order) for key in stacked}
        loss = self.backbone.loss(self.engine, batch, self.generator)
        self.engine.backward(loss)
        self.engine.step()
        self.losses.append(loss.detach())

    def measure(self, step: int, last: bool) -> dict[str, float]:
        """The step's metrics: the mean loss at logging steps, the scores at validation steps
        (rank 0's), and on the last step of a group how the model was shared."""
        config = self.config
        metrics: dict[str, float] = {}
        if step % config.log_every == 0 or last:  # the only host sync: at logging steps
            metrics["loss"] = torch.stack(self.losses).float().mean().item()
            self.losses = []
        validating = last or (config.validate_every and step % config.validate_every == 0)
        if validating and (self.this_rank == 0 or samples_on_every_rank(self.engine)):
            scores, self.samples = in_phase(
                "validate", validate, self.backbone, config, self.val_pairs
            )
            if self.this_rank == 0:
                metrics.update(scores)
        if last and len(self.shards) > 1:
            metrics.update({f"shard_fraction_rank{r}": f for r, f in enumerate(self.shards)})
        return metrics

    def checkpoint(self, step: int, metrics: dict[str, float], last: bool, in_line: bool) -> None:
        """Save every rank's state at `step` (with the adapter and the samples at the last) and
        report the step with it: stored in line, or by the background writes (`in_line` asks
        for the former, which the last checkpoint and a stopping one need)."""
        self.writes.wait()  # the previous checkpoint is out (or its error raised) first
        generators = all_ranks(self.generator.get_state())
        state = {
            "step": step,
            "generators": generators,
            "mlflow_run_id": self.run.run_id if self.run else None,
            "final_metrics": metrics if last else None,
        }
        folder: Path | None = Path(tempfile.mkdtemp(prefix="vdm-checkpoint-"))
        try:
            background = self.save(folder, state, in_line)
            if last:
                self.save_final(folder)
            if background:
                write = functools.partial(
                    store_checkpoint, self.run, self.session.store, folder, step
                )
                self.writes.submit(write)
                folder = None  # the background write owns it now; the report goes without it
            self.session.report({**metrics, "step": step}, folder)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def save(self, folder: Path, state: dict[str, Any], in_line: bool) -> bool:
        """Write the checkpoint into `folder`; whether its write-out goes in the background."""
        queued = self.writes.submitted
        in_phase("save_checkpoint", save_checkpoint, self.engine, folder, state)
        # A big state's files are being written on the background thread
        # (write_checkpoints_with): its write-out (MLflow points, upload, manifest) follows
        # them there. A small state's is done in line: ~15 ms of Python that, queued, would
        # hold the GIL against the next steps for longer (~1 % of a tiny trial, BENCHMARKS.md).
        background = self.writes.submitted > queued and not in_line
        if not background:
            self.writes.wait()  # DeepSpeed's files are on disk before they are stored
            if self.run is not None:
                self.run.flush()
        return background

    def save_final(self, folder: Path) -> None:
        """The trained adapter in the last checkpoint, with the trial's settings beside it (what
        applying it needs: orchestrator.predict), and with the samples in MLflow."""
        with full_parameters(self.engine, trainable_only=True):
            if self.this_rank == 0:
                self.backbone.save_adapter(folder / "adapter")
                self.config.write_json(folder / "adapter")
        if self.run is not None:
            in_phase(
                "log_final_artifacts",
                log_final_artifacts,
                self.run,
                self.backbone,
                self.config,
                self.val_pairs,
                self.samples,
                folder,
            )

    def stop(self, step: int) -> None:
        """Stop on the spot notice, the step's checkpoint saved: the retry resumes from it."""
        notice = f"spot notice: checkpointed at step {step}"
        print(f"{self.session.trial_name}: {notice}; stopping for the retry", flush=True)
        raise preemption.Preempted(notice)


def keep_for_next_trial(ident: tuple, backbone: Backbone, engine: Any, compiled: bool) -> None:
    """Keep the backbone for this process's next trial, unless its blocks were compiled (then
    torch's compiled code, which holds on to the model, is let go too) or ZeRO-3 partitioned
    it (its weights are DeepSpeed shards now, which only that engine could gather)."""
    if not compiled and engine.zero_optimization_stage() != 3:
        kept_backbone.give_back(*ident, backbone, engine)
        return
    kept_backbone.drop()
    engine.destroy()
    if compiled:
        torch._dynamo.reset()


def store_checkpoint(
    run: RunLog | None, store: Callable[[Path, int], None], folder: Path, step: int
) -> None:
    """Store a checkpoint written locally (`Session.store`): the MLflow points up to its step
    first (a resumed trial re-logs only the steps after its checkpoint), then its files."""
    try:
        if run is not None:
            run.flush()
        store(folder, step)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def log_final_artifacts(
    run: RunLog, backbone: Backbone, config: TrialConfig, pairs: list, samples: list, tmp: Path
) -> None:
    run.log_artifacts(Path(tmp) / "adapter", "adapter")
    media = Path(tmp) / "media"
    # Every validation example's strip (small PNGs, what the report's sheets show); videos only
    # for the first `videos_logged`, since they are what costs space.
    for i, (pair, sample) in enumerate(zip(pairs, samples, strict=True)):
        if i < config.videos_logged:
            write_video(media / f"val_{i}.mp4", sample.video)
        write_png(
            media / f"val_{i}_input_target_prediction.png", strip(pair.x, pair.y, sample.last_frame)
        )
    run.log_artifacts(media, "samples")
