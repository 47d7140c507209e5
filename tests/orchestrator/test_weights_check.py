"""On a cluster, `--weights` is checked where the trials read it: a Ray task on a GPU node, before
any trial is queued, and its one-line error is the sweep's (orchestrator.weights_check)."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from orchestrator.sweep import main


@pytest.mark.slow  # 7-24 s (machine load): a Ray cluster of a CPU head and a GPU node
def test_on_a_cluster_the_weights_are_checked_on_a_gpu_node_first(tmp_path, capsys):
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False},  # as cluster.yaml's head
    )
    try:
        gpu_node = cluster.add_node(num_cpus=1, num_gpus=1, resources={"vram_24gb": 1})
        absent = tmp_path / "absent"
        argv = ["smoke", "--scale", "full", "--weights", f"ltx={absent}"]
        argv += ["--address", cluster.address, "--storage", str(tmp_path / "sweeps")]
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert err == (
            f"error: --weights ltx=...: weights folder '{absent}' does not exist; expected "
            f"Lightricks/LTX-Video layout (checked on GPU node {gpu_node.node_ip_address})\n"
        )
        assert "Ray cluster with" not in out  # before the placement line, before any trial
        assert not ray.is_initialized()
        assert not (tmp_path / "sweeps" / "smoke" / "mlflow.db").exists()
    finally:
        cluster.shutdown()


def test_cluster_yaml_puts_the_weights_cache_on_the_workers_nvme_disk():
    import yaml

    from trainables.weight_sources import CACHE_ENV

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "cluster.yaml").read_text())
    (start,) = [c for c in config["worker_start_ray_commands"] if "ray start" in c]
    assert f"{CACHE_ENV}=/opt/vdm-weights " in start  # every trial of the node inherits it
    (setup,) = [c for c in config["worker_setup_commands"] if "/opt/vdm-weights" in c]
    assert "nvme" in setup.split("ln -sfn", 1)[1].split()[0].lower()  # a link to the NVMe disk
    assert "mountpoint -q /opt/dlami/nvme" in setup and "Instance_Storage" in setup
    assert not any(CACHE_ENV in c for c in config["head_start_ray_commands"])  # no trial there
