"""Studies on a real PostgreSQL server: restarted in the middle of a study (workers reconnect or retry,
the study completes), and four workers on one 16-trial study (each trial exactly once)."""

from __future__ import annotations

import subprocess
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from g2core.names import ATTR_WORKER, ROLE_CHILD, ROLE_PARENT, TAG_ROLE, TAG_SEED, TAG_VARIANT, study_tag
from tests.faults._util import ablate_cmd, duplicate_steps, env, injected, kill9, sqlite_client, wait_until

pytestmark = pytest.mark.faults

VARIANTS = ("ssi_only", "silog_only", "ssi_silog", "ssi_silog_grad")


def _check_each_pair_once(storage: str, name: str, client: MlflowClient, pairs: set[tuple[str, int]]) -> int:
    """Asserts one COMPLETE trial and one FINISHED child run per (variant, seed); returns how many are lost."""
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    done = Counter((t.params["variant"], t.params["seed"]) for t in trials if t.state == TrialState.COMPLETE)
    runs = client.search_runs([client.get_experiment_by_name(f"g2/{name}").experiment_id], max_results=500)
    kids = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_CHILD]
    filed = Counter(
        (r.data.tags[TAG_VARIANT], int(r.data.tags[TAG_SEED])) for r in kids if r.info.status == "FINISHED"
    )
    lost = len(pairs - set(done)) + len(pairs - set(filed))
    assert done == Counter({p: 1 for p in pairs}), done
    assert filed == Counter({p: 1 for p in pairs}), filed
    assert len(kids) == len(pairs), [(r.info.run_name, r.info.status) for r in kids]
    parent = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_PARENT]
    assert len(parent) == 1 and parent[0].data.tags[study_tag("status")] == "finished"
    return lost


def test_postgres_restarted_in_the_middle_of_a_study(
    request, root: Path, data_root: Path, postgres, tmp_path: Path
) -> None:
    name = f"pgrestart-{uuid.uuid4().hex[:6]}"
    storage = postgres.url_for("optuna")
    # A heartbeat every half second: the worker talks to the database while it is down.
    cmd = ablate_cmd(
        root,
        data_root,
        f"study.name={name}",
        f"study.storage={storage}",
        "+study.heartbeat_s=0.5",
        "study.variants=[ssi_only,ssi_silog]",
        "study.baseline=ssi_silog",
        "study.seeds=[0]",
        "trainer.max_epochs=3",
    )
    fault = "PostgreSQL (Optuna storage) restarted in the middle of a study (mid-trial, between trials)"
    with injected(request, fault, times=2) as outcome:
        log = tmp_path / "study.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                cmd, env=env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            runs = root / "studies" / name / "runs"
            wait_until(
                lambda: any(runs.glob("*/last.pt")), proc, "the first trial's first checkpoint", interval=0.02
            )
            old_pid = postgres.pid
            postgres.restart()
            assert postgres.pid != old_pid
            # and again between two trials, while the worker records one and asks for the next
            wait_until(lambda: " done: " in log.read_text(), proc, "the first trial's end", interval=0.005)
            postgres.restart()
            rc = proc.wait(timeout=400)
        finally:
            if proc.poll() is None:
                kill9(proc, group=True)
        text = log.read_text()
        outcome.details["worker_waited_for_storage"] = "waiting for it" in text
        # The study rides it out: the first command completes it, without a traceback.
        assert rc == 0 and "Traceback" not in text, text[-4000:]
        client = sqlite_client(root)
        pairs = {(v, 0) for v in ("ssi_only", "ssi_silog")}
        outcome.data_lost = _check_each_pair_once(storage, name, client, pairs)
        for run in client.search_runs([client.get_experiment_by_name(f"g2/{name}").experiment_id]):
            assert duplicate_steps(client, run.info.run_id) == {}


def test_four_workers_sixteen_trials_each_exactly_once(
    request, root: Path, data_root: Path, postgres, tracking_server
) -> None:
    name = f"four-{uuid.uuid4().hex[:6]}"
    storage = postgres.url_for("optuna")
    cmd = ablate_cmd(
        root,
        data_root,
        f"study.name={name}",
        f"study.storage={storage}",
        f"tracking.uri={tracking_server.uri}",
        "study.workers=4",
        f"study.variants=[{','.join(VARIANTS)}]",
        "study.baseline=ssi_silog",
        "study.seeds=[0,1,2,3]",
        "trainer.max_epochs=1",
        "trainer.num_samples=0",
    )
    with injected(
        request, "four workers on one PostgreSQL study of 16 trials (duplicates or losses)"
    ) as outcome:
        out = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=500)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        client = MlflowClient(tracking_server.uri)
        pairs = {(v, s) for v in VARIANTS for s in range(4)}
        outcome.data_lost = _check_each_pair_once(storage, name, client, pairs)
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        workers = Counter(t.user_attrs[ATTR_WORKER]["pid"] for t in trials if t.state == TrialState.COMPLETE)
        outcome.details["trials_per_worker"] = sorted(workers.values())
        assert len(workers) >= 2, workers  # the trials really were shared out
        # The storage URL carries the database password: never in MLflow, the output or a config file.
        runs = client.search_runs(
            [client.get_experiment_by_name(f"g2/{name}").experiment_id], max_results=500
        )
        logged = [v for r in runs for v in (*r.data.params.values(), *r.data.tags.values())]
        assert postgres.password not in out.stdout + out.stderr
        assert not [v for v in logged if postgres.password in v]
        assert not [p for p in root.rglob("*.yaml") if postgres.password in p.read_text()]
