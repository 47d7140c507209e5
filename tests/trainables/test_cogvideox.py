"""CogVideoX1.5 specifics the pipeline applies and training must mirror, and its registered
facts. What every backbone does is in test_backbone_contract.py."""

import numpy as np
import torch

from trainables.backbones import load
from trainables.backbones.cogvideox import CogVideoX


def test_odd_latent_frame_counts_get_one_leading_copy_for_time_patches():
    backbone = load("cogvideox")
    assert backbone.transformer.config.patch_size_t == 2
    latents = torch.arange(3.0).view(1, 3, 1, 1, 1).expand(1, 3, 4, 2, 2)  # 9 frames → 3 latent
    padded, extra = backbone._pad_for_time_patches(latents)
    assert extra == 1 and padded.shape[1] == 4
    assert torch.equal(padded[:, 0], latents[:, 0]) and torch.equal(padded[:, 1:], latents)


def test_the_ofs_embedding_gets_the_pipelines_value_and_rope_the_padded_length():
    backbone = load("cogvideox")
    latents = torch.zeros(1, 4, 4, 4, 4)
    kwargs = backbone._transformer_kwargs(latents, 32, 32)
    assert torch.equal(kwargs["ofs"], torch.tensor([2.0]))
    cos, _ = kwargs["image_rotary_emb"]
    # (4 latent frames / patch_t 2) × (32 px / 8 / patch 2)² tokens
    assert cos.shape[0] == 2 * 2 * 2


def test_prepared_example_keeps_the_video_latent_distribution_and_the_first_frame():
    backbone = load("cogvideox")
    video = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    example = backbone.prepare_example(video)
    assert example["video_latent_params"].shape == (8, 3, 4, 4)  # mean+logvar, 3 latent frames
    first = example["first_frame"]
    assert first.shape == (3, 1, 32, 32)
    expected = torch.from_numpy(video[0]).float().div(127.5).sub(1).permute(2, 0, 1)
    assert torch.allclose(first[:, 0], expected)


def test_image_condition_is_zero_padded_to_the_padded_length_and_the_copy_is_out_of_the_loss():
    """9 frames: the video latent becomes [v0, v0, v1, v2] and the image condition the
    pipeline's [img, 0, 0, 0] (not padded like the video, which gave [img, img, 0, 0])."""
    backbone = load("cogvideox")
    video = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    example = backbone.prepare_example(video)
    batch = {key: torch.stack([value, value]) for key, value in example.items()}
    channels = backbone.transformer.config.in_channels // 2
    calls: list[dict] = []

    def model(spoil: bool):
        def forward(**kwargs):
            calls.append(kwargs)
            output = backbone.transformer(**kwargs)[0]
            if spoil:  # whatever the model says on the padded frame does not count
                output = torch.cat([output[:, :1] + 1e3, output[:, 1:]], dim=1)
            return (output,)

        return forward

    with torch.no_grad():
        loss = backbone.loss(model(False), batch, torch.Generator().manual_seed(0))
        spoiled = backbone.loss(model(True), batch, torch.Generator().manual_seed(0))
    image = calls[0]["hidden_states"][:, :, channels:]
    assert image.shape[1] == 4  # 3 latent frames padded to 4
    assert image[:, 0].abs().amax() > 0
    assert torch.count_nonzero(image[:, 1:]) == 0
    assert calls[0]["image_rotary_emb"][0].shape[0] == 2 * 2 * 2  # 2 time patches × 2 × 2
    assert torch.equal(loss, spoiled)


def test_a_weights_folder_is_laid_out_as_the_hub_repo():
    # (its errors and a saved tiny pipeline loaded back from it: test_backbone_contract.py)
    assert CogVideoX.hub_id == "THUDM/CogVideoX1.5-5B-I2V"
    assert CogVideoX.subfolders == ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
