"""`--list <study>` shows that study in full, and a resumed run that finishes drops the failure it recorded
(issue 24, point 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from g2core.catalog import catalog, detail
from g2core.config import ConfigError
from g2core.names import TAG_FAILURE
from g2core.tracking import RunTracker
from tests.conftest import REPO


def test_list_a_study_shows_its_variants_weights_baseline_and_seeds() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "ablate.py"), "--list", "loss_terms"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    text = run.stdout
    assert text.startswith("study loss_terms (ablation; conf/study/loss_terms.yaml)")
    assert "experiment presets" not in text  # the study, not the whole catalog
    # Each variant with the weights its trials train with (composed, as a trial's config is), the baseline marked.
    assert "    ssi_only        ssi 1  " in text and "  * ssi_silog       ssi 0.5, silog 0.5  " in text
    assert "ssi_silog_grad  rgrad 0.2, ssi 0.4, silog 0.4" in text
    assert "baseline: ssi_silog" in text and "seeds: auto: 2 per variant first" in text and "up to 3" in text
    assert "every trial: trainer.align=scale_shift_disparity" in text
    assert "run it: python experiments/ablate.py +study=loss_terms" in text


def test_list_a_search_and_a_preset_in_full() -> None:
    search = detail("weight_search")
    assert "base preset: baseline (ssi 0.5, silog 0.5)" in search and "rgrad in [0, 0.5]" in search
    assert "confirmation: the top 3 weight sets and baseline" in search and "(8 to 12 runs)" in search
    # The whole description, not its first comment line cut mid-sentence.
    assert "Optuna's figures end up on the MLflow parent run." in " ".join(search.split())
    preset = detail("da2_finetune")
    assert "loss weights: silog 1" in " ".join(preset.split())
    assert "set optim.scheduler.warmup_steps to add one)." in " ".join(preset.split())
    with pytest.raises(ConfigError, match="--list nope: no study or experiment preset.*loss_terms"):
        detail("nope")


def test_catalog_lines_end_their_sentence() -> None:
    text = catalog()
    assert "(loss.variant=seed: the gradient loss sees\n" not in text  # was cut there
    assert "against the published code (loss.variant=official)." in text
    assert "median pruner on the validation metric every epoch)." in text


def test_a_resumed_run_that_finishes_drops_its_failure(tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("g2/train")).info.run_id
    RunTracker(client, run_id, asynchronous=False).finish("FAILED", reason="NaN loss at step 12")
    assert client.get_run(run_id).data.tags[TAG_FAILURE] == "NaN loss at step 12"
    # The same command resumes it (the run set RUNNING again) and it finishes this time.
    client.update_run(run_id, status="RUNNING")
    RunTracker(client, run_id, asynchronous=False).finish()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and TAG_FAILURE not in run.data.tags
    # A run that never failed finishes as before (no tag to delete: MLflow would refuse).
    other = client.create_run(client.get_experiment_by_name("g2/train").experiment_id).info.run_id
    RunTracker(client, other, asynchronous=False).finish()
    assert client.get_run(other).info.status == "FINISHED"
