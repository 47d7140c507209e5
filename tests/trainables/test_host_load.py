"""ZeRO-3 trials load the transformer into host memory and let DeepSpeed bring it to the
device one weight at a time, as shards (trainables.engine.partition_onto_device): no rank holds
it whole, which is what lets a model bigger than one card train on several."""

import deepspeed
import pytest
import torch

import trainables.engine as engine_module
import trainables.trial as trial_module
from tests.tiny_trial import TINY_TRIAL
from trainables.backbones.ltx import LTXVideo
from trainables.config import TrialConfig

BASE = {**TINY_TRIAL, "n": 1, "steps": 2, "checkpoint_every": 2, "lr": 1e-3}


@pytest.mark.parametrize("on_host", [True, False])
def test_the_transformer_stays_on_the_host_while_the_rest_goes_to_the_device(on_host):
    # The meta device stands in for a GPU: whatever is moved there is visibly not on the host.
    backbone = LTXVideo(
        LTXVideo.build_tiny_pipeline(text=False), torch.device("meta"), torch.float32, None, on_host
    )
    transformer = {p.device.type for p in backbone.transformer.parameters()}
    assert transformer == ({"cpu"} if on_host else {"meta"})
    assert {p.device.type for p in backbone.vae.parameters()} == {"meta"}


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("stage", [2, 3])
def test_a_trial_encodes_with_its_transformer_on_the_host_and_its_engine_places_it(
    session_factory, monkeypatch, stage, keep
):
    """The transformer waits in host memory while the prompt and examples are encoded (the
    cache-miss moments the policy's memory estimates leave it out of). The engine places it:
    DeepSpeed moves a ZeRO-2 model whole; a ZeRO-3 model is partitioned before the engine sees
    it (no whole weight left, only shards), so the engine moves nothing."""
    from trainables import kept_backbone

    seen = {}
    initialize = deepspeed.initialize

    def spy(model, **kwargs):
        params = list(model.parameters())
        seen["partitioned"] = all(hasattr(p, "ds_id") for p in params)
        seen["held_elements"] = sum(p.numel() for p in params)  # whole weights left around
        seen["shards"] = sum(p.ds_tensor.numel() for p in params if hasattr(p, "ds_tensor"))
        return initialize(model=model, **kwargs)

    monkeypatch.setattr(engine_module.deepspeed, "initialize", spy)
    loads = []

    def spying_load(real):
        def load(*args, **kwargs):
            loads.append(kwargs)
            return real(*args, **kwargs)

        return load

    monkeypatch.setattr(trial_module, "load", spying_load(trial_module.load))
    monkeypatch.setattr(kept_backbone, "load", spying_load(kept_backbone.load))
    kept_backbone.drop()
    session = session_factory(f"stage{stage}")
    config = TrialConfig.from_dict({**BASE, "zero_stage": stage})
    trial_module.train(config, session, keep_backbone=keep)
    kept_backbone.drop()
    assert loads == [{"transformer_on_host": True}]
    if stage == 3:
        assert seen["partitioned"] and seen["held_elements"] == 0 and seen["shards"] > 0
    else:
        assert not seen["partitioned"] and seen["held_elements"] > 0
    assert len(session.reports) == 2 and all(r["loss"] > 0 for r in session.reports)


def test_a_kept_backbone_goes_back_to_host_memory(session_factory, monkeypatch):
    from trainables import kept_backbone

    moves = []
    to = torch.nn.Module.to

    def recording_to(module, *args, **kwargs):
        moves.append((module, args, kwargs))
        return to(module, *args, **kwargs)

    kept_backbone.drop()
    trial_module.train(TrialConfig.from_dict(BASE), session_factory("kept"), keep_backbone=True)
    kept = kept_backbone._kept[1]
    monkeypatch.setattr(torch.nn.Module, "to", recording_to)
    kept_backbone.give_back("cogvideox", "tiny", None, kept, _EngineStub())
    kept_backbone.drop()
    assert [(args, kwargs) for m, args, kwargs in moves if m is kept.transformer] == [
        ((torch.device("cpu"),), {})
    ]


class _EngineStub:
    """give_back needs only the engine's hooks (none here) and its destroy."""

    module_forward_pre_hook = module_forward_post_hook = None

    def destroy(self) -> None:
        pass


def test_after_a_zero3_trial_a_reused_process_trains_the_next_trial_as_a_fresh_one_does(
    session_factory,
):
    """Ray reuses a trial's process for the next trial. A ZeRO-3 trial leaves its backbone's
    weights partitioned and torch's linear swapped for DeepSpeed's: nothing of it is kept, and
    the next trial gets torch's linear back (it failed with "mat2 must be a matrix")."""
    import torch.nn.functional as F

    def losses(name: str, keep: bool, **options) -> list[float]:
        session = session_factory(name)
        config = TrialConfig.from_dict({**BASE, **options})
        trial_module.train(config, session, keep_backbone=keep)
        return [r["loss"] for r in session.reports]

    fresh = losses("fresh", keep=False)
    torch_linear = F.linear
    losses("zero3", keep=True, zero_stage=3)
    assert F.linear is not torch_linear  # DeepSpeed's, still
    assert losses("next", keep=True) == fresh
    assert F.linear is torch_linear
