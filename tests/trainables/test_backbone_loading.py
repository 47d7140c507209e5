"""`full` scale reads a local folder laid out as the hub repo, through the same code as `tiny`
(each backbone's saved tiny pipeline loaded back, and the errors of a missing or partial folder:
test_backbone_contract.py)."""

import dataclasses

import pytest

from tests.tiny_trial import TINY_TRIAL
from trainables.backbones import backbone_class, backbone_names, load
from trainables.config import TrialConfig
from trainables.trial import train


@pytest.mark.parametrize("backbone", backbone_names())
def test_a_trial_trains_from_a_hub_layout_folder(tmp_path, session_factory, backbone):
    backbone_class(backbone).build_tiny_pipeline().save_pretrained(tmp_path / "weights")
    values = {
        **TINY_TRIAL,
        "backbone": backbone,
        "n": 1,
        "steps": 2,
        "checkpoint_every": 2,
        "log_every": 10,  # TrialConfig's own
        "batch_size": 1,
    }
    tiny = session_factory(f"{backbone}_tiny")
    full = session_factory(f"{backbone}_full")
    config = TrialConfig.from_dict(values)
    expected = train(config, tiny)
    # The same settings (not the full scale's Table 3 defaults), only the weights' source differs.
    weights = str(tmp_path / "weights")
    got = train(dataclasses.replace(config, scale="full", weights=weights), full)
    assert got == expected and got["step"] == 2


def test_unknown_backbone_or_scale_names_what_is_allowed():
    assert "cogvideox" in backbone_names()
    with pytest.raises(ValueError, match="unknown backbone 'sora'; allowed: cogvideox"):
        load("sora")
    with pytest.raises(ValueError, match="unknown scale 'huge' for cogvideox; allowed: tiny, full"):
        load("cogvideox", "huge")


def test_every_backbone_class_declares_its_facts():
    from benchmarks.performance_model import CARDS
    from trainables.backbones import LORA_GROUPS

    for name in backbone_names():
        backbone = backbone_class(name)
        assert backbone.name == name
        assert set(backbone.lora_groups) == set(LORA_GROUPS)
        assert {"rank", "alpha", "modules", "lr", "batch_size", "steps", "height", "width"} <= set(
            backbone.settings("full")
        )
        assert backbone.settings("full")["modules"] in LORA_GROUPS
        assert set(backbone.tiny_defaults) <= set(backbone.defaults)
        assert {"transformer", "vae", "text_encoder"} <= set(backbone.hub_configs)
        assert set(backbone.hub_params) <= set(backbone.hub_configs)
        assert set(backbone.hub_configs) <= set(backbone.subfolders)
        assert backbone.paper_card in CARDS and backbone.seconds_per_step() > 0
        assert backbone.tiny_id.startswith(f"tiny:{backbone.hub_id}:")


def test_reading_the_backbones_facts_imports_no_torch_diffusers_or_transformers():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from trainables.backbones import backbone_class, backbone_names\n"
        "for name in backbone_names():\n"
        "    backbone = backbone_class(name)\n"
        "    backbone.settings('full'), backbone.scales(), backbone.geometry()\n"
        "assert not {'torch', 'diffusers', 'transformers'} & set(sys.modules), sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
