"""MLflow as its users know it (issue 14): the standard tags, the dataset input, the experiment kind, the
checkpoints a run uploads, the reference kept out of the metrics, and the parent's self-contained report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from g2core.config import compose
from g2core.names import (
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    DATASET_SOURCE_PROCEDURAL,
    EXPERIMENT_KIND_TRAINING,
    REF,
    REPORT_HTML,
    TAG_EXPERIMENT_KIND,
    TAG_MLFLOW_GIT_COMMIT,
    TAG_MLFLOW_NOTE,
    TAG_MLFLOW_SOURCE_NAME,
    TAG_MLFLOW_SOURCE_TYPE,
    TAG_MLFLOW_USER,
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
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == "synthetic" and dataset.source == DATASET_SOURCE_PROCEDURAL and dataset.digest
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
    note = note_tag("Study x", "**better** is better.", table)[TAG_MLFLOW_NOTE]
    assert note.startswith("**Study x**") and "**better** is better." in note
    assert "| variant0 | 0 |" in note and "| variant1999 |" not in note
    assert len(note) <= MAX_NOTE + 500 and "table cut to fit" in note
