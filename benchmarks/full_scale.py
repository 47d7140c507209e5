"""Full-size backbones with random weights, trained and sampled as a full-scale trial runs them:
seconds per LoRA step, peak memory and sampling time, next to `orchestrator.gpu_estimates`.

"Ready for a GPU": on one card (bf16, `trainables.backbones.default_device/default_dtype`)
this is the first measurement of what the estimates only compute. Random weights time the same
as real ones, and nothing is downloaded. Per backbone (`--backbones`), one at a time, each freed
before the next (CUDA peak statistics reset per phase):

- *build*: the diffusers transformer and VAE from the hub configs
  (`trainables.hub_configs.hub_config`, `_class_name` names the class), built as
  `from_pretrained(..., dtype=...)` builds them (under that default dtype, modules a class keeps
  in fp32 upcast; Wan's VAE and CLIP in fp32, as `wan.load` asks), on the device; the scheduler
  from its config; Wan's CLIP image encoder from its config (the image processor with
  `CLIPImageProcessor`'s defaults, which are ViT-H/14's 224 px preprocessing); all assembled
  into the model's own diffusers pipeline and wrapped in the project's Backbone class as `load()`
  wraps it (`transformer_on_host=True`, as `trainables.trial.train` loads it: the transformer
  waits in host memory, and the engine brings it to the device). `--layers K` gives the
  transformer (and the text encoder and CLIP encoder: they are stacks of blocks too) K blocks
  instead of the config's; everything else stays full size, widths included.
- *prompt*: the trial's prompt-cache miss. The text encoder (T5-XXL, UMT5-XXL for Wan) is built
  from its config with random weights in the trial's dtype and run through the backbone's *own*
  `encode_prompt` (its text-only pipeline, padding, masks and Wan's 512 tokens), then dropped.
  Encoding, not random embeddings, is the default because this moment is part of the peak the
  estimates size a trial by (LTX's peak is its T5-XXL), and because it gives exactly the
  embeddings' shapes and masks the trial caches. `--prompt stand-in` is the trial's cache hit,
  where no text encoder is ever loaded: the same `encode_prompt` path with a stand-in encoder of
  no blocks and the tokenizer's vocabulary (full width: the embeddings have the shapes and masks
  of the real ones, at no cost); for CPU runs, where a random full-vocabulary encoder takes ~35 s
  to initialize (UMT5's 256k × 4096 embedding). No tokenizer can be downloaded: both use the
  in-memory T5 tokenizer of `trainables.backbones.tiny_t5_tokenizer` (its ids lie within
  every vocabulary; the token count of the prompt differs from the hub tokenizer's, the padded
  length does not).
- *latents*: the trial's latent-cache miss, `backbone.prepare_example` of each training video
  (a transition video of the hflip task at the trial's size, 9 frames).
- *training*: `trainables.lora.add_lora` with the backbone's Table 3 group, rank and alpha,
  `trainables.engine.build_engine` with `trainables.trial.optim_settings` of the trial's
  `TrialConfig` (scale "full", placed as a sweep places it: gradient checkpointing on), then
  `--warmup` + `--steps` steps of the trial's loop body (batch drawn on the device, the
  backbone's own loss, `engine.backward`, `engine.step`). The losses recorded are those values.
  Seconds per step: the median of the timed steps (the device synchronized at each step's end).
- *validation*: `trainables.trial.validate` of one validation input at `--sample-steps` steps
  (the model's own pipeline, its VAE decode included): the sampling time.

Peak memory per phase: on CUDA `torch.cuda.max_memory_allocated` and `max_memory_reserved`
(the caching allocator; the CUDA context is outside both), on the CPU the process's peak
resident set within the phase (Linux's VmHWM, reset through /proc/self/clear_refs; where that
cannot be reset, `ru_maxrss`, the process's peak so far). Next to them: the estimates of
`orchestrator.gpu_estimates` for the backbone (its `memory_gb`, the policy's figure with the
10 % allocator margin and 2 GiB context; each moment's allocations, comparable to the allocated
peaks) and its seconds per step on the card, where the card is one of
`benchmarks.performance_model.CARDS`.
They hold for a GPU at the Table 3 settings only: a CPU run, other sizes or `--layers` mark
them not comparable (and print them for reference).

Results go to `--out` (JSON, atomically, after each backbone: a run stopped halfway keeps the
backbones done). A backbone that fails is recorded with its error and the others still run;
the exit status is then 1. The total wall time is printed: on one H200 the defaults are meant
to take under 8 minutes for all three (not measured yet: no GPU where this was written; by the
estimates' step times, ~2-3 minutes, most of it Wan's 14B build, host round trip and sampling).

    .venv/bin/python -m benchmarks.full_scale [--backbones cogvideox,ltx,wan] [--layers K]
        [--height H --width W] [--steps 5] [--warmup 1] [--sample-steps 50]
        [--prompt encode|stand-in] [--out benchmarks/results/full_scale.json]
        [--quick: LTX alone, the small CPU run below with one step]

    # small, on the CPU (what tests/benchmarks/test_full_scale.py runs):
    .venv/bin/python -m benchmarks.full_scale --layers 1 --height 64 --width 64 --steps 1 \\
        --sample-steps 2 --prompt stand-in --out /tmp/full_scale.json

One module over 400 lines: it is the one prepared command a lent GPU runs (building each
full-size model on the device, the trial's phases and their memory), kept whole so that the
run needs nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import resource
import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks import harness

DEFAULT_OUT = Path(__file__).parent / "results" / "full_scale.json"
#: DeepSpeed's CPU comm op is JIT-built once and reused from here (as the tests and
#: benchmarks.memory do).
EXTENSIONS = str(Path.home() / ".cache" / "vdm-sweeps" / "torch_extensions")
BACKBONES = ("cogvideox", "ltx", "wan")
#: The pipeline each backbone's `load` builds, and its Backbone class.
PIPELINES = {
    "cogvideox": "CogVideoXImageToVideoPipeline",
    "ltx": "LTXImageToVideoPipeline",
    "wan": "WanImageToVideoPipeline",
}
#: Components a backbone's `load` asks in fp32 whatever the trial's dtype (wan.load).
FP32_PARTS = {"wan": ("vae", "image_encoder")}
#: The block lists of the transformers, the text encoders and the CLIP encoder.
BLOCK_LISTS = ("transformer_blocks", "blocks", "encoder.block", "vision_model.encoder.layers")
TASK = "hflip"
#: Training videos prepared (the batch is drawn from them with replacement, as a trial draws).
N_TRAIN = 2
GIB = 2**30


# ---- memory -------------------------------------------------------------------------------------


def _vm_hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_vm_hwm() -> bool:
    """Reset the process's peak resident set (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory and wall time of each named phase."""

    def __init__(self, device: Any) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.phases: dict[str, dict[str, float]] = {}
        self.per_phase = True

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        import torch

        self.restart_peak()
        started = time.perf_counter()
        yield
        if self.cuda:
            torch.cuda.synchronize(self.device)
        record = {"seconds": time.perf_counter() - started}
        if self.cuda:
            record["allocated_gb"] = torch.cuda.max_memory_allocated(self.device) / GIB
            record["reserved_gb"] = torch.cuda.max_memory_reserved(self.device) / GIB
        else:
            hwm = _vm_hwm_bytes() if self.per_phase else None
            peak = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            record["rss_gb"] = peak / GIB if hwm is not None else peak * 1024 / GIB
        self.phases[name] = record

    def restart_peak(self) -> None:
        """Count the phase's peak from here (what is allocated now stays counted)."""
        import torch

        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.per_phase = _reset_vm_hwm() and self.per_phase

    def summary(self) -> dict[str, Any]:
        """The peaks over the trial's moments (prompt, latents, training, validation), not the
        build: the trial loads its weights from disk straight into their dtype."""
        moments = {k: v for k, v in self.phases.items() if k != "build"}
        if self.cuda:
            return {
                "kind": "cuda",
                "peak_allocated_gb": max(p["allocated_gb"] for p in moments.values()),
                "peak_reserved_gb": max(p["reserved_gb"] for p in moments.values()),
                "phases": self.phases,
            }
        return {
            "kind": "rss" if self.per_phase else "rss_process_peak",
            "peak_rss_gb": max(p["rss_gb"] for p in moments.values()),
            "phases": self.phases,
        }


def free_memory() -> None:
    """Collect the last backbone (peft and DeepSpeed leave reference cycles) and give its memory
    back: the CUDA allocator's cached blocks, and on Linux the C heap's free pages (glibc keeps
    them otherwise, and the next backbone's resident set would count them)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# ---- building from the hub configs ---------------------------------------------------------------


@contextlib.contextmanager
def default_dtype_of(dtype: Any) -> Iterator[None]:
    """Build under `dtype`, as diffusers' and transformers' `from_pretrained(dtype=...)` do."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_diffusers_model(config: dict, device: Any, dtype: Any) -> Any:
    """A diffusers model from its config with random weights, on `device`, in `dtype` as
    `from_pretrained(dtype=...)` leaves it: built under that default dtype, then the weights of
    the modules the class keeps in fp32 (`_keep_in_fp32_modules`, Wan's norms, time embedder and
    modulation tables) upcast, as diffusers' loader casts them (by module-name component)."""
    import diffusers
    import torch

    cls = getattr(diffusers, config["_class_name"])
    with default_dtype_of(dtype), torch.device(device):
        model = cls.from_config(config)
    keep = cls._keep_in_fp32_modules or []
    for name, tensor in model.state_dict(keep_vars=True).items():
        if tensor.is_floating_point() and any(part in keep for part in name.split(".")):
            tensor.data = tensor.data.to(torch.float32)
    return model.eval()


def build_transformers_model(config: dict, device: Any, dtype: Any) -> Any:
    """A transformers model (the class its config's `architectures` names) with random weights."""
    import torch
    import transformers

    cls = getattr(transformers, config["architectures"][0])
    with torch.device(device):
        model = cls._from_config(transformers.AutoConfig.for_model(**config), dtype=dtype)
    return model.eval()


def block_list(model: Any) -> Any:
    """The model's stack of repeated blocks."""
    for path in BLOCK_LISTS:
        module = model
        for attribute in path.split("."):
            module = getattr(module, attribute, None)
        if module is not None:
            return module
    raise AttributeError(f"{type(model).__name__} has none of {', '.join(BLOCK_LISTS)}")


def params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def transformer_shape(name: str, transformer: Any) -> dict[str, Any]:
    """What was built against what the hub config says: blocks and attention width."""
    from trainables.hub_configs import hub_config

    config = hub_config(name, "transformer")
    blocks = block_list(transformer)
    return {
        "class": type(transformer).__name__,
        "layers": len(blocks),
        "config_layers": config["num_layers"],
        # The real width of the built attention, against heads × head dim of the config.
        "inner_dim": blocks[0].attn1.to_q.out_features,
        "config_inner_dim": config["num_attention_heads"] * config["attention_head_dim"],
        "params": params(transformer),
    }


def build_pipeline(name: str, device: Any, dtype: Any, layers: int | None) -> tuple[Any, dict]:
    """The backbone's diffusers pipeline from its hub configs (no text encoder: the trial encodes
    the prompt apart), and what was built. The transformer is left in host memory."""
    import diffusers
    import torch

    from trainables.backbones import backbone_class
    from trainables.hub_configs import hub_config

    def dtype_of(part: str) -> Any:
        return torch.float32 if part in FP32_PARTS.get(name, ()) else dtype

    config = hub_config(name, "transformer")
    if layers is not None:
        config["num_layers"] = layers
    transformer = build_diffusers_model(config, device, dtype)
    built = {"transformer": transformer_shape(name, transformer)}
    transformer.to("cpu")  # the trial loads it into host memory (transformer_on_host)
    free_memory()
    vae = build_diffusers_model(hub_config(name, "vae"), device, dtype_of("vae"))
    built["vae"] = {"class": type(vae).__name__, "params": params(vae), "dtype": str(vae.dtype)}
    scheduler_config = hub_config(name, "scheduler")
    scheduler = getattr(diffusers, scheduler_config["_class_name"]).from_config(scheduler_config)
    built["scheduler"] = type(scheduler).__name__
    components = dict(
        transformer=transformer, vae=vae, scheduler=scheduler, tokenizer=None, text_encoder=None
    )
    if "image_encoder" in backbone_class(name).hub_configs:
        from transformers import CLIPImageProcessor

        config = hub_config(name, "image_encoder")
        if layers is not None:
            config["num_hidden_layers"] = layers
        encoder = build_transformers_model(config, device, dtype_of("image_encoder"))
        components["image_encoder"] = encoder
        # The hub's image_processor folder is CLIP ViT-H/14's preprocessing: shortest edge and
        # centre crop 224, bicubic, OpenAI CLIP mean/std; CLIPImageProcessor's defaults.
        components["image_processor"] = CLIPImageProcessor()
        built["image_encoder"] = {
            "class": type(encoder).__name__,
            "layers": len(block_list(encoder)),
            "config_layers": hub_config(name, "image_encoder")["num_hidden_layers"],
            "hidden_size": encoder.config.hidden_size,
            "params": params(encoder),
            "dtype": str(encoder.dtype),
        }
    pipeline = getattr(diffusers, PIPELINES[name])(**components)
    return pipeline, built


def encode_prompt(
    backbone: Any,
    name: str,
    layers: int | None,
    stand_in: bool,
    built: Callable[[], None] = lambda: None,
) -> tuple[dict, dict[str, Any]]:
    """The backbone's own `encode_prompt` with a random text encoder built from the hub config
    (full size, or K blocks; a stand-in of no blocks and the tokenizer's vocabulary for
    `stand_in`), dropped after. The backbone takes its (tiny) tokenizer and encoder from its
    `load_text_encoder()` when it has no weights folder: that is what is swapped for the call.
    `built()` is called once the encoder is built: building it from a config briefly holds a
    second embedding table (T5's stack makes its own before it is tied to the shared one), which
    loading its weights does not."""
    from trainables.backbones import DEFAULT_PROMPT, tiny_t5_tokenizer
    from trainables.hub_configs import hub_config

    config = hub_config(name, "text_encoder")
    tokenizer = tiny_t5_tokenizer()  # the pipeline's own padding length, no tiny cap (LTX)
    if stand_in:
        config.update(num_layers=0, vocab_size=len(tokenizer))
    elif layers is not None:
        config["num_layers"] = layers
    encoder = build_transformers_model(config, backbone.device, backbone.dtype)
    info = {
        "mode": "stand-in" if stand_in else "encode",
        "class": type(encoder).__name__,
        "layers": len(block_list(encoder)),
        "config_layers": hub_config(name, "text_encoder")["num_layers"],
        "d_model": encoder.config.d_model,
        "vocab_size": encoder.config.vocab_size,
        "params": params(encoder),
    }
    built()
    # The encoder is dropped when this returns, as the backbone drops its own after encoding.
    with mock.patch.object(backbone, "load_text_encoder", lambda: (tokenizer, encoder)):
        embeds = backbone.encode_prompt(DEFAULT_PROMPT)
    width = embeds["prompt_embeds"].shape[-1]
    if width != info["d_model"]:
        raise RuntimeError(
            f"{name}.encode_prompt did not use the encoder built here (embeddings {width} wide, "
            f"the encoder {info['d_model']}): its tiny factories changed"
        )
    info["shapes"] = {key: list(value.shape) for key, value in embeds.items()}
    if "prompt_attention_mask" in embeds:  # LTX: the prompt's tokens, then padding
        info["mask_tokens"] = int(embeds["prompt_attention_mask"].sum())
    return embeds, info


# ---- the estimates -------------------------------------------------------------------------------


def identify_card(device: Any) -> str | None:
    """The `performance_model.CARDS` key of this CUDA device, by name ("NVIDIA H200" → h200)."""
    import torch

    from benchmarks.performance_model import CARDS

    if device.type != "cuda":
        return None
    compact = torch.cuda.get_device_name(device).lower().replace(" ", "").replace("-", "")
    return next((key for key in CARDS if key in compact), None)


def estimates(name: str, device: Any, card: str | None, config: Any, layers: int | None) -> dict:
    from benchmarks import performance_model as perf
    from orchestrator import gpu_estimates as g

    spec = g.SPECS[name]
    moments = g.moments_gb(spec, sample_batch=1)  # what this benchmark does: one input
    model = g.moments_gb(spec, sample_batch=1, measured=False)
    moment, peak = g.peak_gb(spec)
    why = []
    if device.type != "cuda":
        why.append("a CPU run")
    elif card is None:
        why.append("a card gpu_estimates does not know")
    if layers is not None and layers != spec.layers:
        why.append(f"{layers} blocks, not {spec.layers}")
    if (config.height, config.width, config.frames) != (spec.height, spec.width, spec.frames):
        why.append(f"{config.frames}×{config.height}×{config.width}, not Table 3's size")
    return {
        "memory_gb": g.memory_gb(name),
        "peak_moment": moment,
        "peak_gb": peak,
        "moments_gb": {m: g.with_margins(sum(parts.values())) for m, parts in moments.items()},
        "moments_allocated_gb": {m: sum(parts.values()) for m, parts in moments.items()},
        "model_allocated_gb": {m: sum(parts.values()) for m, parts in model.items()},
        "card": card,
        "seconds_per_step": None if card is None else perf.seconds_per_step(name, card),
        "paper_card": spec.paper_card,
        "paper_seconds_per_step": perf.paper_seconds(name),
        "comparable": not why,
        "not_comparable_because": why,
    }


# ---- one backbone --------------------------------------------------------------------------------


def synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from tasks import get_task, render
    from trainables.backbones import backbone_class, default_device, default_dtype
    from trainables.config import TrialConfig
    from trainables.engine import build_engine, rank
    from trainables.lora import add_lora, trainable_parameters
    from trainables.sweep_trial import with_placement
    from trainables.trial import optim_settings, validate

    device = default_device()
    dtype = default_dtype(device)
    trial = TrialConfig.from_dict(
        dict(
            task=TASK,
            backbone=name,
            scale="full",
            n=N_TRAIN,
            n_val=1,
            steps=args.warmup + args.steps,
            sample_steps=args.sample_steps,
            height=args.height,
            width=args.width,
        )
    )
    config = with_placement(trial, {})  # as a sweep places a full-scale trial: checkpointing
    memory = PeakMemory(device)
    allocator_cap_gb = None
    if args.cap_at_estimate and device.type == "cuda":
        # The check of the estimate itself: the allocator capped, as a trial's share caps it
        # (`trainables.devices.cap_cuda_memory`), at what the policy's estimate allows it (its
        # `memory_gb` less the CUDA context, which lives outside the allocator).
        from orchestrator import gpu_estimates as g
        from trainables.devices import cap_cuda_memory

        allocator_cap_gb = g.memory_gb(name) - g.CONTEXT_GB
        total_gb = torch.cuda.get_device_properties(device).total_memory / 2**30
        cap_cuda_memory(allocator_cap_gb / total_gb)

    with memory.phase("build"):
        pipeline, built = build_pipeline(name, device, dtype, args.layers)
        backbone = backbone_class(name)(pipeline, device, dtype, None, transformer_on_host=True)
        del pipeline
    free_memory()  # what building cached (the trial loads weights straight into place)
    backbone.check_frames(config.frames)
    backbone.check_size(config.height, config.width)
    if config.gradient_checkpointing:
        backbone.enable_gradient_checkpointing()
    task = get_task(config.task)
    split = task.pairs(
        config.n, config.seed, n_val=config.n_val, size=(config.height, config.width)
    )
    videos = [render(p.x, p.y, config.trajectory, config.frames, config.seed) for p in split.train]

    with memory.phase("prompt"):
        embeds, built["text_encoder"] = encode_prompt(
            backbone, name, args.layers, args.prompt == "stand-in", memory.restart_peak
        )
        backbone.use_prompt(embeds)
        del embeds
    with memory.phase("latents"):
        examples = [backbone.prepare_example(video) for video in videos]

    losses: list[float] = []
    step_seconds: list[float] = []
    with memory.phase("training"):
        started = time.perf_counter()
        targets = add_lora(backbone, config.modules, config.rank, config.alpha, config.seed)
        engine = build_engine(backbone.transformer, optim_settings(config))
        synchronize(device)
        engine_s = time.perf_counter() - started
        lora_params = sum(p.numel() for p in trainable_parameters(backbone.transformer))
        generator = torch.Generator(backbone.device).manual_seed(config.seed + rank())
        stacked = {
            key: torch.stack([e[key] for e in examples]).to(backbone.device) for key in examples[0]
        }
        for _ in range(config.steps):  # the body of trainables.trial.train's loop
            synchronize(device)
            started = time.perf_counter()
            order = torch.randint(
                len(examples), (config.batch_size,), generator=generator, device=backbone.device
            )
            batch = {key: stacked[key].index_select(0, order) for key in stacked}
            loss = backbone.loss(engine, batch, generator)
            engine.backward(loss)
            engine.step()
            synchronize(device)
            step_seconds.append(time.perf_counter() - started)
            losses.append(loss.detach().float().item())
        del batch, loss, stacked, examples

    with memory.phase("validation"):
        scores, samples = validate(backbone, config, split.val)
    timed = step_seconds[args.warmup :]
    card = identify_card(device)
    row = {
        "backbone": name,
        "hub_id": backbone_class(name).hub_id,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "settings": {
            "frames": config.frames,
            "height": config.height,
            "width": config.width,
            "batch_size": config.batch_size,
            "modules": config.modules,
            "rank": config.rank,
            "alpha": config.alpha,
            "lr": config.lr,
            "gradient_checkpointing": config.gradient_checkpointing,
            "zero_stage": engine.zero_optimization_stage(),
            "warmup_steps_untimed": args.warmup,
            "timed_steps": args.steps,
            "sample_steps": config.sample_steps,
            "layers": args.layers,
            "prompt": args.prompt,
        },
        "built": built,
        "lora_modules": len(targets),
        "lora_params": lora_params,
        "engine_build_s": engine_s,
        "step_seconds": timed,
        "warmup_step_seconds": step_seconds[: args.warmup],
        "seconds_per_step": statistics.median(timed),
        "losses": losses,
        "sampling_seconds": memory.phases["validation"]["seconds"],
        "sample_shape": list(samples[0].video.shape),
        "sample_finite": bool(np.isfinite(samples[0].last_latent.numpy()).all()),
        "val_metrics": scores,
        "memory": memory.summary(),
        "allocator_cap_gb": allocator_cap_gb,
        "estimate": estimates(name, device, card, config, args.layers),
    }
    engine.destroy()
    return row


# ---- the report ----------------------------------------------------------------------------------


def memory_words(row: dict) -> str:
    m = row["memory"]
    if m["kind"] == "cuda":
        return f"{m['peak_allocated_gb']:.1f} / {m['peak_reserved_gb']:.1f} (alloc / reserved)"
    return f"{m['peak_rss_gb']:.2f} (RSS)"


def summary_line(row: dict) -> str:
    if "error" in row:
        return f"{row['backbone']}: FAILED after {row['elapsed_s']:.0f} s: {row['error']}"
    e, m = row["estimate"], row["memory"]
    phases = ", ".join(
        f"{name} {p['seconds']:.1f} s"
        + (
            f" {p['allocated_gb']:.1f}/{p['reserved_gb']:.1f} GiB"
            if "allocated_gb" in p
            else f" {p['rss_gb']:.2f} GiB"
        )
        for name, p in m["phases"].items()
    )
    mark = "" if e["comparable"] else " (not comparable: " + "; ".join(e["not_comparable_because"])
    mark += ")" if mark else ""
    return (
        f"{row['backbone']}: {row['seconds_per_step']:.3f} s/step (median of "
        f"{len(row['step_seconds'])}), sampling {row['sampling_seconds']:.1f} s "
        f"({row['settings']['sample_steps']} steps), peak {memory_words(row)} GiB; "
        f"losses {', '.join(f'{v:.4g}' for v in row['losses'])}\n"
        f"  phases: {phases}\n"
        f"  estimate: {e['memory_gb']:g} GB ({e['peak_moment']}; allocations "
        + ", ".join(f"{k} {v:.1f}" for k, v in e["moments_allocated_gb"].items())
        + " GiB), "
        + (
            f"{e['seconds_per_step']:.2f} s/step on {e['card']}"
            if e["seconds_per_step"] is not None
            else f"paper {e['paper_seconds_per_step']:g} s/step on {e['paper_card']}"
        )
        + mark
        + (
            f"\n  allocator capped at {row['allocator_cap_gb']:g} GiB (estimate less context)"
            if row.get("allocator_cap_gb")
            else ""
        )
    )


def table(rows: list[dict]) -> str:
    lines = [
        "| backbone | blocks (built / config) | size | s / step (median) | estimate s / step |"
        " sampling s (steps) | peak memory, GiB | estimate memory_gb (peak moment) | losses |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['backbone']} | failed: {row['error'][:80]} |")
            continue
        s, e, t = row["settings"], row["estimate"], row["built"]["transformer"]
        estimate_s = (
            f"{e['seconds_per_step']:.2f} ({e['card']})"
            if e["seconds_per_step"] is not None
            else f"paper {e['paper_seconds_per_step']:g} ({e['paper_card']})"
        )
        if not e["comparable"]:
            estimate_s += " n/c"
        lines.append(
            f"| {row['backbone']} | {t['layers']} / {t['config_layers']} |"
            f" {s['frames']}×{s['height']}×{s['width']} × {s['batch_size']} |"
            f" {row['seconds_per_step']:.3f} | {estimate_s} |"
            f" {row['sampling_seconds']:.1f} ({s['sample_steps']}) | {memory_words(row)} |"
            f" {e['memory_gb']:g} ({e['peak_moment']}){'' if e['comparable'] else ' n/c'} |"
            f" {', '.join(f'{v:.4g}' for v in row['losses'])} |"
        )
    return "\n".join(lines)


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument(
        "--layers", type=int, help="blocks of each transformer (default: the config's)"
    )
    parser.add_argument("--height", type=int, help="default: the backbone's Table 3 height")
    parser.add_argument("--width", type=int, help="default: the backbone's Table 3 width")
    parser.add_argument("--steps", type=int, default=5, help="timed LoRA steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed LoRA steps first")
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument(
        "--prompt",
        choices=("encode", "stand-in"),
        default="encode",
        help="encode with a random text encoder (the prompt-cache miss) or a stand-in of no "
        "blocks (the cache hit; for CPU runs)",
    )
    parser.add_argument(
        "--cap-at-estimate",
        action="store_true",
        help="cap the CUDA allocator at the policy's estimate of each backbone (memory_gb less "
        "the CUDA context): a run that passes shows the estimate holds",
    )
    quick = {"backbones": "ltx", "layers": 1, "height": 64, "width": 64, "steps": 1}
    quick |= {"warmup": 0, "sample_steps": 2, "prompt": "stand-in"}
    args = harness.parse(parser, argv, quick=quick)
    names = [n for n in args.backbones.split(",") if n]
    unknown = sorted(set(names) - set(BACKBONES))
    if unknown or not names:
        parser.error(f"unknown backbones {unknown}; allowed: {', '.join(BACKBONES)}")
    if args.steps < 1 or args.warmup < 0 or (args.layers is not None and args.layers < 1):
        parser.error("--steps must be ≥ 1, --warmup ≥ 0 and --layers ≥ 1")
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", EXTENSIONS)

    started = time.perf_counter()
    rows: list[dict] = []
    for name in names:
        try:
            row = measure(name, args)
        except Exception as error:  # recorded; the other backbones still run
            row = {
                "backbone": name,
                "error": f"{type(error).__name__}: {error}"[:2000],
                "traceback": traceback.format_exc()[-6000:],
            }
        free_memory()
        row["elapsed_s"] = time.perf_counter() - started
        rows.append(row)
        print(summary_line(row), flush=True)
        harness.write_rows(args.out, rows)
    total = time.perf_counter() - started
    print()
    print(table(rows))
    print(f"\ntotal wall time: {total:.1f} s for {len(rows)} backbone(s); written: {args.out}")
    failed = [row["backbone"] for row in rows if "error" in row]
    if failed:
        print(f"failed: {', '.join(failed)} (tracebacks in the JSON)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
