"""The on-paper GPU estimates: token counts, LoRA sizes, memory moments,
checked against figures computed by hand, at Table 3's settings and at a trial's own. Plain
arithmetic: only the tests that read the resources policy or the backbones' defaults import
torch (tests/trainables/test_full_size_configs.py checks the shapes against the real models)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from orchestrator import gpu_estimates as g

ROOT = Path(__file__).resolve().parents[2]

GIB = 2**30


@pytest.mark.parametrize(
    "backbone, latent, video, per_block, per_step",
    [
        # 9 frames → 1 + 8/4 = 3 latent frames, padded to 4 for time patches of 2; 480×720 / 8
        # = 60×90, / 2×2 patches = 30×45; 2 × 1,350 = 2,700 video tokens + 226 text tokens,
        # batch 2.
        ("cogvideox", (4, 60, 90), 2700, 2926, 5852),
        # 1 + 8/8 = 2 latent frames; 480×704 / 32 = 15×22; patch 1: 660 tokens, batch 16.
        ("ltx", (2, 15, 22), 660, 660, 10560),
        # 3 latent frames; 60×90 / 2×2 = 30×45: 3 × 1,350 = 4,050 tokens, batch 1.
        ("wan", (3, 60, 90), 4050, 4050, 4050),
    ],
)
def test_token_counts_at_table_3_resolutions(backbone, latent, video, per_block, per_step):
    t = g.tokens(g.SPECS[backbone])
    assert (t.latent_frames, t.latent_height, t.latent_width) == latent
    assert (t.video, t.per_block, t.per_step) == (video, per_block, per_step)


def test_spec_token_figures_of_spec_section_5():
    # SPEC §5: about 2,700 for CogVideoX1.5 at 9×480×720, 660 for LTX, 4,680 for Wan at 480×832.
    assert g.tokens(g.SPECS["cogvideox"]).video == 2700
    assert g.tokens(g.SPECS["ltx"]).video == 660
    assert g.tokens(dataclasses.replace(g.SPECS["wan"], width=832)).video == 3 * 30 * 52 == 4680


def test_lora_parameter_counts_and_bytes():
    # CogVideoX QKVO, rank 64: 42 blocks × 4 projections 3072→3072 × 64 × (3072 + 3072).
    assert g.lora_params(g.SPECS["cogvideox"]) == 42 * 4 * 64 * 6144 == 66_060_288
    # LTX all linear, rank 64: 28 × (8 attention projections 2048→2048 + 2048→8192, 8192→2048).
    assert g.lora_params(g.SPECS["ltx"]) == 28 * 64 * (8 * 4096 + 2 * 10240) == 95_420_416
    # Wan QKVO+FF, rank 128: 40 × (8 projections 5120→5120 + 5120→13824, 13824→5120).
    assert g.lora_params(g.SPECS["wan"]) == 40 * 128 * (8 * 10240 + 2 * 18944) == 613_416_960
    # Another group and rank: Wan all linear adds the image branch's add_k/add_v projections.
    assert g.lora_params(g.SPECS["wan"], "all-linear", 16) == 40 * 16 * (10 * 10240 + 2 * 18944)
    # 16 B per LoRA parameter through training: bf16 weight 2 + grad 2, fp32 master 4, Adam 8.
    assert g.LORA_STATE_BYTES == 2 + 2 + 4 + 4 + 4
    state = g.moments_gb(g.SPECS["wan"])["training"]["LoRA state (16 B/param)"]
    assert state * GIB == pytest.approx(16 * 613_416_960)  # 9.14 GiB


def test_every_spec_names_the_five_lora_groups():
    groups = ("QK", "VO", "QKVO", "all-linear", "QKVO+FF")
    for spec in g.SPECS.values():
        assert sorted(spec.groups) == sorted(groups)
        assert all(name in spec.linears for names in spec.groups.values() for name in names)


def test_the_transformer_is_not_on_the_gpu_while_the_prompt_is_encoded():
    # A trial keeps it in host memory until its engine is built: VAE 0.22 B + T5-XXL 4.76 B.
    weights = 2 * (215_583_907 + 4_762_310_656) / GIB
    prompt = g.moments_gb(g.SPECS["cogvideox"], measured=False)["prompt"]
    assert (
        "transformer (bf16)" not in prompt
        and "transformer (bf16)" not in (g.moments_gb(g.SPECS["cogvideox"])["latents"])
    )
    assert g.with_margins(sum(prompt.values())) == pytest.approx(weights * 1.1 + 2)
    # With it there (5.57 B more) the prompt moment was CogVideoX1.5's peak: 23.6 GiB.
    assert g.with_margins(sum(prompt.values()) + 2 * 5_571_594_880 / GIB) == pytest.approx(
        23.61, abs=0.01
    )


def model_peak(spec: g.Spec) -> tuple[str, float]:
    """The model's own peak moment and footprint, without the H200 measurement."""
    totals = {
        m: g.with_margins(sum(p.values())) for m, p in g.moments_gb(spec, measured=False).items()
    }
    moment = max(totals, key=totals.__getitem__)
    return moment, totals[moment]


def test_cogvideox_peaks_at_validation_where_the_measured_decode_needs_half_an_80_gb_card():
    assert model_peak(g.SPECS["cogvideox"]) == ("validation", pytest.approx(18.57, abs=0.01))
    # Measured on an H200: 29.40 GiB reserved at validation (its VAE decode), + 2 GiB context.
    moment, peak = g.peak_gb(g.SPECS["cogvideox"])
    assert moment == "validation" and peak == pytest.approx(29.40 + 2, abs=0.01)
    assert 80 / 4 < g.memory_gb("cogvideox") == 32.0 <= 141 / 4


def test_ltx_model_peaks_at_prompt_encoding_and_the_measurement_at_training_s_cache():
    weights = (2 * 419_193_649 + 2 * 4_762_310_656) / GIB  # VAE + T5-XXL, no transformer
    assert model_peak(g.SPECS["ltx"]) == ("prompt", pytest.approx(weights * 1.1 + 2))
    # The allocator's cache from training (12.67 GiB reserved) is still held at validation.
    assert g.peak_gb(g.SPECS["ltx"])[1] == pytest.approx(12.67 + 2, abs=0.01)
    assert g.memory_gb("ltx") == 15.0


def test_the_measurement_only_adds_where_it_exceeds_the_model():
    for name, spec in g.SPECS.items():
        model = g.moments_gb(spec, measured=False)
        for moment, parts in g.moments_gb(spec).items():
            extra = parts.get(g.MEASURED_PART, 0.0)
            assert extra >= 0 and sum(parts.values()) == pytest.approx(
                sum(model[moment].values()) + extra
            )
            _, reserved = g.MEASURED_GB[name][moment]
            if moment != "validation":  # the spec's validation samples its own batch
                assert g.with_margins(sum(parts.values())) >= reserved + g.CONTEXT_GB - 1e-9
    # Wan's training: the model (45.1 GiB with its margin 49.6) is above the 42.4 reserved.
    assert g.MEASURED_PART not in g.moments_gb(g.SPECS["wan"])["training"]


def test_measured_figures_are_those_of_the_h200_run_and_the_capped_run_passed():
    results = ROOT / "benchmarks" / "results"
    run = json.loads((results / "full_scale_h200.json").read_text())
    for row in run["rows"]:
        assert row["device_name"] == "NVIDIA H200" and row["settings"]["layers"] is None
        spec = g.SPECS[row["backbone"]]
        assert (row["settings"]["height"], row["settings"]["width"]) == (spec.height, spec.width)
        phases = row["memory"]["phases"]
        assert g.MEASURED_GB[row["backbone"]] == {
            m: (round(phases[m]["allocated_gb"], 2), round(phases[m]["reserved_gb"], 2))
            for m in ("prompt", "latents", "training", "validation")
        }
    # Capped at each estimate less the context, every backbone ran: the estimates hold.
    capped = json.loads((results / "full_scale_h200_capped.json").read_text())["rows"]
    capped += json.loads((results / "full_scale_h200_capped_cogvideox.json").read_text())["rows"]
    passed = {r["backbone"]: r["allocator_cap_gb"] for r in capped if "error" not in r}
    assert sorted(passed) == sorted(g.SPECS)
    # (ltx and wan ran capped at 11 and 50 GiB, under the estimates they have now.)
    assert all(cap <= g.memory_gb(name) - g.CONTEXT_GB for name, cap in passed.items())
    # And CogVideoX1.5 ran out of memory capped at its model estimate less context (26 GiB).
    failed = [r for r in capped if "error" in r]
    assert [r["backbone"] for r in failed] == ["cogvideox"] and "OutOfMemoryError" in failed[0][
        "error"
    ]


def test_wan_training_moment_by_hand():
    # bf16; VAE and CLIP (CLIPVisionModelWithProjection, as its hub config names it) fp32.
    resident = 2 * 16_394_878_784 + 4 * 126_892_531 + 4 * 632_076_800
    lora = 16 * 613_416_960
    saved_inputs = 40 * 4050 * 5120 * 2
    # 3 norms × 4 + self-attention 10 + MLP 2 + 4 × 13824/5120 + cross-attention 6 + grads 4
    one_block = (12 + 10 + 2 + 4 * 13824 / 5120 + 6 + 4) * 4050 * 5120
    outside = 8 * 4050 * 5120
    activations = saved_inputs + one_block + outside
    assert g.activations_gb(g.SPECS["wan"]) * GIB == pytest.approx(activations)
    training = g.with_margins(sum(g.moments_gb(g.SPECS["wan"])["training"].values()))
    assert training == pytest.approx((resident + lora + activations) / GIB * 1.1 + 2)
    assert training == pytest.approx(51.57, abs=0.01)
    # Validation (decoder workspace, sampling) is a little higher: the model's peak, 51.9; the
    # H200 reserved 51.83 GiB at validation, so the estimate is 53.83 → 54.
    assert model_peak(g.SPECS["wan"]) == ("validation", pytest.approx(51.88, abs=0.01))
    assert g.memory_gb("wan") == 54.0


def test_memory_table_reproduces_the_policy_estimates():
    from orchestrator.resources import MEMORY_GB

    assert g.memory_table() == {"cogvideox": 32.0, "ltx": 15.0, "wan": 54.0}
    assert MEMORY_GB == g.memory_table()


def test_zero3_ranks_for_wan_on_24_gb_cards():
    wan = g.SPECS["wan"]
    # The transformer is not on the GPU at prompt encoding (a ZeRO-3 trial loads it on the
    # host): VAE, CLIP and UMT5-XXL, whole on every rank, whatever the number of ranks.
    prompts = {g.zero3_rank_gb(wan, k)["prompt"] for k in (1, 2, 4, 8)}
    assert len(prompts) == 1 and 16.0 < prompts.pop() < 24.0
    # Training sets it: 24.2 GiB a rank with 3, 20.5 with 4.
    assert g.zero3_rank_gb(wan, 3)["training"] > 24.0 > g.zero3_rank_gb(wan, 4)["training"]
    assert g.ranks_needed(wan, 24.0) == 4
    assert g.ranks_needed(wan, 16.0) is None
    assert g.ranks_needed(wan, 80.0) == 1


def test_validation_samples_as_many_inputs_at_once_as_the_reserved_memory_holds():
    from trainables.backbones import backbone_defaults

    def validation(backbone: str, videos: int) -> float:
        moment = g.moments_gb(g.SPECS[backbone], videos)["validation"]
        return g.with_margins(sum(moment.values()))

    for backbone in g.SPECS:
        fits = g.sample_batch(backbone, 64)
        assert fits == 64 or validation(backbone, fits + 1) > g.memory_gb(backbone)
        assert fits == 1 or validation(backbone, fits) <= g.memory_gb(backbone)
        assert validation(backbone, 2) > validation(backbone, 1)  # sampling grows with them
        # The backbone's default never asks for more than its reserved memory holds.
        assert 1 <= backbone_defaults(backbone, "full")["sample_batch"] <= fits
    assert g.sample_batch("wan", 64) == 1  # its validation is its peak already
    assert g.sample_batch("cogvideox", 64) > 1 and g.sample_batch("ltx", 64) > 1
    assert g.sample_batch("ltx", 3) == 3


def test_the_module_reads_the_hub_configs_and_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, orchestrator.gpu_estimates as g; assert 'torch' not in sys.modules; "
        "assert 'diffusers' not in sys.modules; print(g.SPECS['wan'].layers)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "40"


def test_table_3_settings_are_the_backbones_defaults():
    from trainables.backbones import backbone_defaults

    names = {"group": "modules", "batch": "batch_size"}
    for backbone, settings in g.TABLE_3.items():
        defaults = {**backbone_defaults(backbone, "full"), "frames": 9}
        assert {k: defaults[names.get(k, k)] for k in settings} == settings, backbone


def test_a_trial_spec_replaces_only_the_memory_settings():
    spec = g.trial_spec("cogvideox", rank=256, group="all-linear", height=256, batch=1)
    assert (spec.rank, spec.group, spec.height, spec.batch) == (256, "all-linear", 256, 1)
    assert spec.width == 720 and spec.layers == 42
    assert g.trial_spec("ltx") == g.SPECS["ltx"]
    with pytest.raises(ValueError, match=r"^unknown trial setting 'lr'; allowed: group, rank"):
        g.trial_spec("ltx", lr=1e-3)
    with pytest.raises(ValueError, match=r"^unknown LoRA group 'QV'; allowed: QK, VO"):
        g.trial_spec("ltx", group="QV")
    with pytest.raises(ValueError, match=r"^unknown backbone 'sora'"):
        g.trial_spec("sora")


def test_rank_and_modules_move_the_cogvideox_estimate_above_its_default():
    default = g.SPECS["cogvideox"]
    r256 = g.trial_spec("cogvideox", rank=256)
    all_linear = g.trial_spec("cogvideox", group="all-linear")
    # 4× the QKVO LoRA: 264 M parameters, 3.9 GiB of state where rank 64 had 1.0.
    assert g.lora_params(r256) == 4 * 66_060_288
    # all linear adds the MLP (3072↔12288) and the AdaLN linears (512→18432): 250 M at r64.
    assert g.lora_params(all_linear) == 42 * 64 * (4 * 6144 + 2 * 15360 + 2 * (512 + 18432))
    for spec in (r256, all_linear):
        extra = g.LORA_STATE_BYTES * (g.lora_params(spec) - g.lora_params(default)) / GIB
        assert g.peak_gb(spec)[1] == pytest.approx(g.peak_gb(default)[1] + 1.1 * extra)
        assert g.estimate_gb(spec) == 35.0 > g.memory_gb("cogvideox")


def test_resolution_frames_and_batch_move_the_estimate():
    default = g.peak_gb(g.SPECS["cogvideox"])[1]
    assert g.peak_gb(g.trial_spec("cogvideox", height=720, width=1280))[1] > default
    assert g.peak_gb(g.trial_spec("cogvideox", frames=17))[1] > default
    assert g.tokens(g.trial_spec("cogvideox", frames=17)).latent_frames == 6  # 5, padded to 6
    small = g.trial_spec("cogvideox", height=240, width=360, batch=1)
    assert g.activations_gb(small) < g.activations_gb(g.SPECS["cogvideox"]) / 4
    assert g.vae_workspace_gb(small) == pytest.approx(g.vae_workspace_gb(g.SPECS["cogvideox"]) / 4)


def test_optimizer_offload_keeps_only_bf16_weight_and_gradient_of_the_lora_on_the_gpu():
    spec = g.trial_spec("wan", offload_optimizer=True)
    state = g.moments_gb(spec)["training"]["LoRA state (4 B/param; optimizer on the host)"]
    assert state * GIB == pytest.approx(4 * 613_416_960)
    saved = (16 - 4) * 613_416_960 / GIB * 1.1  # 10.1 GiB less, with the allocator margin
    assert g.peak_gb(spec)[1] == pytest.approx(g.peak_gb(g.SPECS["wan"])[1] - saved)
    assert g.lora_step_bytes(spec) == 0 and g.lora_step_bytes(g.SPECS["wan"]) == 4
    # Over ZeRO-3 ranks too: the state each rank holds shrinks the same way.
    off, on = g.zero3_rank_gb(spec, 4)["training"], g.zero3_rank_gb(g.SPECS["wan"], 4)["training"]
    assert on - off == pytest.approx(saved / 4)


def test_without_gradient_checkpointing_every_block_keeps_its_activations():
    spec = g.trial_spec("cogvideox", gradient_checkpointing=False)
    width = 5852 * 3072  # tokens per step × hidden
    # Per block: 2 norms × 4 + self-attention 10 + MLP 2 + 4 × 4 + its input 2 = 38 B (the
    # ~34 B of Korthikanti et al.), + the gradient through one block and 8 B outside.
    kept = 42 * 38 * width + 4 * width + 8 * width
    assert g.activations_gb(spec) * GIB == pytest.approx(kept)
    moment, peak = g.peak_gb(spec)
    assert moment == "training" and peak > 2 * model_peak(g.SPECS["cogvideox"])[1]


def test_more_validation_inputs_at_once_move_the_validation_moment():
    one, two = g.trial_spec("cogvideox", sample_batch=1), g.trial_spec("cogvideox", sample_batch=2)
    assert g.moments_gb(two)["validation"] == g.moments_gb(one, 2)["validation"]
    assert g.peak_gb(two)[1] > g.peak_gb(one)[1]
