"""A one-process trial's Tune reports are made on a thread of their own (Tune's report waits
for the driver's next request), in order, all of them by the trial's end; what Tune answers
through a report (a stop, an error) still reaches the training thread at its next report."""

import json
import threading
import time
from pathlib import Path

import pytest
import ray
from ray import tune

from trainables.queued_reports import QueuedReports, queued_reports


def test_a_report_waiting_for_the_driver_does_not_hold_up_training():
    driver_asks = threading.Event()
    made: list[dict] = []

    def report(metrics: dict) -> None:
        driver_asks.wait(
            timeout=30
        )  # as tune.report: returns once the driver asks for the next result
        made.append(metrics)

    reports = QueuedReports(report)
    for step in range(1, 6):
        reports({"step": step})  # returns at once although the driver has not asked yet
    assert made == []
    driver_asks.set()
    reports.close()
    assert made == [{"step": s} for s in range(1, 6)]


def test_a_stop_raised_by_a_report_stops_training_at_its_next_report():
    made: list[int] = []

    def report(metrics: dict) -> None:
        if metrics["step"] == 2:
            raise SystemExit(0)  # what Tune's report does when the driver stops the trial
        made.append(metrics["step"])

    reports = QueuedReports(report)
    reports({"step": 1})
    reports({"step": 2})
    with pytest.raises(SystemExit):
        for step in range(3, 10_000):
            reports({"step": step})
    assert made == [1]  # the ones queued after the stop were dropped, not made


def test_reports_sooner_than_the_interval_are_held_and_the_newest_sent_last():
    made: list[int] = []
    reports = QueuedReports(lambda m: made.append(m["step"]), every_seconds=3600)
    for step in range(1, 6):
        reports({"step": step})
    reports.close()
    assert made == [1, 5]  # the first at once, the newest held one when the trial ends


def test_the_block_fails_with_its_own_error_after_the_queued_reports_are_made():
    made: list[int] = []
    with pytest.raises(ValueError, match="training failed"):
        with queued_reports(lambda m: made.append(m["step"]), every_seconds=3600) as publish:
            publish({"step": 1})
            publish({"step": 2})
            raise ValueError("training failed")
    assert made == [1, 2]  # the held one too


def reporting_trial(config: dict) -> None:
    """Reports 0, 1, 2, ... through queued Tune reports (a step every millisecond); writes the
    last step it reached."""
    last = Path(config["root"]) / f"last_{config['trial']}.json"
    step = -1
    try:
        with queued_reports(tune.report, config["every_seconds"]) as publish:
            for step in range(config["steps"]):
                publish({"i": step})
                time.sleep(0.001)
    finally:
        last.write_text(json.dumps(step))


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def run(root: Path, steps: int, stop: dict | None, every_seconds: float = 0.0) -> tune.ResultGrid:
    """Two trials one after the other in one reused actor, as sweeps run them (a reused actor
    waits for the last trial's training thread to end; a fresh one would not)."""
    tuner = tune.Tuner(
        tune.with_resources(reporting_trial, {"cpu": 2}),
        param_space={
            "root": str(root),
            "steps": steps,
            "every_seconds": every_seconds,
            "trial": tune.grid_search([0, 1]),
        },
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(root / "tune"), stop=stop, verbose=0),
    )
    return tuner.fit()


@pytest.mark.slow  # a real Ray Tune run
def test_tune_gets_every_report_in_order(local_ray, tmp_path):
    results = run(tmp_path, 40, stop=None)
    for result in results:
        assert list(result.metrics_dataframe["i"]) == list(range(40))
    assert json.loads((tmp_path / "last_0.json").read_text()) == 39


@pytest.mark.slow  # a real Ray Tune run
def test_tune_hears_the_first_and_the_last_report_when_they_come_fast(local_ray, tmp_path):
    results = run(tmp_path, 40, stop=None, every_seconds=3600)
    for result in results:
        assert list(result.metrics_dataframe["i"]) == [0, 39]
        assert result.metrics["i"] == 39


@pytest.mark.slow  # a real Ray Tune run
def test_a_tune_stop_criterion_stops_the_training_thread(local_ray, tmp_path):
    results = run(tmp_path, 1_000_000, stop={"training_iteration": 5})
    for result in results:
        assert list(result.metrics_dataframe["i"]) == [0, 1, 2, 3, 4]
    reached = json.loads((tmp_path / "last_0.json").read_text())
    assert 4 <= reached < 1_000_000 - 1  # stopped at a report, not run to its end
