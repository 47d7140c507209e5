"""One trial, top to bottom: task pairs → transition videos → latents → LoRA → DeepSpeed loop with
checkpoints → sampled validation predictions → the task's metric → MLflow.

`train` knows nothing of Ray; `tune_trial` is the Ray Tune function trainable that wraps it with
Tune's report/checkpoint session. Tests drive `train` with their own session.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from tasks import get_task, render
from trainables.backbones import Backbone, Sample, load
from trainables.cache import TensorCache, content_key
from trainables.config import TrialConfig
from trainables.engine import (
    OptimSettings,
    all_ranks,
    build_engine,
    full_parameters,
    load_checkpoint,
    rank,
    save_checkpoint,
    shard_fraction,
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


def optim_settings(config: TrialConfig) -> OptimSettings:
    return OptimSettings(
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm,
        batch_size=config.batch_size,
        zero_stage=config.zero_stage,
        offload_optimizer=config.offload_optimizer,
    )


def validate(
    backbone: Backbone, config: TrialConfig, pairs: list
) -> tuple[dict[str, float], list[Sample]]:
    """Sample from each validation input (no CFG), keep the last frame, score it."""
    task = get_task(config.task)
    samples = [
        backbone.sample(pair.x, config.frames, config.sample_steps, config.seed) for pair in pairs
    ]
    scores = task.score([s.last_frame for s in samples], pairs)
    return {f"val_{name}": value for name, value in scores.items()}, samples


def prepare(
    backbone: Backbone, config: TrialConfig, videos: list[np.ndarray], cache: TensorCache
) -> list[dict[str, torch.Tensor]]:
    """Prompt embedding and per-video latents, from the sweep's cache when another trial has
    already computed them for the same weights and the same video bytes."""
    ident = {"backbone": backbone.name, "weights": backbone.weights_id}
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
) -> dict[str, float]:
    task = get_task(config.task)
    data = None if config.data_root is None else task.open_data(config.dataset, config.data_root)
    split = task.pairs(
        config.n, config.seed, n_val=config.n_val, size=(config.height, config.width), data=data
    )
    backbone = load(config.backbone, config.scale, config.weights)
    backbone.check_frames(config.frames)
    backbone.check_size(config.height, config.width)
    if config.gradient_checkpointing:
        backbone.enable_gradient_checkpointing()
    videos = [render(p.x, p.y, config.trajectory, config.frames, config.seed) for p in split.train]
    cache = TensorCache(cache_dir)
    examples = prepare(backbone, config, videos, cache)
    print(f"{session.trial_name}: {cache.summary()}", flush=True)
    add_lora(backbone, config.modules, config.rank, config.alpha, config.seed)
    engine = build_engine(backbone.transformer, optim_settings(config))
    me = rank()
    shards = all_ranks(shard_fraction(engine))

    # One generator per rank drives data order, noise and timesteps; every rank's state is in
    # each checkpoint, which is what makes a resumed trial continue bit for bit.
    generator = torch.Generator(backbone.device).manual_seed(config.seed + me)
    step, run_id = 0, None
    with session.restored() as directory:
        if directory is not None:
            state = load_checkpoint(engine, directory)
            step, run_id = state["step"], state.get("mlflow_run_id")
            generator.set_state(state["generators"][me])
    run = None
    if tracking and me == 0:
        params = config.as_params()
        run = RunLog.open(tracking, session.trial_id, session.trial_name, params, run_id)
        run.log_metrics({"cache_hits": cache.hits, "cache_misses": cache.misses}, step)

    losses: list[float] = []
    metrics: dict[str, float] = {}
    samples: list[Sample] = []
    try:
        while step < config.steps:
            order = torch.randint(
                len(examples), (config.batch_size,), generator=generator, device=backbone.device
            ).tolist()
            batch = {key: torch.stack([examples[i][key] for i in order]) for key in examples[0]}
            loss = backbone.loss(engine, batch, generator)
            engine.backward(loss)
            engine.step()
            step += 1
            losses.append(loss.item())

            last = step == config.steps
            metrics = {}
            if step % config.log_every == 0 or last:
                metrics["loss"] = float(np.mean(losses))
                losses = []
            validating = last or (config.validate_every and step % config.validate_every == 0)
            if validating:
                with full_parameters(engine):
                    if me == 0:
                        scores, samples = validate(backbone, config, split.val)
                        metrics.update(scores)
            if last and len(shards) > 1:
                metrics.update({f"shard_fraction_rank{r}": f for r, f in enumerate(shards)})
            if run is not None and metrics:
                run.log_metrics(metrics, step)
            if step % config.checkpoint_every == 0 or last:
                generators = all_ranks(generator.get_state())
                with tempfile.TemporaryDirectory() as tmp:
                    state = {
                        "step": step,
                        "generators": generators,
                        "mlflow_run_id": run.run_id if run else None,
                    }
                    save_checkpoint(engine, Path(tmp), state)
                    if last:
                        with full_parameters(engine):
                            if me == 0:
                                backbone.save_adapter(Path(tmp) / "adapter")
                        if run is not None:
                            log_final_artifacts(run, backbone, config, split.val, samples, tmp)
                    session.report({**metrics, "step": step}, Path(tmp))
            elif metrics:
                session.report({**metrics, "step": step})
    except BaseException:
        if run is not None:
            run.finish("FAILED")
        raise
    if run is not None:
        run.finish()
    return {**metrics, "step": step}


def log_final_artifacts(
    run: RunLog, backbone: Backbone, config: TrialConfig, pairs: list, samples: list, tmp: str
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


class TuneSession:
    """Ray Tune's session, seen through the `Session` protocol."""

    def __init__(self) -> None:
        import ray
        from ray import tune

        # torch would use every core of the node; a trial owns only its CPU share (and one
        # thread beats two at tiny sizes on a shared machine).
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        torch.set_num_threads(max(1, int(cpus)))
        self._tune = tune
        context = tune.get_context()
        self.trial_id = context.get_trial_id()
        self.trial_name = context.get_trial_name()

    @contextlib.contextmanager
    def restored(self) -> Iterator[Path | None]:
        checkpoint = self._tune.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as directory:
            yield Path(directory)

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None = None) -> None:
        checkpoint = None
        if checkpoint_dir is not None:
            checkpoint = self._tune.Checkpoint.from_directory(str(checkpoint_dir))
        self._tune.report(metrics, checkpoint=checkpoint)


def tune_trial(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable. `config` = {"trial": {...}, "tracking": {...},
    "cache_dir": ..., "storage_dir": ...}; a trial with several workers runs them as a Ray
    Train group inside this Tune trial."""
    trial = TrialConfig.from_dict(config["trial"])
    if trial.workers > 1:
        from trainables.workers import run_worker_group

        run_worker_group(trial, config)
    else:
        train(trial, TuneSession(), config.get("tracking"), config.get("cache_dir"))
