"""A bad trial setting is one line naming the value and what is allowed, before any model loads."""

import pytest

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


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"task": "hflip", "rnak": 4}, "unknown trial setting 'rnak'; allowed: "),
        ({"n": 3}, "a trial config needs 'task'"),
        (
            {"task": "vflop"},
            "unknown task 'vflop'; allowed: binary_segmentation, colorization, hflip",
        ),
        ({"task": "hflip", "trajectory": "cubic"}, "unknown trajectory 'cubic'; allowed: linear"),
        ({"task": "hflip", "backbone": "sora"}, "unknown backbone 'sora'; allowed: cogvideox"),
        ({"task": "hflip", "modules": "KV"}, "unknown LoRA group 'KV'; allowed: QK, VO"),
        ({"task": "hflip", "scale": "xl"}, "unknown scale 'xl'; allowed: tiny, full"),
        ({"task": "hflip", "steps": 0}, "steps must be ≥ 1, got 0"),
        ({"task": "hflip", "height": 40}, "resolution 40×64 must be multiples of 16"),
        ({"task": "hflip", "zero_stage": 4}, "zero_stage must be 0, 1, 2 or 3, got 4"),
    ],
)
def test_bad_settings_are_one_line_errors(values, message):
    with pytest.raises(ValueError) as error:
        TrialConfig.from_dict(values)
    assert message in str(error.value) and "\n" not in str(error.value)
