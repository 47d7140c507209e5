"""A bad trial setting is one line naming the value and what is allowed, before any model loads."""

import pytest

from trainables.backbones import backbone_names
from trainables.config import TrialConfig


def test_defaults_are_the_papers_cogvideox_settings():
    config = TrialConfig.from_dict({"task": "hflip"})
    assert (config.rank, config.alpha, config.modules, config.trajectory) == (
        64,
        32.0,
        "QKVO",
        "quadratic",
    )
    assert (config.lr, config.beta1, config.beta2, config.weight_decay) == (1e-4, 0.9, 0.95, 1e-3)
    assert (config.eps, config.max_grad_norm, config.seed, config.frames) == (1e-8, 1.0, 42, 9)
    assert config.as_params()["weights"] == ""


# SPEC §3 / the paper's Table 3, written out again here so a drifting module is caught.
TABLE_3 = {
    "cogvideox": dict(
        rank=64,
        alpha=32.0,
        modules="QKVO",
        lr=1e-4,
        beta1=0.9,
        beta2=0.95,
        weight_decay=1e-3,
        warmup_steps=0,
        batch_size=2,
    ),
    "ltx": dict(
        rank=64,
        alpha=32.0,
        modules="all-linear",
        lr=1e-3,
        beta1=0.9,
        beta2=0.99,
        weight_decay=0.0,
        warmup_steps=0,
        batch_size=16,
        steps=3000,
        height=480,
        width=704,
    ),
    "wan": dict(
        rank=128,
        alpha=128.0,
        modules="QKVO+FF",
        lr=2e-5,
        beta1=0.9,
        beta2=0.99,
        weight_decay=1e-4,
        warmup_steps=1000,
        batch_size=1,
        steps=4000,
        height=480,
        width=720,
    ),
}


@pytest.mark.parametrize("backbone", sorted(TABLE_3))
def test_every_backbone_defaults_to_its_table_3_settings(backbone):
    if backbone not in backbone_names():
        pytest.fail(f"backbone {backbone} is not registered")
    full = TrialConfig.from_dict({"task": "hflip", "backbone": backbone, "scale": "full"})
    for name, value in TABLE_3[backbone].items():
        assert getattr(full, name) == value, name
    tiny = TrialConfig.from_dict({"task": "hflip", "backbone": backbone})
    assert (tiny.height, tiny.width) == (64, 64) and tiny.steps <= 200
    overridden = TrialConfig.from_dict({"task": "hflip", "backbone": backbone, "rank": 8})
    assert overridden.rank == 8 and overridden.alpha == TABLE_3[backbone]["alpha"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"task": "hflip", "rnak": 4}, "unknown trial setting 'rnak'; allowed: "),
        ({"n": 3}, "a trial config needs 'task'"),
        (
            {"task": "vflop"},
            "unknown task 'vflop'; allowed: binary_segmentation, colorization, depth, "
            "grid_classification, hflip, image_to_segmentation, inpainting, jigsaw, pairs, pose, "
            "rot45, rot90, segmentation_to_image, shear, style_transfer, vflip, zoom",
        ),
        ({"task": "hflip", "trajectory": "cubic"}, "unknown trajectory 'cubic'; allowed: linear"),
        ({"task": "hflip", "backbone": "sora"}, "unknown backbone 'sora'; allowed: cogvideox"),
        ({"task": "hflip", "modules": "KV"}, "unknown LoRA group 'KV'; allowed: QK, VO"),
        ({"task": "hflip", "scale": "xl"}, "unknown scale 'xl' for cogvideox; allowed: tiny, full"),
        (
            {"task": "hflip", "scale": "micro"},
            "unknown scale 'micro' for cogvideox; allowed: tiny, full",
        ),
        ({"task": "hflip", "steps": 0}, "steps must be ≥ 1, got 0"),
        ({"task": "hflip", "height": 40}, "resolution 40×64 must be multiples of 16 for cogvideox"),
        ({"task": "hflip", "backbone": "ltx", "width": 48}, "must be multiples of 32 for ltx"),
        ({"task": "hflip", "zero_stage": 4}, "zero_stage must be 0, 1, 2 or 3, got 4"),
        ({"task": "hflip", "sample_batch": 0}, "sample_batch must be ≥ 1, got 0"),
        (
            {"task": "hflip", "compile": True, "zero_stage": 3},
            "compile is for one-process trials (zero_stage 0-2, workers 1)",
        ),
        ({"task": "hflip", "backbone": "ltx", "sample_steps": 1}, "≥ 2 for ltx, got 1"),
        ({"task": "hflip", "n": 0}, "bad n 0 for task 'hflip'; allowed: 1..30"),
        ({"task": "hflip", "n": 1000}, "bad n 1000 for task 'hflip'; allowed: 1..30"),
        (
            {"task": "hflip", "batch_size": 3, "workers": 2, "zero_stage": 3},
            "bad batch_size 3 over 2 ranks: the global batch is the trial's batch_size, split "
            "over the ranks; allowed: a multiple of 2",
        ),
    ],
)
def test_bad_settings_are_one_line_errors(values, message):
    with pytest.raises(ValueError) as error:
        TrialConfig.from_dict(values)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_real_dataset_must_be_one_the_task_reads() -> None:
    config = TrialConfig.from_dict({"task": "pose", "dataset": "coco", "data_root": "/data/coco"})
    assert (config.dataset, config.data_root) == ("coco", "/data/coco")
    with pytest.raises(ValueError, match="task 'pose' cannot read dataset 'ade20k'; allowed: coco"):
        TrialConfig.from_dict({"task": "pose", "dataset": "ade20k", "data_root": "/data/ade"})
    with pytest.raises(ValueError, match="dataset and data_root go together"):
        TrialConfig.from_dict({"task": "pose", "dataset": "coco"})


def test_the_global_batch_is_split_over_ranks_and_said_in_the_params() -> None:
    from trainables.sweep_trial import with_placement
    from trainables.trial import optim_settings

    one = TrialConfig.from_dict({"task": "hflip", "batch_size": 4})
    assert one.rank_batch_size == 4 and one.as_params()["effective_batch_size"] == 4
    spread = with_placement(one, {"workers": 4, "gpu": 1.0})  # as the policy spreads it
    assert (spread.workers, spread.rank_batch_size) == (4, 1)
    assert optim_settings(spread).batch_size == 1  # DeepSpeed's micro batch: a rank's part
    params = spread.as_params()
    assert (params["effective_batch_size"], params["batch_size_per_rank"]) == (4, 1)
    with pytest.raises(ValueError, match="bad batch_size 4 .* over 3 ranks"):
        with_placement(one, {"workers": 3, "gpu": 1.0})


def test_a_runs_params_and_the_json_beside_an_adapter_give_the_config_back(tmp_path):
    """What orchestrator.predict reads back: MLflow's strings (None logged as '') and the
    trial's `adapter/trial_config.json`."""
    config = TrialConfig.from_dict(
        {"task": "hflip", "backbone": "ltx", "compile": True, "alpha": 2.5, "prompt": "a b"}
    )
    assert config.dataset is None and config.weights is None  # '' in MLflow
    params = {key: str(value) for key, value in config.as_params().items()}
    assert TrialConfig.from_params(params) == config
    assert TrialConfig.from_json(config.write_json(tmp_path)) == config
    with pytest.raises(ValueError, match="bad param compile='maybe'; allowed: True, False"):
        TrialConfig.from_params({**params, "compile": "maybe"})
    with pytest.raises(ValueError, match="bad param rank='r4'; expected int"):
        TrialConfig.from_params({**params, "rank": "r4"})
