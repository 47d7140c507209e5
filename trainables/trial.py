"""One trial, top to bottom: task pairs → transition videos → latents → LoRA → DeepSpeed loop with
checkpoints → sampled validation predictions → the task's metric → MLflow.

`train` knows nothing of Ray; `tune_trial` is the Ray Tune function trainable that wraps it with
Tune's report/checkpoint session. Tests drive `train` with their own session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from tasks import get_task, render
from trainables import kept_backbone, preemption
from trainables.backbones import Backbone, Sample, load
from trainables.background_writes import BackgroundWrites
from trainables.cache import TensorCache, content_key
from trainables.checkpoints import CheckpointStore, trial_key
from trainables.config import TrialConfig, check_batch_over_ranks, placement_key
from trainables.devices import cap_cuda_memory
from trainables.engine import (
    OptimSettings,
    all_ranks,
    barrier,
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
from trainables.queued_reports import TUNE_REPORT_SECONDS, queued_reports
from trainables.run_log import RunLog
from trainables.storage import Storage


class Session(Protocol):
    """Where a trial reports to and restores from (Ray Tune in a sweep, a test harness alone)."""

    trial_id: str
    trial_name: str

    def restored(self) -> contextlib.AbstractContextManager[Path | None]: ...

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None = None) -> None: ...


CACHE_VERSION = 1


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
    scores = task.score([s.last_frame for s in samples], pairs)
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
    task = get_task(config.task)
    data = None if config.data_root is None else task.open_data(config.dataset, config.data_root)
    split = task.pairs(
        config.n, config.seed, n_val=config.n_val, size=(config.height, config.width), data=data
    )
    ident = (config.backbone, config.scale, config.weights)
    # The transformer waits in host memory while the prompt and the examples are encoded (a
    # cache miss loads the text encoder: the peak moment of a trial whose transformer sat on the
    # device, orchestrator.gpu_estimates). The engine brings it to the device: DeepSpeed moves a
    # ZeRO-0/1/2 model whole, and a ZeRO-3 one arrives as this rank's shards only.
    if keep_backbone:
        backbone = kept_backbone.take(*ident)
    else:
        backbone = load(*ident, transformer_on_host=True)
    backbone.check_frames(config.frames)
    backbone.check_size(config.height, config.width)
    if config.gradient_checkpointing:
        backbone.enable_gradient_checkpointing()
    videos = [render(p.x, p.y, config.trajectory, config.frames, config.seed) for p in split.train]
    cache = TensorCache(cache_dir)
    examples = prepare(backbone, config, videos, cache)
    print(f"{session.trial_name}: {cache.summary()}", flush=True)
    add_lora(backbone, config.modules, config.rank, config.alpha, config.seed)
    if config.compile:
        backbone.compile_blocks()
    engine = build_engine(backbone.transformer, optim_settings(config))
    me = rank()
    shards = all_ranks(shard_fraction(engine))
    if len(shards) != config.workers:  # the batch split assumes the group the config says
        raise RuntimeError(f"{len(shards)} ranks run a trial configured for {config.workers}")

    # One generator per rank drives data order, noise and timesteps; every rank's state is in
    # each checkpoint, which is what makes a resumed trial continue bit for bit.
    generator = torch.Generator(backbone.device).manual_seed(config.seed + me)
    step, run_id, final = 0, None, None
    with session.restored() as directory:
        if directory is not None:
            state = load_checkpoint(engine, directory)
            step, run_id = state["step"], state.get("mlflow_run_id")
            generator.set_state(state["generators"][me])
            final = state.get("final_metrics")
    if final is not None and step >= config.steps:
        # Finished before the driver lost track of it (a lagging snapshot): report the result
        # again, train and log nothing; only close its MLflow run if the loss came between the
        # final checkpoint and the run's end.
        if tracking and me == 0 and run_id is not None:
            RunLog.open(tracking, session.trial_id, session.trial_name, {}, run_id).finish()
        session.report({**final, "step": step})
        if keep_backbone:
            keep(ident, backbone, engine, compiled=config.compile)
        return {**final, "step": step}
    run = None
    if tracking and me == 0:
        params = config.as_params()
        run = RunLog.open(tracking, session.trial_id, session.trial_name, params, run_id)
        run.log_metrics({"cache_hits": cache.hits, "cache_misses": cache.misses}, step)

    # The examples live on the device for the whole trial (they are small: latents).
    stacked = {
        key: torch.stack([e[key] for e in examples]).to(backbone.device) for key in examples[0]
    }
    losses: list[torch.Tensor] = []
    metrics: dict[str, float] = {}
    samples: list[Sample] = []
    # One process in a sweep: big checkpoints are written out while the next steps train.
    writes = BackgroundWrites(enabled=isinstance(session, StoredSession) and len(shards) == 1)
    if writes.enabled:
        write_checkpoints_with(engine, writes.submit)
    try:
        while step < config.steps:
            # The batch is drawn on the device: no host round trip on the step path.
            # Each rank draws its part of the global batch; DeepSpeed averages their gradients.
            order = torch.randint(
                len(examples),
                (config.rank_batch_size,),
                generator=generator,
                device=backbone.device,
            )
            batch = {key: stacked[key].index_select(0, order) for key in stacked}
            loss = backbone.loss(engine, batch, generator)
            engine.backward(loss)
            engine.step()
            step += 1
            losses.append(loss.detach())
            if on_step is not None:
                on_step(step)

            last = step == config.steps
            metrics = {}
            if step % config.log_every == 0 or last:  # the only host sync: at logging steps
                metrics["loss"] = torch.stack(losses).float().mean().item()
                losses = []
            validating = last or (config.validate_every and step % config.validate_every == 0)
            if validating and (me == 0 or samples_on_every_rank(engine)):
                scores, samples = validate(backbone, config, split.val)
                if me == 0:
                    metrics.update(scores)
            if last and len(shards) > 1:
                metrics.update({f"shard_fraction_rank{r}": f for r, f in enumerate(shards)})
            if run is not None and metrics:
                run.log_metrics(metrics, step)
            stopping = preemption.requested() and not last
            if step % config.checkpoint_every == 0 or last or stopping:
                writes.wait()  # the previous checkpoint is out (or its error raised) first
                generators = all_ranks(generator.get_state())
                state = {
                    "step": step,
                    "generators": generators,
                    "mlflow_run_id": run.run_id if run else None,
                    "final_metrics": metrics if last else None,
                }
                folder: Path | None = Path(tempfile.mkdtemp(prefix="vdm-checkpoint-"))
                try:
                    queued = writes.submitted
                    save_checkpoint(engine, folder, state)
                    # A big state's files are being written on the background thread
                    # (write_checkpoints_with): its write-out (MLflow points, upload, manifest)
                    # follows them there. A small state's is done in line: ~15 ms of Python
                    # that, queued, held the GIL against the next steps for longer (~1 % of a
                    # tiny trial, BENCHMARKS.md). The last and a stopping one are in line.
                    background = writes.submitted > queued and not (last or stopping)
                    if not background:
                        writes.wait()  # DeepSpeed's files are on disk before they are stored
                        if run is not None:
                            run.flush()
                    if last:
                        with full_parameters(engine, trainable_only=True):
                            if me == 0:
                                backbone.save_adapter(folder / "adapter")
                        if run is not None:
                            log_final_artifacts(run, backbone, config, split.val, samples, folder)
                    if background:
                        writes.submit(functools.partial(write_out, run, session, folder, step))
                        folder = None  # the background write owns it now
                        session.report({**metrics, "step": step})
                    else:
                        session.report({**metrics, "step": step}, folder)
                finally:
                    if folder is not None:
                        shutil.rmtree(folder, ignore_errors=True)
                if stopping:
                    notice = f"spot notice: checkpointed at step {step}"
                    print(f"{session.trial_name}: {notice}; stopping for the retry", flush=True)
                    raise preemption.Preempted(notice)
            elif metrics:
                session.report({**metrics, "step": step})
    except BaseException:
        # A checkpoint already on its way is still a good one: let it land, then fail.
        with contextlib.suppress(Exception):
            writes.close()
        if run is not None:
            run.finish("FAILED")
        raise
    writes.close()
    if run is not None:
        run.finish()
    if keep_backbone:
        keep(ident, backbone, engine, compiled=config.compile)
    return {**metrics, "step": step}


def keep(ident: tuple, backbone: Backbone, engine: Any, compiled: bool) -> None:
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


def write_out(run: RunLog | None, session: StoredSession, folder: Path, step: int) -> None:
    """Store a checkpoint written locally: the MLflow points up to its step first (a resumed
    trial re-logs only the steps after its checkpoint), then its files and manifest."""
    try:
        if run is not None:
            run.flush()
        session.store(folder, step)
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


class StoredSession:
    """A trial's session in a sweep: checkpoints go to the sweep's storage under the trial's
    stable key (trainables.checkpoints), metrics to `publish` (Tune's or Train's report)."""

    def __init__(
        self, storage_uri: str, key: str, trial_name: str, publish: Callable[[dict], None]
    ) -> None:
        self.checkpoints = CheckpointStore(Storage(storage_uri), key)
        self.trial_id = key
        self.trial_name = trial_name
        self._publish = publish

    @contextlib.contextmanager
    def restored(self) -> Iterator[Path | None]:
        # Rank 0 looks and tells the others: every rank resumes from the same step, and none
        # lists the trial's folder while rank 0 creates it (pyarrow's local listing can fail
        # on a folder made under it).
        step = None
        if rank() == 0:
            step = self.checkpoints.latest()
            self.checkpoints.record_attempt(0 if step is None else step)
        step = all_ranks(step)[0]
        if step is None:
            yield None
            return
        with tempfile.TemporaryDirectory() as tmp:
            yield self.checkpoints.restore(step, Path(tmp))

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None = None) -> None:
        if checkpoint_dir is not None:
            self.store(checkpoint_dir, int(metrics["step"]))
        self._publish(metrics)

    def store(self, checkpoint_dir: Path, step: int) -> None:
        """Put this rank's checkpoint files on the storage; rank 0 seals the step once every
        rank's are up."""
        self.checkpoints.upload(checkpoint_dir, step)
        barrier()  # every rank's shards are up before the manifest says so
        if rank() == 0:
            self.checkpoints.seal(step)
        barrier()


def placed(trial: TrialConfig, placement: dict[str, float]) -> TrialConfig:
    """The trial as the resources policy places it: a group of `workers` processes (sharded
    with ZeRO-3 when the policy spread it because no single card holds it), and gradient
    checkpointing at full scale, which the policy's memory estimates assume (a spread trial
    runs uncompiled: compile is for one process). Not part of the trial's identity: the same
    trial may be placed differently on another cluster."""
    workers = int(placement.get("workers", 1))
    changes: dict[str, Any] = {}
    if workers > trial.workers:
        check_batch_over_ranks(trial.batch_size, workers, " (placed by the resources policy)")
        changes.update(workers=workers, zero_stage=3, compile=False)
    if trial.scale == "full" and not trial.gradient_checkpointing:
        changes["gradient_checkpointing"] = True
    return dataclasses.replace(trial, **changes) if changes else trial


def tune_trial(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable. `config` = {"trial": {...}, "tracking": {...},
    "cache_dir": ..., "storage_dir": ...}; a trial with several workers runs them as a group of
    rank processes in the bundles this Tune trial reserved (trainables.workers)."""
    import ray
    from ray import tune

    key = trial_key(config["trial"])
    placement = config.get("placement", {}).get(placement_key(config["trial"]), {})
    trial = placed(TrialConfig.from_dict(config["trial"]), placement)
    if trial.workers > 1:
        from trainables.workers import run_worker_group

        run_worker_group(trial, config, key, gpus_per_worker=placement.get("gpu", 0.0))
        return
    # torch would use every core of the node; a trial owns only its CPU share (and one thread
    # beats two at tiny sizes on a shared machine).
    assigned = ray.get_runtime_context().get_assigned_resources()
    torch.set_num_threads(max(1, int(assigned.get("CPU", 1.0))))
    share = assigned.get("GPU", 0.0)
    if 0 < share < 1:  # a fractional trial keeps to its share of the card
        cap_cuda_memory(share)
    name = tune.get_context().get_trial_name()
    with queued_reports(tune.report, TUNE_REPORT_SECONDS) as publish:
        session = StoredSession(config["storage_dir"], key, name, publish)
        # From here a spot notice (SIGTERM) means "checkpoint after the current step and stop".
        with preemption.training():
            train(
                trial, session, config.get("tracking"), config.get("cache_dir"), keep_backbone=True
            )


def release_device_memory() -> None:
    """Between two trials in one process: collect the last trial's model, engine and
    optimizer (DeepSpeed and peft leave reference cycles) and hand the CUDA allocator's cached
    blocks back, so the next trial starts from the memory a fresh process would have."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def spot_aware_trainable() -> type:
    """`tune_trial` as Tune's function trainable class, with the spot-notice handler installed
    when the trial's actor builds it (in the actor's main thread, where Python allows it)."""
    from ray.tune.trainable.function_trainable import wrap_function

    class SpotAwareTrial(wrap_function(tune_trial)):
        def setup(self, config: dict[str, Any]) -> None:
            preemption.clear()
            preemption.install()
            super().setup(config)

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            # A reused actor starts its next trial without a spot notice left over, and with
            # the device memory its last trial cached given back.
            preemption.clear()
            release_device_memory()
            return super().reset_config(new_config)

    SpotAwareTrial.__name__ = SpotAwareTrial.__qualname__ = "vdm_trial"
    return SpotAwareTrial
