"""What the backbone modules build from: the tiny scale's T5 text encoder and tokenizer, seeded
random weights, video frames to and from the pipelines' tensors, and the module names of an
attention's projections (for `Backbone.lora_groups`). Like `_base`, it imports no torch,
diffusers or transformers when it loads."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import T5Tokenizer

#: The tiny scale's text encoder: a T5 (or UMT5) of one block, 32 wide.
TINY_T5 = dict(
    vocab_size=128,
    d_model=32,
    d_kv=8,
    d_ff=64,
    num_layers=1,
    num_heads=4,
    relative_attention_num_buckets=8,
)


_Function = TypeVar("_Function", bound=Callable[..., Any])


def no_grad(function: _Function) -> _Function:
    """`torch.no_grad()` as a decorator that imports torch when called, not when its module
    loads."""

    @functools.wraps(function)
    def without_gradients(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.no_grad():
            return function(*args, **kwargs)

    return without_gradients  # type: ignore[return-value]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Build random tiny weights from a fixed seed without disturbing the caller's RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def tiny_t5_tokenizer(**kwargs: object) -> T5Tokenizer:
    """A Unigram T5 tokenizer built in memory: no sentencepiece file can be downloaded."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(chr(c), -3.0) for c in range(ord("a"), ord("z") + 1)]
    pieces += [("▁" + chr(c), -2.5) for c in range(ord("a"), ord("z") + 1)]
    pieces += [(".", -3.0), (",", -3.0)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, **kwargs)


def frames_to_uint8(video: np.ndarray) -> np.ndarray:
    """The pipelines' [0, 1] float frames → uint8, rounded."""
    return np.clip(np.rint(video * 255.0), 0, 255).astype(np.uint8)


def to_unit_range(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N×)F×H×W×3 frames → float (N×)C×F×H×W in [-1, 1], as diffusers' VideoProcessor
    normalizes (a batch of clips keeps its leading dimension)."""
    import torch

    if frames.dtype != np.uint8 or frames.ndim not in (4, 5) or frames.shape[-1] != 3:
        raise ValueError(f"expected (N×)F×H×W×3 uint8 frames, got {frames.dtype} {frames.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).float().div(127.5).sub(1.0)
    return tensor.movedim(-1, -4)


def attention_linears(
    prefix: str, width: int, kv_in: int | None = None
) -> dict[str, tuple[int, int]]:
    """An attention's projections: name → (in features, out features); `kv_in`: what its keys
    and values read, where not `width` (a cross-attention to a narrower context)."""
    kv = width if kv_in is None else kv_in
    return {
        f"{prefix}.to_q": (width, width),
        f"{prefix}.to_k": (kv, width),
        f"{prefix}.to_v": (kv, width),
        f"{prefix}.to_out.0": (width, width),
    }


def both_attentions(projections: tuple[str, ...]) -> tuple[str, ...]:
    """`projections` of a block's self-attention (attn1), then of its cross-attention (attn2)."""
    return tuple(f"{attn}.{p}" for attn in ("attn1", "attn2") for p in projections)
