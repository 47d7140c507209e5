"""The settings of a tiny trial (a few steps of 32×32 clips), shared by the tests that run one:
each spreads it and overrides what it is about, e.g. `{**TINY_TRIAL, "steps": 3, "lr": 1e-3}`.
No learning rate or backbone: left out, a trial takes its backbone's tiny defaults."""

TINY_TRIAL = dict(
    task="hflip",
    n=2,
    steps=6,
    checkpoint_every=3,
    log_every=1,
    rank=4,
    alpha=4.0,
    n_val=1,
    sample_steps=2,
    height=32,
    width=32,
)
