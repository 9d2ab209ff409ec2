"""A full disk (a file-size limit, RLIMIT_FSIZE, set on the real process: no root, no loop device) while
writing a checkpoint, an MLflow artifact or the report: one clear line, exit status 2, no traceback; the
previous checkpoint and report intact, no torn temporary file; the same command later completes.

The limit is set from outside (prlimit) at the moment the earlier files are written, so it catches the
next, larger file; Python ignores SIGXFSZ, so write() fails with EFBIG as it would with ENOSPC."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from g2core.train.checkpoint import BEST, LAST, PREVIOUS, load
from tests.conftest import REPO
from tests.faults._util import IN_MOVED_TO, DirWatch, env, finish, injected, sqlite_client, train_cmd

pytestmark = pytest.mark.faults


def _limit(pid: int, size: int) -> None:
    """What the disk has left for this process: no file may grow past `size` bytes."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))


def _refused(rc: int, out: str, err: str, *says: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert rc == 2, (rc, out[-1000:], err[-3000:])
    assert "Traceback" not in out + err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("g2-ablate: error: cannot write"), err[-3000:]
    for text in ("File too large", "run the same command again", *says):
        assert text in lines[0], lines[0]
    return lines[0]


def _bigger_than_the_store(root: Path, size: int) -> None:
    """The limit must spare the MLflow SQLite store (it grows by a few pages a run) and catch the file."""
    store = (root / "mlflow.db").stat().st_size
    assert store + 256 * 1024 < size, (
        f"store {store} B is too close to the limit {size} B: use a larger model"
    )


def test_disk_full_while_writing_a_checkpoint(request, root: Path, data_root: Path) -> None:
    run_dir = root / "runs" / "full"
    cmd = train_cmd(
        root, data_root, "model.features=16", "trainer.max_epochs=2", "trainer.num_samples=0",
        f"trainer.run_dir={run_dir}",
    )  # fmt: skip
    with injected(request, "disk full (file-size limit) while writing a checkpoint (last.pt)") as outcome:
        with DirWatch(run_dir, IN_MOVED_TO) as watch:
            proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            watch.wait(lambda mask, name: name == LAST, proc)  # epoch 0 is saved whole
            size = (run_dir / LAST).stat().st_size
            _bigger_than_the_store(root, size - 1)
            _limit(proc.pid, size - 1)  # epoch 1's last.pt (the same size) cannot be written
            line = _refused(*finish(proc), str(run_dir / LAST))
        outcome.details["message"] = line
        assert load(run_dir / LAST)["epoch"] == 0, "the previous checkpoint changed"
        assert not (run_dir / PREVIOUS).exists()  # rotated only once a new last.pt is whole
        assert not list(run_dir.glob("*.tmp*")), "a torn temporary file was left"
        outcome.data_lost = 1  # until the command below runs again

        again = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert load(run_dir / LAST)["epoch"] == 1 and load(run_dir / PREVIOUS)["epoch"] == 0
        runs = sqlite_client(root).search_runs(
            [sqlite_client(root).get_experiment_by_name("g2/train").experiment_id]
        )
        assert [r.info.status for r in runs] == ["FINISHED"]
        outcome.data_lost = 0


def test_disk_full_while_writing_an_mlflow_artifact(request, root: Path, data_root: Path) -> None:
    run_dir = root / "runs" / "artifact"
    cmd = train_cmd(
        root, data_root, "model.features=32", "trainer.max_epochs=1", "trainer.num_samples=0",
        f"trainer.run_dir={run_dir}",
    )  # fmt: skip
    with injected(
        request, "disk full (file-size limit) while writing an MLflow artifact (best.pt)"
    ) as outcome:
        with DirWatch(run_dir, IN_MOVED_TO) as watch:
            proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            watch.wait(lambda mask, name: name == LAST, proc)  # the last epoch is saved whole
            size = (run_dir / BEST).stat().st_size
            _bigger_than_the_store(root, size - 1)
            _limit(proc.pid, size - 1)  # the copy of best.pt into the artifact store cannot be written
            line = _refused(*finish(proc))
        outcome.details["message"] = line
        assert load(run_dir / LAST)["epoch"] == 0 and load(run_dir / BEST)["epoch"] == 0
        client = sqlite_client(root)
        (run,) = client.search_runs([client.get_experiment_by_name("g2/train").experiment_id])
        assert run.info.status == "FAILED"
        outcome.data_lost = 1  # until the command below runs again

        again = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        (run,) = client.search_runs([client.get_experiment_by_name("g2/train").experiment_id])
        assert run.info.status == "FINISHED"
        logged = Path(client.download_artifacts(run.info.run_id, f"checkpoints/{BEST}", str(root / "dl")))
        assert logged.read_bytes() == (run_dir / BEST).read_bytes()
        outcome.data_lost = 0


@pytest.fixture
def study_store(root: Path) -> str:
    """A finished two-variant, two-seed study in the root's MLflow store, logged as the trainer does."""
    from tests.test_report import ABLATION, _log_child, _log_parent

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    variants = list(ABLATION)[:2]
    exp_id, parent = _log_parent(client, "loss_terms", "ablation", variants, [0, 1], variants[0], root)
    rng, trial = np.random.default_rng(3), 0
    for variant in variants:
        terms, level = ABLATION[variant]
        for seed in (0, 1):
            _log_child(
                client, exp_id, parent, "loss_terms", variant, seed, trial, terms, level, rng, root / "files"
            )
            trial += 1
    return f"sqlite:///{root / 'mlflow.db'}"


def test_disk_full_while_writing_the_report(request, root: Path, study_store: str) -> None:
    cmd = [
        sys.executable, str(REPO / "experiments" / "report.py"), "+study=loss_terms",
        f"paths.root={root}", f"tracking.uri={study_store}", "log_to_parent=false",
    ]  # fmt: skip
    out_dir = root / "reports" / "loss_terms"
    with injected(request, "disk full (file-size limit) while writing the report") as outcome:
        first = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stderr[-3000:]
        before = {p.relative_to(out_dir): p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
        assert Path("README.md") in before
        limit = 8 * 1024  # the tables fit, the figures do not
        assert max(len(b) for b in before.values()) > limit

        def limited() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        full = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600, preexec_fn=limited)
        outcome.details["message"] = _refused(full.returncode, full.stdout, full.stderr)
        after = {p.relative_to(out_dir): p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
        assert after == before, "the previous report changed"
        assert not [p.name for p in out_dir.parent.iterdir() if p.name != out_dir.name], "staging left behind"

        again = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert set(before) <= {p.relative_to(out_dir) for p in out_dir.rglob("*") if p.is_file()}
