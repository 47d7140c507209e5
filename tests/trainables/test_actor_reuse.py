"""A reused Ray actor runs trial after trial in one process: what a finished trial built (its
model, DeepSpeed engine, optimizer) must be gone before the next starts, or a long sweep of
full-scale trials would run its card out of memory. (In a sweep the frozen backbone itself is
kept on purpose for the next trial: tests/trainables/test_kept_backbone.py.)"""

import weakref

import trainables.trial as trial_module
from tests.tiny_trial import TINY_TRIAL
from trainables.config import TrialConfig
from trainables.sweep_trial import release_device_memory
from trainables.trial import train

CONFIG = TrialConfig.from_dict(
    {**TINY_TRIAL, "n": 1, "steps": 2, "checkpoint_every": 2, "sample_steps": 1}
)


def test_a_finished_trial_leaves_no_model_or_engine_behind(session_factory, monkeypatch):
    built: list[weakref.ref] = []
    build_engine = trial_module.build_engine

    def remembering(model, settings):
        engine = build_engine(model, settings)
        built.extend([weakref.ref(engine), weakref.ref(model), weakref.ref(engine.optimizer)])
        return engine

    monkeypatch.setattr(trial_module, "build_engine", remembering)
    for name in ("first", "second"):
        train(CONFIG, session_factory(name))
        release_device_memory()
        assert [ref() for ref in built] == [None] * len(built), f"after the {name} trial"
    assert len(built) == 6
