"""Where a backbone's weights come from, and their copy on this node.

`--weights BACKBONE=URI` names a local folder, a storage URI (`s3://…`, `gs://…`, any pyarrow
filesystem, as `trainables.storage` opens them) or a Hugging Face repo, `hf://ORG/NAME[@REVISION]`.
A spot node that joins mid-sweep has nothing on its disk, so a remote source is fetched by the
trial that needs it, where it runs, once per node: into the node's cache (`VDM_WEIGHTS_CACHE`,
default `~/.cache/vdm-sweeps/weights`; on a cluster the instance's local NVMe disk) under a file
lock, so the other trials on the node wait for that one download instead of starting their own.
Only the diffusers layout the backbone reads is fetched (`model_index.json` and its subfolders,
not a repo's other checkpoints), and every file's size is checked against the source's listing.

A storage fetch fills a temporary folder and renames it when complete, so a killed download
leaves nothing a later trial would use (the next fetch removes its remains). A hub fetch goes
through huggingface_hub's own cache inside the node's cache (`VDM_WEIGHTS_CACHE/hub`, its usual
layout: each file is written aside and renamed, and `HF_HUB_OFFLINE=1` reads it without network).

The weights' identity (what the latent cache's keys and the kept backbone compare) is the
source's, never the node-local copy's path: the URI with its listing's sizes and modification
times for storage, the repo at its commit for the hub, the files' stat for a local folder (as
before: there the folder is the source).

No torch here: the sweep's driver checks sources with it.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trainables.weights import file_identity, require_folder

if TYPE_CHECKING:
    from trainables.storage import Storage

#: Where a node keeps fetched weights unless VDM_WEIGHTS_CACHE names another folder.
CACHE_ENV = "VDM_WEIGHTS_CACHE"
DEFAULT_CACHE = Path.home() / ".cache" / "vdm-sweeps" / "weights"
#: The file that makes a folder a diffusers pipeline.
MODEL_INDEX = "model_index.json"
#: Written into a fetched copy: which source and listing it holds (for people; never read back).
SOURCE_RECORD = ".vdm-source.json"
HUB_SCHEME = "hf://"
_HUB_REPO = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
ALLOWED = "a local folder, hf://ORG/NAME[@REVISION], or a pyarrow filesystem URI (s3://, gs://, …)"
#: The schemes pyarrow's `FileSystem.from_uri` opens (besides file://, a local folder here).
PYARROW_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs")


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


@dataclass(frozen=True)
class Layout:
    """The diffusers layout a backbone reads: `model_index.json` and these subfolders."""

    subfolders: tuple[str, ...]
    hub_id: str

    def wanted(self, relative: str) -> bool:
        top, sep, _ = relative.partition("/")
        return relative == MODEL_INDEX or (bool(sep) and top in self.subfolders)

    @property
    def parts(self) -> tuple[str, ...]:
        """Its top-level names: what a whole-layout identity covers."""
        return (MODEL_INDEX, *self.subfolders)

    def patterns(self) -> list[str]:
        return [MODEL_INDEX, *(f"{name}/*" for name in self.subfolders)]

    def check(self, uri: str, files: dict[str, tuple[int, str]]) -> None:
        """One line naming what the source lacks, before anything is fetched."""
        present = {relative.partition("/")[0] for relative in files}
        missing = [name for name in self.parts if name not in present]
        if missing:
            raise FileNotFoundError(
                f"weights source {uri!r} lacks {', '.join(missing)}; expected the {self.hub_id} "
                f"layout: {MODEL_INDEX} and subfolders {', '.join(self.subfolders)}"
            )


@dataclass(frozen=True)
class Listing:
    """The layout's files at the source: relative path → (size in bytes, version: a
    modification time, or '' where the revision says it), and the revision (a hub commit)."""

    files: dict[str, tuple[int, str]]
    revision: str = ""


class Source(abc.ABC):
    uri: str

    @abc.abstractmethod
    def listing(self, layout: Layout) -> Listing:
        """The layout's files, checked present (FileNotFoundError), without fetching them."""

    @abc.abstractmethod
    def identity(self, listing: Listing, parts: tuple[str, ...]) -> str:
        """Names these weights (the files under the top-level names `parts`) wherever they
        are fetched to."""

    @abc.abstractmethod
    def fetch(self, layout: Layout, listing: Listing) -> Path:
        """A folder on this node holding the listed files."""


@dataclass(frozen=True)
class Weights:
    """A layout on this node's disk, and the source it came from."""

    root: Path
    source: Source
    layout: Layout
    listing: Listing

    def identity(self, parts: tuple[str, ...] | None = None) -> str:
        """Of the files under `parts` (default: the whole layout)."""
        return self.source.identity(self.listing, parts or self.layout.parts)


def open_source(uri: str | os.PathLike[str]) -> Source:
    """The source a `--weights` value names (ValueError naming what is allowed otherwise)."""
    text = str(uri)
    if text.startswith(HUB_SCHEME):
        return HubSource(text)
    if "://" in text and not text.startswith("file://"):
        return StorageSource(text)
    return LocalSource(text)


def fetch_weights(uri: str | os.PathLike[str], subfolders: tuple[str, ...], hub_id: str) -> Weights:
    """The weights on this node's disk: a local folder as it is, a remote source fetched once."""
    layout = Layout(subfolders, hub_id)
    source = open_source(uri)
    listing = source.listing(layout)
    return Weights(source.fetch(layout, listing), source, layout, listing)


def source_identity(uri: str | os.PathLike[str], subfolders: tuple[str, ...], hub_id: str) -> str:
    """The identity `fetch_weights(...).identity()` would give, from a listing alone."""
    layout = Layout(subfolders, hub_id)
    source = open_source(uri)
    return source.identity(source.listing(layout), layout.parts)


def check_source(uri: str | os.PathLike[str], subfolders: tuple[str, ...], hub_id: str) -> None:
    """The source exists and holds the layout (a listing: nothing is fetched)."""
    open_source(uri).listing(Layout(subfolders, hub_id))


class LocalSource(Source):
    """A folder on this node: used in place (the same path on every node of a cluster)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.root = Path(uri.removeprefix("file://")).expanduser()

    def listing(self, layout: Layout) -> Listing:
        require_folder(self.root, layout.subfolders, layout.hub_id)
        return Listing({})

    def identity(self, listing: Listing, parts: tuple[str, ...]) -> str:
        return file_identity(self.root, *parts)

    def fetch(self, layout: Layout, listing: Listing) -> Path:
        return self.root


class StorageSource(Source):
    """A folder in any pyarrow filesystem (credentials from the environment, as for storage).
    The filesystem is opened where it is listed, not where the URI is parsed: opening an S3 URI
    asks S3 for the bucket's region, which the sweep's head may not reach."""

    def __init__(self, uri: str) -> None:
        if uri.partition("://")[0] not in PYARROW_SCHEMES:
            raise ValueError(f"unsupported weights source {uri!r}; allowed: {ALLOWED}")
        self.uri = uri.rstrip("/")

    @functools.cached_property
    def storage(self) -> Storage:
        from trainables.storage import Storage

        try:
            return Storage(self.uri)
        except ValueError as error:
            raise OSError(f"weights source {self.uri!r} cannot be opened: {error}") from None

    def listing(self, layout: Layout) -> Listing:
        import pyarrow.fs as pafs

        fs, base = self.storage.fs, self.storage.path()
        infos = [fs.get_file_info(f"{base}/{MODEL_INDEX}")]
        for name in layout.subfolders:
            selector = pafs.FileSelector(f"{base}/{name}", recursive=True, allow_not_found=True)
            infos += fs.get_file_info(selector)
        files = {
            info.path[len(base) + 1 :]: (info.size, str(info.mtime_ns))
            for info in infos
            if info.type == pafs.FileType.File
        }
        layout.check(self.uri, files)
        return Listing(files)

    def identity(self, listing: Listing, parts: tuple[str, ...]) -> str:
        files = sorted(
            f"{relative}:{size}:{version}"
            for relative, (size, version) in listing.files.items()
            if relative.partition("/")[0] in parts
        )
        return "|".join([self.uri, *files])

    def fetch(self, layout: Layout, listing: Listing) -> Path:
        from filelock import FileLock

        key = hashlib.sha256(self.identity(listing, layout.parts).encode()).hexdigest()[:16]
        folder = cache_root() / "storage"
        entry = folder / key  # content-addressed: a changed source is a new entry
        if entry.is_dir():
            return entry
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(folder / f".{key}.lock"):
            if entry.is_dir():  # fetched by the trial this one waited for
                return entry
            for remains in folder.glob(f".{key}.*.partial"):  # of a killed fetch: we hold the lock
                shutil.rmtree(remains, ignore_errors=True)
            partial = folder / f".{key}.{os.getpid()}.partial"
            try:
                self._copy(listing, partial)
                os.rename(partial, entry)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        return entry

    def _copy(self, listing: Listing, target: Path) -> None:
        import pyarrow.fs as pafs

        total = sum(size for size, _ in listing.files.values())
        print(
            f"weights: fetching {self.uri} ({len(listing.files)} files, {total / 1e6:,.1f} MB) "
            f"into {target.parent}",
            flush=True,
        )
        local = pafs.LocalFileSystem()
        for relative, (size, _) in sorted(listing.files.items()):
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            pafs.copy_files(
                self.storage.path(relative),
                str(path),
                source_filesystem=self.storage.fs,
                destination_filesystem=local,
            )
            check_size(self.uri, relative, path, size, "nothing was kept")
        record = {"source": self.uri, "files": listing.files}
        (target / SOURCE_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True))


class HubSource(Source):
    """A Hugging Face repo at a revision, through huggingface_hub into the node's cache."""

    def __init__(self, uri: str) -> None:
        repo, at, revision = uri.removeprefix(HUB_SCHEME).partition("@")
        if not _HUB_REPO.fullmatch(repo) or (at and not revision):
            raise ValueError(f"bad weights source {uri!r}; expected hf://ORG/NAME[@REVISION]")
        self.uri = uri
        self.repo = repo
        self.revision = revision or "main"

    @staticmethod
    def cache() -> Path:
        return cache_root() / "hub"

    def listing(self, layout: Layout) -> Listing:
        import httpx2  # huggingface_hub's HTTP client: its connection errors
        from huggingface_hub import HfApi, constants, get_cached_repo_tree
        from huggingface_hub.errors import (
            CachedRepoTreeNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
        from huggingface_hub.hf_api import RepoFile

        offline = constants.is_offline_mode()
        try:
            if offline:
                tree = get_cached_repo_tree(
                    self.repo, revision=self.revision, cache_dir=self.cache()
                )
                commit = self._cached_commit()
            else:
                api = HfApi()
                commit = api.repo_info(self.repo, revision=self.revision).sha or ""
                tree = api.list_repo_tree(self.repo, revision=commit, recursive=True)
        except (RevisionNotFoundError, CachedRepoTreeNotFoundError):
            if offline and self._snapshot_without_listing():
                raise ValueError(  # a revision cached by a hub client that kept no file listing
                    f"weights source {self.uri!r}: the hub cache {self.cache()} holds no file "
                    f"listing of revision {self.revision!r}; fetch it once online (or with "
                    "huggingface_hub >= 2.4) so sizes can be checked offline"
                ) from None
            where = f"in the hub cache {self.cache()} (HF_HUB_OFFLINE is set)" if offline else ""
            raise ValueError(
                f"weights source {self.uri!r}: unknown revision {self.revision!r} of "
                f"{self.repo} {where}".rstrip()
            ) from None
        except RepositoryNotFoundError:
            raise ValueError(
                f"weights source {self.uri!r}: no repository {self.repo!r} on the hub "
                "(or a gated one without a token: set HF_TOKEN)"
            ) from None
        except (OSError, httpx2.HTTPError) as error:  # the hub's HTTP errors, or no connection
            raise OSError(
                f"weights source {self.uri!r}: the hub cannot be reached ({first_line(error)}); "
                "HF_HUB_OFFLINE=1 reads the node's hub cache instead"
            ) from None
        files = {
            file.path: (file.size, "")
            for file in tree
            if isinstance(file, RepoFile) and layout.wanted(file.path)
        }
        layout.check(self.uri, files)
        return Listing(files, revision=commit)

    def _storage(self) -> Path:
        """The repo's folder in the hub cache."""
        from huggingface_hub.file_download import repo_folder_name

        return self.cache() / repo_folder_name(repo_id=self.repo, repo_type="model")

    def _cached_commit(self) -> str:
        if _COMMIT.fullmatch(self.revision):
            return self.revision
        return (self._storage() / "refs" / self.revision).read_text().strip()

    def _snapshot_without_listing(self) -> bool:
        """The revision is in the hub cache, but not the list of its files."""
        try:
            return (self._storage() / "snapshots" / self._cached_commit()).is_dir()
        except OSError:  # no such ref
            return False

    def identity(self, listing: Listing, parts: tuple[str, ...]) -> str:
        return f"{HUB_SCHEME}{self.repo}@{listing.revision}"  # a commit names every file

    def fetch(self, layout: Layout, listing: Listing) -> Path:
        from filelock import FileLock
        from huggingface_hub import snapshot_download

        cache = self.cache()
        cache.mkdir(parents=True, exist_ok=True)
        with FileLock(cache / f".{self.repo.replace('/', '--')}.lock"):
            root = Path(
                snapshot_download(
                    self.repo,
                    revision=listing.revision,
                    cache_dir=cache,
                    allow_patterns=layout.patterns(),
                )
            )
        for relative, (size, _) in sorted(listing.files.items()):
            check_size(
                self.uri, relative, root / relative, size, f"remove {root} to fetch it again"
            )
        return root


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_size(uri: str, relative: str, path: Path, size: int, remedy: str) -> None:
    """A fetched file has the size the source listed (a truncated or replaced file does not)."""
    got = path.stat().st_size if path.exists() else None
    if got != size:
        found = "is missing" if got is None else f"has {got} bytes"
        raise OSError(
            f"weights source {uri!r}: {relative} {found} where the source listed {size}; the "
            f"source changed during the fetch or the copy is damaged ({remedy})"
        )
