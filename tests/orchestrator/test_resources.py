"""The per-trial resources policy: the share of a card or the number of whole GPUs per backbone,
scale and card class; and, on logical GPUs in a local Ray, that Tune packs fractional trials as
the shares say and that a trial's group of ranks gives each rank its own GPU, reserved with the
trial."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import ray
from ray import tune

import orchestrator.gpu_estimates as g
from orchestrator.resources import (
    MEMORY_GB,
    TrialResources,
    cap_cuda_memory,
    card_memory_gb,
    placement_estimates,
    placement_key,
    policy,
    sweep_placement,
)
from orchestrator.tuner import trial_placement

# backbone → {card GB: (gpu share or per-worker GPUs, workers)} at full scale
FULL = {
    "ltx": {24.0: (1.0, 1), 80.0: (0.25, 1), 141.0: (0.25, 1), None: (0.0, 1)},
    "cogvideox": {24.0: (1.0, 3), 80.0: (0.5, 1), 141.0: (0.25, 1), None: (0.0, 1)},
    "wan": {24.0: (1.0, 4), 80.0: (1.0, 1), 141.0: (0.5, 1), None: (0.0, 1)},
}
CARDS = (24.0, 80.0, 141.0, None)


def test_memory_estimates_cover_every_backbone():
    from trainables.backbones import SCALES, backbone_names

    assert sorted(MEMORY_GB) == backbone_names()
    assert all(policy(b, s, 80.0).workers == 1 for b in MEMORY_GB for s in SCALES if b != "wan")
    # The paper trained CogVideoX1.5 on one RTX 4090; as measured on an H200, this trial's
    # untiled VAE decode needs 29.4 GiB (BENCHMARKS.md), so a 24 GB card does not hold it.
    assert MEMORY_GB["cogvideox"] > 24


@pytest.mark.parametrize("backbone", sorted(FULL))
@pytest.mark.parametrize("card", CARDS)
def test_full_scale_takes_the_smallest_share_that_holds_the_backbone(backbone, card):
    gpu, workers = FULL[backbone][card]
    assert policy(backbone, "full", card) == TrialResources(cpu=1.0, gpu=gpu, workers=workers)
    if card is not None and workers == 1:
        assert gpu * card >= MEMORY_GB[backbone]
        assert gpu == 0.25 or gpu / 2 * card < MEMORY_GB[backbone]  # and the smallest such


@pytest.mark.parametrize("backbone", sorted(FULL))
@pytest.mark.parametrize("card", CARDS)
def test_tiny_scale_takes_a_cpu_and_a_quarter_card_where_there_are_gpus(backbone, card):
    expected = TrialResources(cpu=1.0, gpu=0.0 if card is None else 0.25, workers=1)
    assert policy(backbone, "tiny", card) == expected


def test_a_group_reserves_a_whole_gpu_per_rank_beside_the_trials_own_cpu():
    wan = policy("wan", "full", 24.0)
    assert wan.total_gpus == 4.0
    assert wan.bundles(worker_cpus=2.0) == [{"CPU": 1.0}] + [{"CPU": 2.0, "GPU": 1.0}] * 4
    assert policy("ltx", "full", 80.0).bundles() == [{"CPU": 1.0, "GPU": 0.25}]
    assert policy("ltx", "full", None).bundles() == [{"CPU": 1.0}]
    on_cpus = TrialResources(cpu=0.5, gpu=0.0, workers=2)
    assert on_cpus.bundles(worker_cpus=0.5) == [{"CPU": 0.5}, {"CPU": 0.5}, {"CPU": 0.5}]
    # As many ranks as the ZeRO-3 estimate needs (gpu_estimates.ranks_needed), at least two:
    # on 24 GB cards ceil(52 / 24) = 3 ranks would hold 24.2 GB each.
    assert g.zero3_rank_gb(g.SPECS["wan"], 3)["training"] > 24.0
    assert policy("wan", "full", 48.0).workers == 2


def test_a_card_that_no_zero3_group_fits_is_refused_unless_the_user_places_the_trial():
    # Wan's VAE, CLIP and UMT5-XXL are whole on every rank: 16.7 GB before any transformer shard.
    with pytest.raises(ValueError) as error:
        policy("wan", "full", 16.0)
    assert str(error.value) == (
        "wan at full scale does not fit 16 GB cards, not even split over ZeRO-3 ranks (its VAE "
        "and text encoder are whole on each); allowed: cards of 18 GB or more"
    )
    assert policy("wan", "full", 16.0, override_workers=8) == TrialResources(1.0, 1.0, 8)
    assert policy("wan", "full", 16.0, override_workers=1).gpu == 1.0


@pytest.mark.parametrize(
    "gpu, workers, card, expected",
    [
        (0.5, None, 24.0, (0.5, 1)),  # a share smaller than the estimate: overrides win
        (1, None, 80.0, (1.0, 1)),
        (2, None, 80.0, (1.0, 2)),  # two whole GPUs = two workers
        (None, 2, 80.0, (1.0, 2)),
        (2, 2, 80.0, (1.0, 2)),
        (1, 4, 80.0, (1.0, 4)),
        (None, 1, 24.0, (1.0, 1)),  # wan in one process on a whole card
        (None, 1, 141.0, (0.5, 1)),  # one worker keeps the estimate's share
        (None, 2, None, (0.0, 2)),  # CPU workers on a cluster without GPUs
        (0.25, None, None, (0.25, 1)),  # asked for explicitly: the cluster may scale up
    ],
)
def test_overrides_win(gpu, workers, card, expected):
    resources = policy("wan", "full", card, override_gpu=gpu, override_workers=workers)
    assert (resources.gpu, resources.workers) == expected


@pytest.mark.parametrize(
    "gpu, workers, message",
    [
        (0, None, "bad GPUs per trial 0; allowed: a share in (0, 1] or a whole number"),
        (-0.5, None, "bad GPUs per trial -0.5; allowed"),
        (1.5, None, "bad GPUs per trial 1.5; allowed"),
        (float("nan"), None, "bad GPUs per trial nan; allowed"),
        ("1", None, "bad GPUs per trial '1'; allowed"),
        (True, None, "bad GPUs per trial True; allowed"),
        (None, 0, "bad workers per trial 0; allowed: a whole number ≥ 1"),
        (None, 1.5, "bad workers per trial 1.5; allowed: a whole number ≥ 1"),
        (2, 1, "bad GPUs per trial 2 with 1 worker; allowed: a share in (0, 1], or workers=2"),
        (0.5, 2, "bad GPUs per trial 0.5 with 2 workers; allowed: 1 per worker or 2 in all"),
        (3, 2, "bad GPUs per trial 3 with 2 workers"),
    ],
)
def test_bad_overrides_are_one_line_errors(gpu, workers, message):
    with pytest.raises(ValueError) as error:
        policy("ltx", "full", 80.0, override_gpu=gpu, override_workers=workers)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_unknown_backbone_scale_or_card_are_one_line_errors():
    with pytest.raises(
        ValueError, match=r"^unknown backbone 'sora'; allowed: cogvideox, ltx, wan$"
    ):
        policy("sora", "full", 80.0)
    with pytest.raises(ValueError, match=r"^unknown scale 'huge'; allowed: tiny, micro, full$"):
        policy("ltx", "huge", 80.0)
    with pytest.raises(ValueError, match=r"^bad card memory 0 GB"):
        policy("ltx", "full", 0)


@pytest.mark.parametrize(
    "cluster, expected",
    [
        ({"CPU": 8.0}, None),
        ({"CPU": 8.0, "GPU": 0.0}, None),
        ({"CPU": 8.0, "GPU": 4.0}, 24.0),  # GPUs of no declared class: the safe assumption
        ({"CPU": 8.0, "GPU": 4.0, "vram_80gb": 4.0}, 80.0),
        ({"CPU": 8.0, "GPU": 6.0, "vram_141gb": 2.0, "vram_80gb": 4.0}, 80.0),
        ({"CPU": 8.0, "GPU": 6.0, "vram_141gb": 2.0, "vram_24gb": 4.0}, 24.0),
        ({"CPU": 8.0, "GPU": 2.0, "vram_141gb": 2.0, "vram_24gb": 0.0}, 141.0),
        ({"GPU": 2.0, "vram_48gb": 2.0, "node:10.0.0.1": 1.0, "memory": 1e11}, 48.0),
    ],
)
def test_card_memory_from_the_cluster_resources(cluster, expected):
    assert card_memory_gb(cluster) == expected


def test_cap_cuda_memory_does_nothing_without_cuda():
    assert cap_cuda_memory(0.25) is False


# -- on logical GPUs in a local Ray -------------------------------------------------------------


@pytest.fixture(scope="module")
def logical_gpus():
    """A local Ray with 2 logical GPUs on this CPU machine."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=8, num_gpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def timed_trial(config: dict) -> None:
    """Sleeps 1.5 s once `wave` trials have started (or 10 s have passed), so that the first
    trials Tune allows at once do overlap; reports its interval and GPU ids."""
    root = Path(config["root"])
    (root / f"start_{config['i']}").touch()
    start = time.time()
    while len(list(root.glob("start_*"))) < config["wave"] and time.time() < start + 10:
        time.sleep(0.05)
    time.sleep(1.5)
    ids = ",".join(str(i) for i in ray.get_gpu_ids())
    tune.report({"start": start, "end": time.time(), "gpu_ids": ids})


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = running = 0
    for _, change in events:  # an end sorts before a start at the same instant
        running += change
        peak = max(peak, running)
    return peak


@pytest.mark.slow  # a real Ray Tune sweep on logical GPUs (13-50 s)
def test_half_gpu_trials_run_four_at_a_time_two_per_gpu(logical_gpus, tmp_path):
    # Through the sweep's own request: the placement table in the param space, read per trial
    # by `trial_placement` (the product path of orchestrator.tuner).
    trial = {"backbone": "wan", "scale": "full"}
    placement = sweep_placement([trial], 141.0)  # ½ of a 141 GB card
    assert placement == {placement_key(trial): {"cpu": 1.0, "gpu": 0.5, "workers": 1}}
    tuner = tune.Tuner(
        tune.with_resources(timed_trial, trial_placement),
        param_space={
            "trial": trial,
            "placement": placement,
            "root": str(tmp_path),
            "wave": 4,
            "i": tune.grid_search(list(range(8))),
        },
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="shares", verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    rows = [r.metrics for r in results]
    assert len(rows) == 8
    assert all(len(r["gpu_ids"].split(",")) == 1 for r in rows), [r["gpu_ids"] for r in rows]
    assert peak_overlap([(r["start"], r["end"]) for r in rows]) == 4  # 2 GPUs / 0.5
    by_gpu = {gpu: [(r["start"], r["end"]) for r in rows if r["gpu_ids"] == gpu] for gpu in "01"}
    assert {gpu: peak_overlap(spans) for gpu, spans in by_gpu.items()} == {"0": 2, "1": 2}


# torch is imported inside the functions Ray runs, not by this module, which every Tune trial
# process imports: four trial processes importing torch at once take ~15 s on 2 cores.


def rank_loop(config: dict, rank: int, publish) -> None:
    import torch.distributed as dist

    ids = [str(i) for i in ray.get_gpu_ids()]
    world = dist.get_world_size()  # the ranks are one process group
    (Path(config["root"]) / f"rank{rank}.json").write_text(json.dumps(ids))
    publish({"rank": rank, "world": world, "gpu_ids": ",".join(ids)})


def group_trial(config: dict) -> None:
    """A Tune trial that drives a group of ranks in the bundles it reserved, as
    trainables.sweep_trial does for a training trial."""
    from trainables.workers import run_group

    placement = config["placement"][placement_key(config["trial"])]
    (Path(config["root"]) / "driver.json").write_text(json.dumps(ray.get_gpu_ids()))
    run_group(
        rank_loop,
        {"root": config["root"]},
        workers=int(placement["workers"]),
        worker_cpus=1.0,
        gpus_per_worker=placement["gpu"],
        publish=tune.report,
    )


@pytest.mark.slow  # a real Ray Tune sweep on logical GPUs (13-50 s)
def test_a_worker_group_trial_gives_each_rank_its_own_gpu(logical_gpus, tmp_path):
    trial = {"backbone": "wan", "scale": "full", "weights": "/weights/wan"}
    placement = sweep_placement([trial], 80.0, override_workers=2)
    assert placement == {placement_key(trial): {"cpu": 1.0, "gpu": 1.0, "workers": 2}}
    tuner = tune.Tuner(
        tune.with_resources(group_trial, trial_placement),
        param_space={"root": str(tmp_path), "trial": trial, "placement": placement},
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="group", verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    assert json.loads((tmp_path / "driver.json").read_text()) == []  # the trial holds no GPU
    ids = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(len(i) == 1 for i in ids) and ids[0] != ids[1], ids
    assert results[0].metrics["gpu_ids"] == ",".join(ids[0])  # rank 0's report reached Tune


def group_or_filler(config: dict) -> None:
    """A group trial (as `group_trial`), or a one-process trial holding its GPU for 3 s."""
    if placement_key(config["trial"]).endswith("/w2"):
        group_trial(config)
        return
    root = Path(config["root"])
    (root / f"filler_{config['trial']['seed']}.json").write_text(json.dumps(time.time()))
    time.sleep(3)


@pytest.mark.slow  # a real Ray Tune sweep on logical GPUs (13-50 s)
def test_a_group_gets_its_gpus_when_tune_places_it_not_after_later_trials(logical_gpus, tmp_path):
    """Trials placed after a group must not take the GPUs its ranks will need: with the ranks'
    GPUs asked only once the group's trial runs, the two one-process trials behind it would
    take both logical GPUs first and the ranks would start after them."""
    group = {"backbone": "wan", "scale": "full", "weights": "/weights/wan", "workers": 2}
    fillers = [{"backbone": "wan", "scale": "full", "weights": "/w", "seed": s} for s in (1, 2)]
    placement = sweep_placement([group, *fillers], 80.0)
    assert placement_key(group).endswith("/w2") and not placement_key(fillers[0]).endswith("/w2")
    assert placement[placement_key(group)]["workers"] == 2
    assert placement[placement_key(fillers[0])]["gpu"] == 1.0
    tuner = tune.Tuner(
        tune.with_resources(group_or_filler, trial_placement),
        param_space={
            "root": str(tmp_path),
            "trial": tune.grid_search([group, *fillers]),
            "placement": placement,
        },
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="order", verbose=0),
    )
    assert not tuner.fit().errors
    ranks_ran = min((tmp_path / f"rank{r}.json").stat().st_mtime for r in (0, 1))
    fillers_started = [json.loads(p.read_text()) for p in tmp_path.glob("filler_*.json")]
    assert len(fillers_started) == 2
    assert ranks_ran < min(fillers_started), (ranks_ran, fillers_started)


def test_the_shares_table_of_docs_cluster_md_is_the_policy():
    """docs/cluster.md's table says what `policy` decides, row by row."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "cluster.md").read_text()
    table = text.split("| backbone (full scale)")[1].split("\n\n")[0].splitlines()[2:]
    words = {"¼": 0.25, "½": 0.5, "1": 1.0}
    seen = set()
    for row in table:
        cells = [c.strip() for c in row.strip("|").split("|")]
        backbone = cells[0].strip("`")
        assert float(cells[1].removesuffix(" GB")) == MEMORY_GB[backbone]
        for card_gb, cell in zip((24.0, 80.0, 141.0), cells[2:], strict=True):
            expected = policy(backbone, "full", card_gb)
            if workers := re.match(r"(\d+) workers × 1 GPU", cell):
                assert (expected.workers, expected.gpu) == (int(workers[1]), 1.0), cell
            else:
                assert (expected.workers, expected.gpu) == (1, words[cell.split()[0]]), cell
        seen.add(backbone)
    assert seen == set(MEMORY_GB)


def test_sweep_placement_precedence_cli_then_sweep_then_policy():
    trial = {"backbone": "ltx", "scale": "tiny"}
    assert sweep_placement([trial], 80.0)["ltx/tiny"]["gpu"] == 0.25
    assert sweep_placement([trial], 80.0, {"cpu": 2.0, "gpu": 0.5})["ltx/tiny"] == {
        "cpu": 2.0,
        "gpu": 0.5,
        "workers": 1,
    }
    assert sweep_placement([trial], 80.0, {"gpu": 0.5}, 1.0)["ltx/tiny"]["gpu"] == 1.0
    # No GPU in the cluster: no GPU share is asked, whatever the sweep or the CLI says.
    assert sweep_placement([trial], None, {"gpu": 0.5}, 1.0)["ltx/tiny"]["gpu"] == 0.0
    # A trial that pins its own workers gets a group of them, a whole GPU each.
    pinned = {"backbone": "ltx", "scale": "tiny", "workers": 2}
    assert sweep_placement([trial, pinned], 80.0) == {
        "ltx/tiny": {"cpu": 1.0, "gpu": 0.25, "workers": 1},
        "ltx/tiny/w2": {"cpu": 1.0, "gpu": 1.0, "workers": 2},
    }
    with pytest.raises(ValueError, match="bad workers per trial 0"):
        sweep_placement([trial], 80.0, override_workers=0)


def test_a_trial_without_a_backbone_is_placed_as_the_backbone_it_runs():
    """The `tasks` sweep leaves the backbone out: its trials run CogVideoX (TrialConfig's
    default), so they need CogVideoX's share, not a smaller one."""
    from trainables.config import TrialConfig

    trial = {"task": "hflip", "scale": "full", "weights": "/w"}
    assert TrialConfig.from_dict(trial).backbone == "cogvideox"
    # On 32 GB cards LTX-Video would get ½ (13 GB), CogVideoX1.5 a whole card (19 GB).
    assert policy("ltx", "full", 32.0).gpu == 0.5
    assert sweep_placement([trial], 32.0) == {
        "cogvideox/full/QKVO/r64/9x480x720/b2/val2": {"cpu": 1.0, "gpu": 1.0, "workers": 1}
    }
    assert placement_key({"task": "hflip"}) == "cogvideox/tiny"


def test_a_spread_trial_runs_sharded_and_full_scale_checkpoints_gradients():
    from trainables.config import TrialConfig
    from trainables.sweep_trial import with_placement

    trial = TrialConfig.from_dict(
        {
            "task": "hflip",
            "backbone": "wan",
            "scale": "full",
            "weights": "/w",
            "compile": True,
            "batch_size": 3,
        }  # the global batch: one example on each of 3 ranks
    )
    spread = with_placement(trial, {"cpu": 1.0, "gpu": 1.0, "workers": 3})
    assert (spread.workers, spread.zero_stage, spread.gradient_checkpointing) == (3, 3, True)
    assert not spread.compile  # compile is for one process: a spread trial runs uncompiled
    alone = with_placement(trial, {"cpu": 1.0, "gpu": 1.0, "workers": 1})
    assert (alone.workers, alone.zero_stage, alone.gradient_checkpointing) == (1, 2, True)
    tiny = TrialConfig.from_dict({"task": "hflip"})
    assert with_placement(tiny, {"cpu": 1.0, "gpu": 0.25, "workers": 1}) == tiny


def failing_rank(config: dict, rank: int, publish) -> None:
    if rank == 1:
        raise RuntimeError("rank 1 lost its device")
    time.sleep(60)  # rank 0 would go on for a minute: the group must not wait for it


@pytest.mark.slow  # a real Ray Tune sweep on logical GPUs (13-50 s)
def test_a_failing_rank_fails_the_group_at_once_and_stops_the_others(logical_gpus):
    from ray.util.placement_group import placement_group, remove_placement_group

    from trainables.workers import run_group

    group = placement_group(TrialResources(cpu=1.0, gpu=1.0, workers=2).bundles())
    ray.get(group.ready())
    try:
        started = time.monotonic()
        with pytest.raises(ray.exceptions.RayTaskError, match="rank 1 lost its device"):
            run_group(failing_rank, {}, 2, 1.0, 1.0, lambda metrics: None, group)
        assert time.monotonic() - started < 30
        # The ranks were stopped: their bundles' GPUs are free again for the retry.
        free = f"GPU_group_{group.id.hex()}"
        deadline = time.monotonic() + 20
        while ray.available_resources().get(free, 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ray.available_resources().get(free, 0) == 2
    finally:
        remove_placement_group(group)


# -- each trial placed by its own memory ---------------------------------------------------------


def ablation_trials() -> list[dict]:
    from search_spaces import load_sweep

    return [{**t, "scale": "full", "weights": "/w"} for t in load_sweep("ablations").trials]


def test_ablation_trials_of_more_lora_memory_get_their_own_larger_share():
    """Rank 256 and all-linear CogVideoX trials hold ~4× the QKVO rank-64 LoRA state: their
    estimate is above the default's, and the rank-256 one above a ¼ share of an H200 (whose
    CUDA memory the trial caps), so they must not share the default's placement."""
    trials = ablation_trials()
    placement = sweep_placement(trials, 141.0)
    estimates = {key: e["memory_gb"] for key, e in placement_estimates(trials).items()}

    def key_of(**settings) -> str:
        (key,) = {placement_key(t) for t in trials if all(t[k] == v for k, v in settings.items())}
        return key

    default = key_of(modules="QKVO", rank=64)
    assert default == "cogvideox/full/QKVO/r64/9x480x720/b2/val2"
    assert estimates[default] == 32.0 and placement[default]["gpu"] == 0.25
    for heavy in (key_of(rank=256), key_of(modules="all-linear")):
        assert heavy != default and estimates[heavy] > estimates[default]
    heavy = key_of(rank=256)
    assert estimates[heavy] > 0.25 * 141 and placement[heavy]["gpu"] == 0.5
    # Every kind gets the smallest share that holds its own estimate, on every card class
    # that holds it (on 24 GB cards CogVideoX1.5 needs ZeRO-3 ranks).
    for card in (80.0, 141.0):
        placement = sweep_placement(trials, card)
        assert set(placement) == set(estimates)
        for key, need in estimates.items():
            gpu = placement[key]["gpu"]
            assert gpu * card >= need and (gpu == 0.25 or gpu / 2 * card < need), (card, key)


def test_every_setting_that_moves_memory_enters_the_key_and_the_estimate():
    base = {"task": "pose", "backbone": "cogvideox", "scale": "full", "weights": "/w"}
    changes = {
        "rank": 128,
        "modules": "QKVO+FF",
        "height": 720,
        "width": 1280,
        "frames": 17,
        "batch_size": 8,  # training becomes the peak moment (validation is at batch 2)
        "sample_batch": 4,
        "offload_optimizer": True,
    }
    key = placement_key(base)
    need = placement_estimates([base])[key]["peak_gb"]
    for name, value in changes.items():
        changed = {**base, name: value}
        assert placement_key(changed) != key, name
        assert placement_estimates([changed])[placement_key(changed)]["peak_gb"] != need, name
    assert placement_key({**base, "workers": 2}) == f"{key}/w2"
    # Settings left unset and the backbone's defaults set explicitly are the same placement.
    explicit = {**base, "rank": 64, "modules": "QKVO", "height": 480, "batch_size": 2}
    assert placement_key(explicit) == key == placement_key({**base, "rank": None})


def test_full_scale_trials_are_estimated_with_gradient_checkpointing_as_they_run():
    """`trainables.sweep_trial.with_placement` turns gradient checkpointing on at full scale
    whatever the trial says: its placement is sized for that, not for the setting it was written
    with."""
    from trainables.config import TrialConfig, memory_settings
    from trainables.sweep_trial import with_placement

    full = {"task": "pose", "backbone": "cogvideox", "scale": "full", "weights": "/w"}
    off = {**full, "gradient_checkpointing": False}
    assert memory_settings(off).gradient_checkpointing is True
    assert placement_key(off) == placement_key({**full, "gradient_checkpointing": True})
    assert with_placement(TrialConfig.from_dict(off), {"workers": 1}).gradient_checkpointing is True
    tiny = {"task": "pose"}
    assert memory_settings(tiny).gradient_checkpointing is False
    assert (
        with_placement(TrialConfig.from_dict(tiny), {"workers": 1}).gradient_checkpointing is False
    )


def test_the_key_is_the_same_from_the_sweep_dict_and_from_the_resolved_trial():
    """The driver keys the table by the sweep's dicts; a trial may look its entry up from its
    resolved settings (`vars(TrialConfig)`): both give one key."""
    from trainables.config import TrialConfig

    for trial in ablation_trials() + [{"task": "hflip"}, {"task": "hflip", "workers": 2}]:
        assert placement_key(trial) == placement_key(vars(TrialConfig.from_dict(trial)))


def test_tiny_placements_stay_a_cpu_and_a_quarter_card():
    trials = [{**t, "scale": "tiny"} for t in ablation_trials()]
    assert sweep_placement(trials, 80.0) == {
        "cogvideox/tiny": {"cpu": 1.0, "gpu": 0.25, "workers": 1}
    }
    assert placement_estimates(trials) == {}


def test_dry_run_prints_each_placement_with_its_estimate_and_share(tmp_path, capsys):
    from orchestrator.sweep import main

    weights = tmp_path / "cogvideox"
    for sub in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        (weights / sub).mkdir(parents=True)
    argv = ["ablations", "--dry-run", "--card-gb", "80", "--scale", "full"]
    assert main([*argv, "--weights", f"cogvideox={weights}"]) == 0
    err = capsys.readouterr().err
    assert "on 80 GB cards, 8 kinds of placement (memory estimate -> share):" in err
    lines = [line.strip() for line in err.splitlines() if line.startswith("  cogvideox/full/")]
    assert len(lines) == 8
    assert (
        "cogvideox/full/QKVO/r64/9x480x720/b2/val2: estimate 32 GB (validation) -> 0.5 GPU "
        "(40 GB)" in lines
    )
    assert (
        "cogvideox/full/QKVO/r256/9x480x720/b2/val2: estimate 36 GB (validation) -> 0.5 GPU "
        "(40 GB)" in lines
    )
    assert (
        "cogvideox/full/QKVO/r16/9x480x720/b2/val2: estimate 31 GB (validation) -> "
        "0.5 GPU (40 GB)" in lines
    )
