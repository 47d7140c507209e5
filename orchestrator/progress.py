"""Live progress of a sweep: trials done / running / pending / failed, the best primary metric so
far per task, elapsed time and an ETA, and each running trial's step and loss.

A Ray Tune callback (it runs in the driver and sees every trial's reports). On a terminal it
draws a rich Live panel, refreshed in place; elsewhere (CI logs, `nohup`) it prints one plain
line when something changes, at most every `quiet_every` seconds, plus every trial's end.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from ray import tune
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tasks import trial_metrics
from tasks.metrics import LOWER_IS_BETTER


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


@dataclass
class SweepState:
    """What the display shows, kept apart from drawing it (tested on its own)."""

    total: int
    started_at: float = field(default_factory=time.monotonic)
    running: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {step, loss}
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    best: dict[str, tuple[str, float, str]] = field(default_factory=dict)  # task -> metric, v, by
    finished_seconds: list[float] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return max(0, self.total - len(self.running) - len(self.done) - len(self.failed))

    def sync(self, statuses: dict[str, str]) -> None:
        """Counts from Tune's own trial states (which also know the trials a resumed sweep
        finished before this driver started)."""
        for name, status in statuses.items():
            if status == "TERMINATED" and name not in self.done:
                self.running.pop(name, None)
                self.done.add(name)
            elif status == "ERROR" and name not in self.failed:
                self.running.pop(name, None)
                self.failed.add(name)

    def start(self, name: str) -> None:
        self.failed.discard(name)  # a retried trial runs again
        self.running[name] = {"step": 0, "loss": math.nan, "since": time.monotonic()}

    def result(
        self, name: str, task: str, result: dict[str, Any], metric: str | None = None
    ) -> None:
        """A trial's report; `metric`: its primary one (default: the task's own)."""
        entry = self.running.setdefault(name, {"step": 0, "loss": math.nan})
        entry.setdefault("since", time.monotonic())
        entry["step"] = int(result.get("step", entry["step"]))
        if "loss" in result:
            entry["loss"] = float(result["loss"])
        metric = metric or trial_metrics(task)[0]
        value = result.get(f"val_{metric}")
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        lower = metric in LOWER_IS_BETTER
        held = self.best.get(task)
        if held is None or (value < held[1] if lower else value > held[1]):
            self.best[task] = (metric, value, name)

    def end(self, name: str, ok: bool) -> None:
        entry = self.running.pop(name, None)
        (self.done if ok else self.failed).add(name)
        if ok and entry is not None and "since" in entry:
            self.finished_seconds.append(time.monotonic() - entry["since"])

    def eta_seconds(self, concurrency: int) -> float | None:
        """Remaining trials × mean trial time / trials at once; None before a trial ends."""
        if not self.finished_seconds:
            return None
        left = self.pending + len(self.running)
        mean = sum(self.finished_seconds) / len(self.finished_seconds)
        return left * mean / max(1, concurrency)

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started_at
        eta = self.eta_seconds(max(1, len(self.running)))
        line = (
            f"{len(self.done)}/{self.total} done, {len(self.running)} running, "
            f"{self.pending} pending, {len(self.failed)} failed; elapsed {_duration(elapsed)}"
        )
        line += f", ETA {_duration(eta)}" if eta is not None else ""
        if self.best:
            line += "; best " + ", ".join(
                f"{task} {metric} {value:.4g}" for task, (metric, value, _) in self.best.items()
            )
        return line


class SweepProgress(tune.Callback):
    def __init__(
        self, total: int, console: Console | None = None, quiet_every: float = 30.0
    ) -> None:
        self.state = SweepState(total)
        self.console = console or Console()
        self.quiet_every = quiet_every
        self._live: Live | None = None
        self._printed_at = 0.0
        self._metrics: dict[tuple, str] = {}  # (task, dataset, data_root) -> primary metric

    # -- Tune's hooks -------------------------------------------------------------------------

    def setup(self, **info: Any) -> None:
        if self.console.is_terminal:
            self._live = Live(self.render(), console=self.console, refresh_per_second=2)
            self._live.start()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.state.sync({str(trial): trial.status for trial in trials})
        self._show()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.state.start(str(trial))
        self._show()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        settings = trial.config["trial"]
        source = (settings["task"], settings.get("dataset"), settings.get("data_root"))
        if source not in self._metrics:  # a folder of pairs names its metric in a file
            self._metrics[source] = trial_metrics(*source)[0]
        self.state.result(str(trial), settings["task"], result, self._metrics[source])
        self._show()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.state.end(str(trial), ok=True)
        self._show(event=f"done: {trial}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.state.end(str(trial), ok=False)
        self._show(event=f"failed (retried while it has retries left): {trial}")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        """Tune pickles its run config (callbacks included) into the experiment state; the
        console and the live display stay with this driver."""
        return {"state": SweepState(self.state.total), "quiet_every": self.quiet_every}

    def __setstate__(self, saved: dict[str, Any]) -> None:
        self.__init__(saved["state"].total, quiet_every=saved["quiet_every"])

    # -- drawing ------------------------------------------------------------------------------

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.stop()
            self._live = None
        else:
            self.console.print(f"vdm-sweeps: {self.state.summary()}", highlight=False)

    def render(self) -> Group:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("running trial", "step", "loss"):
            table.add_column(column, justify="right" if column != "running trial" else "left")
        for name, entry in sorted(self.state.running.items()):
            loss = entry["loss"]
            table.add_row(name, str(entry["step"]), "-" if math.isnan(loss) else f"{loss:.4f}")
        return Group(Text(f"vdm-sweeps: {self.state.summary()}"), table)

    def _show(self, event: str | None = None) -> None:
        if self._live is not None:
            self._live.update(self.render())
            return
        now = time.monotonic()
        if event is None and now - self._printed_at < self.quiet_every:
            return
        if event is not None:
            self.console.print(f"vdm-sweeps: {event}", highlight=False)
        self.console.print(f"vdm-sweeps: {self.state.summary()}", highlight=False)
        self._printed_at = now
