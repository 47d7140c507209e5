"""`benchmarks.full_scale` runs small on the CPU: every backbone built from its hub configs at full
width with one block, 64×64, one LoRA step through the trial's engine and a 2-step validation
sample; its JSON holds what a GPU run will report (and the estimates it is compared with)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import performance_model
from orchestrator import gpu_estimates
from trainables.backbones import backbone_class
from trainables.backbones.ltx import LTXVideo
from trainables.backbones.wan import Wan
from trainables.hub_configs import hub_config

REPO = Path(__file__).resolve().parents[2]
BACKBONES = ("cogvideox", "ltx", "wan")
#: Prompt tokens each backbone's own encode_prompt pads to.
TEXT_TOKENS = {
    "cogvideox": hub_config("cogvideox", "transformer")["max_text_seq_length"],
    "ltx": LTXVideo.text_tokens,
    "wan": Wan.text_tokens,
}


def run(tmp_path: Path, *args: str) -> dict[str, dict]:
    out = tmp_path / "full_scale.json"
    command = [sys.executable, "-m", "benchmarks.full_scale", *args, "--out", str(out)]
    command += ["--layers", "1", "--height", "64", "--width", "64", "--sample-steps", "2"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "total wall time" in done.stdout
    record = json.loads(out.read_text())
    assert "full_scale" in record["command"]
    return {row["backbone"]: row for row in record["rows"]}


def check_row(name: str, row: dict, steps: int) -> None:
    assert "error" not in row, row.get("traceback")
    transformer = hub_config(name, "transformer")
    built = row["built"]["transformer"]
    # Full width (heads × head dim of the hub config), one block instead of the config's.
    assert built["config_inner_dim"] == (
        transformer["num_attention_heads"] * transformer["attention_head_dim"]
    )
    assert built["inner_dim"] == built["config_inner_dim"]
    assert built["layers"] == 1 and built["config_layers"] == transformer["num_layers"]
    assert built["class"] == transformer["_class_name"]
    assert row["built"]["vae"]["class"] == hub_config(name, "vae")["_class_name"]
    assert row["built"]["scheduler"] == hub_config(name, "scheduler")["_class_name"]
    # The prompt embeddings the backbone's own encode_prompt gives: full text width and length.
    text = row["built"]["text_encoder"]
    assert text["d_model"] == hub_config(name, "text_encoder")["d_model"]
    assert text["shapes"]["prompt_embeds"] == [1, TEXT_TOKENS[name], text["d_model"]]
    if name == "wan":
        clip = row["built"]["image_encoder"]
        assert clip["layers"] == 1
        assert clip["hidden_size"] == hub_config(name, "image_encoder")["hidden_size"]
        assert clip["dtype"] == row["built"]["vae"]["dtype"] == "torch.float32"

    # The trial's settings (Table 3 but the size) and its loop.
    settings = row["settings"]
    defaults = backbone_class(name).defaults
    for key in ("batch_size", "modules", "rank", "alpha", "lr"):
        assert settings[key] == defaults[key], key
    assert settings["gradient_checkpointing"] is True and settings["frames"] == 9
    assert (settings["height"], settings["width"]) == (64, 64)
    assert row["lora_modules"] > 0 and row["lora_params"] > 0
    assert len(row["step_seconds"]) == steps and all(s > 0 for s in row["step_seconds"])
    assert row["seconds_per_step"] > 0 and row["sampling_seconds"] > 0
    # One loss per step (warm-up included): the backbone's own objective, finite.
    assert len(row["losses"]) == steps + settings["warmup_steps_untimed"]
    assert all(math.isfinite(v) and v > 0 for v in row["losses"])
    assert row["sample_shape"] == [9, 64, 64, 3] and row["sample_finite"]

    memory = row["memory"]
    assert memory["kind"] in ("rss", "rss_process_peak") and memory["peak_rss_gb"] > 0
    assert set(memory["phases"]) == {"build", "prompt", "latents", "training", "validation"}

    estimate = row["estimate"]
    assert estimate["memory_gb"] == gpu_estimates.memory_gb(name)
    assert estimate["paper_seconds_per_step"] == performance_model.paper_seconds(name)
    assert estimate["peak_moment"] == gpu_estimates.peak_gb(gpu_estimates.SPECS[name])[0]
    assert estimate["card"] is None and estimate["seconds_per_step"] is None
    assert not estimate["comparable"] and "a CPU run" in estimate["not_comparable_because"]


@pytest.mark.slow
def test_all_backbones_run_small_on_the_cpu(tmp_path):
    """The cache-hit prompt path (a stand-in text encoder): ~60 s on 2 cores."""
    rows = run(tmp_path, "--steps", "1", "--warmup", "0", "--prompt", "stand-in")
    assert set(rows) == set(BACKBONES)
    for name in BACKBONES:
        check_row(name, rows[name], steps=1)
        assert rows[name]["built"]["text_encoder"]["layers"] == 0


def test_the_prompt_is_encoded_by_a_full_width_text_encoder():
    """The default prompt path (`--prompt encode`), in this process on a tiny LTX backbone (its
    encode_prompt needs no more): the hub config's T5-XXL with one block and its full vocabulary,
    run through the backbone's own encode_prompt, gives the pipeline's 128 tokens, 4096 wide,
    with the prompt's real mask (~10 s)."""
    from benchmarks.full_scale import encode_prompt
    from trainables.backbones import load

    backbone = load("ltx")
    calls = []
    embeds, info = encode_prompt(backbone, "ltx", 1, False, lambda: calls.append(1))
    config = hub_config("ltx", "text_encoder")
    assert calls == [1]
    assert info["mode"] == "encode" and info["layers"] == 1 and info["config_layers"] == 24
    assert info["vocab_size"] == config["vocab_size"] and info["d_model"] == config["d_model"]
    assert info["shapes"]["prompt_embeds"] == [1, LTXVideo.text_tokens, config["d_model"]]
    assert 0 < info["mask_tokens"] < LTXVideo.text_tokens
    assert embeds["prompt_attention_mask"].sum() == info["mask_tokens"]
    assert torch.isfinite(embeds["prompt_embeds"]).all()
