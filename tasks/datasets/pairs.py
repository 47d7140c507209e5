"""A folder of the user's own (input, target) images: the source of the `pairs` task, so a few
examples of a new task need no code (docs/data.md).

    PATH/
      task.json          optional: {"metric": "miou"} or {"metric": ["ssim", "psnr"]}
      train/x/NAME.png   an input ...
      train/y/NAME.png   ... and its target: the same NAME (the extension may differ)
      val/x/, val/y/     optional validation pairs, laid out as train/

Images are .png, .jpg or .jpeg of any size and mode, read as RGB after their EXIF rotation (a
phone's portrait photo stands upright); an input and its target must be the same size. Each is
fitted to the trial's (height, width) by `tasks.datasets.fit` (centre crop to the trial's
aspect, then a bicubic resize), the same crop for both, as every real dataset is. Names starting
with a dot (.DS_Store) are skipped; any other file is an error rather than silently unused.

Opening the folder reads every image once, so a broken file is one line in the sweep's driver,
not a traceback in a trial.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tasks import metrics as _metrics
from tasks.datasets import DatasetError, fit, require

EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_METRICS = ("psnr", "ssim")
SETTINGS_FILE = "task.json"
LAYOUT = "a folder of pairs: train/x/NAME.png with train/y/NAME.png (png, jpg), optional val/"
_UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def scores_from_target_alone(name: str) -> bool:
    """Whether metric `name` of `tasks.metrics` scores a prediction against its target image
    alone: no inpainting mask, depth or labels besides, which a folder of images lacks (and
    `orchestrator.predict --targets` too)."""
    parameters = list(inspect.signature(getattr(_metrics, name)).parameters.values())
    rest_optional = all(p.default is not p.empty for p in parameters[2:])
    return [p.name for p in parameters[:2]] == ["pred", "target"] and rest_optional


def pair_metrics() -> list[str]:
    """The metrics of `tasks.metrics` a folder may name: those scored from the target alone."""
    names = []
    for name, function in vars(_metrics).items():
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        if function.__module__ == _metrics.__name__ and scores_from_target_alone(name):
            names.append(name)
    return sorted(names)


def folder_metrics(root: str | Path) -> tuple[str, ...]:
    """What the folder's trials are scored on, primary first: its task.json's `metric` (one name
    or a list), else PSNR and SSIM. Read without opening the images, so the driver's progress
    and the report can ask it cheaply."""
    root = require(Path(root).expanduser(), LAYOUT)
    path = root / SETTINGS_FILE
    if not path.exists():
        return DEFAULT_METRICS
    expected = 'expected {"metric": NAME} or {"metric": [NAME, ...]}'
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise DatasetError(f"{str(path)!r} is not readable JSON ({reason}); {expected}") from None
    if not isinstance(settings, dict) or set(settings) - {"metric"}:
        got = sorted(settings) if isinstance(settings, dict) else type(settings).__name__
        raise DatasetError(f"{str(path)!r} holds {got}; {expected}, the only key allowed")
    metric = settings.get("metric", list(DEFAULT_METRICS))
    names = [metric] if isinstance(metric, str) else metric
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{str(path)!r} has metric {metric!r}; {expected}")
    allowed = pair_metrics()
    for name in names:
        if name not in allowed:
            raise DatasetError(
                f"{str(path)!r} names unknown metric {name!r}; allowed: {', '.join(allowed)}"
            )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class FilePair:
    name: str
    x: Path
    y: Path


def _images(folder: Path) -> dict[str, Path]:
    """NAME → file of one x/ or y/ folder."""
    require(folder, f"{folder.name}/ of {LAYOUT}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if not path.is_file() or path.suffix.lower() not in EXTENSIONS:
            raise DatasetError(
                f"{str(path)!r} is not an image file; allowed in {folder.name}/: "
                f"{', '.join(EXTENSIONS)}"
            )
        if path.stem in found:
            raise DatasetError(
                f"{str(path)!r} and {str(found[path.stem])!r} share the name {path.stem!r}; "
                "allowed: one image per name"
            )
        found[path.stem] = path
    return found


def _unmatched(files: dict[str, Path], names: list[str], other: Path, what: str) -> DatasetError:
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return DatasetError(
        f"{str(files[names[0]])!r}{more} is {what}; expected "
        f"{str(other / names[0])!r} + one of {', '.join(EXTENSIONS)}"
    )


def list_split(folder: Path) -> list[FilePair]:
    """The pairs of train/ or val/, by name; every input has its target and every target its
    input."""
    require(folder, LAYOUT)
    inputs, targets = _images(folder / "x"), _images(folder / "y")
    lonely = sorted(set(inputs) - set(targets))
    if lonely:
        raise _unmatched(inputs, lonely, folder / "y", "an input without a target")
    lonely = sorted(set(targets) - set(inputs))
    if lonely:
        raise _unmatched(targets, lonely, folder / "x", "a target without an input")
    if not inputs:
        raise DatasetError(f"{str(folder)!r} holds no pairs; expected {LAYOUT}")
    return [FilePair(name, inputs[name], targets[name]) for name in sorted(inputs)]


def read_rgb(path: Path) -> np.ndarray:
    """The image at `path` upright (EXIF rotation applied) as H×W×3 uint8; a zero-byte or
    unreadable file is one DatasetError naming it."""
    if path.stat().st_size == 0:
        raise DatasetError(f"{str(path)!r} is empty (0 bytes); expected a png or jpg image")
    try:
        with Image.open(path) as opened:
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            return np.asarray(upright.convert("RGB"))
    except UnidentifiedImageError:  # its message repeats the path
        reason = "not a format PIL knows"
    except _UNREADABLE as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise DatasetError(
        f"{str(path)!r} cannot be read as an image ({reason}); expected a png or jpg image"
    )


class PairsFolder:
    """The pairs at `root`: `train`, and `val` (None without a val/ folder). Index i < len(train)
    is train[i], then val's; `sample` gives a pair fitted to a size."""

    def __init__(self, root: str | Path) -> None:
        self.root = require(Path(root).expanduser(), LAYOUT)
        if not self.root.is_dir():
            raise DatasetError(f"{str(self.root)!r} is not a folder; expected {LAYOUT}")
        if not any(not p.name.startswith(".") for p in self.root.iterdir()):
            raise DatasetError(f"{str(self.root)!r} is empty; expected {LAYOUT}")
        self.metrics = folder_metrics(self.root)
        self.train = list_split(self.root / "train")
        self.val = list_split(self.root / "val") if (self.root / "val").exists() else None
        for pair in self.all_pairs:
            check_pair(pair)

    @property
    def all_pairs(self) -> list[FilePair]:
        return [*self.train, *(self.val or [])]

    def __len__(self) -> int:
        return len(self.all_pairs)

    def sample(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pair `index` as (x, y), both fitted to `size` = (height, width) the same way."""
        pair = self.all_pairs[index]
        return fit(read_rgb(pair.x), size), fit(read_rgb(pair.y), size)


def check_pair(pair: FilePair) -> None:
    """Both images read whole, and are the same size (one crop must fit both)."""
    x, y = read_rgb(pair.x), read_rgb(pair.y)
    if x.shape != y.shape:
        raise DatasetError(
            f"{str(pair.x)!r} is {x.shape[1]}×{x.shape[0]} but its target {str(pair.y)!r} is "
            f"{y.shape[1]}×{y.shape[0]} (width×height); allowed: an input and its target of "
            "the same size"
        )
