"""Validation inputs are sampled several at once where the backbone's pipeline takes a batch of
first frames (CogVideoX1.5, LTX-Video), each with its own generator: the same videos as sampled
one by one; a trial's validation samples `sample_batch` inputs per pipeline call."""

import numpy as np
import pytest
import torch

from tasks import get_task
from trainables.backbones import load
from trainables.config import TrialConfig
from trainables.trial import validate

BATCHING = {"cogvideox": True, "ltx": True, "wan": False}


def images(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize("name", sorted(BATCHING))
def test_batched_samples_are_the_ones_sampled_one_by_one(name, monkeypatch):
    backbone = load(name, "tiny")
    backbone.use_prompt(backbone.encode_prompt("a prompt"))
    pipeline_class = type(backbone.pipeline)
    calls: list[int] = []
    call = pipeline_class.__call__

    def counting(pipeline, *args, **kwargs):
        calls.append(len(kwargs["image"]) if isinstance(kwargs["image"], list) else 1)
        return call(pipeline, *args, **kwargs)

    alone = [backbone.sample(image, 9, 2, seed=5) for image in images(3)]
    monkeypatch.setattr(pipeline_class, "__call__", counting)
    together = backbone.sample_many(images(3), 9, 2, seed=5)
    assert calls == ([3] if BATCHING[name] else [1, 1, 1])
    assert len(together) == 3
    for one, batched in zip(alone, together, strict=True):
        torch.testing.assert_close(batched.last_latent, one.last_latent, atol=1e-5, rtol=1e-5)
        assert np.abs(batched.video.astype(int) - one.video.astype(int)).max() <= 1
    # Different inputs, different videos: the batch is not one input repeated.
    assert not np.array_equal(together[0].video, together[1].video)


def test_validation_samples_sample_batch_inputs_per_call(monkeypatch):
    config = TrialConfig.from_dict(
        {"task": "hflip", "backbone": "ltx", "n_val": 5, "sample_batch": 2, "sample_steps": 2,
         "height": 32, "width": 32}
    )  # fmt: skip
    backbone = load("ltx", "tiny")
    backbone.use_prompt(backbone.encode_prompt(config.prompt))
    split = get_task("hflip").pairs(config.n, config.seed, n_val=5, size=(32, 32))
    sizes: list[int] = []
    sample_many = backbone.sample_many

    def spying(images, *args, **kwargs):
        sizes.append(len(images))
        return sample_many(images, *args, **kwargs)

    monkeypatch.setattr(backbone, "sample_many", spying)
    scores, samples = validate(backbone, config, split.val)
    assert sizes == [2, 2, 1]
    assert len(samples) == 5 and set(scores) == {f"val_{k}" for k in scores_keys(config)}


def scores_keys(config: TrialConfig) -> list[str]:
    task = get_task(config.task)
    split = task.pairs(1, 0, n_val=1, size=(32, 32))
    return list(task.score([split.val[0].y], split.val))
