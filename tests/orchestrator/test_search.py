"""The search options without a Tune run: the `--sample` syntax and a sweep module's Tune ranges
become the same record; every mistake is a one-line error before anything starts; the paper's
sweeps keep their grid and FIFO; the record refuses another search under the same name; a
sampled choice that moves a full-scale trial's memory is sized; validation reports are never
held back from the scheduler; `--dry-run` shows a random search's seeded draws."""

from __future__ import annotations

import json
import sys

import pytest
from ray import tune

from orchestrator.identity import claim
from orchestrator.search import Search, parse_sample, resolve, sizing_trials
from orchestrator.sweep import main
from orchestrator.tune_search import asha, param_trials, tune_settings
from search_spaces import load_sweep, sweep_names
from tests.tiny_trial import TINY_TRIAL
from trainables.config import placement_key
from trainables.queued_reports import QueuedReports
from trainables.storage import Storage

TINY = ["smoke", "--scale", "tiny", "--tasks", "hflip", "--trajectories", "linear"]
ONE = [*TINY, "--modules", "QK", "--dry-run"]  # one trial


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lr=loguniform:1e-5:1e-3", "loguniform:1e-05:0.001"),
        ("alpha=uniform:2:8", "uniform:2.0:8.0"),
        ("rank=choice:4,8,16", "choice:4,8,16"),
        ("steps=randint:10:20", "randint:10:20"),
        ("rank=lograndint:4:64", "lograndint:4:64"),
        ("modules=choice:QK,QKVO", "choice:QK,QKVO"),
    ],
)
def test_cli_ranges_and_tune_ranges_make_the_same_record(text, expected):
    name, parsed = parse_sample(text)
    assert parsed.text == expected
    # The same range written in a sweep module, as Tune's object, records the same text.
    module = {
        "loguniform": lambda: tune.loguniform(1e-5, 1e-3),
        "uniform": lambda: tune.uniform(2.0, 8.0),
        "randint": lambda: tune.randint(10, 21),  # Tune's upper bound is excluded
        "lograndint": lambda: tune.lograndint(4, 65),
        "choice": lambda: tune.choice(list(parsed.values)),
    }[parsed.kind]()
    trials = [{**TINY_TRIAL}]
    from_module = resolve(trials, {name: module})
    assert from_module.record()["space"] == {name: expected}
    assert resolve(trials, {}, samples=[text]).record() == from_module.record()


@pytest.mark.parametrize(
    "extra, error",
    [
        (["--sample", "lr"], "bad --sample 'lr'; expected NAME=KIND:ARGS, e.g. lr=loguniform"),
        (["--sample", "foo=choice:1"], "unknown trial setting 'foo' in --sample foo=choice:1;"),
        (["--sample", "task=choice:hflip"], "cannot sample 'task' in --sample task=choice:hflip"),
        (["--sample", "n=choice:1,3"], "cannot sample 'n' in --sample n=choice:1,3: it is checked"),
        (["--sample", "lr=normal:1:2"], "allowed: choice, loguniform, lograndint, randint, uni"),
        (["--sample", "lr=loguniform:0:1"], "a log range needs LOW above 0"),
        (["--sample", "lr=uniform:3:1"], "bad --sample lr=uniform:3:1: LOW must be below HIGH"),
        (["--sample", "lr=uniform:a:1"], "expected uniform:LOW:HIGH with floats"),
        (["--sample", "rank=uniform:1:3"], "rank is of type int; use randint, lograndint or"),
        (["--sample", "rank=choice:4,x"], "bad value 'x' in --sample rank=choice:4,x: int exp"),
        (["--sample", "rank=choice:0,4"], "--sample rank=choice:0,4: "),  # TrialConfig's own
        (["--sample", "rank=choice:4", "--search", "grid"], "--sample needs --search random or"),
        (["--num-samples", "3"], "--num-samples needs --search random or optuna"),
        (["--search", "random"], "--search random needs ranges to sample: --sample NAME=KIND"),
        (["--sample", "lr=uniform:0.1:1", "--num-samples", "0"], "bad --num-samples 0"),
        (["--scheduler", "asha"], "--scheduler asha needs --metric; allowed: val_psnr, val_ssim"),
        (
            ["--scheduler", "asha", "--metric", "val_miou", "--validate-every", "10"],
            "bad --metric 'val_miou': not reported by every trial; allowed: val_psnr, val_ssim",
        ),
        (["--metric", "val_psnr"], "--metric judges trials for --scheduler asha or --search"),
        (
            ["--scheduler", "asha", "--metric", "val_psnr"],
            "but 1 trial(s) validate only at their end (validate_every = 0): give --validate-eve",
        ),
        (
            ["--scheduler", "asha", "--metric", "val_psnr", "--validate-every", "10"]
            + ["--grace-period", "500"],
            "bad --grace-period 500: ASHA needs 1 <= grace period < the trials' 200 steps",
        ),
        (["--grace-period", "5"], "--grace-period and --reduction-factor are ASHA's"),
        (["--validate-every", "0"], "bad --validate-every 0; expected 1 or more steps"),
        (
            ["--search", "optuna", "--sample", "lr=uniform:0.1:1"],
            "--search optuna needs --metric; allowed: val_psnr, val_ssim",
        ),
    ],
)
def test_each_mistake_is_a_one_line_error(capsys, extra, error):
    assert main([*ONE, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and error in err, err


def test_optuna_needs_one_base_trial_and_says_how_to_install_it(capsys, monkeypatch):
    argv = [*TINY, "--dry-run", "--search", "optuna", "--metric", "val_psnr"]
    argv += ["--sample", "lr=loguniform:1e-5:1e-3"]
    assert main(argv) == 2  # smoke narrowed to hflip × linear still has two module sets
    assert "--search optuna samples around one trial; this sweep has 2: narrow it" in (
        capsys.readouterr().err
    )
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if it were not installed
    assert main([*argv, "--modules", "QK"]) == 2
    assert capsys.readouterr().err == (
        "error: --search optuna needs Optuna, which is not installed: "
        "pip install 'vdm-sweeps[search]' (or: pip install optuna)\n"
    )


@pytest.mark.parametrize("name", sweep_names())
def test_the_papers_sweeps_keep_their_grid_and_fifo(name):
    sweep = load_sweep(name)
    assert sweep.search == {}
    search = resolve(sweep.trials, sweep.search)  # no search option given
    assert search == Search()
    assert tune_settings(search, sweep.trials, sweep.max_concurrent_trials) == {
        "max_concurrent_trials": sweep.max_concurrent_trials
    }  # no scheduler (Tune's FIFO), no searcher (Tune's grid), one sample
    assert param_trials(search, sweep.trials) == tune.grid_search(sweep.trials)
    assert sizing_trials(search, sweep.trials) is sweep.trials


def test_asha_runs_on_steps_and_judges_at_validations():
    trials = [{**TINY_TRIAL, "steps": 60, "validate_every": 5}]
    search = resolve(trials, {}, scheduler="asha", metric="val_ssim")
    assert (search.metric, search.mode) == ("val_ssim", "max")
    scheduler = asha(search, trials)
    assert scheduler._time_attr == "step" and scheduler._max_t == 60
    rungs = [milestone for milestone, _ in scheduler._brackets[0]._rungs]
    assert sorted(rungs) == [5, 15, 45]  # the validation period, × 3 each rung
    # depth's abs_rel is lower-is-better: the mode follows the metric.
    depth = [{**TINY_TRIAL, "task": "depth", "validate_every": 2}]
    assert resolve(depth, {}, scheduler="asha", metric="val_abs_rel").mode == "min"


def test_the_record_refuses_another_search_under_the_same_name(tmp_path):
    storage = Storage(str(tmp_path)).child("s")
    trials = [{**TINY_TRIAL, "validate_every": 2}]
    sampled = resolve(trials, {}, samples=["lr=loguniform:1e-5:1e-3"], num_samples=4, seed=1)
    assert claim(storage, "s", trials, False, sampled.record()) is False
    assert json.loads(storage.read_bytes("sweep.json"))["search"] == sampled.record()
    assert claim(storage, "s", trials, True, sampled.record()) is True  # same command: resumes
    other = resolve(trials, {}, samples=["lr=loguniform:1e-5:1e-2"], num_samples=4, seed=1)
    with pytest.raises(ValueError) as refused:
        claim(storage, "s", trials, False, other.record())
    assert str(refused.value).count("\n") == 0
    assert "was run with another search (space {lr=loguniform:1e-05:0.001} there, " in str(
        refused.value
    )
    with pytest.raises(ValueError, match=r"\(seed 1 there, 2 now\)"):
        claim(storage, "s", trials, False, resolve(trials, {}, **SAMPLED_SEED_2).record())
    # A record from before searches existed ran the default: it resumes as a grid, FIFO.
    old = Storage(str(tmp_path)).child("old")
    old.write_bytes(json.dumps({"name": "old", "trials": trials}).encode(), "sweep.json")
    assert claim(old, "old", trials, False) is True
    with pytest.raises(ValueError, match=r"\(scheduler fifo there, asha now\)"):
        asha_search = resolve(trials, {}, scheduler="asha", metric="val_psnr")
        claim(old, "old", trials, False, asha_search.record())


SAMPLED_SEED_2 = dict(samples=["lr=loguniform:1e-5:1e-3"], num_samples=4, seed=2)


def test_a_sampled_choice_that_moves_memory_is_sized_and_a_range_refused():
    full = {"task": "hflip", "backbone": "ltx", "scale": "full", "weights": "/w", "rank": 16}
    search = resolve([full], {}, samples=["rank=choice:16,128", "lr=loguniform:1e-5:1e-3"])
    sized = sizing_trials(search, [full])
    assert sorted(t["rank"] for t in sized) == [16, 128]
    assert len({placement_key(t) for t in sized}) == 2  # each rank gets its own share
    ranged = resolve([full], {}, samples=["rank=randint:16:128"])
    with pytest.raises(ValueError, match="rank moves the trial's memory at full scale; sample"):
        sizing_trials(ranged, [full])
    tiny = resolve([TINY_TRIAL], {}, samples=["rank=randint:4:64"])  # a tiny trial's share
    assert sizing_trials(tiny, [TINY_TRIAL]) == [TINY_TRIAL]  # does not move


def test_validation_reports_are_never_held_back_from_the_scheduler():
    sent: list[dict] = []
    reports = QueuedReports(sent.append, every_seconds=3600)  # would hold all but the first
    for step in range(1, 7):
        metrics = {"loss": 1.0 / step, "step": step}
        if step % 2 == 0:
            metrics["val_psnr"] = 10.0 + step
        reports(metrics)
    reports.close()
    assert [m["step"] for m in sent] == [1, 2, 4, 6]
    assert [m["step"] for m in sent if "val_psnr" in m] == [2, 4, 6]


def test_dry_run_shows_a_random_searchs_seeded_draws(capsys):
    argv = [*ONE, "--sample", "lr=loguniform:1e-5:1e-3", "--sample", "rank=choice:4,8"]

    def draws(*extra: str) -> list[tuple[float, int]]:
        assert main([*argv, *extra]) == 0
        out, err = capsys.readouterr()
        assert err.startswith("3 trials; about ") and "random search (seed " in err
        return [(t["lr"], t["rank"]) for t in map(json.loads, out.splitlines())]

    first = draws("--num-samples", "3")
    assert len(first) == 3 and len({lr for lr, _ in first}) == 3
    assert all(1e-5 <= lr <= 1e-3 and rank in (4, 8) for lr, rank in first)
    assert draws("--num-samples", "3") == first  # seeded: the same draws again
    assert draws("--num-samples", "3", "--search-seed", "1") != first
