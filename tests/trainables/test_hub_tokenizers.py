"""Tokenizer folders as the hub ships them: THUDM/CogVideoX1.5-5B-I2V and Lightricks/LTX-Video
hold `tokenizer/spiece.model` and `tokenizer_config.json`, no `tokenizer.json`. transformers 5
then converts the sentencepiece model (it needs `sentencepiece`; without it, it asks for
`tiktoken` and fails on the first prompt-cache miss of a full-scale trial). The tiny tokenizers
that `save_pretrained` writes are `tokenizer.json` files, so this test rewrites each saved tiny
pipeline's tokenizer folder the hub's way, with a Unigram `spiece.model` built in memory with
sentencepiece's own protobuf, and encodes the prompt through the `full` path."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from trainables.backbones import DEFAULT_PROMPT, backbone_class, load, tiny_t5_tokenizer

#: sentencepiece's piece types (sentencepiece_model.proto).
NORMAL, UNKNOWN, CONTROL = 1, 2, 3
UNIGRAM = 1


def write_spiece_model(path: Path) -> None:
    """The tiny tokenizer's vocabulary, ids and scores as a sentencepiece Unigram model."""
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    tokenizer = tiny_t5_tokenizer()
    vocab = tokenizer.get_vocab()
    tiny = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["vocab"]  # [piece, score]
    assert [piece for piece, _ in tiny] == sorted(vocab, key=vocab.__getitem__)
    for piece, score in tiny:
        entry = model.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = {"<pad>": CONTROL, "</s>": CONTROL, "<unk>": UNKNOWN}.get(piece, NORMAL)
    model.trainer_spec.model_type = UNIGRAM
    model.trainer_spec.pad_id, model.trainer_spec.eos_id = 0, 1
    model.trainer_spec.unk_id, model.trainer_spec.bos_id = 2, -1
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = True
    model.normalizer_spec.escape_whitespaces = True
    path.write_bytes(model.SerializeToString())


def as_the_hub_ships_it(folder: Path) -> None:
    """Replace a saved tokenizer folder by spiece.model + the hub's kind of tokenizer_config."""
    saved = json.loads((folder / "tokenizer_config.json").read_text())
    shutil.rmtree(folder)
    folder.mkdir()
    write_spiece_model(folder / "spiece.model")
    config = {
        "tokenizer_class": "T5Tokenizer",
        "model_max_length": saved["model_max_length"],
        "extra_ids": 0,
        "legacy": True,
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "sp_model_kwargs": {},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


@pytest.mark.parametrize("name", ["cogvideox", "ltx", "wan"])
def test_a_hub_tokenizer_folder_encodes_the_prompt_as_the_tiny_tokenizer(tmp_path, name):
    root = tmp_path / name
    backbone_class(name).build_tiny_pipeline().save_pretrained(root)
    as_the_hub_ships_it(root / "tokenizer")
    assert sorted(p.name for p in (root / "tokenizer").iterdir()) == [
        "spiece.model",
        "tokenizer_config.json",
    ]
    full = load(name, "full", root)
    got = full.encode_prompt(DEFAULT_PROMPT)
    expected = load(name).encode_prompt(DEFAULT_PROMPT)  # the in-memory tiny tokenizer
    assert got.keys() == expected.keys()
    for key in expected:  # the same token ids through the same text encoder: the same values
        assert torch.equal(got[key], expected[key]), key
