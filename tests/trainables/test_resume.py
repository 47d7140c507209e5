"""A trial stopped after a checkpoint and resumed ends exactly where an uninterrupted one does."""

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import Preempted
from trainables.config import TrialConfig
from trainables.trial import train

CONFIG = TrialConfig.from_dict(
    dict(
        task="hflip",
        n=2,
        steps=6,
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
)


def adapter(checkpoint) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "adapter" / "pytorch_lora_weights.safetensors")


def test_resumed_trial_matches_uninterrupted_trial_bit_for_bit(session_factory):
    straight = session_factory("straight")
    final = train(CONFIG, straight)

    first = session_factory("first", stop_after=3)
    with pytest.raises(Preempted):
        train(CONFIG, first)
    assert sorted(first.checkpoints) == [3]

    second = session_factory("second", restore_from=first.checkpoints[3])
    resumed = train(CONFIG, second)

    assert [r["step"] for r in second.reports] == [4, 5, 6]  # continued, not restarted
    expected, got = adapter(straight.checkpoints[6]), adapter(second.checkpoints[6])
    assert expected.keys() == got.keys() and len(expected) > 0
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert resumed == final
    # the per-step losses after the resume point are identical too
    assert [r["loss"] for r in straight.reports[3:]] == [r["loss"] for r in second.reports]
    # and training moved the adapter away from its zero-initialized B
    assert any(t.abs().sum() > 0 for n, t in got.items() if "lora_B" in n)
