"""study/launcher=ray: a local 2-CPU Ray cluster runs the study's workers as Ray tasks; one killed mid-trial
loses no work and duplicates none. A cluster that cannot be started or reached is one line, and the study's
parent run is closed (FAILED, with the reason), not left RUNNING."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from g2core import names
from tests.conftest import REPO, tiny
from tests.launch_helpers import assert_each_pair_trained_once, journal, start_study, training_trial

RAY = ("study/launcher=ray", "study.launcher.num_cpus=2", "trainer.max_epochs=1")
# What ray.init raises when no cluster answers at the address (Ray 2.x, after its connection retries).
NO_CLUSTER = "Could not find any running Ray instance. Please specify the one to connect to."
# The real entry point, with ray.init failing at once instead of after Ray's minutes of retries.
FAILING_START = f"""
import runpy, sys
import ray

def refuse(*args, **kwargs):
    raise ConnectionError({NO_CLUSTER!r} + "\\n(and the rest of Ray's message)")

ray.init = refuse
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
def test_ray_worker_killed_mid_trial_is_retried_and_each_pair_trains_once(root: Path) -> None:
    pytest.importorskip("ray")
    proc = start_study(root, *RAY)
    victim = training_trial(root, proc, timeout=300)
    pid = victim.user_attrs[names.ATTR_WORKER]["pid"]
    assert pid != proc.pid  # a Ray worker process, not the driver
    os.kill(pid, signal.SIGKILL)
    output = proc.communicate(timeout=400)[0]
    assert proc.returncode == 0, output[-3000:]
    assert "Ray: a local cluster, 2 CPUs" in output
    assert_each_pair_trained_once(root, output)
    died = journal(root).trials[victim.number]
    assert died.state == TrialState.FAIL and "worker died" in died.user_attrs[names.ATTR_FAILURE]


@pytest.mark.slow  # the real entry point (its imports, the data, the MLflow store): about 20 s
def test_ray_cluster_that_cannot_be_reached_is_one_line_and_closes_the_parent(root: Path) -> None:
    pytest.importorskip("ray")
    driver = root / "failing_ray.py"
    driver.write_text(FAILING_START)
    study = (
        "study.variants=[ssi_only]",
        "study.baseline=ssi_only",
        "study.seeds=[0]",
        "trainer.max_epochs=1",
    )
    cmd = [sys.executable, str(driver), str(REPO / "experiments" / "ablate.py"), "+study=loss_terms"]
    cmd += [*tiny(root), *study, "study/launcher=ray", "study.launcher.address=127.0.0.1:1"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env, timeout=300)
    # stderr also holds MLflow's store set-up and the study bar; the error is one line, the last
    errors = [line for line in out.stderr.splitlines() if line.startswith("g2-ablate: error:")]
    assert out.returncode == 2 and len(errors) == 1, out.stdout[-2000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stderr and out.stderr.strip().splitlines()[-1] == errors[0]
    line = errors[0]
    assert "study.launcher.address=127.0.0.1:1" in line and NO_CLUSTER.split(".")[0] in line, line
    assert "(and the rest" not in line  # the first line of Ray's message, not all of it
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs(
        [client.get_experiment_by_name(names.study_experiment("loss_terms")).experiment_id]
    )
    assert [r.data.tags[names.TAG_ROLE] for r in runs] == [names.ROLE_PARENT]  # nothing trained
    parent = runs[0]
    assert parent.info.status == "FAILED", parent.info.status
    assert NO_CLUSTER.split(".")[0] in parent.data.tags[names.TAG_FAILURE]
