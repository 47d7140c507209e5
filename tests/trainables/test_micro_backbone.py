"""The micro LTX-Video backbone: pretrained weights shipped in the repo, in the hub layout,
loaded through the `full` code path, and a prior that makes a few examples mean something."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks import get_task
from trainables.backbones import backbone_scales, load, micro_weights
from trainables.backbones.ltx import LTXVideo
from trainables.config import TrialConfig
from trainables.trial import train
from trainables.weights import weights_digest

MAX_MB = 20


def test_the_micro_weights_are_in_the_repo_in_the_hub_layout_and_small():
    root = micro_weights("ltx")
    assert root == LTXVideo.micro_folder and root.parent.name == "weights"
    index = json.loads((root / "model_index.json").read_text())
    assert index["_class_name"] == "LTXImageToVideoPipeline"
    assert {k for k in index if not k.startswith("_")} == set(LTXVideo.subfolders)
    for name in LTXVideo.subfolders:
        assert (root / name).is_dir(), name
    files = list(root.rglob("*.safetensors"))
    assert {f.parent.name for f in files} == {"transformer", "vae", "text_encoder"}
    assert sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) <= MAX_MB * 2**20
    # Its configs are the module's: the pretraining script built exactly the micro architecture.
    transformer = json.loads((root / "transformer" / "config.json").read_text())
    assert {k: transformer[k] for k in LTXVideo.micro_transformer} == LTXVideo.micro_transformer
    vae = json.loads((root / "vae" / "config.json").read_text())
    as_saved = {k: list(v) if isinstance(v, tuple) else v for k, v in LTXVideo.micro_vae.items()}
    assert {k: vae[k] for k in LTXVideo.micro_vae} == as_saved
    assert len(weights_digest(root)) == 12


def test_micro_loads_the_repo_folder_the_full_way_without_weights():
    micro = load("ltx", "micro")
    assert micro.root == LTXVideo.micro_folder
    assert micro.pipeline.vae_spatial_compression_ratio == 8
    assert micro.pipeline.vae_temporal_compression_ratio == 8
    # Pretrained latent statistics, not the class's defaults (0 and 1).
    assert not np.allclose(micro.vae.latents_std.numpy(), 1.0)
    # The same folder given as `full` weights is the same model.
    full = load("ltx", "full", LTXVideo.micro_folder)
    for a, b in zip(micro.transformer.parameters(), full.transformer.parameters(), strict=True):
        assert a.equal(b)


def test_only_backbones_with_micro_weights_take_the_micro_scale():
    assert backbone_scales("ltx") == ("tiny", "micro", "full")
    assert backbone_scales("cogvideox") == ("tiny", "full")
    with pytest.raises(ValueError, match="unknown scale 'micro' for wan; allowed: tiny, full"):
        load("wan", "micro")
    config = TrialConfig.from_dict({"task": "hflip", "backbone": "ltx", "scale": "micro"})
    assert (config.height, config.width) == (64, 64)
    assert (config.rank, config.steps) == (
        LTXVideo.micro_defaults["rank"],
        LTXVideo.micro_defaults["steps"],
    )


# The task and margin the micro benchmark (benchmarks.micro_claim, BENCHMARKS.md) found clearest;
# a trial whose conditioning or objective disagreed with the sampler would miss it.
LEARNING_TASK = "rot90"
LEARNING_MARGIN_DB = 1.0


@pytest.mark.slow  # ~20 s: a real LoRA trial at micro size
def test_a_short_lora_on_the_pretrained_micro_backbone_beats_returning_the_input(
    session_factory,
):
    config = TrialConfig.from_dict(
        dict(
            task=LEARNING_TASK,
            backbone="ltx",
            scale="micro",
            n=3,
            seed=0,
            trajectory="linear",
            modules="all-linear",
            steps=LTXVideo.micro_defaults["steps"],
            checkpoint_every=LTXVideo.micro_defaults["steps"],
            n_val=8,
            sample_batch=8,
            sample_steps=10,
        )
    )
    task = get_task(config.task)
    split = task.pairs(config.n, config.seed, n_val=config.n_val, size=(64, 64))
    identity = task.score([pair.x for pair in split.val], split.val)["psnr"]
    metrics = train(config, session_factory("micro"))
    assert metrics["val_psnr"] > identity + LEARNING_MARGIN_DB, (metrics["val_psnr"], identity)
