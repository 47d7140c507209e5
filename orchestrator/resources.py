"""How much of a GPU one trial gets: the per-trial resources policy.

A full-scale trial gets the smallest share of one card (¼, ½ or all of it) whose memory covers
its own estimated peak (`trial_estimate`: `gpu_estimates` at the trial's LoRA rank and modules,
resolution, frames, batch size, validation batch, optimizer offload and gradient
checkpointing; at Table 3's settings that is `MEMORY_GB`); a trial that no single card holds
gets several whole GPUs, as a group of that many rank processes under DeepSpeed ZeRO-3. Trials
share a placement by those settings (`trainables.config.placement_key`). Tiny trials take one
CPU, and a ¼ GPU share where the cluster has GPUs. Fractional shares are logical in Ray, so
`cap_cuda_memory` makes them real: a trial's process cannot allocate more than its share.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.gpu_estimates import (
    SPECS,
    Spec,
    estimate_gb,
    memory_table,
    peak_gb,
    ranks_needed,
    trial_spec,
    zero3_rank_gb,
)
from trainables.backbones import SCALES
from trainables.config import MemorySettings, backbone_and_scale, memory_settings, placement_key

# Applied in the trial itself (trainables), re-exported here with the rest of the policy.
from trainables.devices import cap_cuda_memory as cap_cuda_memory

#: Peak GPU memory (GB, i.e. GiB as card classes are named) of one training process of each
#: backbone at full scale, unsharded, at its Table 3 settings on a 9-frame clip, **with gradient
#: checkpointing on** (a trial at other settings is sized by its own, `trial_estimate`):
#: ltx 15, cogvideox 32, wan 54. Derived in `orchestrator.gpu_estimates` from the models'
#: parameter and token counts (the largest of the prompt-encoding, latent-encoding, training
#: and validation moments, +10 % for the allocator and 2 GB of CUDA context), each moment at
#: least the reserved peak measured on an H200 at these settings (`gpu_estimates.MEASURED_GB`;
#: BENCHMARKS.md has the run, in which each trial, capped at its figure less the context,
#: finished). Without gradient checkpointing
#: every block keeps its activations (`gpu_estimates.activations_gb`); full-scale trials always
#: run with it on (`trainables.sweep_trial.with_placement`); `trainables.config.memory_settings`
#: estimates them so. Several ranks: `gpu_estimates.ranks_needed` (activations, VAE, encoders and
#: context are whole on every rank; the transformer and LoRA state are split).
MEMORY_GB: dict[str, float] = memory_table()

#: The fractions of one card a single-process trial may get, smallest first.
SHARES: tuple[float, ...] = (0.25, 0.5, 1.0)
#: The card class assumed when the cluster has GPUs but declares no `vram_<N>gb` resource: the
#: smallest card the project targets (an RTX 4090), so a share that fits it fits any card.
DEFAULT_CARD_GB = 24.0
TINY_GPU_SHARE = 0.25
_CARD_CLASS = re.compile(r"vram_(\d+(?:\.\d+)?)gb")


@dataclass(frozen=True)
class TrialResources:
    """What one trial needs. `workers == 1`: one process holding `gpu` (a fraction of a card,
    or 0 on the CPU). `workers > 1`: a group of `workers` rank processes, each with `gpu`
    whole GPUs (1, or 0 on a CPU cluster); the Tune trial only drives the group with `cpu`."""

    cpu: float
    gpu: float
    workers: int = 1

    def bundles(self, worker_cpus: float = 1.0) -> list[dict[str, float]]:
        """The Tune trial's placement group. One process: a single bundle with its CPU and GPU
        share. With several workers, bundle 0 for the trial's own process (CPU only: it drives
        the group) and one bundle per rank with `worker_cpus` and its whole GPU, all reserved
        together when Tune places the trial, so a group never waits for GPUs behind trials
        placed after it (trainables.workers)."""
        if self.workers == 1:
            return [_bundle(self.cpu, self.gpu)]
        return [_bundle(self.cpu, 0.0)] + [_bundle(worker_cpus, self.gpu)] * self.workers

    @property
    def total_gpus(self) -> float:
        return self.gpu * self.workers


def _check_override_gpu(gpu: float) -> float:
    allowed = "allowed: a share in (0, 1] or a whole number of GPUs ≥ 1"
    if isinstance(gpu, bool) or not isinstance(gpu, int | float) or not math.isfinite(gpu):
        raise ValueError(f"bad GPUs per trial {gpu!r}; {allowed}")
    if not (0 < gpu <= 1 or (gpu >= 1 and float(gpu).is_integer())):
        raise ValueError(f"bad GPUs per trial {gpu!r}; {allowed}")
    return float(gpu)


def _check_override_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"bad workers per trial {workers!r}; allowed: a whole number ≥ 1")
    return workers


def _with_overrides(
    estimate: TrialResources, gpu: float | None, workers: int | None, card_gb: float | None
) -> TrialResources:
    """Overrides win over the estimate. `gpu` is what the whole trial gets: a share of one card
    (one process), or k whole GPUs (k workers); `workers` is the size of its rank group,
    a whole GPU each (none on a cluster without GPUs). Given alone, `workers=1` keeps the
    estimate's share where that is one process, else takes a whole card."""
    if gpu is not None:
        gpu = _check_override_gpu(gpu)
    if workers is not None:
        workers = _check_override_workers(workers)
    if workers is None:
        workers = 1 if gpu <= 1 else int(gpu)
    whole = 1.0 if card_gb is not None else 0.0
    if workers == 1:
        if gpu is not None and gpu > 1:
            raise ValueError(
                f"bad GPUs per trial {gpu:g} with 1 worker; allowed: a share in (0, 1], "
                f"or workers={gpu:g} for {gpu:g} whole GPUs"
            )
        if gpu is None:
            gpu = estimate.gpu if estimate.workers == 1 else whole
        return replace(estimate, gpu=gpu, workers=1)
    if gpu is not None and gpu not in (1.0, float(workers)):
        raise ValueError(
            f"bad GPUs per trial {gpu:g} with {workers} workers; allowed: 1 per worker "
            f"or {workers} in all (workers take whole GPUs)"
        )
    return replace(estimate, gpu=1.0 if gpu is not None else whole, workers=workers)


def _estimate(
    backbone: str, scale: str, card_gb: float | None, overridden: bool, spec: Spec
) -> TrialResources:
    cpu = 1.0
    if card_gb is None:
        return TrialResources(cpu=cpu, gpu=0.0, workers=1)
    if scale != "full":  # tiny and micro: a few MB of weights
        return TrialResources(cpu=cpu, gpu=TINY_GPU_SHARE, workers=1)
    need = estimate_gb(spec)
    for share in SHARES:
        if share * card_gb >= need:
            return TrialResources(cpu=cpu, gpu=share, workers=1)
    ranks = ranks_needed(spec, card_gb)
    if ranks is None and overridden:  # the user's placement wins; it is theirs to size
        return TrialResources(cpu=cpu, gpu=1.0, workers=2)
    if ranks is None:
        smallest = next(gb for gb in range(1, 1025) if ranks_needed(spec, gb))
        raise ValueError(
            f"{backbone} at full scale does not fit {card_gb:g} GB cards, not even split over "
            f"ZeRO-3 ranks (its VAE and text encoder are whole on each); allowed: cards of "
            f"{smallest} GB or more"
        )
    return TrialResources(cpu=cpu, gpu=1.0, workers=max(2, ranks))


def policy(
    backbone: str,
    scale: str,
    card_gb: float | None,
    override_gpu: float | None = None,
    override_workers: int | None = None,
    spec: Spec | None = None,
) -> TrialResources:
    """One trial's resources on a cluster whose GPUs have `card_gb` GB each (None: no GPU).

    tiny: 1 CPU, and ¼ of a card where there are GPUs (so tiny sweeps run on GPU clusters too).
    full: the smallest share in `SHARES` of one card holding the trial's estimate
    (`gpu_estimates.estimate_gb(spec)`; `spec`: the trial's own, `trial_estimate`; None: the
    backbone's Table 3 settings, `MEMORY_GB[backbone]`); when not even a whole card does, as
    many whole GPUs as `gpu_estimates.ranks_needed` says a ZeRO-3 group needs (at least 2), as
    that many workers (the trial then runs zero_stage=3); a card too small for any group is a
    one-line ValueError. No GPU in the cluster: gpu 0. Overrides win (`_with_overrides`); a bad
    one is a one-line ValueError naming it and what is allowed.
    """
    if backbone not in MEMORY_GB:
        raise ValueError(f"unknown backbone {backbone!r}; allowed: {', '.join(sorted(MEMORY_GB))}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    if card_gb is not None and (isinstance(card_gb, bool) or not card_gb > 0):
        raise ValueError(f"bad card memory {card_gb!r} GB; allowed: a positive number or None")
    if spec is not None and spec.name != backbone:
        raise ValueError(f"the spec of {spec.name!r} does not size a {backbone!r} trial")
    overridden = override_gpu is not None or override_workers is not None
    estimate = _estimate(backbone, scale, card_gb, overridden, spec or SPECS[backbone])
    if not overridden:
        return estimate
    return _with_overrides(estimate, override_gpu, override_workers, card_gb)


def card_memory_gb(cluster_resources: dict[str, float]) -> float | None:
    """The GPU card class of a cluster, from `ray.cluster_resources()`.

    None where there is no GPU. Else the smallest `vram_<N>gb` class present (the cluster
    config declares one unit of it per GPU of that class), so that a trial sized by it fits on
    any node; else `DEFAULT_CARD_GB` (24), the safe assumption for undeclared cards: a share
    sized for the smallest card the project targets also fits a bigger one.
    """
    if cluster_resources.get("GPU", 0) <= 0:
        return None
    classes = [
        float(match.group(1))
        for key, count in cluster_resources.items()
        if count > 0 and (match := _CARD_CLASS.fullmatch(key))
    ]
    return min(classes) if classes else DEFAULT_CARD_GB


#: Where `ray up` leaves the cluster's config on its head (Ray Tune looks for it there too:
#: ray.tune.execution.cluster_info).
AUTOSCALER_CONFIG = "~/ray_bootstrap_config.yaml"


def launchable_resources(config_path: str | Path = AUTOSCALER_CONFIG) -> dict[str, float]:
    """One node's resources of each worker type the cluster's autoscaler can launch, summed
    ({} without an autoscaler config). cluster.yaml starts every GPU type at zero nodes: a sweep
    started right after `ray up` sees no GPU in `ray.cluster_resources()`, yet must ask for GPU
    shares, since that demand is what makes the autoscaler launch the GPU nodes."""
    import yaml

    path = Path(config_path).expanduser()
    if not path.is_file():
        return {}
    config = yaml.safe_load(path.read_text()) or {}
    head = config.get("head_node_type")
    out: dict[str, float] = {}
    for name, node_type in (config.get("available_node_types") or {}).items():
        if name == head or node_type.get("max_workers", 1) <= 0:
            continue
        for key, amount in (node_type.get("resources") or {}).items():
            out[key] = out.get(key, 0.0) + float(amount)
    return out


def cluster_card_gb(
    cluster_resources: dict[str, float],
    launchable: dict[str, float],
    requested: float | None = None,
) -> float | None:
    """The card class a sweep's trials are sized for: `requested` (--card-gb), else the smallest
    class among the GPUs up now and those the autoscaler can launch (`card_memory_gb`). None
    where there is no GPU now or later: the trials run on the CPU."""
    if cluster_resources.get("GPU", 0) <= 0 and launchable.get("GPU", 0) <= 0:
        return None
    merged = dict(launchable)
    for key, amount in cluster_resources.items():
        merged[key] = merged.get(key, 0.0) + amount
    return requested or card_memory_gb(merged)


def sweep_placement(
    trials: list[dict],
    card_gb: float | None,
    sweep_resources: dict[str, float] | None = None,
    override_gpu: float | None = None,
    override_workers: int | None = None,
) -> dict[str, dict[str, float]]:
    """The resources of every kind of trial of a sweep on this cluster, as plain data for the
    Tuner's param space: {"ltx/tiny": {"cpu": 1, "gpu": 0.25, "workers": 1},
    "cogvideox/full/QKVO/r256/9x480x720/b2/val2": {"cpu": 1, "gpu": 0.5, "workers": 1}, …},
    keyed by `placement_key` (full-scale trials by the settings that move their memory, each
    kind sized by its own estimate, `trial_estimate`).

    Precedence: the CLI's overrides, then the trial's own `workers` and the sweep module's own
    `resources` (a sweep that pins its share), then `policy`. A GPU share is never asked of a
    cluster without GPUs (the trial would wait forever)."""
    pinned = dict(sweep_resources or {})
    gpu = override_gpu if override_gpu is not None else pinned.get("gpu")
    if card_gb is None:
        gpu = None
    out: dict[str, dict[str, float]] = {}
    for trial in trials:
        key = placement_key(trial)
        if key in out:
            continue
        own_workers = int(trial.get("workers", 1))
        workers = override_workers
        if workers is None and own_workers > 1:
            workers = own_workers
        share = gpu if workers is None or gpu is None or gpu >= 1 else None
        backbone, scale = backbone_and_scale(trial)
        spec = trial_estimate(trial) if scale == "full" else None
        chosen = policy(backbone, scale, card_gb, share, workers, spec)
        out[key] = {
            "cpu": float(pinned.get("cpu", chosen.cpu)),
            "gpu": chosen.gpu,
            "workers": chosen.workers,
        }
    return out


def settings_spec(settings: MemorySettings) -> Spec:
    """The `gpu_estimates` spec of a trial's memory-moving settings."""
    return trial_spec(
        settings.backbone,
        group=settings.modules,
        rank=settings.rank,
        frames=settings.frames,
        height=settings.height,
        width=settings.width,
        batch=settings.batch_size,
        sample_batch=settings.sample_batch,
        offload_optimizer=settings.offload_optimizer,
        gradient_checkpointing=settings.gradient_checkpointing,
    )


def trial_estimate(trial: dict) -> Spec:
    """The `gpu_estimates` spec of one full-scale trial as it will run (`memory_settings`: its
    own settings, the backbone's defaults where it leaves them, gradient checkpointing on)."""
    return settings_spec(memory_settings(trial))


def placement_estimates(
    trials: list[dict], placement: dict[str, dict[str, float]] | None = None
) -> dict[str, dict[str, float | str]]:
    """Each full-scale kind of trial's memory estimate, by `placement_key`: "memory_gb" (one
    process, GB rounded up: what its share is sized by), "moment" (its peak moment) and
    "peak_gb" (unrounded); for a kind that `placement` spreads over a group of ranks, also
    "rank_gb", one rank's largest moment under ZeRO-3. Tiny trials have none (fixed share)."""
    out: dict[str, dict[str, float | str]] = {}
    for trial in trials:
        key = placement_key(trial)
        if key in out or backbone_and_scale(trial)[1] != "full":
            continue
        spec = trial_estimate(trial)
        moment, peak = peak_gb(spec)
        out[key] = {"memory_gb": estimate_gb(spec), "moment": moment, "peak_gb": peak}
        workers = int((placement or {}).get(key, {}).get("workers", 1))
        if workers > 1:
            out[key]["rank_gb"] = max(zero3_rank_gb(spec, workers).values())
    return out


def shares(
    placement: dict[str, dict[str, float]],
    estimates: dict[str, dict] | None = None,
    card_gb: float | None = None,
) -> str:
    """Each kind of trial's resources, in a person's words: "; "-separated on one line, or
    with `estimates` (`placement_estimates`) one indented line each, a full-scale
    kind's memory estimate first and, with `card_gb`, the memory its share holds."""
    said = []
    for key, p in placement.items():
        if p["workers"] > 1:
            device = "1 GPU" if p["gpu"] else "CPU"
            share = f"{p['workers']:g} workers x {device}"
        else:
            share = f"{p['gpu']:g} GPU" if p["gpu"] else f"{p['cpu']:g} CPU"
        estimate = (estimates or {}).get(key)
        if estimate is None:
            said.append(f"{key}: {share}")
            continue
        if p["workers"] > 1 and "rank_gb" in estimate:
            share += f" (ZeRO-3: {estimate['rank_gb']:.1f} GB a rank)"
        elif p["gpu"] and card_gb is not None:
            share += f" ({p['gpu'] * card_gb:g} GB)"
        said.append(
            f"{key}: estimate {estimate['memory_gb']:g} GB ({estimate['moment']}) -> {share}"
        )
    if estimates is None:
        return "; ".join(said)
    return "\n".join(f"  {line}" for line in said)


def tune_bundles(placement: dict[str, float], worker_cpus: float = 1.0) -> list[dict[str, float]]:
    """The Tune trial's placement group bundles (see `TrialResources.bundles`)."""
    return TrialResources(
        cpu=placement["cpu"], gpu=placement["gpu"], workers=int(placement["workers"])
    ).bundles(worker_cpus)


def _bundle(cpu: float, gpu: float) -> dict[str, float]:
    return {"CPU": cpu, **({"GPU": gpu} if gpu else {})}
