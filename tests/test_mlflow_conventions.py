"""MLflow as its users know it (issue 14): the standard tags, the dataset input, the experiment kind, the
checkpoints a run uploads, the reference kept out of the metrics, and the parent's self-contained report."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from g2core.config import compose
from g2core.names import (
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    DATASET_CONTEXT_TAG,
    DATASET_SOURCE_PROCEDURAL,
    EXPERIMENT_KIND_TRAINING,
    LOSS_FORM_PARAM,
    REF,
    REPORT_HTML,
    ROOT_PARAM,
    SAMPLES_IMAGE_KEY,
    TAG_EXPERIMENT_KIND,
    TAG_MLFLOW_GIT_COMMIT,
    TAG_MLFLOW_NOTE,
    TAG_MLFLOW_SOURCE_NAME,
    TAG_MLFLOW_SOURCE_TYPE,
    TAG_MLFLOW_USER,
    VAL_EPOCH_KEY,
    ref_param,
    split_of,
)
from g2core.report.html import report_html
from g2core.report.parent import MAX_NOTE, note_tag
from g2core.tracking import get_or_create_experiment
from g2core.train import train
from tests.conftest import tiny

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_a_run_carries_mlflows_conventions(tmp_path: Path) -> None:
    """One tiny run: standard tags, its dataset, the training kind, best.pt only, ref.* as params."""
    cfg = compose(tiny(tmp_path, "trainer.max_epochs=1"))
    result = train(cfg)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(result.run_id)
    tags = run.data.tags
    assert tags[TAG_MLFLOW_USER] and tags[TAG_MLFLOW_SOURCE_NAME] and tags[TAG_MLFLOW_SOURCE_TYPE] == "LOCAL"
    assert re.fullmatch(r"[0-9a-f]{40}", tags.get(TAG_MLFLOW_GIT_COMMIT, "0" * 40))
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND_TRAINING
    # Every split a number comes from is an input, by context, with a profile (issue 24).
    inputs = {
        next(t.value for t in d.tags if t.key == DATASET_CONTEXT_TAG): d.dataset
        for d in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"train", "validation", "test"}
    for context, rows in (("train", 32), ("validation", 8), ("test", 8)):
        dataset = inputs[context]
        assert dataset.name == "synthetic" and dataset.source == DATASET_SOURCE_PROCEDURAL and dataset.digest
        profile = json.loads(dataset.profile)
        assert (
            profile["rows"] == rows
            and profile["size"] == "32x32"
            and profile["scene_seed"] == cfg.data.scene_seed
        )
    assert len({d.digest for d in inputs.values()}) == 3
    # Params as a shared server shows them: relative to paths.root, none unset, the G2 form named as such.
    params = run.data.params
    assert params[ROOT_PARAM] == "." and params["data.root"] == "data/synthetic"
    assert not [k for k, v in params.items() if v == "None" or str(tmp_path) in v]
    assert "trainer.run_dir" not in params and "tracking.uri" not in params
    assert params[LOSS_FORM_PARAM] == "seed" and "loss.variant" not in params
    # The per-epoch sample grid as an MLflow image, its step the epoch index (MLflow's image grid opens at
    # step 0): the chart view's image grid compares runs epoch by epoch.
    images = [Path(a.path).name for a in client.list_artifacts(run.info.run_id, "images")]
    steps = {
        int(n.split("+")[2])
        for n in images
        if n.startswith(f"{SAMPLES_IMAGE_KEY}+step+") and n.endswith(".png")
    }
    epochs = {int(m.value) - 1 for m in client.get_metric_history(run.info.run_id, VAL_EPOCH_KEY)}
    assert 0 in steps and steps == epochs
    logged = [Path(a.path).name for a in client.list_artifacts(run.info.run_id, CHECKPOINTS_DIR)]
    assert logged == [BEST_CHECKPOINT]  # tracking.log_checkpoints=best: what evaluate.py's runs:/ URI reads
    assert float(run.data.params[ref_param("abs_rel")]) > 0
    assert not [k for k in run.data.metrics if split_of(k) == REF]


def test_an_old_experiment_gets_the_kind_a_users_choice_stays(tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    old = client.create_experiment("g2/old")
    assert get_or_create_experiment(client, "g2/old", tmp_path) == old
    assert client.get_experiment(old).tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND_TRAINING
    chosen = client.create_experiment("g2/chosen", tags={TAG_EXPERIMENT_KIND: "genai_development"})
    get_or_create_experiment(client, "g2/chosen", tmp_path)
    assert client.get_experiment(chosen).tags[TAG_EXPERIMENT_KIND] == "genai_development"


def test_log_checkpoints_rejects_an_unknown_mode(tmp_path: Path) -> None:
    from g2core.config import ConfigError
    from g2core.validate import validate_train_config

    with pytest.raises(ConfigError, match="tracking.log_checkpoints"):
        validate_train_config(compose(tiny(tmp_path, "tracking.log_checkpoints=latest")))


def test_report_html_carries_its_figures_and_files(tmp_path: Path) -> None:
    (tmp_path / "metrics.png").write_bytes(PNG_1PX)
    (tmp_path / "metrics.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (tmp_path / "table.csv").write_text("variant,abs_rel\nbase,0.1\n")
    readme = (
        "# Study x\n\n## Results\n\n| variant | abs_rel ↓ |\n| --- | ---: |\n| base | 0.100 |\n\n"
        "Files: [table.csv](table.csv), [run](http://127.0.0.1:5000/#/runs/1).\n\n"
        "![metrics](metrics.png)\n\n[SVG](metrics.svg)\n"
    )
    page = report_html(readme, tmp_path, "Study x")
    assert "<table>" in page and "<h2>Results</h2>" in page
    assert f'src="data:image/png;base64,{base64.b64encode(PNG_1PX).decode()}"' in page
    assert 'href="data:text/csv;base64,' in page and 'download="table.csv"' in page
    assert 'href="data:image/svg+xml;base64,' in page
    assert 'href="http://127.0.0.1:5000/#/runs/1"' in page  # absolute links stay
    # Nothing relative is left for the artifact viewer to 404 on.
    assert not re.findall(r'(?:src|href)="(?!data:|http)', page)
    assert REPORT_HTML == "report.html"


def test_note_holds_the_verdict_and_a_table_cut_to_fit(tmp_path: Path) -> None:
    table = "| v | m |\n| --- | ---: |\n" + "".join(f"| variant{i} | {i} |\n" for i in range(2000))
    note = note_tag("better is better.", table, "Against a on test abs_rel ↓: better better (Δ -5%).")[
        TAG_MLFLOW_NOTE
    ]
    # The answer first, in plain words (no title: the run name says which study), then the sentence and table.
    assert note.startswith("Against a on test abs_rel ↓: better better (Δ -5%).\n\nbetter is better.")
    assert "| variant0 | 0 |" in note and "| variant1999 |" not in note
    assert len(note) <= MAX_NOTE + 500 and "table cut to fit" in note


def test_params_read_the_same_on_every_machine(tmp_path: Path) -> None:
    """Issue 24: a study parent's params (no paths.root among them) are relative to the project's root too,
    a store URI keeps its scheme, a path elsewhere in the home folder starts with ~, unset ones are left out."""
    from g2core.tracking import open_run

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = get_or_create_experiment(client, "g2/p", tmp_path)
    root = tmp_path / "root"
    study = {"storage": f"sqlite:///{root}/studies/x/optuna.db", "journal": f"{root}/studies/x/optuna.journal",
             "name": "x", "test_sets": None, "elsewhere": str(Path.home() / "data" / "nyu")}  # fmt: skip
    os.environ["G2_ROOT"] = str(root)
    try:
        run = open_run(
            client, experiment, {"k": "v"}, "p", params=study, param_prefix="study.", asynchronous=False
        )
    finally:
        del os.environ["G2_ROOT"]
    params = client.get_run(run.run_id).data.params
    assert params == {"study.storage": "sqlite:///studies/x/optuna.db", "study.journal": "studies/x/optuna.journal",
                      "study.name": "x", "study.elsewhere": "~/data/nyu"}  # fmt: skip


def test_ui_lists_each_studys_parent_run_and_report(tmp_path: Path) -> None:
    """Issue 24: `python -m g2core.stack ui` (make ui) prints, per study, the parent run's page and its report
    as addresses of the server it started, in the classic runs view."""
    from g2core.names import ROLE_PARENT, RUNS_TABLE_QUERY, TAG_ROLE
    from g2core.stack.ui import study_lines

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment = get_or_create_experiment(client, "g2/loss_terms", tmp_path)
    parent = client.create_run(experiment, tags={TAG_ROLE: ROLE_PARENT}).info.run_id
    client.create_run(experiment)  # a child: not listed
    lines = study_lines("http://127.0.0.1:5000", store=store)
    page = f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{parent}"
    assert lines == [
        f"  g2/loss_terms: http://127.0.0.1:5000/#/experiments/{experiment}{RUNS_TABLE_QUERY}",
        f"    parent run: {page}{RUNS_TABLE_QUERY}",
        f"    report:     {page}/artifacts/report/report.html{RUNS_TABLE_QUERY}",
    ]


def test_source_name_is_the_entry_point_relative_to_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24: `mlflow.source.name` of a script run names it as the project does, not by this machine's path."""
    import sys

    from g2core.config import project_root
    from g2core.tracking.runs import source_name

    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    monkeypatch.setattr(sys, "argv", [str(project_root() / "experiments" / "ablate.py")])
    assert source_name() == "experiments/ablate.py"


def test_two_runs_logging_the_same_dataset_at_once_both_record_it(tmp_path: Path, monkeypatch) -> None:
    """A study's workers start runs at once: the store's check-then-insert of a dataset races, and the loser's
    insert breaks the unique key (seen in CI: a trial failed on 'UNIQUE constraint failed: datasets...').
    Here the other run logs the dataset inside this run's first call, which then fails as the store does."""
    from mlflow.exceptions import MlflowException

    from g2core.tracking.inputs import log_datasets

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("g2/race")
    mine, other = (client.create_run(experiment).info.run_id for _ in range(2))
    data = {"name": "synthetic", "height": 32, "width": 32, "n_train": 8, "scene_seed": 0}
    real, calls = client.log_inputs, []

    def racing(run_id, datasets=None, **kw):
        calls.append(run_id)
        if len(calls) == 1:
            log_datasets(client, other, data)  # the other worker wins the insert
            raise MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id")
        return real(run_id, datasets=datasets, **kw)

    monkeypatch.setattr(client, "log_inputs", racing)
    log_datasets(client, mine, data)
    assert calls == [mine, other, mine]
    names_logged = {
        r: {d.dataset.digest for d in client.get_run(r).inputs.dataset_inputs} for r in (mine, other)
    }
    assert names_logged[mine] and names_logged[mine] == names_logged[other]  # one dataset, linked to both
