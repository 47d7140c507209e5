"""The performance model: step times scaled between cards, a step's FLOPs and the utilisation
the paper's timings imply, checked against figures computed by hand. Plain arithmetic."""

from __future__ import annotations

import pytest

from benchmarks import performance_model as perf
from orchestrator import gpu_estimates as g


def test_seconds_per_step_scale_with_dense_bf16_throughput():
    # CogVideoX1.5: 1.8 s on an RTX 4090 (165.2 TFLOPS) → 1.8 × 165.2 / 989.4 on an H100.
    assert perf.seconds_per_step("cogvideox", "h100", anchor_s=1.8) == pytest.approx(0.3005, 1e-3)
    assert perf.seconds_per_step("cogvideox", "rtx4090", anchor_s=1.8) == pytest.approx(1.8)
    # Wan2.1: 1.26 s on an H100 → ×6 on an RTX 4090; the H200 computes as fast as the H100.
    assert perf.seconds_per_step("wan", "rtx4090", anchor_s=1.26) == pytest.approx(7.546, 1e-3)
    assert perf.seconds_per_step("wan", "h200", anchor_s=1.26) == pytest.approx(1.26)


def test_step_flops_and_the_paper_anchors_imply_a_plausible_utilisation():
    # CogVideoX: 6 × 42 × (4·3072² + 2·3072·12288) × 5852 + 16 × 42 × 3072 × 2926² × 2.
    linear = 6 * 42 * (4 * 3072**2 + 2 * 3072 * 12288) * 5852
    attention = 16 * 42 * 3072 * 2926**2 * 2
    assert perf.step_flops(g.SPECS["cogvideox"]) == pytest.approx(linear + attention)
    for backbone, anchor in (("cogvideox", 1.8), ("ltx", 1.8), ("wan", 1.26)):
        assert 0.2 < perf.implied_mfu(g.SPECS[backbone], anchor) < 0.8, backbone


def test_zero3_all_gathers_over_the_cards_link():
    # Wan2.1 over 3 RTX 4090s on PCIe: 3 × 2/3 × 32.8 GB at 32 GB/s.
    assert perf.zero3_gather_seconds(g.SPECS["wan"], 3, "rtx4090") == pytest.approx(
        3 * 2 / 3 * 2 * 16_394_878_784 / 32e9
    )


def test_without_gradient_checkpointing_a_step_does_fewer_flops():
    spec = g.trial_spec("cogvideox", gradient_checkpointing=False)
    assert perf.step_flops(spec) < perf.step_flops(g.SPECS["cogvideox"])  # no recompute


def test_every_backbone_was_timed_on_a_known_card():
    assert {spec.paper_card for spec in g.SPECS.values()} <= set(perf.CARDS)
