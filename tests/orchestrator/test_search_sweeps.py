"""Ray Tune's search on real tiny sweeps: ASHA stops a weak trial at a validation (marked in the
results table, the report and MLflow), random and Optuna sampling draw seeded trials within their
ranges, and running a sampled sweep again resumes it without training anything again."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from ray import tune

from orchestrator.run import SweepRequest, run_sweep
from orchestrator.search import resolve
from orchestrator.tracking import STOPPED_STEP_TAG, STOPPED_TAG, SWEEP_TAG
from orchestrator.tune_search import StepOptunaSearch, domains, preview
from search_spaces import Sweep
from tests.tiny_trial import TINY_TRIAL
from tests.tolerances import METRIC_ATOL, METRIC_RTOL
from trainables.checkpoints import CheckpointStore, trial_key
from trainables.storage import Storage

pytestmark = pytest.mark.slow  # three real Tune runs of tiny trials (~60-180 s, load-bound)

# Validation every 2 of 6 steps: ASHA's first rung (its grace period) is step 2.
BASE = {**TINY_TRIAL, "n": 1, "steps": 6, "checkpoint_every": 6, "validate_every": 2}
GOOD_LR, WEAK_LR = 1e-3, 1.0  # lr = 1 wrecks the sampled frames' PSNR within 2 steps
SWEEP = Sweep(
    description="one tiny trial, its learning rate, LoRA rank and alpha sampled",
    trials=[BASE],
    max_concurrent_trials=1,  # one at a time: the first trial sets the rung's bar
    search={"rank": tune.choice([4, 8])},  # the module's range; the rest from the CLI
)
SEARCH = resolve(
    SWEEP.trials,
    SWEEP.search,
    scheduler="asha",
    metric="val_psnr",
    samples=[f"lr=choice:{GOOD_LR},{WEAK_LR}", "alpha=uniform:2.0:8.0"],
    num_samples=2,
    seed=3,  # draws the good learning rate first, then the weak one (checked below)
)
DRAWN = preview(SEARCH, SWEEP.trials)


def client_for(folder):
    return MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")


def trial_runs(folder, name):
    client = client_for(folder)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id])
    return [r for r in runs if SWEEP_TAG not in r.data.tags]


@pytest.fixture(scope="module")
def asha_sweep(tmp_path_factory):
    storage = tmp_path_factory.mktemp("sweeps")
    request = SweepRequest("asha", storage=str(storage), search=SEARCH)
    assert run_sweep(SWEEP, request) == 0
    return storage / "asha", request


def test_asha_stops_the_weak_trial_at_its_first_validation(asha_sweep):
    folder, _ = asha_sweep
    assert [t["lr"] for t in DRAWN] == [GOOD_LR, WEAK_LR]  # the seed's draws, in this order
    runs = {float(r.data.params["lr"]): r for r in trial_runs(folder, "asha")}
    assert sorted(runs) == [GOOD_LR, WEAK_LR]
    client = client_for(folder)
    weak, good = runs[WEAK_LR], runs[GOOD_LR]
    # Stopped honestly: neither FAILED nor FINISHED; tagged by whom and at which step.
    assert weak.info.status == "KILLED"
    assert weak.data.tags[STOPPED_TAG] == "ASHA" and weak.data.tags[STOPPED_STEP_TAG] == "2"
    assert [m.step for m in client.get_metric_history(weak.info.run_id, "val_psnr")] == [2]
    assert good.info.status == "FINISHED" and STOPPED_TAG not in good.data.tags
    history = client.get_metric_history(good.info.run_id, "val_psnr")
    assert [m.step for m in history] == [2, 4, 6]
    assert weak.data.metrics["val_psnr"] < history[0].value  # below the rung's bar at step 2
    table = pd.read_csv(folder / "results.csv")
    # The key columns the trials set, then the sampled settings, the scores, the status.
    assert list(table.columns) == [
        "task", "n", "rank", "steps", "alpha", "lr", "val_psnr", "val_ssim", "loss", "status"
    ]  # fmt: skip
    status = dict(zip(table["lr"], table["status"], strict=True))
    assert status == {GOOD_LR: "OK", WEAK_LR: "stopped early (ASHA) at step 2"}


def test_the_report_lists_the_stopped_trial_apart_from_the_tables(asha_sweep):
    folder, _ = asha_sweep
    markdown = (folder / "report" / "tables.md").read_text()
    section = markdown.split("## Stopped early (1 trials)", 1)[1]
    runs = {float(r.data.params["lr"]): r for r in trial_runs(folder, "asha")}
    row = next(line for line in section.splitlines() if runs[WEAK_LR].info.run_name in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:3] == ["ASHA", "2"]
    assert float(cells[3]) == pytest.approx(runs[WEAK_LR].data.metrics["val_psnr"], rel=1e-3)
    assert runs[GOOD_LR].info.run_name not in section


def test_sampled_values_are_the_seeded_draws_within_their_ranges(asha_sweep):
    folder, _ = asha_sweep
    runs = trial_runs(folder, "asha")
    drawn = sorted(
        (float(r.data.params["lr"]), int(r.data.params["rank"]), float(r.data.params["alpha"]))
        for r in runs
    )
    expected = sorted((t["lr"], t["rank"], t["alpha"]) for t in DRAWN)
    assert [d[:2] for d in drawn] == [e[:2] for e in expected]  # --dry-run shows these draws
    for (_, rank, alpha), (_, _, want) in zip(drawn, expected, strict=True):
        assert rank in (4, 8) and 2.0 <= alpha <= 8.0
        assert alpha == pytest.approx(want, rel=METRIC_RTOL, abs=METRIC_ATOL)  # via MLflow's str
    record = json.loads((folder / "sweep.json").read_text())
    assert record["search"]["space"] == {
        "alpha": "uniform:2.0:8.0",
        "lr": "choice:0.001,1.0",
        "rank": "choice:4,8",
    }


def test_running_the_same_sampled_sweep_again_resumes_without_training(asha_sweep):
    folder, request = asha_sweep
    storage = Storage(str(folder))
    keys = [trial_key(t) for t in DRAWN]
    attempts = [len(CheckpointStore(storage, key).attempts()) for key in keys]
    before = pd.read_csv(folder / "results.csv")
    assert run_sweep(SWEEP, request) == 0
    assert [len(CheckpointStore(storage, key).attempts()) for key in keys] == attempts
    assert len(trial_runs(folder, "asha")) == 2  # no new run, no new draw
    after = pd.read_csv(folder / "results.csv")  # the same rows (in Tune's restored order)
    pd.testing.assert_frame_equal(
        after.sort_values("lr", ignore_index=True), before.sort_values("lr", ignore_index=True)
    )


def test_optuna_samples_k_seeded_trials_within_the_ranges(tmp_path):
    base = {**TINY_TRIAL, "n": 1, "steps": 2, "checkpoint_every": 2}
    sweep = Sweep(description="one tiny trial", trials=[base], max_concurrent_trials=1)
    search = resolve(
        sweep.trials,
        {},
        search="optuna",
        metric="val_psnr",
        num_samples=2,
        samples=["lr=loguniform:1e-4:1e-2", "rank=choice:4,8"],
        seed=3,
    )
    assert run_sweep(sweep, SweepRequest("optuna", storage=str(tmp_path), search=search)) == 0
    runs = trial_runs(tmp_path / "optuna", "optuna")
    drawn = sorted((float(r.data.params["lr"]), int(r.data.params["rank"])) for r in runs)
    assert len(drawn) == 2 and all(r.info.status == "FINISHED" for r in runs)
    for lr, rank in drawn:
        assert 1e-4 <= lr <= 1e-2 and rank in (4, 8)
    # Seeded: a fresh searcher of the same seed suggests the same first two trials.
    space = StepOptunaSearch.convert_search_space({"trial": domains(search)})
    again = StepOptunaSearch(space=space, metric="val_psnr", mode="max", seed=3)
    suggested = sorted((s["trial"]["lr"], s["trial"]["rank"]) for s in map(again.suggest, "ab"))
    assert [r for _, r in drawn] == [r for _, r in suggested]
    for (lr, _), (want, _) in zip(drawn, suggested, strict=True):
        assert lr == pytest.approx(want, rel=METRIC_RTOL)
