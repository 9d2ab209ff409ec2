"""kill -9 of one study worker in the middle of a trial, then of the whole study while it writes the
report: the same command again completes the study, every (variant, seed) trained and filed once."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from g2core.names import (
    ATTR_KEY,
    ATTR_WORKER,
    ROLE_CHILD,
    ROLE_PARENT,
    TAG_ROLE,
    TAG_SEED,
    TAG_VARIANT,
    study_tag,
)
from g2core.study.storage import open_storage
from g2core.train.checkpoint import load
from tests.faults._util import (
    ablate_cmd,
    children_of,
    duplicate_steps,
    env,
    injected,
    kill9,
    sqlite_client,
    wait_until,
)

pytestmark = pytest.mark.faults

TWO_BY_TWO = ("study.variants=[ssi_only,ssi_silog]", "study.baseline=ssi_silog", "study.seeds=[0,1]")
PAIRS = {(v, s) for v in ("ssi_only", "ssi_silog") for s in (0, 1)}


def _study(root: Path) -> optuna.Study:
    storage = open_storage(str(root / "studies" / "loss_terms" / "optuna.journal"))
    return optuna.load_study(study_name="loss_terms", storage=storage)


def _worker_in_a_trial(root: Path, main_pid: int) -> tuple[int, str] | None:
    """(pid, key) of a live worker whose trial is past its first checkpoint and not near its end."""
    runs = root / "studies" / "loss_terms" / "runs"
    started = {p.parent.name for p in runs.glob("*/last.pt")} if runs.exists() else set()
    if not started:
        return None
    workers = {pid for pid, cmdline in children_of(main_pid) if "spawn_main" in cmdline}
    for trial in _study(root).get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        key, pid = trial.user_attrs.get(ATTR_KEY), (trial.user_attrs.get(ATTR_WORKER) or {}).get("pid")
        if key in started and pid in workers and load(runs / key / "last.pt")["epoch"] == 0:
            return pid, key
    return None


def test_kill_a_worker_then_the_study_during_its_report(
    request, root: Path, data_root: Path, tmp_path: Path
) -> None:
    cmd = ablate_cmd(root, data_root, "trainer.max_epochs=3", "study.workers=2", *TWO_BY_TWO)
    report = root / "reports" / "loss_terms"
    faults = (
        "kill -9 of a study worker during a trial",
        "kill -9 of the whole study while it writes the report",
    )
    with injected(request, *faults) as outcome:
        log = tmp_path / "first.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                cmd, env=env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            victim: list[tuple[int, str]] = []
            wait_until(
                lambda: bool(victim.append(_worker_in_a_trial(root, proc.pid)) or victim[-1]),
                proc,
                "a worker past its trial's first checkpoint",
                interval=0.05,
            )
            pid, key = victim[-1]
            os.kill(pid, 9)
            outcome.details["killed_worker_trial"] = key
            wait_until(
                lambda: (report / "table.csv").exists(), proc, "the report being written", interval=0.005
            )
            kill9(proc, group=True)
        finally:
            if proc.poll() is None:
                kill9(proc, group=True)
        first = log.read_text()
        assert "exited with status -9" in first, first[-3000:]
        outcome.details["report_torn"] = not (report / "README.md").exists()

        again = subprocess.run(cmd, env=env(), capture_output=True, text=True)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
        assert " start: " not in again.stdout, again.stdout  # every trial was done: nothing trains again
        assert (report / "README.md").exists()

        trials = _study(root).get_trials(deepcopy=False)
        done = Counter(
            (t.params["variant"], t.params["seed"]) for t in trials if t.state == TrialState.COMPLETE
        )
        client = sqlite_client(root)
        runs = client.search_runs([client.get_experiment_by_name("g2/loss_terms").experiment_id])
        parent = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_PARENT]
        kids = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_CHILD]
        filed = Counter(
            (r.data.tags[TAG_VARIANT], int(r.data.tags[TAG_SEED]))
            for r in kids
            if r.info.status == "FINISHED"
        )
        outcome.data_lost = len(PAIRS - set(done)) + len(PAIRS - set(filed))
        assert done == Counter({p: 1 for p in PAIRS}), done
        assert filed == Counter({p: 1 for p in PAIRS}) and len(kids) == 4, [
            (r.info.run_name, r.info.status) for r in kids
        ]
        assert len(parent) == 1 and parent[0].info.status == "FINISHED"
        assert parent[0].data.tags[study_tag("status")] == "finished"
        for kid in kids:
            assert duplicate_steps(client, kid.info.run_id) == {}, kid.info.run_name
        assert any(a.path == "report" for a in client.list_artifacts(parent[0].info.run_id))
