"""kill -9 of `experiments/train.py` at four moments, each picked by watching files, then the same
command again: one MLflow run, every step logged once, the uninterrupted run's metrics, whole checkpoints."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from g2core.config import compose
from g2core.train import default_run_dir, train
from g2core.train.checkpoint import LAST, PREVIOUS, load
from tests.faults._util import (
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_MOVED_TO,
    DirWatch,
    duplicate_steps,
    env,
    finish,
    histories,
    injected,
    kill9,
    open_files,
    small,
    sqlite_client,
    train_cmd,
    wait_until,
)

pytestmark = pytest.mark.faults

# 4 steps an epoch, logged every 2: steps 2..12; both checkpoints uploaded, so both uploads are checked
EXTRA = ("trainer.max_epochs=3", "tracking.log_checkpoints=all")


def only_run(root: Path):
    client = sqlite_client(root)
    runs = client.search_runs([client.get_experiment_by_name("g2/train").experiment_id])
    assert len(runs) == 1, [(r.info.run_id, r.info.status) for r in runs]
    return client, runs[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_root: Path, mlflow_template: Path):
    """The uninterrupted run, in this process on one thread (as OMP_NUM_THREADS=1 runs a subprocess)."""
    import shutil

    root = tmp_path_factory.mktemp("reference")
    shutil.copy(mlflow_template, root / "mlflow.db")
    threads = torch.get_num_threads()  # module scope: set up before the per-test _one_thread fixture
    torch.set_num_threads(1)
    try:
        train(compose(small(root, data_root, *EXTRA)))
    finally:
        torch.set_num_threads(threads)
    client, run = only_run(root)
    return histories(client, run.info.run_id), run.data.metrics, root


def test_kill_9_at_four_moments_then_same_command_finishes_as_uninterrupted(
    request, root: Path, data_root: Path, reference
) -> None:
    faults = (
        "kill -9 of train.py in the first epoch",
        "kill -9 of train.py between epochs",
        "kill -9 of train.py during validation",
        "kill -9 of train.py during a checkpoint write",
    )
    with injected(request, *faults) as outcome:
        cmd = train_cmd(root, data_root, *EXTRA)
        run_dir = default_run_dir(compose(small(root, data_root, *EXTRA)))
        samples = run_dir / "samples"
        samples.mkdir(parents=True)  # created ahead so that it can be watched; the trainer does the same
        train_h5 = str(next(data_root.rglob("train.h5")))

        def start(output: int = subprocess.DEVNULL) -> subprocess.Popen:
            return subprocess.Popen(cmd, env=env(), stdout=output, stderr=output, text=True)

        # 1. first epoch: the run exists (config.yaml written) and the training split is open for batches
        with DirWatch(run_dir) as watch:
            proc = start()
            watch.wait(lambda mask, name: name == "config.yaml" and mask & IN_CLOSE_WRITE, proc)
            wait_until(lambda: train_h5 in open_files(proc.pid), proc, "the first training batch")
            kill9(proc)
        assert not (run_dir / LAST).exists() and not (run_dir / PREVIOUS).exists(), (
            "killed after a checkpoint"
        )

        # 2. between epochs: right after epoch 1's checkpoint got its final name
        with DirWatch(run_dir, IN_MOVED_TO) as watch:
            proc = start()
            watch.wait(lambda mask, name: name == LAST, proc)
            kill9(proc)
        assert load(run_dir / LAST)["epoch"] == 0

        # 3. during validation: epoch 2's sample images are being drawn (its metrics not stored yet)
        with DirWatch(samples, IN_CREATE) as watch:
            proc = start()
            watch.wait(lambda mask, name: name == "epoch_002.png", proc)
            kill9(proc)
        assert load(run_dir / LAST)["epoch"] == 0

        # 4. during a checkpoint write: epoch 2's last.pt is a temporary file being written
        with DirWatch(run_dir, IN_CREATE) as watch:
            proc = start()
            watch.wait(lambda mask, name: name.startswith(LAST + ".tmp"), proc)
            kill9(proc)
        torn = bool(list(run_dir.glob(LAST + ".tmp*")))
        outcome.details["checkpoint_write_torn_file_left"] = torn
        # Killed inside the write: a torn temporary file, and last.pt still the previous epoch's, whole (the old
        # file is rotated to last.prev.pt only once the new one is written). Killed between the rotation and
        # the rename: last.prev.pt holds it.
        if torn:
            assert load(run_dir / LAST)["epoch"] == 0
        kept = [load(run_dir / name)["epoch"] for name in (LAST, PREVIOUS) if (run_dir / name).exists()]
        assert 0 in kept and set(kept) <= {0, 1}

        rc, out, err = finish(start(subprocess.PIPE))
        assert rc == 0, err[-3000:]
        assert "is unreadable" not in out + err, "a checkpoint was torn: writes must be atomic"

        client, run = only_run(root)
        ref_histories, ref_metrics, _ = reference
        got = histories(client, run.info.run_id)
        missing = {
            k: sorted({s for s, _ in v} - {s for s, _ in got.get(k, [])}) for k, v in ref_histories.items()
        }
        outcome.data_lost = sum(len(v) for v in missing.values())
        assert run.info.status == "FINISHED"
        assert not any(missing.values()), f"metric steps lost: { {k: v for k, v in missing.items() if v} }"
        assert duplicate_steps(client, run.info.run_id) == {}
        assert set(got) == set(ref_histories)
        for key, history in ref_histories.items():
            assert [s for s, _ in got[key]] == [s for s, _ in history], key
            assert [v for _, v in got[key]] == pytest.approx([v for _, v in history], rel=1e-5, abs=1e-7), key
        for key, value in ref_metrics.items():
            assert run.data.metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key

        last, best = load(run_dir / LAST), load(run_dir / "best.pt")  # weights_only: whole and plain data
        assert last["epoch"] == 2 and last["step"] == 12 and last["mlflow_run_id"] == run.info.run_id
        assert "model" in best
        assert not list(run_dir.glob("*.tmp*")), "a torn temporary checkpoint was left behind"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
        assert artifacts == {"checkpoints/last.pt", "checkpoints/best.pt"}


def test_killed_after_the_final_metrics_before_the_run_closed(request, data_root: Path, reference) -> None:
    """The last moment: best/* sent, the run not yet marked FINISHED (a window too short to hit with a
    signal, so the run is reopened as a kill there leaves it). The same command logs nothing twice."""
    fault = "run left open after its final metrics (as a kill -9 there leaves it), then the same command"
    with injected(request, fault) as outcome:
        ref_histories, _, ref_root = reference
        client, run = only_run(ref_root)
        client.update_run(run.info.run_id, status="RUNNING")
        again = train(compose(small(ref_root, data_root, *EXTRA)))
        assert again.run_id == run.info.run_id and not again.already_finished
        client, run = only_run(ref_root)
        assert run.info.status == "FINISHED"
        assert duplicate_steps(client, run.info.run_id) == {}
        got = histories(client, run.info.run_id)
        outcome.data_lost = sum(len(v) for k, v in ref_histories.items() if k not in got)
        assert got == ref_histories
