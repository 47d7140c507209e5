"""Every command in README.md and docs/*.md is checked here, so the docs cannot drift from the
CLI. Sweep commands run as given with `--dry-run` added (the real run is what the rest of the suite
does at tiny scale); placeholder paths (/models/..., /data/...) become folders in the layout the
command expects. Report and UI commands run on the tests' shared tiny sweep. Cloud commands (`ray`,
`aws`) cannot run here: cluster.yaml itself is validated offline (test_cluster_yaml.py). A command
of a kind this file does not know fails the test, so each new one gets a check.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CLOUD = ("ray ", "aws ", "huggingface-cli ")
SETUP = ("make install", "make smoke", "make test", "make browser", "git clone", "cd ")


def doc_commands() -> list[tuple[str, str]]:
    """(file, command) for each command line of each ```bash block, continuations joined."""
    found = []
    for path in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s[12]?>\s?/dev/null", "", line.split("  #")[0]).strip()
                if line and not line.startswith("#"):
                    found.append((path.name, line))
    return found


COMMANDS = doc_commands()


def materialize(argv: list[str], root: Path) -> list[str]:
    """Placeholder paths → real folders under `root` in the layout their flag needs."""
    from trainables.backbones import backbone_class, backbone_names

    out = []
    for arg in argv:
        key, sep, path = arg.partition("=")
        if sep and path.startswith(("/models/", "/data/")):
            folder = root / path.lstrip("/")
            if key in backbone_names():  # --weights BACKBONE=PATH: the hub layout
                for sub in backbone_class(key).subfolders:
                    (folder / sub).mkdir(parents=True, exist_ok=True)
            if key == "pairs":  # --data pairs=PATH: a folder of six tiny pairs
                from tests.tasks.test_pairs import write_split

                write_split(folder, "train", range(10, 70, 10))
            folder.mkdir(parents=True, exist_ok=True)
            arg = f"{key}={folder}"
        elif arg.startswith("/data/"):
            arg = str(root / arg.lstrip("/"))
        out.append(arg)
    return out


def test_the_docs_have_commands_and_every_kind_is_known():
    assert len(COMMANDS) >= 12
    for where, command in COMMANDS:
        known = command.startswith(CLOUD + SETUP) or re.match(
            r"(\.venv/bin/)?python -m (orchestrator\.(sweep|report|ui|predict) |"
            r"trainables\.pretrain_micro|mlflow ui )",
            command,
        )
        assert known, f"{where}: no check for {command!r} in tests/test_docs.py"


LOCAL = [(w, c) for w, c in COMMANDS if not c.startswith(CLOUD)]
SWEEPS = [(w, c) for w, c in LOCAL if "-m orchestrator.sweep " in c]


@pytest.mark.parametrize(("where", "command"), SWEEPS, ids=[c[:60] for _, c in SWEEPS])
def test_sweep_commands_parse_and_resolve_as_written(where, command, tmp_path, capsys):
    from orchestrator.sweep import main

    argv = shlex.split(command.split("-m orchestrator.sweep ", 1)[1])
    argv = materialize(argv, tmp_path)
    if "--dry-run" not in argv:
        argv.append("--dry-run")
    assert main(argv) == 0, f"{where}: {command}\n{capsys.readouterr().err}"
    out = capsys.readouterr().out
    assert out.strip(), command  # the trials it would run


OTHERS = [(w, c) for w, c in LOCAL if re.search(r"-m orchestrator\.(report|ui) ", c)]


@pytest.mark.slow  # the real sweep of conftest.report_sweep (~65 s)
@pytest.mark.parametrize(("where", "command"), OTHERS, ids=[c[:60] for _, c in OTHERS])
def test_report_and_ui_commands_work_on_a_real_sweep(
    where, command, report_sweep, monkeypatch, tmp_path
):
    """Run on the shared tiny sweep (named `report`, under its storage folder)."""
    module = re.search(r"-m orchestrator\.(report|ui) ", command)[1]
    argv = shlex.split(command.split(f"-m orchestrator.{module} ", 1)[1])
    storage = str(report_sweep.parent)
    argv = [storage if a == "./sweeps" else a for a in argv]
    if "--storage" not in argv:
        argv += ["--storage", storage]
    argv += ["--name", "report"]
    if module == "report":
        from orchestrator.report import main

        # Written aside: the shared sweep's own report/ is what test_report.py checks.
        assert main([*argv, "--out", str(tmp_path / "report")]) == 0, command
        assert (tmp_path / "report" / "tables.md").is_file()
    else:
        import orchestrator.ui as ui

        started = []
        monkeypatch.setattr(ui.subprocess, "Popen", lambda cmd: started.append(cmd) or Done())
        assert ui.main([*argv[:-2], "--port", "0", "--name", "report"]) == 0, command
        assert started and started[0][1:3] == ["server", "--backend-store-uri"]


PREDICTIONS = [(w, c) for w, c in LOCAL if "-m orchestrator.predict " in c]


@pytest.mark.slow  # the real sweep of conftest.report_sweep (~65 s)
@pytest.mark.parametrize(("where", "command"), PREDICTIONS, ids=[c[:60] for _, c in PREDICTIONS])
def test_predict_commands_work_on_a_real_sweeps_adapter(where, command, report_sweep, tmp_path):
    """RUN_ID: an hflip trial's run of the shared sweep; any other ADAPTER: that trial's final
    checkpoint folder; the image folders hold its validation input and target."""
    from mlflow.tracking import MlflowClient

    from orchestrator.predict import main
    from orchestrator.tracking import default_tracking_uri
    from trainables.config import TrialConfig
    from trainables.media import write_png
    from trainables.trial import task_pairs

    client = MlflowClient(default_tracking_uri(report_sweep))
    experiment = client.get_experiment_by_name("report")
    run = client.search_runs([experiment.experiment_id], "params.task = 'hflip'", max_results=1)[0]
    config = TrialConfig.from_params(run.data.params)
    (pair,) = task_pairs(config).val
    written = report_sweep.glob("checkpoints/*/step_*/adapter/trial_config.json")
    checkpoint = next(f.parents[1] for f in written if TrialConfig.from_json(f) == config)
    folders = {"./new-images": pair.x, "./new-targets": pair.y}
    for folder, image in folders.items():
        write_png(tmp_path / folder / "val_0.png", image)
    argv = shlex.split(command.split("-m orchestrator.predict ", 1)[1])
    argv[0] = run.info.run_id if argv[0] == "RUN_ID" else str(checkpoint)
    argv = [str(tmp_path / a) if a in (*folders, "./predictions") else a for a in argv]
    argv = [str(report_sweep.parent) if a == "./sweeps" else a for a in argv]
    if "--name" in argv:
        argv[argv.index("--name") + 1] = "report"
    assert main(argv) == 0, command
    assert (tmp_path / "predictions" / "val_0.png").is_file()
    assert ("--targets" in argv) == (tmp_path / "predictions" / "metrics.json").is_file()


class Done:
    """What the UI waits on: the server (started for real by test_ui.py) has exited."""

    def wait(self, timeout: float | None = None) -> int:
        return 0


def test_weight_downloads_fetch_exactly_each_backbones_diffusers_layout():
    """`--include` patterns, per repository, are the folders the backbone loads (and the
    pipeline's model_index.json): nothing at a repository's root, where LTX-Video keeps tens of
    GB of single-file checkpoints; the folder is the one the docs' --weights point at."""

    from trainables.backbones import backbone_class, backbone_names

    downloads = {}
    for _, command in COMMANDS:
        argv = shlex.split(command)
        if argv[:2] == ["huggingface-cli", "download"]:
            includes = argv[argv.index("--include") + 1 :]
            includes = includes[: next((i for i, a in enumerate(includes) if a[:2] == "--"), None)]
            local = argv[argv.index("--local-dir") + 1]
            downloads[argv[2]] = (set(includes), local)
    weights = " ".join(command for _, command in COMMANDS if "--weights" in command)
    for name in backbone_names():
        backbone = backbone_class(name)
        includes, local = downloads[backbone.hub_id]
        assert includes == {"model_index.json", *(f"{sub}/*" for sub in backbone.subfolders)}
        assert f"{name}={local}" in weights


PRETRAINING = [(w, c) for w, c in LOCAL if "-m trainables.pretrain_micro" in c]
MLFLOW_UI = [(w, c) for w, c in LOCAL if "-m mlflow ui " in c]


def test_pretraining_commands_parse_and_the_ui_opens_their_store():
    from trainables.pretrain_micro import DEFAULT_STORE, parse_settings

    assert PRETRAINING and MLFLOW_UI
    for _, command in PRETRAINING:
        argv = shlex.split(command)[3:]
        settings, out, _ = parse_settings(argv)
        assert out.name == "ltx-micro" and settings.seed >= 0
    for _, command in MLFLOW_UI:
        argv = shlex.split(command)
        assert argv[argv.index("--backend-store-uri") + 1] == f"sqlite:///{DEFAULT_STORE}"
        assert argv[argv.index("--host") + 1] == "127.0.0.1"
