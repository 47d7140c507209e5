"""Each LoRA group adapts exactly the modules it names, and nothing silently."""

import pytest
import torch

from trainables.backbones import load
from trainables.lora import adapted_modules, add_lora


@pytest.fixture(scope="module")
def linear_names() -> list[str]:
    backbone = load("cogvideox")
    return [n for n, m in backbone.transformer.named_modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize(
    ("group", "suffixes"),
    [
        ("QK", {"attn1.to_q", "attn1.to_k"}),
        ("VO", {"attn1.to_v", "attn1.to_out.0"}),
        ("QKVO", {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0"}),
        (
            "QKVO+FF",
            {
                "attn1.to_q",
                "attn1.to_k",
                "attn1.to_v",
                "attn1.to_out.0",
                "ff.net.0.proj",
                "ff.net.2",
            },
        ),
    ],
)
def test_attention_groups_hit_exactly_their_projections(group, suffixes):
    backbone = load("cogvideox")
    targets = add_lora(backbone, group, rank=4, alpha=4.0, seed=0)
    layers = backbone.transformer.config.num_layers
    expected = {f"transformer_blocks.{i}.{s}" for i in range(layers) for s in suffixes}
    assert set(targets) == expected
    assert set(adapted_modules(backbone.transformer)) == expected


def test_all_linear_is_every_linear_layer_of_the_blocks_and_nothing_outside(linear_names):
    backbone = load("cogvideox")
    add_lora(backbone, "all-linear", rank=4, alpha=4.0, seed=0)
    in_blocks = {n for n in linear_names if n.startswith("transformer_blocks.")}
    assert set(adapted_modules(backbone.transformer)) == in_blocks
    # peft's own "all-linear" would also have taken these:
    outside = set(linear_names) - in_blocks
    assert {"proj_out", "time_embedding.linear_1", "ofs_embedding.linear_1"} <= outside


def test_cogvideox_has_no_cross_attention_to_adapt():
    backbone = load("cogvideox")
    names = [n for n, _ in backbone.transformer.named_modules()]
    assert not any(".attn2" in n for n in names)


def test_lora_rank_and_alpha_come_from_the_config():
    backbone = load("cogvideox")
    add_lora(backbone, "QK", rank=6, alpha=3.0, seed=0)
    layer = backbone.transformer.transformer_blocks[0].attn1.to_q
    assert layer.lora_A["default"].weight.shape[0] == 6
    assert layer.scaling["default"] == pytest.approx(0.5)
    frozen = [n for n, p in backbone.transformer.named_parameters() if p.requires_grad]
    assert frozen and all("lora_" in n for n in frozen)


@pytest.mark.parametrize(
    ("group", "rank", "alpha", "message"),
    [
        ("KV", 4, 4.0, "unknown LoRA group 'KV'; allowed: QK, VO, QKVO, all-linear, QKVO+FF"),
        ("QK", 0, 4.0, "LoRA rank must be a positive integer, got 0"),
        ("QK", 4, 0.0, "LoRA alpha must be positive, got 0.0"),
    ],
)
def test_bad_lora_settings_are_one_line_errors(group, rank, alpha, message):
    backbone = load("cogvideox")
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        add_lora(backbone, group, rank=rank, alpha=alpha, seed=0)


def test_a_group_naming_missing_modules_is_an_error(monkeypatch):
    backbone = load("cogvideox")
    monkeypatch.setattr(backbone, "lora_targets", lambda group: ["transformer_blocks.0.attn2.to_q"])
    with pytest.raises(ValueError, match="attn2.to_q"):
        add_lora(backbone, "QK", rank=4, alpha=4.0, seed=0)
