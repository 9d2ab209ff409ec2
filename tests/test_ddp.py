"""DDP on CPU: `torchrun --standalone --nproc_per_node=2 experiments/train.py` (gloo) against a real SQLite
MLflow store, killed mid-way and resumed, and run again once finished; and a study whose trials each run as
a 2-process torchrun job (study.procs_per_trial=2).

That 2 processes train like 1 with the same global batch is tests/test_train.py's
test_two_process_ddp_matches_one_process (exact to float rounding for per-image-averaged loss terms).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from g2core.config import compose
from g2core.train import default_run_dir
from g2core.train.checkpoint import load
from tests.conftest import REPO, tiny

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "experiments" / "train.py"),
        *tiny(root, *extra),
    ]


def test_ddp_run_killed_resumes_into_one_finished_run(root: Path) -> None:
    extra = ("trainer.max_epochs=3", "trainer.num_samples=1")
    # Its own session, so that the kill takes torchrun and both ranks at once, as a lost node would.
    proc = subprocess.Popen(
        torchrun(root, *extra),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    last = default_run_dir(compose(tiny(root, *extra))) / "last.pt"
    deadline = time.time() + 180
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last.exists(), "the DDP run never wrote a checkpoint"
    assert load(last)["epoch"] < 2, "killed too late to test resume"

    done = subprocess.run(torchrun(root, *extra), env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("g2/train").experiment_id])
    assert len(runs) == 1, "only the master creates the run, and the resumed job finds it again"
    run = runs[0]
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for key in ("val/abs_rel", "best/abs_rel", "test/abs_rel", "test/delta1"):
        assert key in metrics, f"{key} missing from {sorted(metrics)}"
    logged = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert len(logged) == len(set(logged)), f"a step was logged twice (by two ranks?): {logged}"
    assert load(last)["epoch"] == 2
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert "checkpoints/best.pt" in artifacts

    # Finished: every rank sees that, not only the master (the others would wait for it forever).
    again = subprocess.run(torchrun(root, *extra), env=ENV, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_study_trials_each_run_as_a_two_process_torchrun_job(root: Path) -> None:
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        "+study=loss_terms",
        *tiny(root, "trainer.max_epochs=1", "trainer.num_samples=0"),
        "study.variants=[ssi_only,ssi_silog]",
        "study.baseline=ssi_silog",
        "study.seeds=[0]",
        "+study.procs_per_trial=2",
    ]
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("g2/loss_terms").experiment_id])
    parents = [r for r in runs if r.data.tags.get("g2.role") == "parent"]
    kids = [r for r in runs if r.data.tags.get("g2.role") == "child"]
    assert len(parents) == 1 and len(kids) == 2, "one child per trial: only each job's master logs"
    for kid in kids:
        assert kid.info.status == "FINISHED"
        assert kid.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert kid.data.tags["study"] == "loss_terms" and kid.data.tags["trial"].isdigit()
        assert kid.info.run_name == f"{kid.data.tags['variant']}-s0"
        assert "test/abs_rel" in kid.data.metrics
    assert {k.data.tags["variant"] for k in kids} == {"ssi_only", "ssi_silog"}
    assert not list((root / "studies" / "loss_terms" / "runs").glob("*/ddp_trial.*")), "handoff left behind"
