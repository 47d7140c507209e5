"""`compile=True` trains with the transformer's repeated blocks compiled in place (regional
torch.compile): the same adapter as eager up to float rounding, the same parameter names, and
a compiled backbone is not kept for the actor's next trial (torch's compiled code is let go)."""

import pytest
import torch
from safetensors.torch import load_file

import trainables.kept_backbone as kept
from tests.tiny_trial import TINY_TRIAL
from trainables.backbones import Backbone
from trainables.config import TrialConfig
from trainables.trial import train

BASE = {**TINY_TRIAL, "backbone": "wan", "n": 1, "steps": 2, "checkpoint_every": 2,
        "modules": "QK", "sample_steps": 1}  # fmt: skip


def adapter(session) -> dict[str, torch.Tensor]:
    last = max(session.checkpoints)
    return load_file(session.checkpoints[last] / "adapter" / "pytorch_lora_weights.safetensors")


def test_a_compiled_trial_trains_as_an_eager_one_and_keeps_nothing(session_factory, monkeypatch):
    eager = session_factory("eager")
    train(TrialConfig.from_dict(BASE), eager)

    compiled_blocks: list[int] = []
    compile_blocks = Backbone.compile_blocks

    def counting(backbone: Backbone) -> None:
        compile_blocks(backbone)
        compiled_blocks.append(
            sum(m._compiled_call_impl is not None for m in backbone.transformer.modules())
        )

    monkeypatch.setattr(Backbone, "compile_blocks", counting)
    kept.drop()
    compiled = session_factory("compiled")
    train(TrialConfig.from_dict({**BASE, "compile": True}), compiled, keep_backbone=True)

    layers = 2  # the tiny Wan's blocks, each compiled in place
    assert compiled_blocks == [layers]
    assert kept._kept is None  # a compiled backbone is not kept for the next trial
    expected, got = adapter(eager), adapter(compiled)
    assert expected.keys() == got.keys()  # compiled in place: the same parameter names
    for name, weight in expected.items():
        torch.testing.assert_close(got[name], weight, atol=1e-5, rtol=1e-4)
    assert compiled.reports[-1]["loss"] == pytest.approx(eager.reports[-1]["loss"], rel=1e-4)
