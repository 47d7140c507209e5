"""A reused actor keeps its frozen backbone for the next trial: built once, and handed to the
next trial as it was built, so that trial trains exactly as on a freshly built one."""

import weakref

import pytest
import torch
from safetensors.torch import load_file

import trainables.kept_backbone as kept
import trainables.trial as trial_module
from tests.tiny_trial import TINY_TRIAL
from trainables.config import TrialConfig
from trainables.sweep_trial import release_device_memory
from trainables.trial import train

BASE = {**TINY_TRIAL, "n": 1, "steps": 2, "checkpoint_every": 2, "sample_steps": 1}  # each: a rank
# The first trial adds more than the second: other modules, a higher rank, checkpointing.
FIRST = TrialConfig.from_dict(
    {**BASE, "modules": "QKVO", "rank": 8, "gradient_checkpointing": True}
)
SECOND = TrialConfig.from_dict({**BASE, "modules": "QK", "rank": 4, "seed": 1})


def adapter(session) -> dict[str, torch.Tensor]:
    last = max(session.checkpoints)
    return load_file(session.checkpoints[last] / "adapter" / "pytorch_lora_weights.safetensors")


@pytest.fixture
def counted_builds(monkeypatch):
    builds: list = []
    load = kept.load

    def counting(*args, **kwargs):
        builds.append(load(*args, **kwargs))
        return builds[-1]

    monkeypatch.setattr(kept, "load", counting)
    kept.drop()
    yield builds
    kept.drop()


def test_the_next_trial_trains_on_the_kept_backbone_as_on_a_fresh_one(
    session_factory, counted_builds, monkeypatch
):
    fresh = session_factory("fresh")
    train(SECOND, fresh)  # built afresh, nothing kept

    engines: list[weakref.ref] = []
    build_engine = trial_module.build_engine

    def remembering(model, settings):
        engine = build_engine(model, settings)
        engines.append(weakref.ref(engine))
        return engine

    monkeypatch.setattr(trial_module, "build_engine", remembering)
    train(FIRST, session_factory("first"), keep_backbone=True)
    reused = session_factory("second")
    train(SECOND, reused, keep_backbone=True)

    assert len(counted_builds) == 1  # built for the first trial, kept for the second
    transformer = counted_builds[0].transformer
    assert not transformer.is_gradient_checkpointing  # the first trial's setting went with it
    assert not any("lora" in name for name, _ in transformer.named_modules())
    release_device_memory()
    assert [ref() for ref in engines] == [None, None]  # no engine outlives its trial via hooks
    expected, got = adapter(fresh), adapter(reused)
    assert expected.keys() == got.keys()
    for name, weight in expected.items():
        assert torch.equal(got[name], weight), name


def test_another_backbone_or_a_failed_trial_builds_afresh(session_factory, counted_builds):
    train(SECOND, session_factory("cogvideox"), keep_backbone=True)
    other = TrialConfig.from_dict({**BASE, "backbone": "wan", "modules": "QK", "rank": 4})
    train(other, session_factory("wan"), keep_backbone=True)
    assert [b.name for b in counted_builds] == ["cogvideox", "wan"]
    failing = session_factory("failing", stop_after=2)  # raises after its checkpoint
    with pytest.raises(Exception, match="stopped after step 2"):
        train(other, failing, keep_backbone=True)
    train(other, session_factory("after"), keep_backbone=True)
    assert [b.name for b in counted_builds] == ["cogvideox", "wan", "wan"]
