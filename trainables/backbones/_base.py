"""The contract every backbone module fulfils, so the engine and the trial never branch on a name.

A backbone is a *specification* in the finetrainers sense: it knows how its own image-to-video
pipeline conditions on the first frame, what its training objective is, how it samples, and which
module names make up each LoRA group. Everything else (LoRA, DeepSpeed, tracking) is generic.

Its facts (hub repo, Table 3 settings, tiny configs, step cost, size rules, …) are class
attributes of its `Backbone` subclass, read without building it: the registry
(`trainables.backbones`), the config checks and `orchestrator.gpu_estimates` read them for every
trial. So this module and the backbone modules import no torch, diffusers or transformers when
they load; each function imports them where it uses them.
"""

from __future__ import annotations

import abc
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from trainables.backbones._parts import TINY_T5, seeded, tiny_t5_tokenizer
from trainables.weight_sources import Weights, fetch_weights
from trainables.weights import adapter_metadata, canonicalize_safetensors_header, weights_source

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, T5Tokenizer

SCALES = ("tiny", "micro", "full")
#: The paper conditions on "one fixed task-agnostic prompt" (SPEC §3); sweeps may set another.
DEFAULT_PROMPT = "A smooth video transition from the first frame to the result."
LORA_GROUPS = ("QK", "VO", "QKVO", "all-linear", "QKVO+FF")


@dataclass(frozen=True)
class Sample:
    """A sampled video (F×H×W×3 uint8) and the latent of its last frame, for latent-space checks."""

    video: np.ndarray
    last_latent: torch.Tensor

    @property
    def last_frame(self) -> np.ndarray:
        return self.video[-1]


def default_device() -> torch.device:
    import torch

    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs as the paper trains; fp32 on the CPU, where bit-exact resumes are tested."""
    import torch

    return torch.bfloat16 if device.type == "cuda" else torch.float32


class Backbone(abc.ABC):
    """One image-to-video model: frozen components plus its own conditioning, loss and sampler.

    A backbone module (`trainables.backbones.<name>`) defines one subclass, whose class
    attributes below are all that is known of the backbone without loading it."""

    # -- facts, read without loading (registry, config checks, orchestrator.gpu_estimates) ---
    #: The module's name: what sweeps and configs call the backbone.
    name: ClassVar[str]
    #: The hub repo the `full` scale's weights folder is laid out as, and its subfolders.
    hub_id: ClassVar[str]
    subfolders: ClassVar[tuple[str, ...]]
    #: The subfolders whose hub configs `trainables/hub_configs/<name>/` ships (the full-size
    #: models' shapes, read by `orchestrator.gpu_estimates` and built on the meta device).
    hub_configs: ClassVar[tuple[str, ...]]
    #: The paper's Table 3 settings, and what changes at the tiny and micro scales.
    defaults: ClassVar[dict[str, Any]]
    tiny_defaults: ClassVar[dict[str, Any]]
    micro_defaults: ClassVar[dict[str, Any]] = {}
    #: The repo's pretrained micro weights (hub layout); None: no `micro` scale.
    micro_folder: ClassVar[Path | None] = None
    #: A full-scale step's seconds per task in the paper (Table 6; "default": tasks it did not
    #: time on this backbone), and the card it ran on (a key of
    #: `benchmarks.performance_model.CARDS`).
    paper_seconds_per_step: ClassVar[dict[str, float]]
    paper_card: ClassVar[str]
    #: VAE temporal compression: a video must have 1 + k·frame_stride frames.
    frame_stride: ClassVar[int]
    #: Height and width must be multiples of this (VAE × patch, or the pipeline's own rule).
    size_multiple: ClassVar[int] = 16
    #: The fewest sampling steps its scheduler takes.
    min_sample_steps: ClassVar[int] = 1
    #: The transformer's repeated block classes, where its diffusers class names none.
    repeated_blocks: ClassVar[tuple[str, ...]] = ()
    #: Where the transformer's blocks are (`<blocks>.<i>.<module>`), and each LoRA group's
    #: modules inside one block (see `lora_targets`).
    blocks: ClassVar[str] = "transformer_blocks"
    lora_groups: ClassVar[dict[str, tuple[str, ...]]]
    #: Parameters of the full-size models its hub configs describe, by subfolder (counted on
    #: the meta device; tests/trainables/test_full_size_configs.py checks them).
    hub_params: ClassVar[dict[str, int]]

    # -- how it loads ----------------------------------------------------------------------------
    #: The diffusers pipeline class (by name: diffusers is imported only to load).
    pipeline_class: ClassVar[str]
    #: Components kept in fp32 whatever the dtype, as the hub repo runs them (the transformer is
    #: then the only part cast to the training dtype).
    fp32_components: ClassVar[tuple[str, ...]] = ()
    #: The transformers classes of the text encoder and tokenizer in a weights folder.
    text_encoder_class: ClassVar[str] = "T5EncoderModel"
    tokenizer_class: ClassVar[str] = "T5Tokenizer"
    #: The tiny scale's text encoder (a config of `text_encoder_class`) and tokenizer arguments.
    tiny_text_encoder_config: ClassVar[dict[str, Any]] = TINY_T5
    tiny_tokenizer_kwargs: ClassVar[dict[str, Any]] = {}
    #: Names the tiny weights in cache keys (their configs: the same id, the same weights).
    tiny_id: ClassVar[str]
    #: What cached latents and prompt embeddings depend on: a folder's weights identity covers
    #: these subfolders.
    identity_parts: ClassVar[tuple[str, ...]] = ("vae", "text_encoder", "tokenizer")

    transformer: torch.nn.Module
    #: The model's own diffusers pipeline: sampling and adapter export go through it.
    pipeline: object

    @classmethod
    def settings(cls, scale: str = "tiny") -> dict[str, Any]:
        """The paper settings (Table 3), with the tiny or micro scale's overrides."""
        small = {"tiny": cls.tiny_defaults, "micro": cls.micro_defaults}
        return {**cls.defaults, **small.get(scale, {})}

    @classmethod
    def scales(cls) -> tuple[str, ...]:
        """The scales it loads at: `micro` only where it ships pretrained micro weights."""
        return tuple(s for s in SCALES if s != "micro" or cls.micro_folder is not None)

    @classmethod
    @abc.abstractmethod
    def geometry(cls) -> dict[str, Any]:
        """The full-size model's shapes, read from its hub configs, as the fields of
        `orchestrator.gpu_estimates.Spec` name them (blocks, widths, norms, attention,
        tokens, VAE and patch compression, each block's linear layers, the VAE's widest stage)."""

    @classmethod
    def seconds_per_step(cls, task: str = "") -> float:
        """The paper's full-scale step for `task` (its default where the paper did not time it)."""
        return cls.paper_seconds_per_step.get(task, cls.paper_seconds_per_step["default"])

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def build_tiny_pipeline(cls, seed: int = 0, text: bool = True) -> Any:
        """Every component of the hub repo, tiny and seeded, so `save_pretrained` gives its
        layout (`text=False`: without the text encoder and tokenizer, as `load` keeps it)."""

    @classmethod
    def load(
        cls,
        scale: str = "tiny",
        path: str | os.PathLike[str] | None = None,
        transformer_on_host: bool = False,
    ) -> Backbone:
        """The tiny build, or the pipeline of weights laid out as `hub_id` (the repo's micro
        weights for `micro` without `path`), without its text encoder (`encode_prompt` loads
        it). `path` is a folder or a remote source, fetched to this node's cache first
        (trainables.weight_sources)."""
        device = default_device()
        dtype = default_dtype(device)
        source = weights_source(scale, path, cls.hub_id, micro=cls.micro_folder)
        if source is None:
            pipeline = cls.build_tiny_pipeline(text=False)
            return cls(pipeline, device, dtype, None, transformer_on_host)
        weights = fetch_weights(source, cls.subfolders, cls.hub_id)
        import diffusers
        import torch

        dtypes: Any = dtype
        if cls.fp32_components:
            dtypes = {"default": dtype, **dict.fromkeys(cls.fp32_components, torch.float32)}
        pipeline = getattr(diffusers, cls.pipeline_class).from_pretrained(
            weights.root, text_encoder=None, tokenizer=None, dtype=dtypes
        )
        return cls(pipeline, device, dtype, weights, transformer_on_host)

    def __init__(
        self,
        pipeline: Any,
        device: torch.device,
        dtype: torch.dtype,
        weights: Weights | None = None,
        transformer_on_host: bool = False,
    ) -> None:
        self.device = device
        self.dtype = dtype
        #: Whether the transformer was left in host memory when loaded (everything else goes to
        #: the device): a trial encodes its prompt and examples without it on the GPU, and its
        #: engine places it, whole (ZeRO-0/1/2) or one weight at a time as this rank's shards
        #: (ZeRO-3, trainables.engine.partition_onto_device).
        self.transformer_on_host = transformer_on_host
        #: The weights folder on this node; None: the tiny build.
        self.root: Path | None = None if weights is None else weights.root
        #: Names the weights in cache keys: the same id must mean the same VAE/text encoder.
        #: The source's identity (a remote source's URI and listing or commit), never the path
        #: of this node's copy, so every node's trials share the cache entries.
        self.weights_id = self.tiny_id if weights is None else weights.identity(self.identity_parts)
        #: Names all of its weights (the kept backbone compares it with the source's now).
        self.source_id = self.tiny_id if weights is None else weights.identity()
        self._prompt: dict[str, torch.Tensor] = {}
        self.adopt_pipeline(pipeline, cast_transformer_only=bool(self.fp32_components))

    @classmethod
    def tiny_text_encoder(cls, seed: int = 0) -> PreTrainedModel:
        import transformers

        model_class = getattr(transformers, cls.text_encoder_class)
        with seeded(seed + 2):
            return model_class(model_class.config_class(**cls.tiny_text_encoder_config)).eval()

    @classmethod
    def tiny_tokenizer(cls) -> T5Tokenizer:
        return tiny_t5_tokenizer(**cls.tiny_tokenizer_kwargs)

    def load_text_encoder(self) -> tuple[Any, PreTrainedModel]:
        """The tokenizer and text encoder (on the host): the tiny ones, or the folder's."""
        if self.root is None:
            return self.tiny_tokenizer(), self.tiny_text_encoder()
        import transformers

        tokenizer_class = getattr(transformers, self.tokenizer_class)
        encoder_class = getattr(transformers, self.text_encoder_class)
        tokenizer = tokenizer_class.from_pretrained(self.root, subfolder="tokenizer")
        text_encoder = encoder_class.from_pretrained(
            self.root, subfolder="text_encoder", dtype=self.dtype
        ).eval()
        return tokenizer, text_encoder

    @abc.abstractmethod
    def encode_prompt(self, prompt: str) -> dict[str, torch.Tensor]:
        """Embed the fixed prompt (CPU tensors, cacheable). The text encoder is loaded only
        here, and dropped after: with a cached embedding it is never loaded at all."""

    @property
    def prompt(self) -> dict[str, torch.Tensor]:
        """The prompt embedding on the device; the default prompt unless `use_prompt` set one."""
        if not self._prompt:
            self.use_prompt(self.encode_prompt(DEFAULT_PROMPT))
        return self._prompt

    def use_prompt(self, embeds: dict[str, torch.Tensor]) -> None:
        self._prompt = {
            key: value.to(self.device, self.dtype if value.is_floating_point() else value.dtype)
            for key, value in embeds.items()
        }

    def adopt_pipeline(self, pipeline: Any, cast_transformer_only: bool = False) -> None:
        """Move the pipeline to the device (its transformer too unless `transformer_on_host`),
        cast it (or only its transformer, where the VAE and encoders stay in fp32 as the hub
        repo runs them), freeze it, and keep its parts."""
        import torch

        if self.transformer_on_host:
            for component in pipeline.components.values():
                if isinstance(component, torch.nn.Module) and component is not pipeline.transformer:
                    component.to(self.device)
        else:
            pipeline.to(self.device)
        if pipeline.transformer.dtype != self.dtype:
            (pipeline.transformer if cast_transformer_only else pipeline).to(dtype=self.dtype)
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline
        self.transformer = pipeline.transformer
        self.vae = pipeline.vae
        self.scheduler = pipeline.scheduler
        for module in (self.transformer, self.vae):
            module.requires_grad_(False)
        self.vae.eval()

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """The transformer in eval mode for sampling, its mode restored after."""
        was_training = self.transformer.training
        self.transformer.eval()
        try:
            yield
        finally:
            self.transformer.train(was_training)

    def enable_gradient_checkpointing(self) -> None:
        self.transformer.enable_gradient_checkpointing()

    def compile_blocks(self) -> None:
        """Regional compilation (diffusers' `compile_repeated_blocks`): each repeated block is
        compiled in place (`nn.Module.compile`), so the parameter names that DeepSpeed's
        checkpoints and the adapter files use are unchanged, and one block's compiled code
        serves all blocks of its shape."""
        if not getattr(self.transformer, "_repeated_blocks", None):
            self.transformer._repeated_blocks = list(self.repeated_blocks)
        self.transformer.compile_repeated_blocks()

    def lora_targets(self, group: str) -> list[str]:
        """The exact module names a LoRA group adapts (no regex, no silent extras): its
        `lora_groups` modules in every block."""
        self.check_group(group)
        per_block = self.lora_groups[group]
        blocks = range(self.transformer.config.num_layers)
        return [f"{self.blocks}.{i}.{name}" for i in blocks for name in per_block]

    @abc.abstractmethod
    def prepare_example(self, video: np.ndarray) -> dict[str, torch.Tensor]:
        """Encode one transition video into what the loss needs (CPU tensors: cacheable)."""

    @abc.abstractmethod
    def loss(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        """The model's own training objective on a stacked batch of prepared examples."""

    def sample(self, image: np.ndarray, frames: int, steps: int, seed: int) -> Sample:
        """Sample a video from a first frame with the model's own pipeline, without CFG."""
        return self.sample_many([image], frames, steps, seed)[0]

    @abc.abstractmethod
    def sample_many(
        self, images: list[np.ndarray], frames: int, steps: int, seed: int
    ) -> list[Sample]:
        """`sample` of each image, in one pipeline call where the pipeline takes a batch of
        first frames (fewer, fuller launches on a GPU). Each image gets its own generator seeded
        with `seed`: its sample is the one `sample` draws alone, up to float rounding."""

    def save_adapter(self, directory: str | os.PathLike[str]) -> Path:
        """Save the LoRA in the diffusers format that `load_lora_weights` reads; return the file.
        The LoRA config travels as safetensors metadata, so loaders get α (not α = rank)."""
        from peft.utils import get_peft_model_state_dict

        type(self.pipeline).save_lora_weights(
            str(directory),
            transformer_lora_layers=get_peft_model_state_dict(self.transformer),
            transformer_lora_adapter_metadata=adapter_metadata(self.transformer),
            safe_serialization=True,
        )
        path = Path(directory) / "pytorch_lora_weights.safetensors"
        canonicalize_safetensors_header(path)
        return path

    def check_frames(self, frames: int) -> None:
        if frames < 2 or (frames - 1) % self.frame_stride:
            raise ValueError(
                f"{self.name} needs 1 + {self.frame_stride}k frames (5, 9, 13, ...), got {frames}"
            )

    def check_size(self, height: int, width: int) -> None:
        """Say so before training, not when the first validation sample is drawn."""
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(
                f"{self.name} needs height and width in multiples of {self.size_multiple}, "
                f"got {height}×{width}"
            )

    def check_group(self, group: str) -> None:
        if group not in LORA_GROUPS:
            raise ValueError(f"unknown LoRA group {group!r}; allowed: {', '.join(LORA_GROUPS)}")
