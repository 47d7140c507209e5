"""On paper, for GPUs: tokens, LoRA size, peak memory and seconds per step of each backbone at
its full-scale Table 3 settings, from the models' shapes and parameter counts.

Plain arithmetic (no torch, no diffusers), so the resources policy can take its `MEMORY_GB` from
here at no import cost; `benchmarks/gpu_estimates.py` prints the tables and checks the
constants against the real diffusers/transformers classes built on the meta device.

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

What the previous hand estimate (18 / 22 / 60 GB, orchestrator/resources.py) differs in:
- ltx 17 (was 18): the same peak moment (T5-XXL at prompt encoding): 16.6 GiB with the context
  and the margin, where the hand estimate rounded 14.5 GB up to 18.
- cogvideox 24 (was 22): the prompt moment's arithmetic left out the 2 GB of CUDA context and
  the 10 % allocator margin; with both it is 23.6 GiB. It is the cache-miss moment only:
  training needs 17.4 and validation 18.6 GiB, so with the prompt embedding cached (or encoded
  before the transformer is loaded) CogVideoX1.5 would need 19 GB. Either way, one 24 GB card.
- wan 52 (was 60): the hand estimate counted 4,680 tokens (Wan's native 480×832; Table 3
  trains at 9×480×720 = 4,050), added the optimizer step's fp32 gradient copy (2.5 GB) to the
  activations although they are not alive at once, and its 55 GB before the 10 % margin were
  decimal GB (51 GiB).
None of these changed a share in `orchestrator.resources.policy`. Then a trial came to keep its
transformer in host memory until its engine is built (the engine moves it to the device), so the
cache-miss moments (prompt, latents) no longer hold it: ltx 17 → 13 (still its prompt moment:
T5-XXL), cogvideox 24 → 19 (its validation now), wan 52 (its validation, unchanged). CogVideoX1.5
now takes ¼ of an 80 GB card instead of ½, and samples 2 validation inputs at once instead of 8
(what its 19 GB hold).

**Seconds per step** on another card: the paper's own seconds per step (Table 6, on the card it
ran on: RTX 4090 for CogVideoX1.5 and LTX-Video, H100 for Wan2.1; Appendix A.3) × the ratio of
the two cards' dense bf16 tensor throughput (`Card.bf16_tflops`). Assumes the step is
compute-bound (it is: thousands of tokens per matmul) and that both cards reach the same
fraction of their peak; a big card usually reaches less of its peak than an RTX 4090 on the same
work, so figures scaled from the 4090 to an H100/H200 are optimistic, and Wan scaled down to a
4090 pessimistic. The H200 has the H100's compute (more and faster memory): same figures. A
card shared by several trials (a ¼ share) is not faster per trial: compute-bound steps of
trials sharing one card take as long as running them one after another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
class Card:
    """A GPU class. Throughput: dense (not 2:4-sparse) bf16 tensor-core TFLOPS with fp32
    accumulation, what torch's bf16 matmuls use."""

    name: str
    memory_gb: float
    bf16_tflops: float
    memory_tb_s: float
    #: Between two cards of a node, one direction (GB/s).
    link_gb_s: float
    link: str


#: The card classes of the resources policy. Sources: NVIDIA Ada Lovelace architecture
#: whitepaper (RTX 4090: 165.2 dense bf16 TFLOPS with fp32 accumulate, 330.4 with sparsity;
#: its 82.6 TFLOPS is the non-tensor FP32 rate); H100 SXM5 and H200 SXM datasheets (1,979 bf16
#: TFLOPS "with sparsity", i.e. 989.4 dense; NVLink 4 at 900 GB/s in both directions).
CARDS: dict[str, Card] = {
    "rtx4090": Card("RTX 4090", 24.0, 165.2, 1.008, 32.0, "PCIe 4.0 x16, no NVLink"),
    "h100": Card("H100 SXM5 80 GB", 80.0, 989.4, 3.35, 450.0, "NVLink 4"),
    "h200": Card("H200 SXM 141 GB", 141.0, 989.4, 4.8, 450.0, "NVLink 4"),
}


@dataclass(frozen=True)
class Spec:
    """What the estimates need of one backbone at its Table 3 settings."""

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
    # Table 3.
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
    # Parameter counts (the hub checkpoints; see PARAMS_SOURCE) and the dtypes they run in.
    transformer_params: int
    vae_params: int
    vae_bytes: int
    text_encoder_params: int
    image_encoder_params: int = 0
    image_encoder_bytes: int = 4
    #: The VAE's widest stage: (frames at once, spatial divisor, channels, bytes per value).
    vae_stage: tuple[int, int, int, int] = (9, 1, 128, 2)
    #: Where the paper timed it (Table 6; Appendix A.3): a key of `CARDS`.
    paper_card: str = "rtx4090"
    #: Per-token linear layers inside a block that see only the context (K/V of a
    #: cross-attention): their FLOPs are per context token, not per video token.
    context_linears: tuple[str, ...] = field(default_factory=tuple)


PARAMS_SOURCE = (
    "counted on the meta device by benchmarks/gpu_estimates.py: the diffusers classes with the "
    "hub repos' transformer configs and the default (0.9 / CogVideoX / Wan2.1) VAE configs; "
    "T5EncoderModel (t5-v1_1-xxl), UMT5EncoderModel (umt5-xxl), CLIPVisionModel (ViT-H/14)"
)
T5_XXL_ENCODER = 4_762_310_656
UMT5_XXL_ENCODER = 5_680_910_336
CLIP_VIT_H14 = 630_766_080

_QKVO = ("to_q", "to_k", "to_v", "to_out.0")


def _attention(prefix: str, width: int, kv_in: int | None = None) -> dict[str, tuple[int, int]]:
    kv = width if kv_in is None else kv_in
    return {
        f"{prefix}.to_q": (width, width),
        f"{prefix}.to_k": (kv, width),
        f"{prefix}.to_v": (kv, width),
        f"{prefix}.to_out.0": (width, width),
    }


def _both(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{attn}.{n}" for attn in ("attn1", "attn2") for n in names)


SPECS: dict[str, Spec] = {
    # THUDM/CogVideoX1.5-5B-I2V: 42 blocks of 48 heads × 64, joint text+video attention over
    # 226 T5 tokens, patches 2×2×2, VAE 4×8×8; AdaLN linears take the 512-wide time embedding.
    "cogvideox": Spec(
        name="cogvideox",
        hub_id="THUDM/CogVideoX1.5-5B-I2V",
        layers=42,
        hidden=3072,
        ffn=4 * 3072,
        norms=2,
        cross_attention=False,
        text_tokens=226,
        joint_text=True,
        image_tokens=0,
        vae_time=4,
        vae_space=8,
        patch_time=2,
        patch_space=2,
        frames=9,
        height=480,
        width=720,
        batch=2,
        group="QKVO",
        rank=64,
        linears={
            **_attention("attn1", 3072),
            "ff.net.0.proj": (3072, 4 * 3072),
            "ff.net.2": (4 * 3072, 3072),
            "norm1.linear": (512, 6 * 3072),
            "norm2.linear": (512, 6 * 3072),
        },
        groups={
            "QK": ("attn1.to_q", "attn1.to_k"),
            "VO": ("attn1.to_v", "attn1.to_out.0"),
            "QKVO": tuple(f"attn1.{n}" for n in _QKVO),
            "QKVO+FF": (*(f"attn1.{n}" for n in _QKVO), "ff.net.0.proj", "ff.net.2"),
            "all-linear": (
                *(f"attn1.{n}" for n in _QKVO),
                *("ff.net.0.proj", "ff.net.2", "norm1.linear", "norm2.linear"),
            ),
        },
        transformer_params=5_571_594_880,
        vae_params=215_583_907,
        vae_bytes=2,
        text_encoder_params=T5_XXL_ENCODER,
        vae_stage=(9, 1, 128, 2),  # the decoder's last stage: all 9 frames, 128 channels
        paper_card="rtx4090",
    ),
    # Lightricks/LTX-Video (0.9): 28 blocks of 32 heads × 64, self- then cross-attention to
    # 128 T5 tokens (projected to 2048), patch 1, VAE 8×32×32 with 128 latent channels.
    "ltx": Spec(
        name="ltx",
        hub_id="Lightricks/LTX-Video",
        layers=28,
        hidden=2048,
        ffn=4 * 2048,
        norms=2,
        cross_attention=True,
        text_tokens=128,
        joint_text=False,
        image_tokens=0,
        vae_time=8,
        vae_space=32,
        patch_time=1,
        patch_space=1,
        frames=9,
        height=480,
        width=704,
        batch=16,
        group="all-linear",
        rank=64,
        linears={
            **_attention("attn1", 2048),
            **_attention("attn2", 2048),
            "ff.net.0.proj": (2048, 4 * 2048),
            "ff.net.2": (4 * 2048, 2048),
        },
        groups={
            "QK": _both(("to_q", "to_k")),
            "VO": _both(("to_v", "to_out.0")),
            "QKVO": _both(_QKVO),
            "QKVO+FF": (*_both(_QKVO), "ff.net.0.proj", "ff.net.2"),
            "all-linear": (*_both(_QKVO), "ff.net.0.proj", "ff.net.2"),
        },
        transformer_params=1_923_385_472,
        vae_params=419_193_649,
        vae_bytes=2,
        text_encoder_params=T5_XXL_ENCODER,
        vae_stage=(9, 4, 128, 2),  # patch size 4: its last stage runs at ¼ of the resolution
        paper_card="rtx4090",
        context_linears=("attn2.to_k", "attn2.to_v"),
    ),
    # Wan-AI/Wan2.1-I2V-14B-480P-Diffusers: 40 blocks of 40 heads × 128, FFN 13,824, cross-
    # attention to 512 UMT5 tokens plus the I2V branch's own K/V over 257 CLIP tokens, patches
    # 1×2×2, VAE 4×8×8 (fp32), CLIP ViT-H/14 (fp32).
    "wan": Spec(
        name="wan",
        hub_id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        layers=40,
        hidden=5120,
        ffn=13824,
        norms=3,
        cross_attention=True,
        text_tokens=512,
        joint_text=False,
        image_tokens=257,
        vae_time=4,
        vae_space=8,
        patch_time=1,
        patch_space=2,
        frames=9,
        height=480,
        width=720,
        batch=1,
        group="QKVO+FF",
        rank=128,
        linears={
            **_attention("attn1", 5120),
            **_attention("attn2", 5120),
            "attn2.add_k_proj": (5120, 5120),
            "attn2.add_v_proj": (5120, 5120),
            "ffn.net.0.proj": (5120, 13824),
            "ffn.net.2": (13824, 5120),
        },
        groups={
            "QK": _both(("to_q", "to_k")),
            "VO": _both(("to_v", "to_out.0")),
            "QKVO": _both(_QKVO),
            "QKVO+FF": (*_both(_QKVO), "ffn.net.0.proj", "ffn.net.2"),
            "all-linear": (
                *_both(_QKVO),
                *("attn2.add_k_proj", "attn2.add_v_proj", "ffn.net.0.proj", "ffn.net.2"),
            ),
        },
        transformer_params=16_394_878_784,
        vae_params=126_892_531,
        vae_bytes=4,
        text_encoder_params=UMT5_XXL_ENCODER,
        image_encoder_params=CLIP_VIT_H14,
        image_encoder_bytes=4,
        vae_stage=(4, 1, 96, 4),  # causal: one latent frame (4 frames) at a time, fp32
        paper_card="h100",
        context_linears=("attn2.to_k", "attn2.to_v", "attn2.add_k_proj", "attn2.add_v_proj"),
    ),
}


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
    """Training activations with gradient checkpointing: every block's input, one block's
    activations during its recompute and backward, and what lies outside the blocks."""
    t = tokens(spec)
    width = t.per_step * spec.hidden
    saved_inputs = spec.layers * width * 2
    one_block = block_bytes_per_token(spec) * width
    return _gb(saved_inputs + one_block + OUTSIDE_BLOCKS_BYTES * width)


def sampling_activations_gb(spec: Spec, videos: int = 1) -> float:
    """One block's activations at sampling `videos` at once: no gradients, no CFG."""
    return _gb(block_bytes_per_token(spec) * tokens(spec).per_block * spec.hidden * videos)


def vae_workspace_gb(spec: Spec) -> float:
    frames, divisor, channels, nbytes = spec.vae_stage
    pixels = (spec.height // divisor) * (spec.width // divisor)
    return _gb(VAE_LIVE_TENSORS * frames * pixels * channels * nbytes)


def moments_gb(spec: Spec, sample_batch: int = 1) -> dict[str, dict[str, float]]:
    """Each moment's allocations (GiB), by part, before the allocator margin and context.
    `sample_batch`: validation inputs sampled at once (their videos are decoded one by one)."""
    resident = resident_gb(spec)
    lora = lora_params(spec)
    state = {"LoRA state (16 B/param)": _gb(LORA_STATE_BYTES * lora)}
    activations = activations_gb(spec)
    step = _gb(LORA_STEP_BYTES * lora)
    training = (
        {"activations (checkpointed)": activations}
        if activations >= step
        else {"fp32 gradients at the step (4 B/param)": step}
    )
    # Before the engine is built the transformer waits in host memory (trainables.trial).
    encoders = {part: gb for part, gb in resident.items() if part != "transformer (bf16)"}
    return {
        "prompt": {**encoders, "text encoder (bf16)": _gb(2 * spec.text_encoder_params)},
        "latents": {**encoders, "VAE encoder workspace": vae_workspace_gb(spec)},
        "training": {**resident, **state, **training},
        "validation": {
            **resident,
            **state,
            "VAE decoder workspace": vae_workspace_gb(spec),
            "sampling activations": sampling_activations_gb(spec, sample_batch),
        },
    }


def with_margins(allocated_gb: float) -> float:
    """A moment's allocations as card memory: allocator margin, then the CUDA context."""
    return allocated_gb * (1 + FRAGMENTATION) + CONTEXT_GB


def peak_gb(spec: Spec) -> tuple[str, float]:
    """The moment with the largest footprint and that footprint (GiB), margins included."""
    totals = {name: with_margins(sum(parts.values())) for name, parts in moments_gb(spec).items()}
    moment = max(totals, key=totals.__getitem__)
    return moment, totals[moment]


def memory_gb(backbone: str) -> float:
    """The resources policy's estimate: the peak, rounded up to a whole GB."""
    return float(math.ceil(peak_gb(SPECS[backbone])[1]))


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

    Training: transformer and LoRA state partitioned over the ranks; VAE, image encoder and
    activations whole on each; plus `ZERO3_GATHERED_BLOCKS` blocks' weights gathered. Prompt:
    one process's prompt moment (`moments_gb`), whole on every rank: before the engine exists
    the transformer is still in host memory, and `trainables.engine.partition_onto_device`
    brings only this rank's shard of it to the GPU, one weight at a time."""
    resident = resident_gb(spec)
    transformer = resident.pop("transformer (bf16)")
    rest = sum(resident.values())
    lora = lora_params(spec)
    gathered = _gb(2 * spec.transformer_params * ZERO3_GATHERED_BLOCKS / spec.layers)
    step = _gb(LORA_STEP_BYTES * lora) / ranks
    training = (
        (transformer + _gb(LORA_STATE_BYTES * lora)) / ranks
        + rest
        + gathered
        + max(activations_gb(spec), step)
    )
    prompt = sum(moments_gb(spec)["prompt"].values())
    return {"prompt": with_margins(prompt), "training": with_margins(training)}


def ranks_needed(spec: Spec, card_gb: float, most: int = 64) -> int | None:
    """The fewest ZeRO-3 ranks whose every moment fits `card_gb`; None if no count does."""
    for ranks in range(1, most + 1):
        if max(zero3_rank_gb(spec, ranks).values()) <= card_gb:
            return ranks
    return None


# ---- seconds per step -------------------------------------------------------------------------


def step_flops(spec: Spec) -> float:
    """Model FLOPs of one training step with gradient checkpointing: the frozen linears' forward,
    recompute and input-gradient backward (3 × 2 FLOPs per weight and token), attention's
    forward, recompute and backward (4 × 4·S·S'·h per block and sample). LoRA's own is small."""
    t = tokens(spec)
    context = spec.text_tokens + spec.image_tokens if spec.cross_attention else 0
    per_token = sum(i * o for n, (i, o) in spec.linears.items() if not n.startswith("norm"))
    per_context = sum(i * o for n, (i, o) in spec.linears.items() if n in spec.context_linears)
    if spec.cross_attention:  # text- and image-side K/V projections see only the context
        per_token -= per_context
    linear = 3 * 2 * spec.layers * (per_token * t.per_step + per_context * context * spec.batch)
    attention = 4 * 4 * spec.layers * spec.hidden * t.per_block * (t.per_block + context)
    return linear + attention * spec.batch


def implied_mfu(spec: Spec, seconds: float) -> float:
    """The fraction of its card's peak the paper's step time implies."""
    return step_flops(spec) / (seconds * CARDS[spec.paper_card].bf16_tflops * 1e12)


def paper_seconds(backbone: str, task: str = "") -> float:
    """The paper's Table 6 seconds per step (imports the backbone module: diffusers)."""
    from trainables.backbones import paper_seconds_per_step

    return paper_seconds_per_step(backbone, task)


def seconds_per_step(backbone: str, card: str, anchor_s: float | None = None) -> float:
    """A step of one trial alone on `card`: the paper's anchor (or `anchor_s`) scaled by the
    dense bf16 throughput of the paper's card over this one's."""
    spec = SPECS[backbone]
    anchor = paper_seconds(backbone) if anchor_s is None else anchor_s
    return anchor * CARDS[spec.paper_card].bf16_tflops / CARDS[card].bf16_tflops


def zero3_gather_seconds(spec: Spec, ranks: int, card: str) -> float:
    """A lower bound on a ZeRO-3 step's communication: each rank receives (ranks − 1)/ranks of
    the bf16 transformer three times (forward, recompute, backward) over the card's link."""
    received = 3 * (ranks - 1) / ranks * 2 * spec.transformer_params
    return received / (CARDS[card].link_gb_s * 1e9)
