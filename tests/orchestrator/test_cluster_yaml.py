"""cluster.yaml (the `ray up` config, docs/cluster.md), checked offline: no network, no AWS.

The launcher's own steps run as `ray up` runs them (ray/autoscaler/_private/commands.py,
`_bootstrap_config`): `prepare_config` (defaults from the installed aws/defaults.yaml, a local
file), the provider's `fillout_available_node_types_resources` (one EC2 DescribeInstanceTypes
call, answered here by moto's bundled instance catalogue), then `validate_config` (ray-schema.json).
`bootstrap_aws` (IAM, key pair, subnets, security groups) is not run: it needs an account.

Every node type's `node_config` is walked against botocore's EC2 RunInstances input shape, the
call the AWS provider makes with it (`create_instances(**conf)`), so a misspelt key or enum value
fails here with its path instead of at launch time on a spot request.
"""

from __future__ import annotations

import copy
import datetime
import difflib
import functools
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import botocore.client
import botocore.model
import botocore.session
import pytest
import ray
import yaml
from ray._private.authentication.authentication_token_setup import _get_default_token_path
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_YAML = ROOT / "cluster.yaml"

# Keys the AWS provider accepts in a node_config and removes before RunInstances
# (ray/autoscaler/_private/aws/node_provider.py, `_create_node`: `conf.pop("SubnetIds")`).
RAY_ONLY_NODE_CONFIG_KEYS = {"SubnetIds"}

# Card classes: custom resource name -> the GPU memory (decimal GB) a card of that class has.
CARD_CLASSES = {"vram_24gb": 24, "vram_80gb": 80}


def load_config() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


@functools.cache
def run_instances_shape():
    ec2 = botocore.session.get_session().get_service_model("ec2")
    return ec2.operation_model("RunInstances").input_shape


# ---------------------------------------------------------------------------------------------
# The node_config checker: botocore's shape model, walked recursively.


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shape_errors(value: Any, shape, path: str) -> list[str]:
    """Every place where `value` does not fit the botocore `shape`, as 'path: problem'."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping ({shape.name}), got {type(value).__name__}"]
        errors = []
        for key, item in value.items():
            if key not in shape.members:
                errors.append(
                    f"{path}.{key}: unknown key for {shape.name}{_suggest(key, shape.members)}"
                )
            else:
                errors += shape_errors(item, shape.members[key], f"{path}.{key}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list ({shape.name}), got {type(value).__name__}"]
        return [
            error
            for i, item in enumerate(value)
            for error in shape_errors(item, shape.member, f"{path}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping ({shape.name}), got {type(value).__name__}"]
        errors = []
        for key, item in value.items():
            errors += shape_errors(key, shape.key, f"{path}<key {key!r}>")
            errors += shape_errors(item, shape.value, f"{path}.{key}")
        return errors
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__} {value!r}"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not a {shape.name} value{_suggest(value, shape.enum)}"]
        return []
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("float", "double"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "timestamp":
        ok = isinstance(value, str | datetime.datetime | datetime.date)
    elif kind == "blob":
        ok = isinstance(value, str | bytes)
    else:
        return [f"{path}: shape type {kind!r} is not checked"]
    return [] if ok else [f"{path}: expected {kind}, got {type(value).__name__} {value!r}"]


def node_config_errors(config: dict[str, Any]) -> list[str]:
    shape = run_instances_shape()
    errors = []
    for name, node_type in config["available_node_types"].items():
        node_config = {
            k: v for k, v in node_type["node_config"].items() if k not in RAY_ONLY_NODE_CONFIG_KEYS
        }
        errors += shape_errors(node_config, shape, f"available_node_types.{name}.node_config")
    return errors


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def no_aws(monkeypatch):
    """Any botocore API call fails the test (every AWS SDK request goes through this method)."""

    def refuse(self, operation_name, api_params):
        raise AssertionError(
            f"AWS was called: {self.meta.service_model.service_name}.{operation_name}"
        )

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)


@pytest.fixture
def fake_ec2(monkeypatch, tmp_path):
    """moto's in-process EC2 (its bundled instance-type catalogue) with fake credentials; the
    provider's cached boto clients are dropped before and after so none outlives the mock."""
    moto = pytest.importorskip("moto")
    from ray.autoscaler._private.aws.utils import client_cache, resource_cache

    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    client_cache.cache_clear()
    resource_cache.cache_clear()
    with moto.mock_aws():
        yield
    client_cache.cache_clear()
    resource_cache.cache_clear()


def worker_types(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    head = config["head_node_type"]
    return {k: v for k, v in config["available_node_types"].items() if k != head}


# ---------------------------------------------------------------------------------------------
# The launcher's own checks


def test_prepare_and_validate_without_aws(no_aws):
    raw = load_config()
    # prepare_config merges the installed aws/defaults.yaml key by key at the top level
    # (util.py, fillout_defaults: `defaults.update(config)`): a command list left out here
    # would come from the defaults, which install a Ray nightly wheel.
    for key in (
        "initialization_commands",
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
        "file_mounts",
        "cluster_synced_files",
        "auth",
        "provider",
    ):
        assert key in raw, f"cluster.yaml must set {key!r} itself"

    prepared = prepare_config(copy.deepcopy(raw))
    validate_config(prepared)

    assert "ray-wheels" not in json.dumps(prepared)
    assert prepared["head_setup_commands"] == raw["setup_commands"] + raw["head_setup_commands"]
    assert prepared["worker_setup_commands"] == raw["setup_commands"] + raw["worker_setup_commands"]
    assert prepared["provider"] == {
        "type": "aws",
        "region": "us-west-2",
        "cache_stopped_nodes": False,
    }
    assert prepared["available_node_types"][prepared["head_node_type"]]["max_workers"] == 0
    for name, node_type in worker_types(prepared).items():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"], name
        assert node_type["max_workers"] <= prepared["max_workers"], name
    assert prepared["idle_timeout_minutes"] > 0


def test_resources_after_autodetection_and_instance_catalogue(fake_ec2, monkeypatch):
    """`ray up` fills node resources from DescribeInstanceTypes and lets ours win; ours must
    agree with the instances: vCPUs, GPU count, and each GPU's memory for its card class."""
    import boto3
    from ray.autoscaler._private.aws import node_provider

    raw = load_config()
    ours = sorted({t["node_config"]["InstanceType"] for t in raw["available_node_types"].values()})
    catalogue = boto3.client("ec2", region_name="us-west-2").describe_instance_types(
        InstanceTypes=ours
    )["InstanceTypes"]
    assert sorted(t["InstanceType"] for t in catalogue) == ours
    # The provider's list_ec2_instances pages through the whole catalogue (several seconds under
    # moto); the same DescribeInstanceTypes answer, for our types only, goes to the same code.
    monkeypatch.setattr(node_provider, "list_ec2_instances", lambda *args, **kwargs: catalogue)

    prepared = prepare_config(copy.deepcopy(raw))
    filled = node_provider.AWSNodeProvider.fillout_available_node_types_resources(prepared)
    validate_config(filled)

    head = filled["available_node_types"][filled["head_node_type"]]["resources"]
    assert head == {"CPU": 0}, "the head must advertise no CPU: Tune would place trials on it"

    info_by_type = {t["InstanceType"]: t for t in catalogue}
    for name, node_type in worker_types(filled).items():
        declared = raw["available_node_types"][name]["resources"]
        resources = node_type["resources"]
        for key, value in declared.items():
            assert resources[key] == value, (name, key)  # autodetection never overrides ours
        assert resources["memory"] > 0  # filled in for workers
        info = info_by_type[node_type["node_config"]["InstanceType"]]
        assert declared["CPU"] == info["VCpuInfo"]["DefaultVCpus"], name
        (gpus,) = info["GpuInfo"]["Gpus"]
        assert declared["GPU"] == gpus["Count"], name
        (card_class,) = [k for k in declared if k in CARD_CLASSES]
        assert declared[card_class] == declared["GPU"], f"{name}: one {card_class} unit per GPU"
        # EC2 gives the usable memory (the A10G's 24 GB as 22888 MiB, 23.99 GB): to the GB.
        per_gpu_gb = round(gpus["MemoryInfo"]["SizeInMiB"] * 2**20 / 10**9)
        assert per_gpu_gb >= CARD_CLASSES[card_class], (name, gpus)


# ---------------------------------------------------------------------------------------------
# node_config against EC2 RunInstances


def test_node_configs_fit_run_instances():
    assert node_config_errors(load_config()) == []


def test_checker_reports_typos_with_their_path():
    config = load_config()
    name = next(n for n, t in worker_types(config).items() if "vram_80gb" in t["resources"])
    node_config = config["available_node_types"][name]["node_config"]
    spot = node_config["InstanceMarketOptions"]
    spot["MarketType"] = "spott"
    spot["SpotOptions"]["MaxPrise"] = "9.99"
    spot["SpotOptions"]["InstanceInterruptionBehavior"] = "terminated"
    node_config["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] = "500"
    node_config["InstanceTyp"] = node_config.pop("InstanceType")

    errors = node_config_errors(config)
    base = f"available_node_types.{name}.node_config"
    expected = {
        f"{base}.InstanceMarketOptions.MarketType: 'spott' is not": "'spot'",
        f"{base}.InstanceMarketOptions.SpotOptions.MaxPrise: unknown key": "'MaxPrice'",
        f"{base}.InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior: 'terminated'": (
            "'terminate'"
        ),
        f"{base}.BlockDeviceMappings[0].Ebs.VolumeSize: expected integer": "str",
        f"{base}.InstanceTyp: unknown key": "'InstanceType'",
    }
    for prefix, hint in expected.items():
        matches = [e for e in errors if e.startswith(prefix)]
        assert len(matches) == 1 and hint in matches[0], (prefix, errors)
    assert len(errors) == len(expected), errors


def test_checker_walks_maps_and_scalars():
    """The walker's other branches: scalar types on RunInstances, maps on a small model."""
    shape = run_instances_shape()
    assert shape_errors({"ImageId": 3}, shape, "n") == ["n.ImageId: expected a string, got int 3"]
    assert shape_errors({"DisableApiTermination": "yes"}, shape, "n") == [
        "n.DisableApiTermination: expected boolean, got str 'yes'"
    ]
    assert shape_errors({"MaxCount": True}, shape, "n") == [
        "n.MaxCount: expected integer, got bool True"
    ]
    assert shape_errors({"BlockDeviceMappings": {}}, shape, "n") == [
        "n.BlockDeviceMappings: expected a list (BlockDeviceMappingRequestList), got dict"
    ]
    counts = botocore.model.ShapeResolver(
        {
            "Counts": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Count"}},
            "Name": {"type": "string", "enum": ["a", "b"]},
            "Count": {"type": "integer"},
        }
    ).get_shape_by_name("Counts")
    assert shape_errors({"a": 1, "b": 2}, counts, "m") == []
    assert shape_errors({"c": 1, "a": "x"}, counts, "m") == [
        "m<key 'c'>: 'c' is not a Name value",
        "m.a: expected integer, got str 'x'",
    ]
    assert shape_errors([], counts, "m") == ["m: expected a mapping (Counts), got list"]


# ---------------------------------------------------------------------------------------------
# What the cluster is for


def test_head_runs_no_trials_and_is_on_demand():
    config = load_config()
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    # Losing the head loses the sweep's driver: it is not a spot instance.
    assert "InstanceMarketOptions" not in head["node_config"]
    assert head.get("max_workers", 0) == 0


def test_card_classes_and_spot_workers():
    config = load_config()
    workers = worker_types(config)
    classes = {k for t in workers.values() for k in t["resources"] if k in CARD_CLASSES}
    assert classes == set(CARD_CLASSES), "a 24 GB and an 80 GB worker type"
    for name, node_type in workers.items():
        resources = node_type["resources"]
        assert resources["GPU"] >= 1, name
        card = [k for k in resources if k.startswith("vram_")]
        assert card in ([c] for c in CARD_CLASSES), f"{name}: exactly one card class, got {card}"
        assert resources[card[0]] == resources["GPU"], name
        market = node_type["node_config"]["InstanceMarketOptions"]
        assert market["MarketType"] == "spot", name
        # One-time requests end with the instance, which spot must terminate (not stop).
        assert market["SpotOptions"] == {
            "SpotInstanceType": "one-time",
            "InstanceInterruptionBehavior": "terminate",
        }, name
        # Trials reach the S3 storage through the instance profile, never a key.
        assert set(node_type["node_config"]["IamInstanceProfile"]) <= {"Name", "Arn"}, name


# ---------------------------------------------------------------------------------------------
# Token authentication (Ray 2.60; docs/cluster.md)


def _start_lines(commands: list[str]) -> list[str]:
    return [c for c in commands if "ray start" in c]


def test_token_auth_wiring():
    config = load_config()
    head_start = _start_lines(config["head_start_ray_commands"])
    worker_start = _start_lines(config["worker_start_ray_commands"])
    assert len(head_start) == 1 and len(worker_start) == 1
    for line in head_start + worker_start:
        # `ray start --head` enables token mode only when it finds a token, and a worker's
        # `ray start --address` never does (ray/scripts/scripts.py): it is set explicitly.
        assert re.search(r"\bRAY_AUTH_MODE=token ray start\b", line), line
    assert "--head" in head_start[0]
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in head_start[0]
    assert "--address=$RAY_HEAD_IP:6379" in worker_start[0]

    # The head makes the token (once; the command prints it, so its output is dropped)...
    generate = [c for c in config["head_setup_commands"] if "get-auth-token" in c]
    assert len(generate) == 1
    assert re.search(r"ray get-auth-token --generate > /dev/null", generate[0])
    # ...where Ray looks for it by default, and the head copies it to each worker.
    token_file = "~/.ray/auth_token"
    assert Path(token_file).expanduser() == _get_default_token_path()
    assert token_file in generate[0]
    assert config["cluster_synced_files"] == [token_file]
    # Drivers started in a node's shell (`ray exec`, `ray attach`) run in token mode as well.
    assert any("export RAY_AUTH_MODE=token" in c for c in config["setup_commands"])


def test_nodes_install_the_local_ray_and_the_makefile_torch():
    config = load_config()
    makefile_torch = re.search(r'echo "torch==([\w.]+)"', (ROOT / "Makefile").read_text())
    assert makefile_torch
    for key, torch_spec in (
        ("head_setup_commands", f"torch=={makefile_torch[1]}+cpu"),
        ("worker_setup_commands", f"torch=={makefile_torch[1]}"),
    ):
        text = "\n".join(config[key])
        # The cluster runs the Ray that `ray up` runs locally (the autoscaler reads the config
        # this version writes).
        assert re.findall(r"ray\[[\w,]+\]==([\w.]+)", text) == [ray.__version__], key
        assert f'"{torch_spec}"' in text, (key, torch_spec)
        assert "pip install -q -e ~/vdm-sweeps" in text, key
    assert "download.pytorch.org/whl/cpu" in "\n".join(config["head_setup_commands"])
    assert "download.pytorch.org/whl/cu" in "\n".join(config["worker_setup_commands"])


def test_file_mounts_ship_what_pip_install_needs():
    config = load_config()
    mounts = config["file_mounts"]
    assert "." not in mounts.values() and "./" not in mounts.values()  # would hash all of .venv
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert {remote.removeprefix("~/vdm-sweeps/") for remote in mounts} == needed
    for remote, local in mounts.items():
        assert local == f"./{remote.removeprefix('~/vdm-sweeps/')}", remote
        assert (ROOT / local).exists(), local


# ---------------------------------------------------------------------------------------------
# No secrets


SECRET_PATTERNS = {
    "AWS secret key name": re.compile(r"aws_secret_access_key", re.IGNORECASE),
    "AWS access key name": re.compile(r"aws_access_key_id", re.IGNORECASE),
    "AWS access key id": re.compile(r"AKIA"),
    "Ray token value": re.compile(r"RAY_AUTH_TOKEN\s*[=:]\s*\S"),
    "SSH private key": re.compile(r"BEGIN [A-Z ]*PRIVATE KEY"),
}


def secret_findings(text: str) -> list[str]:
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def test_no_secrets_in_cluster_yaml():
    assert secret_findings(CLUSTER_YAML.read_text()) == []


def test_secret_scan_finds_planted_secrets():
    planted = "\n".join(
        [
            "aws_secret_access_" + "key: x",
            "key: AKIA" + "IOSFODNN7EXAMPLE",
            "export RAY_AUTH_" + "TOKEN=0123abcd",
        ]
    )
    assert secret_findings(planted) == [
        "AWS secret key name",
        "AWS access key id",
        "Ray token value",
    ]
    assert secret_findings("export RAY_AUTH_TOKEN_PATH=/x") == []


def test_a_sweep_right_after_ray_up_sizes_trials_for_the_gpu_nodes_to_come(tmp_path):
    """cluster.yaml starts its GPU types at zero nodes: the driver reads the autoscaler's node
    types (the config `ray up` leaves on the head) so that trials still ask for GPU shares of
    the smallest card class, the demand that launches the GPU nodes."""
    from orchestrator.resources import cluster_card_gb, launchable_resources

    config = yaml.safe_load(CLUSTER_YAML.read_text())
    types = config["available_node_types"]
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert all(t["min_workers"] == 0 for t in workers)  # no GPU is up right after `ray up`

    launchable = launchable_resources(CLUSTER_YAML)
    assert launchable["GPU"] == sum(t["resources"].get("GPU", 0) for t in workers) > 0
    assert {"vram_24gb", "vram_80gb"} <= set(launchable)
    head_only = {"CPU": 0.0, "memory": 1e9}  # ray.cluster_resources() of the head alone
    assert cluster_card_gb(head_only, {}) is None  # as before: no GPU now or later
    assert cluster_card_gb(head_only, launchable) == 24  # the smallest class that can come
    assert cluster_card_gb(head_only, launchable, requested=80) == 80
    # An 80 GB node up now, a 24 GB type launchable later: sized for the smaller card.
    up = {"CPU": 192.0, "GPU": 8.0, "vram_80gb": 8.0}
    assert cluster_card_gb(up, {}) == 80
    assert cluster_card_gb(up, launchable) == 24

    # No autoscaler config (a local Ray, a hand-started cluster), a type that may not launch.
    assert launchable_resources(tmp_path / "absent.yaml") == {}
    capped = copy.deepcopy(config)
    for name in capped["available_node_types"]:
        if name != capped["head_node_type"]:
            capped["available_node_types"][name]["max_workers"] = 0
    (tmp_path / "capped.yaml").write_text(yaml.safe_dump(capped))
    assert launchable_resources(tmp_path / "capped.yaml") == {}
