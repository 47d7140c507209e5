"""On paper, for GPUs: seconds per step of each backbone's full-scale trial on the cards the
resources policy knows, the FLOPs of a step, and the utilisation the paper's timings imply.

The benchmarks' performance model (`benchmarks.gpu_estimates` prints it, `benchmarks.full_scale`
names the card it measured on); placement needs only memory (`orchestrator.gpu_estimates`),
whose specs (`SPECS`, `tokens`) this reads.

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

from dataclasses import dataclass

from orchestrator.gpu_estimates import SPECS, Spec, tokens
from trainables.backbones import backbone_class


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


def step_flops(spec: Spec) -> float:
    """Model FLOPs of one training step with gradient checkpointing: the frozen linears' forward,
    recompute and input-gradient backward (3 × 2 FLOPs per weight and token), attention's
    forward, recompute and backward (4 × 4·S·S'·h per block and sample). LoRA's own is small.
    Without checkpointing there is no recompute (2 × 2 and 3 × 4·S·S'·h)."""
    t = tokens(spec)
    context = spec.text_tokens + spec.image_tokens if spec.cross_attention else 0
    per_token = sum(i * o for n, (i, o) in spec.linears.items() if not n.startswith("norm"))
    per_context = sum(i * o for n, (i, o) in spec.linears.items() if n in spec.context_linears)
    if spec.cross_attention:  # text- and image-side K/V projections see only the context
        per_token -= per_context
    passes = 3 if spec.gradient_checkpointing else 2
    linear = (
        passes * 2 * spec.layers * (per_token * t.per_step + per_context * context * spec.batch)
    )
    attention = (passes + 1) * 4 * spec.layers * spec.hidden * t.per_block * (t.per_block + context)
    return linear + attention * spec.batch


def implied_mfu(spec: Spec, seconds: float) -> float:
    """The fraction of its card's peak the paper's step time implies."""
    return step_flops(spec) / (seconds * CARDS[spec.paper_card].bf16_tflops * 1e12)


def paper_seconds(backbone: str, task: str = "") -> float:
    """The paper's Table 6 seconds per step (the backbone's `paper_seconds_per_step`)."""
    return backbone_class(backbone).seconds_per_step(task)


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
