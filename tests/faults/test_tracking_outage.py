"""The MLflow tracking server goes away: at start (a clear error before any training), in the middle of a
run (training goes on, metrics are kept and sent when it returns) and at the end of a run (the run stops
cleanly, its checkpoint keeps what was not sent, and the same command sends it once the server is back)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from g2core.config import compose
from g2core.train import default_run_dir
from g2core.train.checkpoint import LAST, load
from tests.faults._util import IN_MOVED_TO, DirWatch, duplicate_steps, env, finish, injected, small, train_cmd

pytestmark = pytest.mark.faults

EPOCHS = 4  # 4 steps an epoch, logged every 2 steps
HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("g2-ablate: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_server_gone_mid_run_and_at_the_end(request, root: Path, data_root: Path, tracking_server) -> None:
    experiment = f"g2/faults-outage-{root.parent.name[-8:]}"
    extra = (
        f"trainer.max_epochs={EPOCHS}",
        f"tracking.uri={tracking_server.uri}",
        f"tracking.experiment={experiment}",
        "tracking.log_checkpoints=all",  # both checkpoints' uploads must survive the outage
    )
    cmd = train_cmd(root, data_root, *extra)
    run_dir = default_run_dir(compose(small(root, data_root, *extra)))
    faults = (
        "MLflow server stopped during a run, back before it ends",
        "MLflow server down when a run ends (same command later)",
        "MLflow server unreachable at start",
    )
    with injected(request, *faults) as outcome:
        try:
            with DirWatch(run_dir, IN_MOVED_TO) as watch:
                proc = subprocess.Popen(
                    cmd, env=env(**HTTP_ENV), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                for epoch, action in enumerate(("stop", "start", "stop")):
                    watch.wait(lambda mask, name: name == LAST, proc)
                    proc.send_signal(signal.SIGSTOP)  # hold the run still while the server changes
                    state = load(run_dir / LAST)
                    assert state["epoch"] == epoch
                    if epoch == 1:  # the outage of epoch 2: its metrics were kept, in the checkpoint too
                        assert len(state["unsent"]["metrics"]) > 0 and state["unsent"]["artifacts"]
                    if epoch == 2:  # the server came back: everything kept was sent
                        assert state["unsent"] == {"metrics": [], "artifacts": []}
                    getattr(tracking_server, action)()
                    proc.send_signal(signal.SIGCONT)
            rc, _, err = finish(proc)
            # The run trained to the end, then could not report it: one clear line, the checkpoint keeps it.
            assert rc == 2, err[-3000:]
            assert "does not answer" in one_line_error(err)
            final = load(run_dir / LAST)
            assert final["epoch"] == EPOCHS - 1 and final["unsent"]["metrics"]

            # Unreachable at start: the same command fails before any training, the checkpoint untouched.
            before = (run_dir / LAST).read_bytes()
            out = subprocess.run(cmd, env=env(**HTTP_ENV), capture_output=True, text=True)
            assert out.returncode == 2 and "no MLflow server answers" in one_line_error(out.stderr)
            assert f":{tracking_server.port}" in one_line_error(out.stderr)
            assert (run_dir / LAST).read_bytes() == before
        finally:
            if tracking_server.handle is None:
                tracking_server.start()

        rc, _, err = finish(
            subprocess.Popen(
                cmd, env=env(**HTTP_ENV), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
        assert rc == 0, err[-3000:]
        client = MlflowClient(tracking_server.uri)
        runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
        assert len(runs) == 1, [(r.info.run_id, r.info.status) for r in runs]
        run = runs[0]
        steps_per_epoch = 4
        expected = {
            "train/loss": list(range(2, EPOCHS * steps_per_epoch + 1, 2)),
            "val/abs_rel": [steps_per_epoch * (e + 1) for e in range(EPOCHS)],
            "val/delta1": [steps_per_epoch * (e + 1) for e in range(EPOCHS)],
            "best/abs_rel": [EPOCHS * steps_per_epoch],
        }
        logged = {k: sorted(m.step for m in client.get_metric_history(run.info.run_id, k)) for k in expected}
        outcome.data_lost = sum(len(set(v) - set(logged[k])) for k, v in expected.items())
        assert logged == expected
        assert run.info.status == "FINISHED"
        assert duplicate_steps(client, run.info.run_id) == {}
        samples = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
        assert {f"samples/epoch_{e + 1:03d}.png" for e in range(EPOCHS)} <= samples
        assert {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")} == {
            "checkpoints/last.pt",
            "checkpoints/best.pt",
        }
        assert load(run_dir / LAST)["unsent"] == final["unsent"]  # not rewritten: nothing was trained again
