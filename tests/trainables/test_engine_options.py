"""Engine switches change memory, not results: optimizer offload and gradient checkpointing
train to the same losses and adapter as the plain ZeRO-2 engine."""

import pytest
import torch
from safetensors.torch import load_file

from trainables.backbones import load
from trainables.config import TrialConfig
from trainables.trial import train

BASE = dict(
    task="hflip",
    n=1,
    steps=3,
    checkpoint_every=3,
    log_every=1,
    rank=4,
    alpha=4.0,
    lr=1e-3,
    n_val=1,
    sample_steps=2,
    height=32,
    width=32,
)


def run(session_factory, name, **options):
    session = session_factory(name)
    train(TrialConfig.from_dict({**BASE, **options}), session)
    checkpoint = session.checkpoints[3]
    adapter = load_file(checkpoint / "adapter" / "pytorch_lora_weights.safetensors")
    ds_config = torch.load(checkpoint / "state" / "mp_rank_00_model_states.pt", weights_only=False)[
        "ds_config"
    ]
    return [r["loss"] for r in session.reports], adapter, ds_config


@pytest.mark.parametrize("options", [{"offload_optimizer": True}, {"gradient_checkpointing": True}])
def test_memory_switches_do_not_change_training(session_factory, options):
    plain_losses, plain_adapter, plain_config = run(session_factory, "plain")
    losses, adapter, ds_config = run(session_factory, "switched", **options)
    assert losses == plain_losses
    assert all(torch.equal(adapter[k], plain_adapter[k]) for k in plain_adapter)
    assert plain_config["zero_optimization"]["stage"] == 2
    offloaded = ds_config["zero_optimization"].get("offload_optimizer", {}).get("device")
    assert offloaded == ("cpu" if options.get("offload_optimizer") else None)


def test_gradient_checkpointing_is_switched_on_in_the_transformer():
    backbone = load("cogvideox")
    assert not backbone.transformer.gradient_checkpointing
    backbone.enable_gradient_checkpointing()
    assert backbone.transformer.gradient_checkpointing
