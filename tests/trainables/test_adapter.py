"""The adapter a trial saves is a stock diffusers LoRA: a fresh pipeline loads it with
`load_lora_weights` and reproduces the trained model's samples exactly."""

import torch
from safetensors import safe_open

from tasks import get_task
from trainables.backbones import load
from trainables.config import TrialConfig
from trainables.trial import train

CONFIG = TrialConfig.from_dict(
    dict(
        task="colorization",
        n=1,
        steps=4,
        checkpoint_every=4,
        rank=4,
        alpha=2.0,  # α ≠ rank: the loader must read α from the file, not assume α = rank
        lr=1e-2,
        n_val=2,
        sample_steps=3,
        height=32,
        width=32,
    )
)


def test_saved_adapter_reproduces_trained_outputs_through_diffusers_loader(session_factory):
    session = session_factory("trial")
    final = train(CONFIG, session)
    folder = session.checkpoints[CONFIG.steps] / "adapter"
    with safe_open(folder / "pytorch_lora_weights.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith("transformer.") for k in keys)  # diffusers' naming

    val = get_task(CONFIG.task).pairs(CONFIG.n, CONFIG.seed, n_val=2, size=(32, 32)).val
    base = load("cogvideox")
    before = [base.sample(p.x, CONFIG.frames, CONFIG.sample_steps, CONFIG.seed) for p in val]
    base.pipeline.load_lora_weights(str(folder))
    after = [base.sample(p.x, CONFIG.frames, CONFIG.sample_steps, CONFIG.seed) for p in val]

    scores = get_task(CONFIG.task).score([s.last_frame for s in after], val)
    assert {f"val_{k}": v for k, v in scores.items()} == {
        k: v for k, v in final.items() if k.startswith("val_")
    }
    assert not torch.equal(before[0].last_latent, after[0].last_latent)
