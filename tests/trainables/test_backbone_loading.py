"""`full` scale reads a local folder laid out as the hub repo, through the same code as `tiny`."""

import dataclasses

import numpy as np
import pytest
import torch

from trainables.backbones import backbone_class, backbone_names, load
from trainables.backbones.cogvideox import CogVideoX
from trainables.config import TrialConfig
from trainables.trial import train


def test_a_saved_tiny_pipeline_loads_back_the_full_way_and_samples_the_same(tmp_path):
    CogVideoX.build_tiny_pipeline().save_pretrained(tmp_path / "CogVideoX1.5-5B-I2V")
    for sub in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (tmp_path / "CogVideoX1.5-5B-I2V" / sub).is_dir()
    tiny = load("cogvideox", "tiny")
    full = load("cogvideox", "full", tmp_path / "CogVideoX1.5-5B-I2V")
    prompt = tiny.encode_prompt("a prompt")
    assert torch.equal(prompt["prompt_embeds"], full.encode_prompt("a prompt")["prompt_embeds"])
    tiny.use_prompt(prompt)
    full.use_prompt(prompt)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    a, b = tiny.sample(image, 9, 2, seed=3), full.sample(image, 9, 2, seed=3)
    assert np.array_equal(a.video, b.video) and a.video.shape == (9, 32, 32, 3)


@pytest.mark.parametrize("backbone", ["cogvideox", "ltx", "wan"])
def test_a_trial_trains_from_a_hub_layout_folder(tmp_path, session_factory, backbone):
    backbone_class(backbone).build_tiny_pipeline().save_pretrained(tmp_path / "weights")
    values = dict(
        backbone=backbone,
        task="hflip",
        n=1,
        steps=2,
        checkpoint_every=2,
        rank=4,
        alpha=4.0,
        n_val=1,
        sample_steps=2,
        height=32,
        width=32,
        batch_size=1,
    )
    tiny = session_factory(f"{backbone}_tiny")
    full = session_factory(f"{backbone}_full")
    config = TrialConfig.from_dict(values)
    expected = train(config, tiny)
    # The same settings (not the full scale's Table 3 defaults), only the weights' source differs.
    weights = str(tmp_path / "weights")
    got = train(dataclasses.replace(config, scale="full", weights=weights), full)
    assert got == expected and got["step"] == 2


def test_missing_weights_are_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load("cogvideox", "full", tmp_path / "nowhere")
    (tmp_path / "partial" / "transformer").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="lacks vae, text_encoder, tokenizer, scheduler"):
        load("cogvideox", "full", tmp_path / "partial")
    with pytest.raises(ValueError, match="needs a local weights folder"):
        load("cogvideox", "full")


def test_unknown_backbone_or_scale_names_what_is_allowed():
    assert "cogvideox" in backbone_names()
    with pytest.raises(ValueError, match="unknown backbone 'sora'; allowed: cogvideox"):
        load("sora")
    with pytest.raises(ValueError, match="unknown scale 'huge' for cogvideox; allowed: tiny, full"):
        load("cogvideox", "huge")


def test_frames_must_fit_the_vae_time_compression():
    backbone = load("cogvideox")
    video = np.zeros((8, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=r"needs 1 \+ 4k frames .* got 8"):
        backbone.prepare_example(video)


def test_every_backbone_class_declares_its_facts():
    from benchmarks.performance_model import CARDS
    from trainables.backbones import LORA_GROUPS

    for name in backbone_names():
        backbone = backbone_class(name)
        assert backbone.name == name
        assert set(backbone.lora_groups) == set(LORA_GROUPS)
        assert {"rank", "alpha", "modules", "lr", "batch_size", "steps", "height", "width"} <= set(
            backbone.settings("full")
        )
        assert backbone.settings("full")["modules"] in LORA_GROUPS
        assert set(backbone.tiny_defaults) <= set(backbone.defaults)
        assert {"transformer", "vae", "text_encoder"} <= set(backbone.hub_configs)
        assert set(backbone.hub_params) <= set(backbone.hub_configs)
        assert set(backbone.hub_configs) <= set(backbone.subfolders)
        assert backbone.paper_card in CARDS and backbone.seconds_per_step() > 0
        assert backbone.tiny_id.startswith(f"tiny:{backbone.hub_id}:")


def test_reading_the_backbones_facts_imports_no_torch_diffusers_or_transformers():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from trainables.backbones import backbone_class, backbone_names\n"
        "for name in backbone_names():\n"
        "    backbone = backbone_class(name)\n"
        "    backbone.settings('full'), backbone.scales(), backbone.geometry()\n"
        "assert not {'torch', 'diffusers', 'transformers'} & set(sys.modules), sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
