"""Engine switches change memory, not results: optimizer offload and gradient checkpointing
train to the same losses and adapter as the plain ZeRO-2 engine."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_trial import TINY_TRIAL
from trainables.backbones import load
from trainables.config import TrialConfig
from trainables.trial import train

VIDEO = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
BASE = {**TINY_TRIAL, "n": 1, "steps": 3, "lr": 1e-3}


def run(session_factory, name, **options):
    session = session_factory(name)
    train(TrialConfig.from_dict({**BASE, **options}), session)
    checkpoint = session.checkpoints[3]
    adapter = load_file(checkpoint / "adapter" / "pytorch_lora_weights.safetensors")
    states = next((checkpoint / "state").glob("*mp_rank_00_model_states.pt"))  # ZeRO-3 prefixes
    ds_config = torch.load(states, weights_only=False)["ds_config"]
    return [r["loss"] for r in session.reports], adapter, ds_config


@pytest.mark.parametrize("options", [{"offload_optimizer": True}, {"gradient_checkpointing": True}])
def test_memory_switches_do_not_change_training(session_factory, options):
    plain_losses, plain_adapter, plain_config = run(session_factory, "plain")
    losses, adapter, ds_config = run(session_factory, "switched", **options)
    if options.get("gradient_checkpointing"):  # the same forward, recomputed: bit for bit
        assert losses == plain_losses
        assert all(torch.equal(adapter[k], plain_adapter[k]) for k in plain_adapter)
    else:  # DeepSpeed's offloaded (CPU) Adam step vs torch's: another code path, float rounding
        assert losses == pytest.approx(plain_losses, rel=1e-5)
        for k in plain_adapter:
            torch.testing.assert_close(adapter[k], plain_adapter[k], atol=1e-6, rtol=1e-4)
    # One process: ZeRO-2 partitions nothing, the engine runs stage 0 (trainables.engine),
    # except with the optimizer offloaded, which DeepSpeed does from stage 1 up.
    assert plain_config["zero_optimization"]["stage"] == 0
    assert ds_config["zero_optimization"]["stage"] == (2 if options.get("offload_optimizer") else 0)
    offloaded = ds_config["zero_optimization"].get("offload_optimizer", {}).get("device")
    assert offloaded == ("cpu" if options.get("offload_optimizer") else None)


def test_gradient_checkpointing_is_switched_on_in_the_transformer():
    backbone = load("cogvideox")
    assert not backbone.transformer.gradient_checkpointing
    backbone.enable_gradient_checkpointing()
    assert backbone.transformer.gradient_checkpointing


def test_a_one_process_engine_steps_exactly_as_torch_does_with_clipping():
    """The lightened one-process engine (trainables.engine.lighten_single_process) is the same
    update as a bare torch loop: AdamW, warm-up, clipping (tight here, so it acts), zero_grad."""
    from trainables.engine import OptimSettings, build_engine
    from trainables.lora import add_lora, trainable_parameters

    def model():
        backbone = load("ltx")
        add_lora(backbone, "QKVO", 4, 4.0, seed=0)
        return backbone

    settings = OptimSettings(1e-2, (0.9, 0.99), 1e-8, 1e-3, 2, 0.05, 1, zero_stage=2)
    ours, theirs = model(), model()
    engine = build_engine(ours.transformer, settings)
    assert engine.zero_optimization_stage() == 0
    params = trainable_parameters(theirs.transformer)
    optimizer = torch.optim.AdamW(params, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-3)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 2))
    batch = {k: v[None] for k, v in ours.prepare_example(VIDEO).items()}
    norms = []
    for _ in range(3):
        loss = ours.loss(engine, batch, torch.Generator().manual_seed(1))
        engine.backward(loss)
        engine.step()
        loss = theirs.loss(theirs.transformer, batch, torch.Generator().manual_seed(1))
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, 0.05)))
        optimizer.step()
        warmup.step()
        optimizer.zero_grad(set_to_none=True)
    assert min(norms) > 0.05  # clipping acted at every step
    mine = dict(zip(trainable_names(ours), trainable_parameters(ours.transformer), strict=True))
    for name, param in zip(trainable_names(theirs), params, strict=True):
        assert param.grad is None and mine[name].grad is None
        torch.testing.assert_close(mine[name], param, rtol=1e-5, atol=1e-7)


def trainable_names(backbone) -> list[str]:
    return [n for n, p in backbone.transformer.named_parameters() if p.requires_grad]


def test_zero3_with_released_weights_trains_and_samples_as_one_whole_model(session_factory):
    """Tiny trials set ZeRO-3's persistence threshold to 0, so every weight is released after
    use and gathered by each forward, as a full-scale model's are: same losses and adapter."""
    plain_losses, plain_adapter, _ = run(session_factory, "plain")
    losses, adapter, ds_config = run(session_factory, "zero3", zero_stage=3)
    assert ds_config["zero_optimization"]["stage"] == 3
    assert ds_config["zero_optimization"]["stage3_param_persistence_threshold"] == 0
    assert losses == pytest.approx(plain_losses, rel=1e-5)
    assert adapter.keys() == plain_adapter.keys()
    assert all(torch.allclose(adapter[k], plain_adapter[k], atol=1e-6) for k in plain_adapter)
