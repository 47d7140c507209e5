"""One view of the sweep's storage, a local folder or any pyarrow filesystem URI (`s3://…`,
`gs://…`), for what trials share across nodes: checkpoints and the latent cache.

Writes are atomic for readers on both: a local file is written to a temporary name and renamed;
an object store makes an object visible only when its upload completes. Credentials come from
the environment (or the node's instance profile), never from the URI, so URIs can be logged.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow.fs as pafs


class Storage:
    def __init__(self, uri: str | os.PathLike[str]) -> None:
        self.uri = str(uri)
        if "://" not in self.uri:
            self.uri = str(Path(self.uri).expanduser().resolve())
        try:
            self.fs, self.root = pafs.FileSystem.from_uri(self.uri)
        except (ValueError, OSError) as error:
            raise ValueError(
                f"storage {self.uri!r} is not a path or a filesystem URI: {error}"
            ) from None
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def child(self, *parts: str) -> Storage:
        """The storage rooted at a sub-folder (same filesystem, same query options)."""
        base, sep, query = self.uri.partition("?")
        return Storage("/".join([base.rstrip("/"), *parts]) + (sep + query if sep else ""))

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def size(self, *parts: str) -> int | None:
        info = self.fs.get_file_info(self.path(*parts))
        return info.size if info.type == pafs.FileType.File else None

    def list_dirs(self, *parts: str) -> list[str]:
        """Names of the folders directly under `parts` ([] when it does not exist)."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def list_files(self, *parts: str) -> dict[str, int]:
        """Relative path → size of every file below `parts`."""
        base = self.path(*parts)
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        return {
            i.path[len(base) + 1 :]: i.size
            for i in self.fs.get_file_info(selector)
            if i.type == pafs.FileType.File
        }

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open_input_stream(self.path(*parts)) as stream:
            return stream.read()

    def write_bytes(self, data: bytes, *parts: str) -> None:
        target = self.path(*parts)
        parent = target.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if not self.local:
            with self.fs.open_output_stream(target) as stream:
                stream.write(data)
            return
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def upload(self, local_dir: Path, *parts: str) -> None:
        """Copy a local folder's files under `parts` (each file written atomically)."""
        for file in sorted(p for p in Path(local_dir).rglob("*") if p.is_file()):
            relative = file.relative_to(local_dir).as_posix()
            self.write_bytes(file.read_bytes(), *parts, relative)

    def download(self, local_dir: Path, *parts: str) -> None:
        for relative in self.list_files(*parts):
            target = Path(local_dir) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read_bytes(*parts, relative))

    def delete(self, *parts: str) -> None:
        if self.exists(*parts):
            self.fs.delete_dir(self.path(*parts))
