"""What every benchmark shares: its common arguments (`--out`, `--threads`, `--quick`), how it
leaves its figures (a JSON file, written atomically, with the command that produced them and at
least one row) and its entry point (`main`: a ValueError is a one-line error and exit 2).

A benchmark module reads:

    def parse_args(argv):
        parser = harness.arguments(__doc__, DEFAULT_OUT)
        parser.add_argument("--steps", type=int, default=300)
        return harness.parse(parser, argv, quick={"steps": 2})

    @harness.entry
    def main(argv: list[str] | None = None) -> int:
        args = parse_args(argv)
        ...
        harness.write_rows(args.out, rows, settings=...)
        return 0

    if __name__ == "__main__":
        sys.exit(main())

`--quick` runs the benchmark at the smallest size that still goes through its code path (the
defaults of `quick=`; arguments given explicitly still win): its figures mean nothing, it is
what tests/benchmarks/test_quick.py runs for every benchmark.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The command of the benchmark this process runs, as `python -m module args` (set by `entry`).
_COMMAND: list[str] = []


def arguments(
    doc: str | None, out: str | Path, threads: int | None = None
) -> argparse.ArgumentParser:
    """A parser with the common arguments; `doc`'s first paragraph is its description."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(out), help="results file (JSON)")
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help="torch threads, here and in the processes it starts (default: "
        + ("torch's own)" if threads is None else f"{threads})"),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the smallest run that still goes through the benchmark's code path (for tests: "
        "its figures mean nothing)",
    )
    return parser


def parse(
    parser: argparse.ArgumentParser, argv: list[str] | None, quick: dict[str, Any] | None = None
) -> argparse.Namespace:
    """Parse `argv`; with `--quick`, `quick` replaces the defaults. Apply `--threads`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--quick" in argv and quick:
        parser.set_defaults(**quick)
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"bad --threads {args.threads}; allowed: ≥ 1")
        set_threads(args.threads)
    return args


def set_threads(threads: int) -> None:
    """Torch's threads in this process, and (through the environment) in those it starts."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def passed(args: argparse.Namespace, *names: str) -> list[str]:
    """The common arguments to hand on to a child process of the same benchmark (`--threads`,
    `--quick`), and the named ones of `args` (as `--name value`)."""
    out = ["--threads", str(args.threads)] if args.threads is not None else []
    out += ["--quick"] if args.quick else []
    for name in names:
        out += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return out


def write_rows(out: str | Path, rows: list[dict], **extra: Any) -> None:
    """Write `{"command": ..., **extra, "rows": rows}` to `out`, atomically (a run stopped
    halfway leaves the last complete results in place)."""
    from trainables.media import write_atomically

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = shlex.join(_COMMAND) if _COMMAND else " ".join(sys.argv)
    record = {"command": command, **extra, "rows": rows}
    text = json.dumps(record, indent=2, default=str) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text))


def settings(args: argparse.Namespace, *leave_out: str) -> dict[str, Any]:
    """The arguments as JSON values (paths as strings), without the named ones."""
    return {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in leave_out
    }


def entry(function: Callable[[list[str] | None], int | None]) -> Callable[..., int]:
    """A benchmark's `main(argv=None) -> int`: records the command for `write_rows`, and turns a
    ValueError (a bad argument, a failed precondition) into one line on stderr and exit 2."""
    module = sys.modules[function.__module__]
    name = module.__spec__.name if module.__spec__ else function.__module__

    @functools.wraps(function)
    def main(argv: list[str] | None = None) -> int:
        given = sys.argv[1:] if argv is None else list(argv)
        _COMMAND[:] = ["python", "-m", name, *given]
        try:
            return function(argv) or 0
        except ValueError as error:
            print(f"{name}: error: {error}", file=sys.stderr)
            return 2

    return main
