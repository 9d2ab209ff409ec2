"""study/launcher=ray: a local 2-CPU Ray cluster runs the study's workers as Ray tasks; one killed mid-trial
loses no work and duplicates none."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from optuna.trial import TrialState

from g2core import names
from tests.launch_helpers import assert_each_pair_trained_once, journal, start_study, training_trial

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

RAY = ("study/launcher=ray", "study.launcher.num_cpus=2", "trainer.max_epochs=1")


def test_ray_worker_killed_mid_trial_is_retried_and_each_pair_trains_once(root: Path) -> None:
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
