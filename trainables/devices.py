"""The process's share of its GPU. Kept free of heavy imports: the orchestrator's CLI reads the
resources policy (which re-exports this) before anything else loads."""

from __future__ import annotations


def cap_cuda_memory(fraction: float) -> bool:
    """Cap this process's CUDA caching allocator at `fraction` of the current device, so a
    fractional trial fails with an out-of-memory error of its own instead of starving the trials
    sharing its card. False, doing nothing, where there is no CUDA."""
    import torch

    if not torch.cuda.is_available():
        return False
    torch.cuda.set_per_process_memory_fraction(
        min(1.0, float(fraction)), torch.cuda.current_device()
    )
    return True
