"""A multi-node Ray cluster on this one machine, for tests: Ray's own test cluster
(`ray.cluster_utils.Cluster`) with a head of no CPUs, as cluster.yaml's head is, and worker nodes
of cluster.yaml's GPU worker types on logical GPUs. A worker node can be lost the way a spot node
is (every process at once, without a goodbye), and every process the cluster started is
remembered by its id so that the test reaps exactly those, even on failure.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import yaml

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def worker_types(cpus: int = 1) -> dict[str, dict[str, Any]]:
    """cluster.yaml's GPU worker types as `Cluster.add_node` arguments: their GPUs (logical
    here) and `vram_<N>gb` card classes as declared, their CPUs cut to `cpus` (a trial takes
    one, and this machine has two cores for the whole test)."""
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    out = {}
    for name, node_type in config["available_node_types"].items():
        resources = dict(node_type["resources"])
        if not resources.get("GPU"):
            continue
        out[name] = {
            "num_cpus": cpus,
            "num_gpus": int(resources.pop("GPU")),
            "resources": {k: float(v) for k, v in resources.items() if k != "CPU"},
        }
    return out


class LocalCluster:
    """A head with no CPUs (nothing but the driver's work lands on it) and the worker nodes
    `add` starts. RAY_TMPDIR must be the test's own short folder (Ray's socket paths must fit
    107 bytes): Ray's "current cluster" file lands there too, so no other `ray.init()` on this
    machine joins this cluster. `system_config`: the head's `_system_config`."""

    def __init__(self, system_config: dict[str, Any] | None = None) -> None:
        from ray.cluster_utils import Cluster

        assert os.environ.get("RAY_TMPDIR"), "give the cluster a RAY_TMPDIR of its own"
        self.seen: dict[int, psutil.Process] = {}
        self.pids_of: dict[str, set[int]] = {}  # node name → every pid seen on it
        self.types = worker_types()
        self.names: dict[Any, str] = {}  # node → its name in the test
        # No exit hooks or reaper in the test process: `shutdown` reaps, by id.
        self.cluster = Cluster(shutdown_at_exit=False)
        try:
            self.head = self.cluster.add_node(
                num_cpus=0,
                num_gpus=0,
                include_dashboard=False,
                node_ip_address="127.0.0.1",
                _system_config=system_config or {},
            )
            self.names[self.head] = "head"
            self.remember()
        except BaseException:
            self.shutdown()
            raise

    @property
    def address(self) -> str:
        return self.cluster.address

    def add(self, node_type: str, name: str):
        """A worker node of one of cluster.yaml's GPU types, named `name` in this test."""
        node = self.cluster.add_node(node_ip_address="127.0.0.1", **self.types[node_type])
        self.names[node] = name
        self.pids_of[name] = set()
        self.remember()
        return node

    def _processes(self, node) -> list[psutil.Process]:
        """The node's own processes (raylet, agents; the head's GCS) and their descendants
        (the worker processes its raylet started)."""
        out = []
        for infos in list(node.all_processes.values()):
            for info in infos:
                try:
                    process = psutil.Process(info.process.pid)
                    out += [process, *process.children(recursive=True)]
                except psutil.NoSuchProcess:
                    pass
        return out

    def remember(self) -> None:
        """Notes every process each node has now (its worker processes come and go)."""
        for node in self.cluster.list_all_nodes():
            name = self.names.get(node)
            for process in self._processes(node):
                self.seen.setdefault(process.pid, process)
                if name in self.pids_of:
                    self.pids_of[name].add(process.pid)

    def node_of(self, pid: int) -> str | None:
        """The name of the worker node a process ran on, if it was seen on one."""
        self.remember()
        return next((name for name, pids in self.pids_of.items() if pid in pids), None)

    def node_named(self, name: str):
        return next(node for node, n in self.names.items() if n == name)

    def lose(self, name: str) -> None:
        """The node is gone, as a reclaimed spot instance is: every process of it stopped at
        the same instant (so none reacts to another's death, nor writes a byte more), then
        killed; Ray hears nothing from it, it just stops answering."""
        node = self.node_named(name)
        self.remember()
        processes = self._processes(node)
        for process in processes:
            _signal(process, signal.SIGSTOP)
        self.cluster.remove_node(node, allow_graceful=False)  # SIGKILLs its Ray daemons
        for process in processes:
            _signal(process, signal.SIGKILL)
        psutil.wait_procs(processes, timeout=10)
        del self.names[node]

    def shutdown(self) -> None:
        """Stops every node (workers, then the head), then kills whatever it started that is
        still running, by the ids seen."""
        try:
            self.remember()
        except Exception:  # noqa: BLE001 - the reaping below must run whatever happened
            pass
        try:
            self.cluster.shutdown()
        finally:
            alive = [p for p in self.seen.values() if p.is_running()]
            _, alive = psutil.wait_procs(alive, timeout=10)
            for process in alive:
                _signal(process, signal.SIGKILL)
            _, left = psutil.wait_procs(alive, timeout=10)
            assert not left, f"processes left running: {[p.pid for p in left]}"


def _signal(process: psutil.Process, sig: int) -> None:
    try:
        process.send_signal(sig)
    except psutil.NoSuchProcess:
        pass
