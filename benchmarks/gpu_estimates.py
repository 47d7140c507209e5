"""On paper, for GPUs: expected seconds per step and peak memory of each backbone at its Table 3
settings on 24 / 80 / 141 GB cards, and the share of a card each trial gets.

Everything is computed by `orchestrator.gpu_estimates` (see its docstring for the model and its
assumptions); this script prints it and first checks that module's constants against the real
classes, built on the meta device (no weights, no memory) from the hub repos' configs:
- the parameter counts of each transformer (diffusers, the configs below), VAE (diffusers'
  default configs, which are LTX-Video 0.9's, CogVideoX's and Wan2.1's), text encoder
  (transformers' T5EncoderModel for t5-v1_1-xxl, UMT5EncoderModel for umt5-xxl) and Wan's
  CLIP ViT-H/14 image encoder;
- the LoRA size of every group: each backbone's own `lora_targets` (the product's) on the meta
  transformer, rank × (in + out) summed over the modules it names, against
  `gpu_estimates.lora_params`.
Then: tokens and LoRA per backbone, the memory moments (GiB, allocator margin and CUDA context
included) and the resulting `MEMORY_GB`; per card: the resources policy's share, seconds per
step alone and with the card full of such trials, and for Wan on 24 GB cards the ZeRO-3 picture.
No GPU is used or needed.

    .venv/bin/python -m benchmarks.gpu_estimates [--skip-meta]
        [--out benchmarks/results/gpu_estimates.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

from orchestrator import gpu_estimates as g

DEFAULT_OUT = Path(__file__).parent / "results" / "gpu_estimates.json"

#: The transformer configs of the hub repos (transformer/config.json), as diffusers reads them.
HUB_TRANSFORMERS: dict[str, tuple[str, dict[str, Any]]] = {
    "cogvideox": (
        "CogVideoXTransformer3DModel",
        dict(
            activation_fn="gelu-approximate",
            attention_bias=True,
            attention_head_dim=64,
            in_channels=32,
            max_text_seq_length=226,
            norm_elementwise_affine=True,
            norm_eps=1e-5,
            num_attention_heads=48,
            num_layers=42,
            ofs_embed_dim=512,
            out_channels=16,
            patch_bias=False,
            patch_size=2,
            patch_size_t=2,
            sample_frames=81,
            sample_height=300,
            sample_width=300,
            text_embed_dim=4096,
            time_embed_dim=512,
            use_learned_positional_embeddings=False,
            use_rotary_positional_embeddings=True,
        ),
    ),
    "ltx": (
        "LTXVideoTransformer3DModel",
        dict(
            activation_fn="gelu-approximate",
            attention_bias=True,
            attention_head_dim=64,
            attention_out_bias=True,
            caption_channels=4096,
            cross_attention_dim=2048,
            in_channels=128,
            norm_elementwise_affine=False,
            norm_eps=1e-6,
            num_attention_heads=32,
            num_layers=28,
            out_channels=128,
            patch_size=1,
            patch_size_t=1,
            qk_norm="rms_norm_across_heads",
        ),
    ),
    "wan": (
        "WanTransformer3DModel",
        dict(
            added_kv_proj_dim=5120,
            attention_head_dim=128,
            cross_attn_norm=True,
            eps=1e-6,
            ffn_dim=13824,
            freq_dim=256,
            image_dim=1280,
            in_channels=36,
            num_attention_heads=40,
            num_layers=40,
            out_channels=16,
            patch_size=(1, 2, 2),
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=1024,
            text_dim=4096,
        ),
    ),
}
VAES = {
    "cogvideox": "AutoencoderKLCogVideoX",
    "ltx": "AutoencoderKLLTXVideo",
    "wan": "AutoencoderKLWan",
}
BACKBONE_CLASSES = {"cogvideox": "CogVideoX", "ltx": "LTXVideo", "wan": "Wan"}
T5_XXL = dict(
    d_model=4096,
    d_ff=10240,
    d_kv=64,
    num_heads=64,
    num_layers=24,
    feed_forward_proj="gated-gelu",
    relative_attention_num_buckets=32,
)
CLIP_H14 = dict(
    hidden_size=1280,
    intermediate_size=5120,
    num_attention_heads=16,
    num_hidden_layers=32,
    patch_size=14,
    image_size=224,
    projection_dim=1024,
)


# ---- checks against the real classes ------------------------------------------------------------


def meta_counts() -> tuple[list[dict], list[dict]]:
    """Parameter counts and LoRA sizes of the real classes, built on the meta device."""
    import diffusers
    import torch
    import transformers

    def count(build) -> tuple[int, Any]:
        with torch.device("meta"):
            model = build()
        return sum(p.numel() for p in model.parameters()), model

    params, lora = [], []
    for name, spec in g.SPECS.items():
        cls, config = HUB_TRANSFORMERS[name]
        n, transformer = count(lambda: getattr(diffusers, cls)(**config))  # noqa: B023
        params.append(
            {"part": f"{name} transformer", "estimate": spec.transformer_params, "meta": n}
        )
        n, _ = count(getattr(diffusers, VAES[name]))
        params.append({"part": f"{name} VAE", "estimate": spec.vae_params, "meta": n})
        # The product's own module names per group, on the real transformer's shapes.
        module = importlib.import_module(f"trainables.backbones.{name}")
        backbone = object.__new__(getattr(module, BACKBONE_CLASSES[name]))
        backbone.transformer = transformer
        modules = dict(transformer.named_modules())
        for group in spec.groups:
            targets = backbone.lora_targets(group)
            real = sum(
                spec.rank * (modules[t].in_features + modules[t].out_features) for t in targets
            )
            lora.append(
                {
                    "backbone": name,
                    "group": group,
                    "rank": spec.rank,
                    "modules": len(targets),
                    "estimate": g.lora_params(spec, group),
                    "meta": real,
                }
            )
    encoders = [
        (
            "T5-XXL encoder",
            g.T5_XXL_ENCODER,
            transformers.T5EncoderModel,
            transformers.T5Config(vocab_size=32128, **T5_XXL),
        ),
        (
            "UMT5-XXL encoder",
            g.UMT5_XXL_ENCODER,
            transformers.UMT5EncoderModel,
            transformers.UMT5Config(vocab_size=256384, **T5_XXL),
        ),
        (
            "CLIP ViT-H/14 vision",
            g.CLIP_VIT_H14,
            transformers.CLIPVisionModel,
            transformers.CLIPVisionConfig(**CLIP_H14),
        ),
    ]
    for part, estimate, cls, config in encoders:
        n, _ = count(lambda: cls(config))  # noqa: B023
        params.append({"part": part, "estimate": estimate, "meta": n})
    return params, lora


# ---- the tables ---------------------------------------------------------------------------------


def card_for(card_gb: float) -> str:
    return next(key for key, card in g.CARDS.items() if card.memory_gb == card_gb)


def share_words(resources) -> str:
    if resources.workers > 1:
        return f"{resources.workers} workers × 1 GPU (ZeRO-3)"
    return {0.25: "¼ GPU", 0.5: "½ GPU", 1.0: "1 GPU"}[resources.gpu]


def estimates() -> dict[str, Any]:
    from orchestrator.resources import MEMORY_GB, policy

    backbones, cards = [], []
    for name, spec in g.SPECS.items():
        t = g.tokens(spec)
        moments = {
            moment: g.with_margins(sum(parts.values()))
            for moment, parts in g.moments_gb(spec).items()
        }
        anchor = g.paper_seconds(name)
        anchor_pose = g.paper_seconds(name, "pose")
        no_checkpointing = 34 * t.per_step * spec.hidden * spec.layers / g.GIB
        backbones.append(
            {
                "backbone": name,
                "hub_id": spec.hub_id,
                "resolution": f"{spec.frames}×{spec.height}×{spec.width}",
                "batch": spec.batch,
                "latent": [t.latent_frames, t.latent_height, t.latent_width],
                "tokens_video": t.video,
                "tokens_per_block": t.per_block,
                "tokens_per_step": t.per_step,
                "transformer_params": spec.transformer_params,
                "lora": f"{spec.group} r{spec.rank}",
                "lora_params": g.lora_params(spec),
                "lora_state_gb": g.LORA_STATE_BYTES * g.lora_params(spec) / g.GIB,
                "activations_gb": g.activations_gb(spec),
                "moments_gb": moments,
                "moment_parts_gb": g.moments_gb(spec),
                "peak": g.peak_gb(spec)[0],
                "memory_gb": g.memory_gb(name),
                "policy_memory_gb": MEMORY_GB[name],
                # Validation inputs sampled at once within MEMORY_GB (of up to 16).
                "sample_batch_fits": g.sample_batch(name, 16),
                "without_checkpointing_extra_gb": no_checkpointing,
                "paper_card": g.CARDS[spec.paper_card].name,
                "paper_s_per_step": anchor,
                "paper_s_per_step_pose": anchor_pose,
                "step_tflop": g.step_flops(spec) / 1e12,
                "implied_mfu": g.implied_mfu(spec, anchor),
            }
        )
        for key, card in g.CARDS.items():
            resources = policy(name, "full", card.memory_gb)
            alone = g.seconds_per_step(name, key, anchor)
            alone_pose = g.seconds_per_step(name, key, anchor_pose)
            row = {
                "backbone": name,
                "card": card.name,
                "card_gb": card.memory_gb,
                "share": share_words(resources),
                "gpu": resources.gpu,
                "workers": resources.workers,
                "trials_per_card": 1 / resources.gpu if resources.workers == 1 else None,
                "s_per_step_alone": alone,
                "s_per_step_alone_pose": alone_pose,
                "s_per_step_card_full": alone / resources.gpu if resources.workers == 1 else None,
            }
            if resources.workers > 1:
                k = resources.workers
                row |= {
                    "zero3_rank_gb": g.zero3_rank_gb(spec, k),
                    "zero3_rank_gb_one_rank_fewer": g.zero3_rank_gb(spec, k - 1),
                    "zero3_gather_s": g.zero3_gather_seconds(spec, k, key),
                }
            cards.append(row)
    return {"backbones": backbones, "cards": cards}


def print_tables(record: dict[str, Any]) -> None:
    if record.get("params"):
        print("| part | constant (gpu_estimates) | built on the meta device | match |")
        print("| --- | --- | --- | --- |")
        for row in record["params"]:
            ok = "yes" if row["estimate"] == row["meta"] else "**no**"
            print(f"| {row['part']} | {row['estimate']:,} | {row['meta']:,} | {ok} |")
        print()
        wrong = [r for r in record["lora"] if r["estimate"] != r["meta"]]
        print(
            f"LoRA size of every group (3 backbones × 5 groups) from the backbones' own "
            f"`lora_targets` on the meta transformers: {len(record['lora']) - len(wrong)} of "
            f"{len(record['lora'])} equal `gpu_estimates.lora_params`"
            + ("." if not wrong else f"; differ: {[(r['backbone'], r['group']) for r in wrong]}")
        )
        print()
    print(
        "| backbone | Table 3 clip × batch | latent (f×h×w) | tokens / clip | tokens / step |"
        " transformer | LoRA (params, state) | activations (ckpt) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for b in record["estimates"]["backbones"]:
        f, h, w = b["latent"]
        print(
            f"| {b['backbone']} | {b['resolution']} × {b['batch']} | {f}×{h}×{w} | "
            f"{b['tokens_per_block']:,} | {b['tokens_per_step']:,} | "
            f"{b['transformer_params'] / 1e9:.2f} B | {b['lora']}: {b['lora_params'] / 1e6:.1f} M,"
            f" {b['lora_state_gb']:.2f} GB | {b['activations_gb']:.2f} GB |"
        )
    print()
    print(
        "| backbone (GB = GiB, +10 % allocator, +2 context) | prompt | latents | training |"
        " validation | MEMORY_GB | without checkpointing | validation inputs at once |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for b in record["estimates"]["backbones"]:
        m = b["moments_gb"]
        cells = [
            f"**{m[k]:.1f}**" if k == b["peak"] else f"{m[k]:.1f}"
            for k in ("prompt", "latents", "training", "validation")
        ]
        print(
            f"| {b['backbone']} | {' | '.join(cells)} | {b['memory_gb']:g} | "
            f"+{b['without_checkpointing_extra_gb']:.0f} | {b['sample_batch_fits']} of 16 |"
        )
    print()
    print(
        "| backbone | card | share (policy) | s / step alone (segmentation / pose) |"
        " s / step, card full of such trials | the paper's own |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    by_name = {b["backbone"]: b for b in record["estimates"]["backbones"]}
    groups = []
    for row in record["estimates"]["cards"]:
        b = by_name[row["backbone"]]
        anchor = ""
        if row["card"] == b["paper_card"]:
            anchor = f"{b['paper_s_per_step']:g} s (Table 6; MFU {b['implied_mfu']:.0%})"
        alone = f"{row['s_per_step_alone']:.2f}"
        if row["s_per_step_alone_pose"] != row["s_per_step_alone"]:
            alone += f" / {row['s_per_step_alone_pose']:.2f}"
        if row["workers"] > 1:
            full = f"{row['s_per_step_alone']:.2f}: each rank computes a whole batch-1 step"
            groups.append(row)
        else:
            trials = row["trials_per_card"]
            full = f"{row['s_per_step_card_full']:.2f} ({trials:g} trial{'s' * (trials > 1)})"
        print(
            f"| {row['backbone']} | {row['card']} | {row['share']} | {alone} | {full} | {anchor} |"
        )
    for row in groups:
        rank, fewer = row["zero3_rank_gb"], row["zero3_rank_gb_one_rank_fewer"]
        print(
            f"\n{row['backbone']} on {row['card']} cards ({row['share']}), per rank (the "
            f"transformer loaded on the host, only each rank's shard on its GPU): "
            f"{rank['prompt']:.1f} GB at prompt encoding (VAE, image and text encoders whole on "
            f"every rank) and {rank['training']:.1f} GB training; one rank fewer would train at "
            f"{fewer['training']:.1f} GB. All-gathers: ≥ {row['zero3_gather_s']:.1f} s a step "
            f"over the cards' link."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-meta", action="store_true", help="skip the meta-device checks")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    record: dict[str, Any] = {"cards": {k: vars(c) for k, c in g.CARDS.items()}}
    if not args.skip_meta:
        started = time.perf_counter()
        record["params"], record["lora"] = meta_counts()
        record["meta_check_s"] = time.perf_counter() - started
    record["estimates"] = estimates()
    print_tables(record)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
