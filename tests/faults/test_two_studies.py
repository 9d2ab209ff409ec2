"""Two users run two studies of different names at the same time on one tracking server and one PostgreSQL
Optuna storage: each study's trials, MLflow runs and report hold its own variants only (no cross-talk)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from g2core.names import ROLE_CHILD, ROLE_PARENT, TAG_PARENT_RUN_ID, TAG_ROLE, TAG_VARIANT
from tests.faults._util import ablate_cmd, env, injected

pytestmark = pytest.mark.faults


def test_two_studies_at_once_share_the_stores_without_cross_talk(
    request, tmp_path: Path, data_root: Path, postgres, tracking_server
) -> None:
    storage = postgres.url_for("optuna")
    tag = uuid.uuid4().hex[:6]
    studies = {f"alice-{tag}": ("ssi_only", "silog_only"), f"bob-{tag}": ("ssi_silog", "ssi_silog_grad")}
    procs = {}
    with injected(
        request, "two studies at once on one tracking server and one PostgreSQL (cross-talk)"
    ) as outcome:
        for name, variants in studies.items():
            root = tmp_path / name  # two users, two machines' worth of files
            root.mkdir()
            cmd = ablate_cmd(
                root, data_root, f"study.name={name}", f"study.storage={storage}",
                f"tracking.uri={tracking_server.uri}", f"study.variants=[{','.join(variants)}]",
                f"study.baseline={variants[0]}", "study.seeds=[0]", "trainer.max_epochs=1",
                "trainer.num_samples=0",
            )  # fmt: skip
            procs[name] = subprocess.Popen(
                cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        for proc in procs.values():
            out, _ = proc.communicate(timeout=500)
            assert proc.returncode == 0, out[-3000:]

        client, lost = MlflowClient(tracking_server.uri), 0
        for name, variants in studies.items():
            trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
            done = sorted(t.params["variant"] for t in trials if t.state == TrialState.COMPLETE)
            assert done == sorted(variants), (name, done)
            runs = client.search_runs([client.get_experiment_by_name(f"g2/{name}").experiment_id])
            (parent,) = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_PARENT]
            kids = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_CHILD]
            assert sorted(r.data.tags[TAG_VARIANT] for r in kids) == sorted(variants), name
            assert {r.data.tags[TAG_PARENT_RUN_ID] for r in kids} == {parent.info.run_id}
            lost += len(set(variants) - set(done))
            readme = (tmp_path / name / "reports" / name / "README.md").read_text()
            other = next(v for n, vs in studies.items() if n != name for v in vs)
            assert all(v in readme for v in variants) and f"`{other}`" not in readme and other not in readme
        outcome.data_lost = lost
