"""On paper, for GPUs: tokens, LoRA size and peak memory of each backbone at
its full-scale Table 3 settings (`SPECS`) or at one trial's own settings (`trial_spec`), from the
models' shapes and parameter counts.

Everything backbone-specific is read from the backbone's class
(`trainables.backbones.backbone_class`, which imports no torch): its Table 3 `defaults`, LoRA
groups, parameter counts (`hub_params`), the paper's seconds per step and card, and its
`geometry` (blocks, widths, MLP widths, patch sizes, VAE compression, the CLIP token count,
CogVideoX's text length), read from the hub configs in `trainables.hub_configs` (plain JSON), the
same files the tests build the real models from on the meta device
(tests/trainables/test_full_size_configs.py, which also checks `PARAMS` and every spec's linear
layers against those models). Plain arithmetic otherwise (no torch, no diffusers), so the
resources policy sizes every trial from here at no import cost; `benchmarks/gpu_estimates.py`
prints the tables.

**Per trial.** What a trial runs moves its memory: LoRA rank and module group, resolution and
frames, batch size, validation inputs sampled at once, DeepSpeed's optimizer offload (the fp32
master weights and Adam moments on the host: 4 B per LoRA parameter stay on the GPU, its bf16
weight and gradient, instead of 16) and gradient checkpointing (off: every block keeps its
activations for the backward, `activations_gb`). `trial_spec(backbone, rank=..., group=...,
height=..., width=..., frames=..., batch=..., sample_batch=..., offload_optimizer=...,
gradient_checkpointing=...)` is the backbone's spec at those settings and `estimate_gb` its
peak; `orchestrator.resources` places each trial by it.

Units: "GB" here is GiB (2**30 bytes), the unit in which the card classes are named: an RTX
4090's 24 GB is 24 GiB, an H100's 80 GB is ~80 GiB, an H200's 141 GB ~140 GiB.

**Memory.** One training process (one rank, unsharded: the single-process engine of
`trainables.engine`), bf16 weights, gradient checkpointing on (the policy turns it on at full
scale). Its peak is the largest of four moments, each the sum of what is alive then:
- *prompt* (a prompt-cache miss; `trainables.trial.prepare` encodes the fixed prompt right after
  loading): the resident weights but the transformer, which a trial keeps in host memory until
  its engine is built, + the text encoder in bf16 (it is dropped after);
- *latents* (a latent-cache miss): the same weights + the VAE encoder's workspace;
- *training*: resident weights + LoRA state (16 B per LoRA parameter: bf16 weight and
  gradient, fp32 master copy, Adam m and v in fp32; ZeRO-2 shards them over ranks, and one rank
  holds them all) + the larger of the checkpointed activations (during backward) and the fp32
  copy of the LoRA gradients the optimizer steps on (4 B per LoRA parameter, after backward);
- *validation*: resident weights + LoRA state + the VAE decoder's workspace + one block's
  activations of sampling (batch 1, no gradients, no classifier-free guidance).
The resident weights are the transformer in bf16, the VAE (bf16, fp32 for Wan, as its hub repo
runs it) and Wan's CLIP vision encoder (fp32). Each moment's allocations get
`FRAGMENTATION` (10 %) for the caching allocator, plus `CONTEXT_GB` (2 GiB: CUDA context,
cuBLAS/NCCL workspaces, outside the allocator). `MEMORY_GB` is the peak rounded up to a whole GB.

Checkpointed activations (bf16, flash attention, so no S×S score matrix is kept): every block's
input (L × B × S × h × 2 B; CogVideoX's blocks carry the text tokens too, joint attention) plus,
while one block is recomputed and back-propagated, that block's activations: per token and
hidden unit, 4 B per AdaLN-modulated norm, 10 B for self-attention, 6 B for a cross-attention
(query side), 2 + 4 × ffn/h B for the MLP (after Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models", 34 B per layer for a GPT block, without dropout
masks), + 4 B of gradients through the block, + 8 B × B × S × h outside the blocks (patch
embedding, output projection, loss). VAE workspace: 4 live tensors of its widest stage
(frames decoded at once × height × width × channels at that stage), which decoding dominates.

The transformer waits in host memory until the trial's engine is built (the engine moves it
to the device), so the cache-miss moments (prompt, latents) hold only the other components: the
model's peak is LTX-Video's prompt moment (T5-XXL, 13 GB), CogVideoX1.5's and Wan2.1's validation
(19 and 52 GB).

**Measured.** One H200 ran every backbone at Table 3's settings (`benchmarks.full_scale`,
`MEASURED_GB`): the model held for LTX-Video and Wan2.1 (capped at their estimates they ran),
and missed CogVideoX1.5's VAE decode (29.4 GiB reserved against 18.6 computed; capped at 26
it ran out of memory). Each moment is therefore raised to at least its measured reserved peak
(`measured_excess_gb`), which makes ltx 15, cogvideox 32 and wan 54 GB.

Seconds per step (cards, FLOPs, utilisation) are the benchmarks' business:
`benchmarks.performance_model`.

One module over 400 lines, on purpose: most of it is this derivation, and the moments, margins,
measured corrections and the ZeRO-3 split are one computation the resources policy reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from trainables.backbones import backbone_class, backbone_names

GIB = 2**30
#: Caching-allocator margin on what a moment allocates.
FRAGMENTATION = 0.10
#: CUDA context, cuBLAS/cuDNN/NCCL workspaces: outside the caching allocator.
CONTEXT_GB = 2.0
#: Bytes per LoRA parameter held through training: bf16 weight (2) and gradient (2), fp32
#: master weight (4), Adam m and v in fp32 (4 + 4).
LORA_STATE_BYTES = 16
#: The fp32 copy of the gradients the optimizer steps on (after backward).
LORA_STEP_BYTES = 4
#: Activation bytes per token × hidden unit, bf16 (Korthikanti et al. 2022, no dropout).
NORM_BYTES = 4  # an AdaLN-modulated norm: normalized and modulated outputs
SELF_ATTENTION_BYTES = 10  # QKV input 2, Q and K 4, V 2, output-projection input 2
CROSS_ATTENTION_BYTES = 6  # query input 2, Q 2, output-projection input 2 (K, V: text, small)
BLOCK_GRADIENT_BYTES = 4  # the gradient flowing through the block being back-propagated
OUTSIDE_BLOCKS_BYTES = 8  # patch embedding, output projection, loss
#: Live tensors of a VAE's widest stage while it encodes or decodes.
VAE_LIVE_TENSORS = 4
#: ZeRO-3: parameters gathered ahead of use (DeepSpeed prefetches the next block).
ZERO3_GATHERED_BLOCKS = 2


@dataclass(frozen=True)
class Spec:
    """What the estimates need of one backbone, at its Table 3 settings (`SPECS`) or at one
    trial's own (`trial_spec`: `dataclasses.replace` of the memory-moving settings). The
    models' shapes are each backbone's `geometry`, read from its hub configs
    (`trainables.hub_configs`), not copied."""

    name: str
    hub_id: str
    # The transformer (its hub config): blocks, width, MLP width.
    layers: int
    hidden: int
    ffn: int
    #: AdaLN-modulated norms per block; a text cross-attention per block (LTX, Wan).
    norms: int
    cross_attention: bool
    #: Prompt tokens; `joint_text`: they run through every block with the video (CogVideoX).
    text_tokens: int
    joint_text: bool
    #: Other context tokens a cross-attention reads (Wan's CLIP image tokens).
    image_tokens: int
    # Video → tokens: VAE compression (time, space), patch size (time, space).
    vae_time: int
    vae_space: int
    patch_time: int
    patch_space: int
    # Table 3, or the trial's own settings.
    frames: int
    height: int
    width: int
    batch: int
    group: str
    rank: int
    #: Each block's linear layers a LoRA may adapt: module name → (in features, out features).
    linears: dict[str, tuple[int, int]]
    #: LoRA group → the names in `linears` it adapts (as the backbone's `lora_targets`).
    groups: dict[str, tuple[str, ...]]
    # Parameter counts (`PARAMS`: the hub configs' models) and the dtypes they run in.
    transformer_params: int
    vae_params: int
    vae_bytes: int
    text_encoder_params: int
    image_encoder_params: int = 0
    image_encoder_bytes: int = 4
    #: The VAE's widest stage: (frames at once, None: the whole clip; spatial divisor;
    #: channels; bytes per value).
    vae_stage: tuple[int | None, int, int, int] = (None, 1, 128, 2)
    #: Where the paper timed it (Table 6; Appendix A.3): a key of
    #: `benchmarks.performance_model.CARDS`.
    paper_card: str = "rtx4090"
    #: Per-token linear layers inside a block that see only the context (K/V of a
    #: cross-attention): their FLOPs are per context token, not per video token.
    context_linears: tuple[str, ...] = field(default_factory=tuple)
    # The trial's engine settings that move memory (Table 3 runs: the defaults).
    #: Validation inputs sampled at once (their videos are decoded one by one).
    sample_batch: int = 1
    #: DeepSpeed's optimizer offload: fp32 master weights and Adam moments on the host.
    offload_optimizer: bool = False
    #: On at full scale: `trainables.sweep_trial.with_placement` turns it on for every such trial.
    gradient_checkpointing: bool = True


#: The parameter counts of the models the hub configs describe (each backbone's `hub_params`,
#: counted on the meta device: tests/trainables/test_full_size_configs.py builds each from its
#: JSON and checks these).
PARAMS: dict[tuple[str, str], int] = {
    (name, part): count
    for name in backbone_names()
    for part, count in backbone_class(name).hub_params.items()
}
PARAMS_SOURCE = (
    "the models of trainables/hub_configs (diffusers classes from the hub repos' configs; "
    "T5EncoderModel t5-v1_1-xxl, UMT5EncoderModel umt5-xxl, CLIPVisionModelWithProjection "
    "ViT-H/14), counted on the meta device by tests/trainables/test_full_size_configs.py"
)

#: The paper's clips: 9 frames.
PAPER_FRAMES = 9


def _table_3(backbone: str) -> dict:
    """The backbone's Table 3 settings (its `defaults`) as a `Spec` names them."""
    defaults = backbone_class(backbone).defaults
    return dict(
        frames=PAPER_FRAMES,
        height=defaults["height"],
        width=defaults["width"],
        batch=defaults["batch_size"],
        group=defaults["modules"],
        rank=defaults["rank"],
    )


#: The paper's Table 3 settings of each backbone, and the 9-frame clips of the paper.
TABLE_3 = {name: _table_3(name) for name in backbone_names()}


def _spec(name: str) -> Spec:
    """`name`'s spec at Table 3's settings: its backbone's hub id, shapes (`geometry`, read
    from its hub configs), LoRA groups, parameter counts and the card the paper timed it on."""
    backbone = backbone_class(name)
    params = backbone.hub_params
    return Spec(
        name=name,
        hub_id=backbone.hub_id,
        **backbone.geometry(),
        **TABLE_3[name],
        groups=backbone.lora_groups,
        transformer_params=params["transformer"],
        vae_params=params["vae"],
        text_encoder_params=params["text_encoder"],
        image_encoder_params=params.get("image_encoder", 0),
        paper_card=backbone.paper_card,
    )


SPECS: dict[str, Spec] = {name: _spec(name) for name in backbone_names()}

#: The trial settings `trial_spec` takes: those that move a trial's memory.
TRIAL_SETTINGS = (
    "group",
    "rank",
    "frames",
    "height",
    "width",
    "batch",
    "sample_batch",
    "offload_optimizer",
    "gradient_checkpointing",
)


def trial_spec(backbone: str, **settings) -> Spec:
    """`backbone`'s spec at one trial's own settings (`TRIAL_SETTINGS`; the rest Table 3's)."""
    if backbone not in SPECS:
        raise ValueError(f"unknown backbone {backbone!r}; allowed: {', '.join(sorted(SPECS))}")
    unknown = sorted(set(settings) - set(TRIAL_SETTINGS))
    if unknown:
        raise ValueError(
            f"unknown trial setting {unknown[0]!r}; allowed: {', '.join(TRIAL_SETTINGS)}"
        )
    spec = SPECS[backbone]
    if settings.get("group", spec.group) not in spec.groups:
        raise ValueError(
            f"unknown LoRA group {settings['group']!r}; allowed: {', '.join(spec.groups)}"
        )
    return replace(spec, **settings)


# ---- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    latent_frames: int  # after the VAE (and CogVideoX1.5's padding to whole time patches)
    latent_height: int
    latent_width: int
    video: int  # tokens of one clip: latent frames × h × w / patch sizes
    per_block: int  # what each block carries per sample (CogVideoX: + the text tokens)
    per_step: int  # per_block × batch


def tokens(spec: Spec) -> Tokens:
    frames = 1 + (spec.frames - 1) // spec.vae_time
    frames += (-frames) % spec.patch_time  # CogVideoX1.5 pads to whole time patches
    h, w = spec.height // spec.vae_space, spec.width // spec.vae_space
    video = (frames // spec.patch_time) * (h // spec.patch_space) * (w // spec.patch_space)
    per_block = video + (spec.text_tokens if spec.joint_text else 0)
    return Tokens(frames, h, w, video, per_block, per_block * spec.batch)


# ---- LoRA -----------------------------------------------------------------------------------


def lora_params(spec: Spec, group: str | None = None, rank: int | None = None) -> int:
    """rank × (in + out) per adapted linear layer (peft's A and B), over all blocks."""
    names = spec.groups[group or spec.group]
    r = spec.rank if rank is None else rank
    return spec.layers * sum(r * sum(spec.linears[name]) for name in names)


# ---- memory ---------------------------------------------------------------------------------


def _gb(n_bytes: float) -> float:
    return n_bytes / GIB


def resident_gb(spec: Spec) -> dict[str, float]:
    """What a loaded backbone keeps on the GPU: transformer (bf16), VAE, image encoder."""
    parts = {
        "transformer (bf16)": _gb(2 * spec.transformer_params),
        "VAE": _gb(spec.vae_bytes * spec.vae_params),
    }
    if spec.image_encoder_params:
        parts["image encoder (CLIP)"] = _gb(spec.image_encoder_bytes * spec.image_encoder_params)
    return parts


def block_bytes_per_token(spec: Spec) -> float:
    """One block's activations kept for its backward, per token and hidden unit (bf16)."""
    per = spec.norms * NORM_BYTES + SELF_ATTENTION_BYTES + 2 + 4 * spec.ffn / spec.hidden
    if spec.cross_attention:
        per += CROSS_ATTENTION_BYTES
    return per + BLOCK_GRADIENT_BYTES


def activations_gb(spec: Spec) -> float:
    """Training activations. With gradient checkpointing (`spec.gradient_checkpointing`, as
    every full-scale trial runs): every block's input, one block's activations during its
    recompute and backward, and what lies outside the blocks. Without: every block keeps its
    input and all its activations from the forward to its backward (the ~34 B × tokens ×
    hidden × layers of Korthikanti et al.), plus the gradient through the block being
    back-propagated and what lies outside the blocks."""
    t = tokens(spec)
    width = t.per_step * spec.hidden
    outside = OUTSIDE_BLOCKS_BYTES * width
    if spec.gradient_checkpointing:
        saved_inputs = spec.layers * width * 2
        one_block = block_bytes_per_token(spec) * width
        return _gb(saved_inputs + one_block + outside)
    kept = (block_bytes_per_token(spec) - BLOCK_GRADIENT_BYTES + 2) * width
    return _gb(spec.layers * kept + BLOCK_GRADIENT_BYTES * width + outside)


def lora_state_bytes(spec: Spec) -> int:
    """Bytes per LoRA parameter on the GPU through training: all 16 (`LORA_STATE_BYTES`), or
    with the optimizer offloaded (DeepSpeed's `offload_optimizer` to the host: the fp32
    master copy and Adam's moments live in host memory) the bf16 weight and gradient, 4."""
    return 2 + 2 if spec.offload_optimizer else LORA_STATE_BYTES


def lora_step_bytes(spec: Spec) -> int:
    """Bytes per LoRA parameter of the fp32 gradients the optimizer steps on, on the GPU: none
    when the optimizer runs on the host (the gradients are copied there)."""
    return 0 if spec.offload_optimizer else LORA_STEP_BYTES


def sampling_activations_gb(spec: Spec, videos: int = 1) -> float:
    """One block's activations at sampling `videos` at once: no gradients, no CFG."""
    return _gb(block_bytes_per_token(spec) * tokens(spec).per_block * spec.hidden * videos)


def vae_workspace_gb(spec: Spec) -> float:
    frames, divisor, channels, nbytes = spec.vae_stage
    frames = spec.frames if frames is None else min(frames, spec.frames)
    pixels = (spec.height // divisor) * (spec.width // divisor)
    return _gb(VAE_LIVE_TENSORS * frames * pixels * channels * nbytes)


def _state_label(spec: Spec) -> str:
    if spec.offload_optimizer:
        return "LoRA state (4 B/param; optimizer on the host)"
    return f"LoRA state ({LORA_STATE_BYTES} B/param)"


#: Peak GiB per moment, (allocated, reserved) by the caching allocator, measured on one H200
#: by `python -m benchmarks.full_scale` (2026-12-04, `benchmarks/results/full_scale_h200.json`:
#: Table 3 settings, one validation input, the moments one after another in one process as in
#: a trial; a test checks these equal that file). The model above misses some workspace
#: (CogVideoX1.5's VAE decodes with 7.7 GiB more than its 4 live tensors of the widest stage)
#: and the allocator's fragmentation can exceed its 10 % (CogVideoX1.5's decode: 29.4 GiB
#: reserved for 22.8 allocated; capped at 26 GiB it ran out of memory,
#: `benchmarks/results/full_scale_h200_capped.json`). A moment's reserved peak is a bound that
#: holds: capped there, the allocator never meets its cap and runs as it ran uncapped.
MEASURED_GB: dict[str, dict[str, tuple[float, float]]] = {
    "ltx": {
        "prompt": (9.72, 9.95),
        "latents": (1.20, 9.95),
        "training": (8.98, 12.67),
        "validation": (6.02, 12.67),
    },
    "cogvideox": {
        "prompt": (9.37, 9.60),
        "latents": (7.01, 16.10),
        "training": (15.54, 18.59),
        "validation": (22.78, 29.40),
    },
    "wan": {
        "prompt": (13.66, 15.58),
        "latents": (8.58, 19.31),
        "training": (40.05, 42.39),
        "validation": (44.42, 51.83),
    },
}
MEASURED_ON = "NVIDIA H200, bf16, benchmarks.full_scale at Table 3 settings, 1 validation input"
MEASURED_PART = "measured excess (benchmarks.full_scale)"


def measured_excess_gb(spec: Spec) -> dict[str, float]:
    """Per moment, the allocations to add to the model so that, with the margins, the estimate
    covers the measured reserved peak: at Table 3's clip (reserved − model × margin) / margin,
    scaled by `spec`'s clip volume (frames × height × width; for training also × batch), since
    the workspace and fragmentation it stands for grow with the video. Never negative: where the
    model with its margin exceeds what was reserved, it keeps that margin."""
    measured = MEASURED_GB.get(spec.name)
    if measured is None:
        return {}
    table3 = SPECS[spec.name]
    model = moments_gb(replace(table3, sample_batch=1), measured=False)
    volume = (spec.frames * spec.height * spec.width) / (
        table3.frames * table3.height * table3.width
    )
    scale = {"prompt": 1.0, "latents": volume, "validation": volume}
    scale["training"] = volume * spec.batch / table3.batch
    margin = 1 + FRAGMENTATION
    return {
        moment: max(0.0, reserved - sum(model[moment].values()) * margin) / margin * scale[moment]
        for moment, (_, reserved) in measured.items()
    }


def moments_gb(
    spec: Spec, sample_batch: int | None = None, measured: bool = True
) -> dict[str, dict[str, float]]:
    """Each moment's allocations (GiB), by part, before the allocator margin and context.
    `sample_batch`: validation inputs sampled at once (their videos are decoded one by one);
    None: the spec's own (`Spec.sample_batch`). `measured`: with each moment's
    `measured_excess_gb` (what the policy uses); False: the model alone."""
    videos = spec.sample_batch if sample_batch is None else sample_batch
    resident = resident_gb(spec)
    lora = lora_params(spec)
    state = {_state_label(spec): _gb(lora_state_bytes(spec) * lora)}
    activations = activations_gb(spec)
    step = _gb(lora_step_bytes(spec) * lora)
    checkpointed = "checkpointed" if spec.gradient_checkpointing else "no checkpointing"
    training = (
        {f"activations ({checkpointed})": activations}
        if activations >= step
        else {"fp32 gradients at the step (4 B/param)": step}
    )
    # Before the engine is built the transformer waits in host memory (trainables.trial).
    encoders = {part: gb for part, gb in resident.items() if part != "transformer (bf16)"}
    moments = {
        "prompt": {**encoders, "text encoder (bf16)": _gb(2 * spec.text_encoder_params)},
        "latents": {**encoders, "VAE encoder workspace": vae_workspace_gb(spec)},
        "training": {**resident, **state, **training},
        "validation": {
            **resident,
            **state,
            "VAE decoder workspace": vae_workspace_gb(spec),
            "sampling activations": sampling_activations_gb(spec, videos),
        },
    }
    if measured:
        for moment, excess in measured_excess_gb(spec).items():
            if excess > 0:
                moments[moment][MEASURED_PART] = excess
    return moments


def with_margins(allocated_gb: float) -> float:
    """A moment's allocations as card memory: allocator margin, then the CUDA context."""
    return allocated_gb * (1 + FRAGMENTATION) + CONTEXT_GB


def peak_gb(spec: Spec) -> tuple[str, float]:
    """The moment with the largest footprint and that footprint (GiB), margins included."""
    totals = {name: with_margins(sum(parts.values())) for name, parts in moments_gb(spec).items()}
    moment = max(totals, key=totals.__getitem__)
    return moment, totals[moment]


def estimate_gb(spec: Spec) -> float:
    """One training process's estimate at `spec`'s settings: its peak, rounded up to a whole
    GB. What the resources policy sizes a trial's share by (`trial_spec` for a trial's own)."""
    return float(math.ceil(peak_gb(spec)[1]))


def memory_gb(backbone: str) -> float:
    """The estimate at the backbone's Table 3 settings (`MEMORY_GB` of the policy)."""
    return estimate_gb(SPECS[backbone])


def sample_batch(backbone: str, most: int) -> int:
    """How many validation inputs a full-scale trial samples at once: the most (up to `most`)
    whose validation moment stays within the memory the policy reserves for the trial anyway
    (`memory_gb`, its peak moment). Where validation is the peak (Wan2.1), one at a time."""
    spec = SPECS[backbone]
    reserved = memory_gb(backbone)
    fits = 1
    for videos in range(2, most + 1):
        validation = moments_gb(spec, videos)["validation"]
        if with_margins(sum(validation.values())) > reserved:
            break
        fits = videos
    return fits


def memory_table() -> dict[str, float]:
    return {name: memory_gb(name) for name in SPECS}


# ---- ZeRO-3 over several ranks ----------------------------------------------------------------


def zero3_rank_gb(spec: Spec, ranks: int) -> dict[str, float]:
    """One rank's footprint (GiB, margins included) per moment in a ZeRO-3 group of `ranks`.

    Training: transformer and LoRA state partitioned over the ranks; VAE and image encoder whole
    on each, and the activations of the rank's part of the global batch (`batch` split over the
    ranks, `trainables.config.TrialConfig.rank_batch_size`); plus `ZERO3_GATHERED_BLOCKS`
    blocks' weights gathered. Validation: the same shards and gathered blocks, and the VAE
    decoder's workspace (with its measured excess) whole on every rank. Prompt:
    one process's prompt moment (`moments_gb`), whole on every rank: before the engine exists
    the transformer is still in host memory, and `trainables.engine.partition_onto_device`
    brings only this rank's shard of it to the GPU, one weight at a time."""
    resident = resident_gb(spec)
    transformer = resident.pop("transformer (bf16)")
    rest = sum(resident.values())
    lora = lora_params(spec)
    gathered = _gb(2 * spec.transformer_params * ZERO3_GATHERED_BLOCKS / spec.layers)
    step = _gb(lora_step_bytes(spec) * lora) / ranks
    training = (
        (transformer + _gb(lora_state_bytes(spec) * lora)) / ranks
        + rest
        + gathered
        + max(activations_gb(replace(spec, batch=max(1, math.ceil(spec.batch / ranks)))), step)
        + measured_excess_gb(replace(spec, batch=max(1, math.ceil(spec.batch / ranks)))).get(
            "training", 0.0
        )
    )
    # Validation: the same shards and gathered blocks; the VAE decodes whole on every rank.
    sharded = moments_gb(spec)["validation"]
    validation = (
        (transformer + _gb(lora_state_bytes(spec) * lora)) / ranks
        + rest
        + gathered
        + sharded["VAE decoder workspace"]
        + sharded["sampling activations"]
        + sharded.get(MEASURED_PART, 0.0)
    )
    prompt = sum(moments_gb(spec)["prompt"].values())
    return {
        "prompt": with_margins(prompt),
        "training": with_margins(training),
        "validation": with_margins(validation),
    }


def ranks_needed(spec: Spec, card_gb: float, most: int = 64) -> int | None:
    """The fewest ZeRO-3 ranks whose every moment fits `card_gb`; None if no count does."""
    for ranks in range(1, most + 1):
        if max(zero3_rank_gb(spec, ranks).values()) <= card_gb:
            return ranks
    return None
