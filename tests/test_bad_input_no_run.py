"""Bad input that is only found out from the disk (Depth Anything weights not downloaded, NYU not prepared)
is refused with one line before any MLflow run is created, and the line names the command that fixes it
(issue 24, point 8)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from g2core.config import ConfigError, compose
from g2core.data import DataError
from g2core.models import build_model, input_multiple
from g2core.train import train
from tests.conftest import REPO

DA2_WEIGHTS = "depth-anything/Depth-Anything-V2-Small-hf"  # conf/experiment/da2_finetune.yaml


def _runs(root: Path) -> int:
    """Runs in the project's MLflow store (none when the store was never created)."""
    db = root / "mlflow.db"
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_da2_finetune_without_its_weights_leaves_no_run(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="model=depth_anything_v2 needs the extra .[hf]")
    root = tmp_path / "root"
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}  # an empty cache: the weights are absent
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "train.py"),
            "experiment=da2_finetune",
            f"paths.root={root}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2, run.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert f"model.pretrained={DA2_WEIGHTS!r}" in lines[0] and f"`hf download {DA2_WEIGHTS}`" in lines[0]
    assert _runs(root) == 0


def test_weights_folder_checked_with_the_config(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="model=depth_anything_v2 needs the extra .[hf]")
    saved = tmp_path / "da2-tiny"
    build_model("depth_anything_v2", encoder="tiny").net.save_pretrained(saved)
    assert input_multiple("depth_anything_v2", encoder="tiny", pretrained=str(saved)) == 14
    (saved / "model.safetensors").unlink()  # an interrupted download: config.json without weights
    with pytest.raises(ConfigError, match="no Depth Anything weights in that folder"):
        input_multiple("depth_anything_v2", encoder="tiny", pretrained=str(saved))
    with pytest.raises(ConfigError, match="a folder that does not exist"):
        input_multiple("depth_anything_v2", encoder="tiny", pretrained=str(tmp_path / "nowhere"))


def test_missing_nyu_names_the_prepare_command(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(DataError) as info:
        train(compose([f"paths.root={root}", "data=nyu", "model.features=8", "model.levels=3"]))
    message = str(info.value)
    assert "\n" not in message and "data.root" in message
    # paths.root is not where `prepare` writes by default (the project's data/), so --root says where.
    assert f"`python -m g2core.data.prepare nyu --root {root / 'data' / 'nyu'}`" in message
    assert _runs(root) == 0


def test_study_refused_by_its_preflight_leaves_no_journal(tmp_path: Path) -> None:
    """The study checks every variant and opens the data before it opens the Optuna storage: a refused study
    leaves no empty optuna.journal (which the next command would take for a started study)."""
    from g2core.study import run_study

    root = tmp_path / "root"
    overrides = [f"paths.root={root}", "data=nyu", "model.features=8", "model.levels=3"]
    cfg = compose(["+study=loss_terms", "study.seeds=[0]", *overrides], config_name="ablate")
    with pytest.raises(DataError, match="data.root"):
        run_study(cfg, overrides)
    assert not (root / "studies" / "loss_terms" / "optuna.journal").exists()
    assert _runs(root) == 0
