"""Spot life, on real tiny sweeps driven through the CLI in their own processes: the driver is
SIGKILLed and the same command resumes; a trial's process is SIGKILLed or gets a spot notice
(SIGTERM) and Tune retries it; a whole node is lost with the storage on an S3 server; a worker node
of a multi-node cluster is lost mid-trial and the driver carries on without it. After each,
no finished trial trains again, no trial redoes more than one checkpoint interval, each trial
has one MLflow run with one metric point per step, and its adapter equals the uninterrupted one.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

from tests.tiny_trial import TINY_TRIAL
from trainables.checkpoints import CheckpointStore, trial_key
from trainables.storage import Storage

REPO = Path(__file__).resolve().parents[2]
STEPS, EVERY = 16, 4
BASE = {**TINY_TRIAL, "n": 1, "steps": STEPS, "checkpoint_every": EVERY, "sample_steps": 1,
        "modules": "QK", "trajectory": "linear"}  # fmt: skip
TRIALS = [{**BASE, "seed": seed} for seed in (1, 2, 3)]
SWEEP_FILE = f"""
from search_spaces import Sweep

SWEEP = Sweep(
    description="preemption test",
    trials={TRIALS!r},
    resources={{"cpu": 1.0}},
    max_concurrent_trials=2,
)
"""
ADAPTER = ("adapter", "pytorch_lora_weights.safetensors")


# ---- processes -----------------------------------------------------------------------------


class Driver:
    """`python -m orchestrator.sweep` in its own process group, with every process it starts
    (Ray's head and workers) remembered so the test can kill and reap exactly those."""

    def __init__(self, sweep: Path, storage: str, name: str, env: dict, log: Path, *extra: str):
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.sweep", str(sweep), "--storage", storage,
             "--name", name, *extra],
            cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.seen: dict[int, psutil.Process] = {}
        STARTED.append(self)

    def remember(self) -> None:
        try:
            parent = psutil.Process(self.process.pid)
            for child in [parent, *parent.children(recursive=True)]:
                self.seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.reap()

    def kill(self) -> None:
        self.remember()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.reap()

    def reap(self) -> None:
        """Ray's processes follow a dead driver by themselves; whatever is left after 15 s is
        killed here, by the ids this driver started."""
        alive = [p for p in self.seen.values() if p.is_running()]
        _, alive = psutil.wait_procs(alive, timeout=15)
        for process in alive:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


#: Every driver a test started: those still running when it ends (a failed wait, a timeout)
#: are killed with everything they started (`stop_left_drivers`).
STARTED: list[Driver] = []


@pytest.fixture(autouse=True)
def stop_left_drivers():
    yield
    while STARTED:
        driver = STARTED.pop()
        if driver.process.poll() is None:
            driver.kill()


def wait_for(condition, timeout: float, what: str, driver: Driver | None = None, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver is not None:
            driver.remember()
            assert driver.process.poll() is None, f"driver ended early:\n{driver.output()[-3000:]}"
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


# ---- reading a sweep back ------------------------------------------------------------------


def stores(storage: Storage) -> dict[int, CheckpointStore]:
    return {t["seed"]: CheckpointStore(storage, trial_key(t)) for t in TRIALS}


def complete_steps(storage: Storage) -> dict[int, int | None]:
    return {seed: store.latest() for seed, store in stores(storage).items()}


def adapters(storage: Storage) -> dict[int, dict[str, bytes]]:
    """Each trial's final LoRA weights, tensor by tensor (as bytes, to compare bit for bit)."""
    from safetensors.torch import load

    out = {}
    for seed, store in stores(storage).items():
        assert store.latest() == STEPS, f"trial seed={seed} did not finish"
        data = store.storage.read_bytes(*store.base, f"step_{STEPS:09d}", *ADAPTER)
        out[seed] = {k: v.numpy().tobytes() for k, v in load(data).items()}
        assert out[seed], "empty adapter"
    return out


def check_mlflow(tracking_uri: str, name: str) -> None:
    """Exactly one run per trial, FINISHED, with one loss point per step 1..STEPS."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    runs = [
        r
        for r in client.search_runs([experiment.experiment_id], max_results=1000)
        if "vdm.sweep" not in r.data.tags
    ]
    assert sorted(int(r.data.params["seed"]) for r in runs) == [1, 2, 3]
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
        assert sorted(steps) == list(range(1, STEPS + 1)), (run.data.params["seed"], steps)


def check_resumed_exactly(storage: Storage, at_kill: dict[int, int | None], kill_time: float):
    """Every start after the kill began at the newest complete checkpoint the trial had when it
    was killed (so at most one interval is redone), and a finished trial did not train again."""
    for seed, store in stores(storage).items():
        later = [a for a in store.attempts() if a["time"] > kill_time]
        for attempt in later[:1]:
            assert attempt["from_step"] == (at_kill[seed] or 0), (seed, attempt, at_kill)
        if at_kill[seed] == STEPS:
            assert all(a["from_step"] == STEPS for a in later), (seed, later)


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "preemption_sweep.py"
    path.write_text(SWEEP_FILE)
    return path


@pytest.fixture(scope="module")
def uninterrupted(sweep_file, tmp_path_factory) -> dict[int, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("uninterrupted")
    driver = Driver(sweep_file, str(root), "base", dict(os.environ), root / "driver.log")
    assert driver.wait() == 0, driver.output()[-3000:]
    return adapters(Storage(root / "base"))


@pytest.fixture
def short_ray_tmp(monkeypatch):
    """A Ray temp folder of the test's own (short: Ray's socket paths must fit 107 bytes)."""
    folder = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ---- the tests -----------------------------------------------------------------------------


@pytest.mark.slow  # ~2.5 min: real sweeps killed and resumed
def test_driver_sigkill_then_the_same_command_resumes(sweep_file, uninterrupted, tmp_path):
    env = dict(os.environ)
    storage = Storage(tmp_path / "sweeps").child("spot")
    driver = Driver(sweep_file, str(tmp_path / "sweeps"), "spot", env, tmp_path / "driver.log")
    # A random moment of training, counted in checkpointed steps rather than seconds (reused
    # actors finish a tiny trial in about a second): at most one trial's worth of all steps.
    # Ray's processes train on until they notice the dead driver (`Driver.kill` waits for
    # them), so the kill must leave room: with half of all steps as the limit, all three
    # trials had sometimes finished by then.
    progress = random.Random(os.getpid()).randrange(EVERY, STEPS + 1, EVERY)
    wait_for(
        lambda: sum(step or 0 for step in complete_steps(storage).values()) >= progress,
        240, f"{progress} checkpointed steps", driver, poll=0.02,
    )  # fmt: skip
    driver.kill()
    # After `kill`, which returns once every process of the old run is gone (Ray's train on
    # until they notice the dead driver, and may start a trial meanwhile): what they left is
    # what a resume starts from, and every start after this is the resumed run's.
    kill_time = time.time()
    at_kill = complete_steps(storage)
    assert not all(step == STEPS for step in at_kill.values()), ("killed too late", progress)

    again = Driver(sweep_file, str(tmp_path / "sweeps"), "spot", env, tmp_path / "driver.log")
    assert again.wait() == 0, again.output()[-3000:]
    assert "resuming the sweep" in again.output()
    check_resumed_exactly(storage, at_kill, kill_time)
    check_mlflow(f"sqlite:///{tmp_path / 'sweeps' / 'spot' / 'mlflow.db'}", "spot")
    assert adapters(storage) == uninterrupted


@pytest.mark.slow  # ~75 s
def test_a_killed_trial_and_a_spot_notice_are_retried_from_their_checkpoints(
    sweep_file, uninterrupted, tmp_path
):
    env = dict(os.environ)
    storage = Storage(tmp_path / "sweeps").child("retry")
    driver = Driver(sweep_file, str(tmp_path / "sweeps"), "retry", env, tmp_path / "driver.log")
    trials = stores(storage)

    def running(seed: int, checkpointed: bool):
        step, attempts = trials[seed].latest(), trials[seed].attempts()
        if not attempts or (step or 0) >= STEPS or (checkpointed and not step):
            return None
        return attempts[-1]

    # A spot notice for trial 1 as soon as it runs: it checkpoints the step it is at and stops.
    noticed = wait_for(lambda: running(1, checkpointed=False), 240, "trial 1 running", driver)
    os.kill(noticed["pid"], signal.SIGTERM)
    # SIGKILL trial 2's process once it has a checkpoint: Ray loses the actor, Tune's
    # FailureConfig retries the trial.
    killed = wait_for(lambda: running(2, checkpointed=True), 240, "trial 2 checkpointed", driver)
    os.kill(killed["pid"], signal.SIGKILL)
    killed_at = trials[2].latest()
    assert driver.wait() == 0, driver.output()[-3000:]

    after_kill = trials[2].attempts()
    assert len(after_kill) == 2 and after_kill[1]["from_step"] >= killed_at
    assert after_kill[1]["pid"] != killed["pid"]
    # The retry of trial 1 starts from the checkpoint the notice wrote: at the step the notice
    # found the trial in, off the regular interval as likely as not.
    retried = trials[1].attempts()
    assert len(retried) == 2, retried
    notice = r"spot notice: checkpointed at step (\d+); stopping for the retry"
    notices = re.findall(notice, driver.output())
    assert len(notices) == 1, driver.output()[-3000:]
    assert retried[1]["from_step"] == int(notices[0]) >= 1
    assert retried[1]["pid"] != noticed["pid"]
    check_mlflow(f"sqlite:///{tmp_path / 'sweeps' / 'retry' / 'mlflow.db'}", "retry")
    assert adapters(storage) == uninterrupted


# ---- node loss: storage on an S3 server, MLflow on a tracking server -----------------------


@pytest.fixture
def s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
    }
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="sweeps"
    )
    uri = f"s3://sweeps/study?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
    yield uri
    server.stop()


@pytest.fixture
def mlflow_server(tmp_path):
    """A tracking server on 127.0.0.1 standing for the team's MLflow machine: it outlives the
    lost node; artifacts go to the sweep's S3 storage."""
    with socket_port() as port:
        pass
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--workers", "1"],
        stdout=(tmp_path / "mlflow.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        def healthy() -> bool:
            try:
                return urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200
            except OSError:
                return False

        wait_for(healthy, 60, "the MLflow server")
        yield uri
    finally:
        group = os.getpgid(process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            process.wait(10)


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        return self.socket.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.socket.close()


@pytest.mark.slow  # ~2.5 min
def test_node_loss_resumes_from_s3_alone(
    sweep_file, uninterrupted, tmp_path, s3, mlflow_server, short_ray_tmp
):
    env = {**os.environ, "RAY_TMPDIR": short_ray_tmp, "TMPDIR": short_ray_tmp}
    storage = Storage(s3).child("lost")
    args = ("--tracking-uri", mlflow_server)
    driver = Driver(sweep_file, s3, "lost", env, tmp_path / "driver.log", *args)
    wait_for(lambda: any(complete_steps(storage).values()), 240, "a first checkpoint", driver)
    driver.kill()
    # After `kill`, which returns once every process of the old run is gone (Ray's train on
    # until they notice the dead driver, and may start a trial meanwhile): what they left is
    # what a resume starts from, and every start after this is the resumed run's.
    kill_time = time.time()
    at_kill = complete_steps(storage)
    # The node is gone: its Ray session, temp files and the driver's scratch folder with it.
    shutil.rmtree(short_ray_tmp)
    os.makedirs(short_ray_tmp)

    again = Driver(sweep_file, s3, "lost", env, tmp_path / "driver.log", *args)
    assert again.wait() == 0, again.output()[-3000:]
    assert "resuming the sweep" in again.output()
    check_resumed_exactly(storage, at_kill, kill_time)
    check_mlflow(mlflow_server, "lost")
    assert adapters(storage) == uninterrupted
    assert storage.exists("report", "tables.md") and storage.exists("sweep.json")

    # The report, rebuilt later from another machine: the tracking server and the S3 storage.
    from orchestrator.report import main as report

    storage.delete("report")
    out = tmp_path / "report"
    argv = [str(sweep_file), "--name", "lost", "--storage", s3, "--tracking-uri", mlflow_server]
    assert report([*argv, "--out", str(out)]) == 0
    assert storage.read_bytes("report", "tables.md") == (out / "tables.md").read_bytes()


def test_a_name_is_one_search_space_and_resume_needs_a_sweep(sweep_file, tmp_path, capsys):
    from orchestrator.sweep import main

    root = tmp_path / "sweeps"
    record = Storage(root).child("named")
    record.write_bytes(json.dumps({"name": "named", "trials": TRIALS[:2]}).encode(), "sweep.json")
    before = record.read_bytes("sweep.json")
    code = main([str(sweep_file), "--storage", str(root), "--name", "named"])
    assert code == 2
    assert (
        f"error: sweep 'named' in {record.uri} was run with another search space "
        "(2 trials there, 3 now, 1 of them new); nothing was changed"
    ) in capsys.readouterr().err
    assert record.read_bytes("sweep.json") == before
    assert sorted(p.name for p in (root / "named").iterdir()) == ["sweep.json"]
    assert main([str(sweep_file), "--storage", str(root), "--name", "absent", "--resume"]) == 2
    assert "error: --resume: there is no sweep 'absent' in" in capsys.readouterr().err
    assert not (root / "absent").exists()


# ---- a worker node of a multi-node cluster lost ----------------------------------------------


@pytest.fixture
def cluster(s3, short_ray_tmp, monkeypatch):
    """Ray's own test cluster on this machine (tests/orchestrator/local_cluster.py): a head with
    no CPUs; worker nodes are added by the test. Started after the S3 server's credentials are
    in the environment, which its nodes' processes inherit (as instance profiles give them on a
    real cluster). Ray's temp folder and "current cluster" file are the test's own."""
    from tests.orchestrator.local_cluster import LocalCluster

    monkeypatch.setenv("RAY_TMPDIR", short_ray_tmp)
    monkeypatch.setenv("TMPDIR", short_ray_tmp)
    # Every node and the driver on the loopback address (where Ray would take this machine's
    # own: its `ENABLE_RAY_CLUSTER` off makes `get_node_ip_address` the loopback one).
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # A lost node is declared dead after 5 missed health checks a second apart (Ray's default:
    # 3 s apart), so that Tune hears of it in seconds.
    local = LocalCluster({"health_check_period_ms": 1000, "health_check_failure_threshold": 5})
    try:
        yield local
    finally:
        local.shutdown()


@pytest.mark.slow  # ~2 min on 2 busy cores (half of it DeepSpeed's op build, when stale)
def test_a_lost_worker_node_s_trials_are_retried_on_the_others(
    sweep_file, uninterrupted, tmp_path, s3, mlflow_server, cluster
):
    # A trial gets {CPU: 1, GPU: 0.25} here and {CPU: 1} in the uninterrupted sweep (no GPU in
    # a local Ray on this machine): Ray sets OMP_NUM_THREADS, and `tune_trial` torch's threads,
    # to the whole CPUs assigned, 1 in both; the logical GPU is no device (no CUDA here). So
    # both compute the same bits.
    cluster.add("a10g-24gb", "a10g")
    cluster.add("h100-80gb-x8", "h100")
    storage = Storage(s3).child("nodes")
    trials = stores(storage)

    def checkpointed_on_a_node() -> str | None:
        """The worker node of a trial that has a checkpoint and has not finished."""
        cluster.remember()
        for store in trials.values():
            step = store.latest()
            if step and step < STEPS and (node := cluster.node_of(store.attempts()[-1]["pid"])):
                return node
        return None

    args = ("--address", cluster.address, "--tracking-uri", mlflow_server)
    driver = Driver(sweep_file, s3, "nodes", dict(os.environ), tmp_path / "driver.log", *args)
    try:
        lost = wait_for(checkpointed_on_a_node, 240, "a checkpoint on a worker node", driver, 0.25)
        cluster.lose(lost)
        kill_time = time.time()
        at_kill = complete_steps(storage)
        cluster.add("a10g-24gb", "joined")  # a replacement joins mid-sweep
        wait_for(lambda: cluster.remember() or driver.process.poll() is not None, 300, "the sweep")
        assert driver.wait() == 0, driver.output()[-3000:]
    finally:  # on failure too: the driver, and whatever it started, by their ids
        driver.kill()

    assert "Ray cluster with 9 GPUs of 24 GB" in driver.output()  # 1 + 8; the smaller class
    starts = {
        seed: [(a["from_step"], cluster.node_of(a["pid"]), a["time"]) for a in store.attempts()]
        for seed, store in trials.items()
    }
    # Every start ran on a worker node: none on the head, which has no CPU.
    assert all(node for attempts in starts.values() for _, node, _ in attempts), starts
    # The trials the lost node was running were retried on the nodes still there, from the
    # checkpoints they had (every start after the loss began at the newest one).
    interrupted = [
        seed
        for seed, attempts in starts.items()
        if attempts[-1][1] != lost
        and any(node == lost for _, node, _ in attempts)
        and (at_kill[seed] or 0) < STEPS
    ]
    assert interrupted and all(at_kill[seed] for seed in interrupted), (lost, at_kill, starts)
    check_resumed_exactly(storage, at_kill, kill_time)
    check_mlflow(mlflow_server, "nodes")
    assert adapters(storage) == uninterrupted
