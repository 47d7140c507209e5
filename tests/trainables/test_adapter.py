"""The adapter a trial saves is a stock diffusers LoRA: a fresh pipeline loads it with
`load_lora_weights` and reproduces the trained model's samples, to float rounding (two code
paths: LoRA inside the trial's engine vs loaded by diffusers; tests/tolerances.py)."""

import pytest
import torch
from safetensors import safe_open

from tasks import get_task
from tests.tiny_trial import TINY_TRIAL
from tests.tolerances import metrics_close
from trainables.backbones import load
from trainables.config import TrialConfig
from trainables.trial import train

CONFIG = TrialConfig.from_dict(
    {
        **TINY_TRIAL,
        "task": "colorization",
        "n": 1,
        "steps": 4,
        "checkpoint_every": 4,
        "log_every": 10,  # TrialConfig's own
        "alpha": 2.0,  # α ≠ rank: the loader must read α from the file, not assume α = rank
        "lr": 1e-2,
        "n_val": 2,
        "sample_steps": 3,
    }
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

    def scored(samples) -> dict[str, float]:
        scores = get_task(CONFIG.task).score([s.last_frame for s in samples], val)
        return {f"val_{k}": v for k, v in scores.items()}

    trained = {k: v for k, v in final.items() if k.startswith("val_")}
    assert metrics_close(scored(after), trained), (scored(after), trained)
    assert not metrics_close(scored(before), trained)  # the tolerance still tells them apart
    assert not torch.equal(before[0].last_latent, after[0].last_latent)


SAVE_ADAPTER = """
import sys
from trainables.backbones import load
from trainables.lora import add_lora
backbone = load("cogvideox")
add_lora(backbone, "all-linear", 4, 2.0, seed=0)
backbone.save_adapter(sys.argv[1])
"""


@pytest.mark.slow  # ~15 s: fresh processes
def test_one_lora_config_gives_one_adapter_file_in_every_process(tmp_path):
    """peft keeps target_modules as a set: its order, and so the file's metadata, followed each
    process's string hashing. Two processes with different hash seeds write the same bytes."""
    import json
    import os
    import subprocess
    import sys

    files = []
    for hash_seed in ("1", "2"):
        folder = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", SAVE_ADAPTER, str(folder)], env=env, check=True)
        files.append(folder / "pytorch_lora_weights.safetensors")
    with safe_open(files[0], "pt") as f:
        metadata = json.loads(f.metadata()["lora_adapter_metadata"])
    targets = metadata["transformer.target_modules"]
    assert len(targets) == 16 and targets == sorted(targets)  # 2 blocks × 8 linears
    assert files[0].read_bytes() == files[1].read_bytes()
