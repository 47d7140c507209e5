"""Real configs, full size, no weights: every full-size model of the three backbones built from
the hub configs in `trainables/hub_configs` on the meta device (seconds, no memory), against the
paper's numbers, the backbones' own LoRA module names and the figures `orchestrator.
gpu_estimates` reads from the same JSON files."""

from __future__ import annotations

import functools
import json
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import diffusers
import pytest
import torch

from orchestrator import gpu_estimates as g
from trainables.backbones import LORA_GROUPS, backbone_class, backbone_defaults
from trainables.hub_configs import build_on_meta, hub_config, hub_folder

ROOT = Path(__file__).resolve().parents[2]
BACKBONES = ("cogvideox", "ltx", "wan")
#: The hub configs each backbone's folder holds.
SUBFOLDERS = {backbone: backbone_class(backbone).hub_configs for backbone in BACKBONES}


@functools.cache
def build(backbone: str, subfolder: str) -> Any:
    """The model `backbone`'s `subfolder` config describes, on the meta device (built once)."""
    return build_on_meta(backbone, subfolder)


def backbone_on(backbone: str) -> Any:
    """The product's backbone object around the meta transformer, without loading anything."""
    instance = object.__new__(backbone_class(backbone))
    instance.transformer = build(backbone, "transformer")
    return instance


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- the files ----------------------------------------------------------------------------------


def test_the_configs_are_laid_out_as_the_hub_repos_and_name_their_classes():
    for backbone in BACKBONES:
        folder = hub_folder(backbone)
        assert folder == ROOT / "trainables" / "hub_configs" / backbone
        for subfolder in SUBFOLDERS[backbone]:
            name = "scheduler_config.json" if subfolder == "scheduler" else "config.json"
            on_disk = json.loads((folder / subfolder / name).read_text())
            assert hub_config(backbone, subfolder) == on_disk
            if subfolder in ("text_encoder", "image_encoder"):  # transformers' files
                assert on_disk["architectures"] and on_disk["model_type"]
            else:
                assert on_disk["_class_name"] and on_disk["_diffusers_version"]
    assert set(SUBFOLDERS["wan"]) - set(SUBFOLDERS["ltx"]) == {"image_encoder"}
    # Each folder stands for its backbone's hub repo, and the estimates read that one.
    for backbone in BACKBONES:
        assert backbone_class(backbone).name == backbone
        assert g.SPECS[backbone].hub_id == backbone_class(backbone).hub_id


def test_hub_config_returns_a_fresh_dict_and_names_what_is_allowed():
    hub_config("ltx", "vae")["patch_size"] = 99
    assert hub_config("ltx", "vae")["patch_size"] == 4
    with pytest.raises(
        ValueError, match=r"^unknown backbone 'sora'; allowed: cogvideox, ltx, wan$"
    ):
        hub_config("sora", "vae")
    with pytest.raises(
        ValueError, match=r"^unknown backbone 'sora'; allowed: cogvideox, ltx, wan$"
    ):
        hub_folder("sora")
    with pytest.raises(
        ValueError,
        match=r"^unknown subfolder 'image_encoder' of ltx; allowed: transformer, vae, scheduler, "
        r"text_encoder$",
    ):
        hub_config("ltx", "image_encoder")


def test_the_json_files_ship_in_the_wheel_with_their_sources():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["trainables.hub_configs"]
    package = ROOT / "trainables" / "hub_configs"
    files = [p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()]
    data = [f for f in files if not f.endswith(".py") and "__pycache__" not in f]
    assert len([f for f in data if f.endswith(".json")]) == sum(map(len, SUBFOLDERS.values()))
    assert all(any(fnmatch(f, pattern) for pattern in patterns) for f in data), data
    sources = (package / "SOURCES.md").read_text()
    for backbone in BACKBONES:
        for subfolder in SUBFOLDERS[backbone]:
            name = "scheduler_config.json" if subfolder == "scheduler" else "config.json"
            assert f"`{subfolder}/{name}`" in sources, (backbone, subfolder)


def test_the_scheduler_configs_build_and_are_the_backbones_schedulers():
    for backbone in BACKBONES:
        config = hub_config(backbone, "scheduler")
        scheduler = getattr(diffusers, config["_class_name"]).from_config(config)
        ours = backbone_class(backbone).scheduler_config
        assert {k: scheduler.config[k] for k in ours} == ours, backbone


# ---- the transformers: LoRA modules, sizes and tokens -------------------------------------------


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_lora_group_names_existing_linear_layers(backbone):
    model = backbone_on(backbone)
    modules = dict(model.transformer.named_modules())
    layers = model.transformer.config.num_layers
    for group in LORA_GROUPS:
        targets = model.lora_targets(group)
        assert targets and len(targets) == len(set(targets)), group
        missing = [t for t in targets if not isinstance(modules.get(t), torch.nn.Linear)]
        assert not missing, (group, missing[:3])
        assert len(targets) == layers * len(g.SPECS[backbone].groups[group]), group


#: The paper's settings (Table 3) and their LoRA sizes: rank × (in + out) per adapted layer.
PAPER_LORA = {
    "cogvideox": ("QKVO", 64, 66_060_288),
    "ltx": ("all-linear", 64, 95_420_416),
    "wan": ("QKVO+FF", 128, 613_416_960),
}


@pytest.mark.parametrize("backbone", BACKBONES)
def test_lora_sizes_of_the_papers_settings(backbone):
    from peft import LoraConfig, inject_adapter_in_model

    group, rank, expected = PAPER_LORA[backbone]
    model = backbone_on(backbone)
    modules = dict(model.transformer.named_modules())
    targets = model.lora_targets(group)
    by_shape = sum(rank * (modules[t].in_features + modules[t].out_features) for t in targets)
    assert by_shape == expected
    assert backbone_defaults(backbone, "full")["modules"] == group
    assert backbone_defaults(backbone, "full")["rank"] == rank
    # peft's own count, on a fresh meta copy (the cached one stays without adapters).
    config = hub_config(backbone, "transformer")
    with torch.device("meta"):
        fresh = getattr(diffusers, config["_class_name"]).from_config(config)
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets), fresh)
    lora = sum(p.numel() for n, p in fresh.named_parameters() if "lora_" in n)
    assert lora == expected == g.lora_params(g.SPECS[backbone])


def latent_shape(backbone: str, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """(latent frames, height, width) as each pipeline computes them from its VAE's config (and
    CogVideoX1.5's padding of the latent frames to whole time patches)."""
    vae = hub_config(backbone, "vae")
    if backbone == "cogvideox":
        time, space = vae["temporal_compression_ratio"], 2 ** (len(vae["block_out_channels"]) - 1)
    elif backbone == "ltx":
        model = build("ltx", "vae")  # the class derives its ratios where the config has null
        time, space = model.temporal_compression_ratio, model.spatial_compression_ratio
    else:
        time, space = vae["scale_factor_temporal"], vae["scale_factor_spatial"]
    latent_frames = (frames - 1) // time + 1
    if backbone == "cogvideox":
        latent_frames += latent_frames % hub_config("cogvideox", "transformer")["patch_size_t"]
    return latent_frames, height // space, width // space


@pytest.mark.parametrize(
    "backbone, clip, visual",
    [("cogvideox", (9, 480, 720), 2700), ("ltx", (9, 480, 704), 660), ("wan", (9, 480, 720), 4050)],
)
def test_visual_tokens_at_the_papers_resolutions(backbone, clip, visual):
    """The latent of a clip through each transformer's own patch embedding, on the meta device:
    its sequence length is the visual token count."""
    frames, h, w = latent_shape(backbone, *clip)
    t = hub_config(backbone, "transformer")
    model = build(backbone, "transformer")
    with torch.device("meta"):
        if backbone == "cogvideox":
            text = torch.empty(1, t["max_text_seq_length"], t["text_embed_dim"])
            latent = torch.empty(1, frames, t["in_channels"], h, w)
            tokens = model.patch_embed(text, latent).shape[1] - t["max_text_seq_length"]
        elif backbone == "ltx":
            latent = torch.empty(1, t["in_channels"], frames, h, w)
            packed = diffusers.LTXImageToVideoPipeline._pack_latents(
                latent, t["patch_size"], t["patch_size_t"]
            )
            tokens = model.proj_in(packed).shape[1]
        else:
            latent = torch.empty(1, t["in_channels"], frames, h, w)
            tokens = model.patch_embedding(latent).flatten(2).shape[2]
    assert tokens == visual
    spec = g.SPECS[backbone]
    assert (spec.frames, spec.height, spec.width) == clip
    assert g.tokens(spec).video == visual
    assert (g.tokens(spec).latent_frames, g.tokens(spec).latent_height) == (frames, h)


# ---- gpu_estimates reads the same configs -------------------------------------------------------


@pytest.mark.parametrize("backbone", BACKBONES)
def test_the_estimates_specs_are_the_real_models(backbone):
    spec = g.SPECS[backbone]
    model = build(backbone, "transformer")
    blocks = model.transformer_blocks if backbone != "wan" else model.blocks
    assert spec.layers == len(blocks) == model.config.num_layers
    # Every linear layer the spec models, in every block: (in, out) as the real ones.
    for i, block in enumerate(blocks):
        modules = dict(block.named_modules())
        real = {n: (modules[n].in_features, modules[n].out_features) for n in spec.linears}
        assert real == spec.linears, i
    first = dict(blocks[0].named_modules())
    ff = "ffn.net.0.proj" if backbone == "wan" else "ff.net.0.proj"
    assert (spec.hidden, spec.ffn) == (first[ff].in_features, first[ff].out_features)
    # Norms modulated per block, cross-attention: the block's own layout.
    assert spec.cross_attention == ("attn2" in dict(blocks[0].named_children()))
    # Patch sizes, text tokens (CogVideoX's joint attention carries them in every block).
    config = model.config
    if backbone == "wan":
        assert (spec.patch_time, spec.patch_space, spec.patch_space) == tuple(config.patch_size)
    else:
        assert (spec.patch_time, spec.patch_space) == (config.patch_size_t, config.patch_size)
    if backbone == "cogvideox":
        assert spec.text_tokens == config.max_text_seq_length and spec.joint_text
    else:
        import inspect

        pipeline = {
            "ltx": diffusers.LTXImageToVideoPipeline,
            "wan": diffusers.WanImageToVideoPipeline,
        }
        default = inspect.signature(pipeline[backbone].__call__).parameters["max_sequence_length"]
        assert spec.text_tokens == default.default and not spec.joint_text
    # VAE compression as the pipelines read it.
    t = g.tokens(g.trial_spec(backbone, frames=17, width=704))
    assert latent_shape(backbone, 17, 480, 704) == (
        t.latent_frames,
        t.latent_height,
        t.latent_width,
    )
    # Parameter counts of every part (PARAMS), from the same JSON files.
    for (name, subfolder), params in g.PARAMS.items():
        if name == backbone:
            assert count(build(name, subfolder)) == params, subfolder
    assert spec.transformer_params == count(model)
    assert spec.vae_params == count(build(backbone, "vae"))
    assert spec.text_encoder_params == count(build(backbone, "text_encoder"))
    # Every group's LoRA size: the backbone's own module names on the real shapes.
    product = backbone_on(backbone)
    modules = dict(model.named_modules())
    for group in LORA_GROUPS:
        real = sum(
            spec.rank * (modules[t].in_features + modules[t].out_features)
            for t in product.lora_targets(group)
        )
        assert real == g.lora_params(spec, group), group


def test_wans_image_tokens_are_its_clip_encoders_positions():
    clip = build("wan", "image_encoder")
    positions = clip.vision_model.embeddings.num_positions  # class token + 16 × 16 patches
    assert g.SPECS["wan"].image_tokens == positions == 257
    assert g.SPECS["wan"].image_encoder_params == count(clip)
    # Its hidden width is what the transformer's image branch takes in.
    assert clip.config.hidden_size == hub_config("wan", "transformer")["image_dim"]
