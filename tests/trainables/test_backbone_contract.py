"""The contract every backbone fulfils, checked on each registered one at tiny size (as
finetrainers tests each model specification): sample and latent shapes, a loss that falls, LoRA
groups, an adapter stock diffusers loads, bit-exact resumes, and the hub-layout folder path.
A new backbone is covered by registering it; what only one backbone does is tested in its own
file (test_ltx.py, test_wan.py, test_cogvideox.py)."""

import re
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import Preempted
from tests.tiny_trial import TINY_TRIAL
from tests.tolerances import assert_latents_close, assert_videos_close
from trainables.backbones import (
    DEFAULT_PROMPT,
    LORA_GROUPS,
    backbone_class,
    backbone_defaults,
    backbone_names,
    load,
)
from trainables.config import TrialConfig
from trainables.lora import adapted_modules, add_lora, trainable_parameters
from trainables.trial import train


@pytest.fixture(params=backbone_names())
def name(request) -> str:
    return request.param


def video(frames: int = 9, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def image(size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def latent_channels(backbone) -> int:
    config = backbone.vae.config  # diffusers' VAEs name it one of two ways
    return config["latent_channels"] if "latent_channels" in config else config["z_dim"]


# -- facts -------------------------------------------------------------------------------------
def test_registered_with_its_table_3_defaults(name):
    assert name in backbone_names()
    assert backbone_defaults(name, "full") == backbone_class(name).defaults


# -- shapes ------------------------------------------------------------------------------------
def test_frames_and_size_must_fit_the_vae(name):
    backbone = load(name)
    stride, multiple = backbone.frame_stride, backbone.size_multiple
    for frames in (1 + stride // 2, 2 * stride):
        message = rf"needs 1 \+ {stride}k frames .* got {frames}"
        with pytest.raises(ValueError, match=message):
            backbone.prepare_example(video(frames=frames))
        with pytest.raises(ValueError, match=message):
            backbone.sample(image(), frames, 2, seed=0)
    size = multiple * 3 // 2  # checked before training (LTX's prepare_example checks it too)
    with pytest.raises(ValueError, match=f"multiples of {multiple}, got {size}×{size}"):
        backbone.check_size(size, size)


def test_sample_is_a_uint8_video_deterministic_for_a_seed(name):
    backbone = load(name)
    steps = max(2, backbone.min_sample_steps)
    a, b, c = (backbone.sample(image(), 9, steps, seed=s) for s in (3, 3, 4))
    assert a.video.shape == (9, 32, 32, 3) and a.video.dtype == np.uint8
    assert a.last_latent.shape == (latent_channels(backbone), 4, 4)  # 8× spatial compression
    assert a.last_latent.dtype == torch.float32
    assert np.array_equal(a.video, b.video) and torch.equal(a.last_latent, b.last_latent)
    assert not torch.equal(a.last_latent, c.last_latent)
    assert backbone.transformer.training  # mode restored after sampling


# -- LoRA groups -------------------------------------------------------------------------------
@pytest.mark.parametrize("group", LORA_GROUPS)
def test_each_group_adapts_exactly_its_targets_the_same_in_every_block(name, group):
    backbone = load(name)
    targets = add_lora(backbone, group, rank=4, alpha=4.0, seed=0)
    assert len(targets) == len(set(targets)) > 0
    assert set(targets) == set(backbone.lora_targets(group))
    assert set(adapted_modules(backbone.transformer)) == set(targets)
    layers = backbone.transformer.config.num_layers
    per_block = [
        {
            t.removeprefix(f"{backbone.blocks}.{i}.")
            for t in targets
            if t.startswith(f"{backbone.blocks}.{i}.")
        }
        for i in range(layers)
    ]
    assert sum(len(names) for names in per_block) == len(targets)  # nothing outside the blocks
    assert all(names == per_block[0] for names in per_block)


def test_all_linear_is_every_linear_layer_of_the_blocks_and_nothing_outside(name):
    backbone = load(name)
    linear = {n for n, m in backbone.transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    add_lora(backbone, "all-linear", rank=4, alpha=4.0, seed=0)
    in_blocks = {n for n in linear if n.startswith(f"{backbone.blocks}.")}
    assert set(adapted_modules(backbone.transformer)) == in_blocks
    assert linear - in_blocks  # which peft's own "all-linear" would also have taken


@pytest.mark.parametrize("group", ["FF", "KV"])
def test_unknown_group_is_a_one_line_error(name, group):
    backbone = load(name)
    with pytest.raises(
        ValueError, match=rf"unknown LoRA group '{group}'; allowed: QK, VO, QKVO, all"
    ):
        backbone.lora_targets(group)


# -- training and adapters ---------------------------------------------------------------------
#: How far 100 steps of LoRA training on one clip take the loss: (running mean of the last 20
#: steps / of the first 20, held-out loss after / before). The tiny CogVideoX fits slowest (see
#: test_fit.py) and any new backbone starts at this bar; LTX and Wan are held to their own.
LOSS_BAR = (0.9, 0.85)
LOSS_BARS = {"ltx": (0.8, 0.8), "wan": (0.8, 0.75)}


def test_lora_training_lowers_the_loss_and_the_saved_adapter_reproduces_samples(tmp_path, name):
    torch.manual_seed(0)
    backbone = load(name)
    backbone.use_prompt(backbone.encode_prompt(DEFAULT_PROMPT))
    example = backbone.prepare_example(video())
    batch = {k: torch.stack([v, v]) for k, v in example.items()}
    group = backbone_defaults(name)["modules"]
    add_lora(backbone, group, rank=8, alpha=4.0, seed=0)  # α ≠ rank on purpose

    def held_out() -> float:  # the same 8 noise/σ draws each time
        generator = torch.Generator().manual_seed(123)
        with torch.no_grad():
            return sum(
                backbone.loss(backbone.transformer, batch, generator).item() for _ in range(8)
            )

    before = held_out()
    optimizer = torch.optim.AdamW(trainable_parameters(backbone.transformer), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    backbone.transformer.train()
    losses = []
    for _ in range(100):
        loss = backbone.loss(backbone.transformer, batch, generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    running, held = LOSS_BARS.get(name, LOSS_BAR)
    assert np.mean(losses[-20:]) < running * np.mean(losses[:20]), losses
    after = held_out()
    assert after < held * before, (before, after)

    trained = backbone.sample(image(), 9, 3, seed=1)
    assert backbone.transformer.training  # sampling restored the mode
    backbone.save_adapter(tmp_path / "adapter")
    fresh = load(name)
    fresh.use_prompt(backbone.encode_prompt(DEFAULT_PROMPT))
    before_load = fresh.sample(image(), 9, 3, seed=1)
    with warnings.catch_warnings():  # a loader may add zero LoRAs the group left out (Wan)
        warnings.simplefilter("ignore", RuntimeWarning)
        fresh.pipeline.load_lora_weights(str(tmp_path / "adapter"))
    assert set(adapted_modules(backbone.transformer)) <= set(adapted_modules(fresh.transformer))
    loaded = fresh.sample(image(), 9, 3, seed=1)
    # Two code paths (LoRA added and trained here vs loaded by diffusers): float rounding.
    assert_latents_close(loaded.last_latent, trained.last_latent)
    assert_videos_close(loaded.video, trained.video)
    assert not torch.allclose(before_load.last_latent, trained.last_latent, atol=1e-3)


# -- trials: resume through the real loop ------------------------------------------------------
def adapter(checkpoint) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "adapter" / "pytorch_lora_weights.safetensors")


def test_resumed_trial_matches_uninterrupted_trial_bit_for_bit(session_factory, name):
    config = TrialConfig.from_dict({**TINY_TRIAL, "backbone": name, "lr": 1e-3})
    straight = session_factory("straight")
    final = train(config, straight)

    first = session_factory("first", stop_after=3)
    with pytest.raises(Preempted):
        train(config, first)
    assert sorted(first.checkpoints) == [3]

    second = session_factory("second", restore_from=first.checkpoints[3])
    resumed = train(config, second)

    assert [r["step"] for r in second.reports] == [4, 5, 6]  # continued, not restarted
    expected, got = adapter(straight.checkpoints[6]), adapter(second.checkpoints[6])
    assert expected.keys() == got.keys() and len(expected) > 0
    blocks = backbone_class(name).blocks
    assert all(k.startswith(f"transformer.{blocks}.") for k in got)  # diffusers' naming
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert resumed == final
    # the per-step losses after the resume point are identical too
    assert [r["loss"] for r in straight.reports[3:]] == [r["loss"] for r in second.reports]
    # and training moved the adapter away from its zero-initialized B
    assert any(t.abs().sum() > 0 for n, t in got.items() if "lora_B" in n)


# -- weights -----------------------------------------------------------------------------------
def test_a_saved_tiny_pipeline_loads_back_the_full_way_and_samples_the_same(tmp_path, name):
    cls = backbone_class(name)
    folder = tmp_path / cls.hub_id.split("/")[-1]
    cls.build_tiny_pipeline().save_pretrained(folder)
    for sub in cls.subfolders:
        assert (folder / sub).is_dir(), sub
    tiny, full = load(name, "tiny"), load(name, "full", folder)
    assert full.weights_id != tiny.weights_id
    prompt, again = tiny.encode_prompt("a prompt"), full.encode_prompt("a prompt")
    assert prompt.keys() == again.keys()
    assert all(torch.equal(prompt[k], again[k]) for k in prompt)
    tiny.use_prompt(prompt)
    full.use_prompt(prompt)
    ours, theirs = dict(tiny.vae.named_buffers()), dict(full.vae.named_buffers())
    assert ours.keys() == theirs.keys()  # e.g. LTX's latents_mean and latents_std
    assert all(torch.equal(ours[k], theirs[k]) for k in ours), ours.keys()
    a, b = tiny.sample(image(), 9, 2, seed=3), full.sample(image(), 9, 2, seed=3)
    assert np.array_equal(a.video, b.video) and a.video.shape == (9, 32, 32, 3)
    clip = video()
    for key, value in tiny.prepare_example(clip).items():
        assert torch.equal(value, full.prepare_example(clip)[key]), key


def test_missing_weights_are_one_clear_error(tmp_path, name):
    cls = backbone_class(name)
    with pytest.raises(
        FileNotFoundError, match=f"does not exist; expected {re.escape(cls.hub_id)}"
    ):
        load(name, "full", tmp_path / "nowhere")
    (tmp_path / "partial" / "transformer").mkdir(parents=True)
    rest = ", ".join(sub for sub in cls.subfolders if sub != "transformer")
    with pytest.raises(FileNotFoundError, match=f"lacks {rest};"):
        load(name, "full", tmp_path / "partial")
    with pytest.raises(ValueError, match="needs a local weights folder"):
        load(name, "full")
