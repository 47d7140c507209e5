"""`--weights BACKBONE=URI` from remote sources (trainables.weight_sources): a saved tiny pipeline
on the loopback S3 server, fetched once per node however many trials race for it, and a hub repo
read through huggingface_hub's own offline mode from a hub cache laid out as the hub lays it
out; the one-line errors; and the identity that cache keys and the kept backbone compare."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import pytest
import torch

import trainables.kept_backbone as kept
from orchestrator.sweep import main
from orchestrator.weights_check import check_weights
from trainables.backbones import backbone_class, load, weights_identity
from trainables.storage import Storage
from trainables.weight_sources import CACHE_ENV, Layout, open_source

NAME = "cogvideox"  # the cheapest tiny pipeline to save and load
SPEC = backbone_class(NAME)
REPO = "org/tiny-cogvideox"
COMMITS = ("a" * 40, "b" * 40)  # main, and a second revision (tag v2)
UNLISTED = "c" * 40  # tag old: cached by a hub client that kept no file listing
FETCHING = "weights: fetching "


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A tiny pipeline saved in its hub layout, plus files the backbone never reads, and its
    transformer's weights as built."""
    folder = tmp_path_factory.mktemp("saved") / "tiny"
    pipeline = SPEC.build_tiny_pipeline()
    pipeline.save_pretrained(folder)
    (folder / "extra-checkpoint.safetensors").write_bytes(b"not part of the layout")
    (folder / "unused").mkdir()
    (folder / "unused" / "x.bin").write_bytes(b"nor is this")
    return folder, {k: v.clone() for k, v in pipeline.transformer.state_dict().items()}


@pytest.fixture(scope="module")
def bucket():
    """The loopback S3 server (as tests/orchestrator/test_preemption.py's), one per module."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(key, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        boto3.client(
            "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1"
        ).create_bucket(Bucket="models")
        yield (
            lambda prefix: (
                f"s3://models/{prefix}?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
            )
        )
    server.stop()


@pytest.fixture(scope="module")
def s3_weights(bucket, saved) -> str:
    uri = bucket("tiny")
    Storage(uri).upload(saved[0])
    return uri


@pytest.fixture
def node(tmp_path, monkeypatch) -> Path:
    """This test's node-local weights cache."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "node"))
    return tmp_path / "node"


def equal_weights(module: torch.nn.Module, expected: dict[str, torch.Tensor]) -> bool:
    got = module.state_dict()
    return got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got)


# -- S3 ----------------------------------------------------------------------------------------


def test_trials_racing_on_one_node_fetch_the_weights_once(s3_weights, saved, node, capsys, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")  # the S3 server's log of its requests
    start = threading.Barrier(2)
    loaded: dict[int, object] = {}
    errors: list[BaseException] = []

    def trial(i: int) -> None:
        start.wait()
        try:
            loaded[i] = load(NAME, "full", s3_weights)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=trial, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert capsys.readouterr().out.count(FETCHING) == 1  # one download; the other trial waited
    served = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    weights_file = "/models/tiny/transformer/diffusion_pytorch_model.safetensors"
    assert sum(f"GET {weights_file} " in line for line in served) == 1  # the server agrees
    first, second = loaded[0], loaded[1]
    assert first.root == second.root and first.root.parent == node / "storage"
    assert all(equal_weights(b.transformer, saved[1]) for b in (first, second))
    # Only the layout came: not the source's other files, and no remains of the fetch.
    copied = {p.relative_to(first.root).as_posix() for p in first.root.rglob("*") if p.is_file()}
    layout = Layout(SPEC.subfolders, SPEC.hub_id)
    assert copied - {".vdm-source.json"} == {
        p.relative_to(saved[0]).as_posix()
        for p in saved[0].rglob("*")
        if p.is_file() and layout.wanted(p.relative_to(saved[0]).as_posix())
    }
    assert sorted(p.name for p in (node / "storage").iterdir() if p.is_dir()) == [first.root.name]
    # The identity is the source's: the URI and its listing, not this node's copy.
    assert first.weights_id == second.weights_id and first.weights_id.startswith(s3_weights)
    assert str(node) not in first.weights_id and str(node) not in first.source_id
    # A trial on this node later finds the copy: no second download.
    assert load(NAME, "full", s3_weights).root == first.root
    assert FETCHING not in capsys.readouterr().out


def test_another_node_has_the_same_identity_and_a_killed_fetch_leaves_nothing_used(
    s3_weights, node, tmp_path, monkeypatch, capsys
):
    here = load(NAME, "full", s3_weights)
    capsys.readouterr()
    other = tmp_path / "other-node"
    monkeypatch.setenv(CACHE_ENV, str(other))
    # What a fetch killed half way leaves on that node: a partial folder of the same entry.
    remains = other / "storage" / f".{here.root.name}.12345.partial"
    (remains / "transformer").mkdir(parents=True)
    (remains / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"half")
    there = load(NAME, "full", s3_weights)
    assert capsys.readouterr().out.count(FETCHING) == 1
    assert there.root == other / "storage" / here.root.name and not remains.exists()
    assert (there.weights_id, there.source_id) == (here.weights_id, here.source_id)


def test_a_source_rewritten_is_loaded_afresh_by_the_kept_backbone(bucket, saved, node):
    uri = bucket("rewritten")
    Storage(uri).upload(saved[0])

    class Engine:  # give_back needs only the engine's hooks (none) and its destroy
        module_forward_pre_hook = module_forward_post_hook = None

        def destroy(self) -> None:
            pass

    kept.drop()
    try:
        first = kept.take(NAME, "full", uri)
        kept.give_back(NAME, "full", uri, first, Engine())
        assert kept.take(NAME, "full", uri) is first  # same source, same listing: the kept one
        kept.give_back(NAME, "full", uri, first, Engine())
        config = saved[0] / "scheduler" / "scheduler_config.json"
        Storage(uri).write_bytes(config.read_bytes() + b"\n", "scheduler/scheduler_config.json")
        again = kept.take(NAME, "full", uri)
        assert again is not first and again.source_id != first.source_id
        assert again.root != first.root  # a new entry: the old copy is never served for it
        # Only the scheduler changed: the latent cache's entries (VAE, text encoder) still hold.
        assert again.weights_id == first.weights_id
    finally:
        kept.drop()


# -- errors ------------------------------------------------------------------------------------


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_bad_scheme_is_one_line_naming_what_is_allowed(capsys, tmp_path):
    with pytest.raises(ValueError) as error:
        check_weights(NAME, "ftp://host/models/x")
    assert one_line(error) == (
        f"--weights {NAME}=...: unsupported weights source 'ftp://host/models/x'; allowed: a "
        "local folder, hf://ORG/NAME[@REVISION], or a pyarrow filesystem URI (s3://, gs://, …)"
    )
    with pytest.raises(ValueError, match=r"bad weights source 'hf://a b'; expected hf://ORG/NAME"):
        check_weights(NAME, "hf://a b")
    # Through the CLI, before anything starts (on a cluster too: the form is checked on the head).
    argv = ["smoke", "--scale", "full", "--dry-run", "--weights", "ltx=ftp://host/x"]
    for extra in ([], ["--address", "auto"]):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --weights ltx=...: unsupported weights source 'ftp://")
        assert err.count("\n") == 1


def test_a_source_without_the_layout_is_one_line_before_any_fetch(bucket, saved, node):
    uri = bucket("partial")
    storage = Storage(uri)
    for sub in ("transformer", "text_encoder", "tokenizer", "scheduler"):
        storage.upload(saved[0] / sub, sub)
    with pytest.raises(ValueError) as error:
        check_weights(NAME, uri)
    assert one_line(error) == (
        f"--weights {NAME}=...: weights source {uri!r} lacks model_index.json, vae; expected the "
        f"{SPEC.hub_id} layout: model_index.json and subfolders {', '.join(SPEC.subfolders)}"
    )
    with pytest.raises(FileNotFoundError, match="lacks model_index.json, vae"):
        load(NAME, "full", uri)
    assert not node.exists()  # nothing fetched


def test_a_file_that_changed_during_the_fetch_fails_it_and_keeps_nothing(bucket, saved, node):
    uri = bucket("changing")
    Storage(uri).upload(saved[0])
    layout = Layout(SPEC.subfolders, SPEC.hub_id)
    source = open_source(uri)
    listing = source.listing(layout)
    # Rewritten between the listing and the download, as a source being replaced would be.
    relative = "vae/config.json"
    Storage(uri).write_bytes((saved[0] / relative).read_bytes() + b"  ", relative)
    with pytest.raises(OSError) as error:
        source.fetch(layout, listing)
    size = listing.files[relative][0]
    assert one_line(error) == (
        f"weights source {uri!r}: {relative} has {size + 2} bytes where the source listed "
        f"{size}; the source changed during the fetch or the copy is damaged (nothing was kept)"
    )
    assert [p.name for p in (node / "storage").iterdir() if p.is_dir()] == []
    # The next load lists the source again and fetches what it now holds.
    assert load(NAME, "full", uri).root.is_dir()


# -- the hub, offline --------------------------------------------------------------------------


def fill_hub_cache(cache: Path, folder: Path) -> None:
    """`REPO` at both commits in a hub cache, laid out as huggingface_hub lays it out
    (blobs named by content, snapshots of links to them, refs, and the tree listing of each
    commit), holding the layout's files only: the repo's other files are listed, not cached."""
    from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache

    storage = cache / f"models--{REPO.replace('/', '--')}"
    entries = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder).as_posix()
        data = file.read_bytes()
        blob = hashlib.sha256(data).hexdigest()
        git_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        entries[relative] = TreeCacheEntry(size=len(data), blob_id=git_id)
        if not Layout(SPEC.subfolders, SPEC.hub_id).wanted(relative):
            continue
        (storage / "blobs").mkdir(parents=True, exist_ok=True)
        (storage / "blobs" / blob).write_bytes(data)
        for commit in (*COMMITS, UNLISTED):
            link = storage / "snapshots" / commit / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            depth = len(Path(relative).parts) + 1  # up to the repo's folder
            link.symlink_to(Path(*[".."] * depth, "blobs", blob))
    for commit in COMMITS:
        write_tree_cache(str(storage), commit, entries)
    (storage / "refs").mkdir()
    for ref, commit in zip(("main", "v2", "old"), (*COMMITS, UNLISTED), strict=True):
        (storage / "refs" / ref).write_text(commit)


@pytest.fixture
def offline_hub(node, saved, monkeypatch) -> None:
    """huggingface_hub's offline mode (HF_HUB_OFFLINE=1, which it reads at import: its constant
    is what every request checks) and the node's hub cache filled as a download leaves it."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    fill_hub_cache(node / "hub", saved[0])


def test_a_hub_repo_loads_offline_from_the_node_cache(offline_hub, saved, node):
    backbone = load(NAME, "full", f"hf://{REPO}")
    assert equal_weights(backbone.transformer, saved[1])
    assert (
        backbone.root
        == node / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / (COMMITS[0])
    )
    assert backbone.weights_id == backbone.source_id == f"hf://{REPO}@{COMMITS[0]}"


def test_the_hub_identity_is_the_repo_at_its_commit(offline_hub):
    main_branch, pinned, tag = (
        weights_identity(NAME, "full", f"hf://{REPO}@{revision}")
        for revision in ("main", COMMITS[0], "v2")
    )
    assert main_branch == pinned == f"hf://{REPO}@{COMMITS[0]}"  # same commit: same key
    assert tag == f"hf://{REPO}@{COMMITS[1]}" != main_branch  # another revision: another key
    assert weights_identity(NAME, "full", f"hf://{REPO}") == main_branch


def test_an_unknown_revision_is_one_line(offline_hub, node):
    with pytest.raises(ValueError) as error:
        check_weights(NAME, f"hf://{REPO}@v9")
    assert one_line(error) == (
        f"--weights {NAME}=...: weights source 'hf://{REPO}@v9': unknown revision 'v9' of {REPO} "
        f"in the hub cache {node / 'hub'} (HF_HUB_OFFLINE is set)"
    )
    # A revision cached without its file listing: known, but its sizes cannot be checked.
    with pytest.raises(ValueError) as error:
        check_weights(NAME, f"hf://{REPO}@old")
    assert one_line(error).endswith(
        "holds no file listing of revision 'old'; fetch it once online (or with "
        "huggingface_hub >= 2.4) so sizes can be checked offline"
    )
