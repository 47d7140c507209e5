"""CogVideoX1.5's VAE at Table 3's clip, with and without diffusers' tiling: peak memory, time.

On one H200 (`benchmarks.full_scale`) the full-scale CogVideoX1.5 trial peaked at 29.4 GiB
reserved in its VAE decode, where the paper trained it on one 24 GB RTX 4090. THUDM's scripts
turn on `vae.enable_tiling()`; this measures what that saves, encoding the 9-frame clip and
decoding latents of its latent length ((frames − 1) / 4 + 1 = 3), in bf16 with random weights
from the hub config (`trainables.hub_configs`): random weights take the same memory and time as
real ones. The output difference it prints is between two decodes of a random VAE: a check
that tiling ran, not a measure of its seams on real weights.

    python -m benchmarks.vae_tiling [--out benchmarks/results/vae_tiling.json]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks import harness

DEFAULT_OUT = Path(__file__).parent / "results" / "vae_tiling.json"


def measure(vae, call, device) -> dict:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.no_grad():
        out = call()
    if device.type == "cuda":
        torch.cuda.synchronize()
    row = {"seconds": time.perf_counter() - start}
    if device.type == "cuda":
        row["allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
        row["reserved_gb"] = torch.cuda.max_memory_reserved() / 2**30
    return row | {"out": out}


@harness.entry
def main(argv: list[str] | None = None) -> int:
    import diffusers
    import torch

    from trainables.hub_configs import hub_config

    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--frames", type=int, default=9)
    args = harness.parse(parser, argv, quick={"height": 32, "width": 48, "frames": 5})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    config = hub_config("cogvideox", "vae")
    vae = getattr(diffusers, config["_class_name"]).from_config(config).to(device, dtype)
    vae.eval()
    video = torch.rand(1, 3, args.frames, args.height, args.width, device=device, dtype=dtype)
    latent_frames = (args.frames - 1) // vae.config.temporal_compression_ratio + 1
    space = 2 ** (len(vae.config.block_out_channels) - 1)
    latents = torch.randn(
        1,
        vae.config.latent_channels,
        latent_frames,
        args.height // space,
        args.width // space,
        device=device,
        dtype=dtype,
    )
    rows = []
    decoded = {}
    for tiled in (False, True):
        if tiled:
            vae.enable_tiling()
        encode = measure(vae, lambda: vae.encode(video).latent_dist.mode(), device)
        decode = measure(vae, lambda: vae.decode(latents).sample, device)
        decoded[tiled] = decode.pop("out").float()
        encode.pop("out")
        rows.append(
            {
                "tiled": tiled,
                "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                "dtype": str(dtype),
                "clip": [args.frames, args.height, args.width],
                "latents": list(latents.shape),
                "encode": encode,
                "decode": decode,
            }
        )
        print(f"tiled={tiled}: encode {encode}, decode {decode}", flush=True)
    difference = (decoded[True] - decoded[False]).abs()
    rows.append(
        {
            "decoded_shape": list(decoded[False].shape),
            "tiled_vs_untiled_max_abs": float(difference.max()),
            "tiled_vs_untiled_mean_abs": float(difference.mean()),
        }
    )
    print(rows[-1])
    harness.write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
