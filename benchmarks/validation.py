"""Validation sampling: `--inputs` validation inputs sampled one by one against `sample_batch`
at once (`Backbone.sample_many`), per tiny backbone, interleaved `--repeats` times (medians).

Both ways use the trial's own code: the backbone with its LoRA added, the prompt encoded, the
task's validation inputs at the trial's size. The samples must agree (largest difference of the
last frame's latent and of the video's pixels is printed). On this CPU the gain is the per-call
overhead of the pipeline (preprocessing, scheduler, Python per layer) shared by the batch; on a
GPU the batch also fills the card, which one tiny video does not.

    .venv/bin/python -m benchmarks.validation [--inputs 8] [--sample-steps 10] [--repeats 3]
        [--backbones cogvideox,ltx,wan] [--out benchmarks/results/validation.json]
"""

from __future__ import annotations

import statistics
import sys
import time

from benchmarks import harness


def measure(name: str, inputs: int, sample_steps: int, repeats: int) -> dict:
    import numpy as np
    import torch

    from tasks import get_task
    from trainables.backbones import load
    from trainables.config import TrialConfig
    from trainables.lora import add_lora
    from trainables.trial import validate

    torch.set_num_threads(1)  # one trial per core, as sweeps run here
    config = TrialConfig.from_dict(
        {"task": "hflip", "backbone": name, "n_val": inputs, "sample_steps": sample_steps}
    )
    backbone = load(config.backbone, config.scale, config.weights)
    backbone.use_prompt(backbone.encode_prompt(config.prompt))
    add_lora(backbone, config.modules, config.rank, config.alpha, config.seed)
    split = get_task(config.task).pairs(
        config.n, config.seed, n_val=inputs, size=(config.height, config.width)
    )
    images = [pair.x for pair in split.val]
    batch = config.sample_batch
    args = (config.frames, config.sample_steps, config.seed)

    def one_by_one() -> list:
        return [backbone.sample(image, *args) for image in images]

    def batched() -> list:  # the trial's own validation (sampling and scoring)
        return validate(backbone, config, split.val)[1]

    one_by_one()  # warm-up
    times: dict[str, list[float]] = {"one_by_one": [], "batched": []}
    samples: dict[str, list] = {}
    for repeat in range(repeats):
        ways = [("one_by_one", one_by_one), ("batched", batched)]
        for way, run in ways if repeat % 2 == 0 else ways[::-1]:
            start = time.perf_counter()
            samples[way] = run()
            times[way].append(time.perf_counter() - start)
    pairs = list(zip(samples["one_by_one"], samples["batched"], strict=True))
    one, many = (statistics.median(times[w]) for w in ("one_by_one", "batched"))
    return {
        "backbone": name,
        "inputs": inputs,
        "sample_batch": min(batch, inputs),
        "size": f"{config.frames}x{config.height}x{config.width}",
        "sample_steps": sample_steps,
        "one_by_one_s": one,
        "batched_s": many,
        "speedup": one / many,
        "max_latent_diff": max(
            float((a.last_latent - b.last_latent).abs().max()) for a, b in pairs
        ),
        "max_pixel_diff": max(
            int(np.abs(a.video.astype(int) - b.video.astype(int)).max()) for a, b in pairs
        ),
    }


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, "benchmarks/results/validation.json")
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--sample-steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backbones", default="cogvideox,ltx,wan")
    quick = {"inputs": 2, "sample_steps": 2, "repeats": 1, "backbones": "ltx"}
    args = harness.parse(parser, argv, quick=quick)
    rows = [
        measure(name, args.inputs, args.sample_steps, args.repeats)
        for name in args.backbones.split(",")
    ]
    print("| backbone | inputs | at once | one by one s | batched s | speedup | max diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['backbone']} | {r['inputs']} | {r['sample_batch']} | {r['one_by_one_s']:.3f} "
            f"| {r['batched_s']:.3f} | {r['speedup']:.2f}× | latent {r['max_latent_diff']:.1e}, "
            f"pixels {r['max_pixel_diff']} |"
        )
    harness.write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
