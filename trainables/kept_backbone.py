"""The frozen backbone a reused Ray actor keeps for its next trial of the same backbone, scale
and weights (orchestrator.tuner reuses actors). At full scale building one reads 10-30 GB of
weights from disk and moves them to the GPU: tens of seconds a trial, while its GPU share
waits. A trial gets it back as it was built: what the last trial added to it (LoRA layers,
DeepSpeed's module hooks, gradient checkpointing) is removed when that trial ends, and a trial
that failed leaves nothing to reuse (the next builds afresh)."""

from __future__ import annotations

import gc
from typing import Any

import torch

from trainables.backbones import Backbone, load, weights_identity

_kept: tuple[tuple[str, str, str], Backbone] | None = None
HOST = torch.device("cpu")


def take(name: str, scale: str, weights: Any) -> Backbone:
    """The kept backbone if it is this one (it is no longer kept while the trial runs), else a
    newly built one (the kept one, if any, is let go first: one model per process); either way
    with its transformer in host memory, where a trial wants it until its engine is built."""
    global _kept
    kept, _kept = _kept, None
    # By the weights' identity, not their URI: a source rewritten or a branch moved since the
    # kept one was loaded is loaded afresh (a listing, no fetch: trainables.weight_sources).
    if kept is not None and kept[0] == (name, scale, weights_identity(name, scale, weights)):
        return kept[1]
    del kept
    gc.collect()
    return load(name, scale, weights, transformer_on_host=True)


def give_back(name: str, scale: str, weights: Any, backbone: Backbone, engine: Any) -> None:
    """Strip what the finished trial added and keep the backbone for the next trial, under
    the identity of the weights it was loaded from (`weights` names where they came from)."""
    global _kept
    # DeepSpeed's engine hooks the module's forward (closures over the engine): removed, or
    # the engine would outlive its trial and run in the next one's forward.
    for handle in (engine.module_forward_pre_hook, engine.module_forward_post_hook):
        if handle is not None:
            handle.remove()
    engine.destroy()
    transformer = backbone.transformer
    transformer.unload_lora()
    if transformer.is_gradient_checkpointing:
        transformer.disable_gradient_checkpointing()
    # Back to host memory, where a trial's transformer waits until its engine is built (a copy
    # over PCIe, seconds at most: the weights are not read from disk again).
    transformer.to(HOST)
    _kept = ((name, scale, backbone.source_id), backbone)


def drop() -> None:
    """Keep nothing (the next trial builds its backbone afresh)."""
    global _kept
    _kept = None
