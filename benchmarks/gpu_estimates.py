"""On paper, for GPUs: expected seconds per step and peak memory of each backbone at its Table 3
settings on 24 / 80 / 141 GB cards, and the share of a card each trial gets.

Everything is computed by `orchestrator.gpu_estimates` and `benchmarks.performance_model` (see
their docstrings for the models and their assumptions); this script prints it and first checks
the memory model's constants against the real
classes, built on the meta device (no weights, no memory) from the hub repos' configs in
`trainables/hub_configs` (the same JSON `orchestrator.gpu_estimates` reads its shapes from):
- the parameter counts (`gpu_estimates.PARAMS`) of each transformer, VAE, text encoder
  (T5EncoderModel for t5-v1_1-xxl, UMT5EncoderModel for umt5-xxl) and Wan's CLIP ViT-H/14
  image encoder;
- the LoRA size of every group: each backbone's own `lora_targets` (the product's) on the meta
  transformer, rank × (in + out) summed over the modules it names, against
  `gpu_estimates.lora_params`.
Then: tokens and LoRA per backbone, the memory moments (GiB, allocator margin and CUDA context
included) and the resulting `MEMORY_GB`; per card: the resources policy's share, seconds per
step alone and with the card full of such trials, and for Wan on 24 GB cards the ZeRO-3 picture.
No GPU is used or needed.

    .venv/bin/python -m benchmarks.gpu_estimates [--skip-meta] [--quick: --skip-meta]
        [--out benchmarks/results/gpu_estimates.json]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks import performance_model as perf
from orchestrator import gpu_estimates as g
from trainables.backbones import backbone_class
from trainables.config import placement_key
from trainables.hub_configs import build_on_meta

DEFAULT_OUT = Path(__file__).parent / "results" / "gpu_estimates.json"


# ---- checks against the real classes ------------------------------------------------------------


def meta_counts() -> tuple[list[dict], list[dict]]:
    """Parameter counts and LoRA sizes of the real classes, built on the meta device from the
    hub configs of trainables/hub_configs."""

    def count(model: Any) -> int:
        return sum(p.numel() for p in model.parameters())

    params, lora = [], []
    for name, spec in g.SPECS.items():
        transformer = build_on_meta(name, "transformer")
        for backbone, subfolder in g.PARAMS:
            if backbone != name:
                continue
            model = transformer if subfolder == "transformer" else build_on_meta(name, subfolder)
            part = f"{name} {subfolder} ({type(model).__name__})"
            params.append(
                {"part": part, "estimate": g.PARAMS[(name, subfolder)], "meta": count(model)}
            )
        # The product's own module names per group, on the real transformer's shapes.
        backbone = object.__new__(backbone_class(name))
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
    return params, lora


# ---- the tables ---------------------------------------------------------------------------------


def card_for(card_gb: float) -> str:
    return next(key for key, card in perf.CARDS.items() if card.memory_gb == card_gb)


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
        anchor = perf.paper_seconds(name)
        anchor_pose = perf.paper_seconds(name, "pose")
        # What the peak grows by without gradient checkpointing (its training moment).
        no_checkpointing = (
            g.peak_gb(g.trial_spec(name, gradient_checkpointing=False))[1] - g.peak_gb(spec)[1]
        )
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
                "paper_card": perf.CARDS[spec.paper_card].name,
                "paper_s_per_step": anchor,
                "paper_s_per_step_pose": anchor_pose,
                "step_tflop": perf.step_flops(spec) / 1e12,
                "implied_mfu": perf.implied_mfu(spec, anchor),
            }
        )
        for key, card in perf.CARDS.items():
            resources = policy(name, "full", card.memory_gb)
            alone = perf.seconds_per_step(name, key, anchor)
            alone_pose = perf.seconds_per_step(name, key, anchor_pose)
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
                    "zero3_gather_s": perf.zero3_gather_seconds(spec, k, key),
                }
            cards.append(row)
    return {"backbones": backbones, "cards": cards, "ablations": ablation_placements()}


def ablation_placements() -> list[dict[str, Any]]:
    """The `ablations` sweep at full scale: each distinct placement's own estimate and share,
    per card class (orchestrator.resources sizes every kind of trial by its own settings)."""
    from orchestrator.resources import placement_estimates, sweep_placement
    from search_spaces import load_sweep

    trials = [{**t, "scale": "full"} for t in load_sweep("ablations").trials]
    rows = []
    for card in perf.CARDS.values():
        placement = sweep_placement(trials, card.memory_gb)
        for kind, estimate in placement_estimates(trials, placement).items():
            p = placement[kind]
            rows.append(
                {
                    "card": card.name,
                    "card_gb": card.memory_gb,
                    "placement": kind,
                    "memory_gb": estimate["memory_gb"],
                    "peak_gb": estimate["peak_gb"],
                    "moment": estimate["moment"],
                    "gpu": p["gpu"],
                    "workers": p["workers"],
                    "trials": sum(1 for t in trials if placement_key(t) == kind),
                }
            )
    return rows


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
            full = (
                f"refused at Table 3's batch {b['batch']} (not a multiple of "
                f"{row['workers']} ranks); with batch {row['workers']}: "
                f"~{row['s_per_step_alone']:.2f}"
            )
            groups.append(row)
        else:
            trials = row["trials_per_card"]
            full = f"{row['s_per_step_card_full']:.2f} ({trials:g} trial{'s' * (trials > 1)})"
        print(
            f"| {row['backbone']} | {row['card']} | {row['share']} | {alone} | {full} | {anchor} |"
        )
    ablations = record["estimates"].get("ablations", [])
    if ablations:
        print(
            "\n| ablations at full scale: placement | card | estimate (peak moment) | share |"
            " trials |"
        )
        print("| --- | --- | --- | --- | --- |")
        for row in ablations:
            share = f"{row['gpu']:g} GPU ({row['gpu'] * row['card_gb']:g} GB)"
            if row["workers"] > 1:
                share = f"{row['workers']} workers × 1 GPU"
            print(
                f"| {row['placement']} | {row['card']} | {row['memory_gb']:g} GB "
                f"({row['peak_gb']:.1f}, {row['moment']}) | {share} | {row['trials']} |"
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


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--skip-meta", action="store_true", help="skip the meta-device checks")
    args = harness.parse(parser, argv, quick={"skip_meta": True})
    record: dict[str, Any] = {"cards": {k: vars(c) for k, c in perf.CARDS.items()}}
    if not args.skip_meta:
        started = time.perf_counter()
        record["params"], record["lora"] = meta_counts()
        record["meta_check_s"] = time.perf_counter() - started
    record["estimates"] = estimates()
    print_tables(record)
    # One row per backbone (its estimates); the cards' and the ablations' tables beside them.
    rows = record["estimates"].pop("backbones")
    harness.write_rows(args.out, rows, **record)
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
