"""One tracked training run: real Hydra configs, a real SQLite MLflow store, real checkpoints."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient
from omegaconf import OmegaConf

from g2core.config import ConfigError, compose
from g2core.names import ALIGN_CLAMPED, REF, VAL, metric_key, ref_param, split_of
from g2core.study.spec import available
from g2core.train import Phase, TrainHooks, default_run_dir, train
from g2core.train.checkpoint import load
from g2core.validate import validate_train_config
from tests.conftest import REPO, tiny

# da2_finetune swaps in Depth Anything V2 (pretrained weights, other model keys): tests/test_depth_anything.py
PRESETS = [p for p in available("experiment") if p != "da2_finetune"]


def client_for(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def only_run(root: Path, experiment: str = "g2/train"):
    client = client_for(root)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return client, runs[0]


def steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the preset runs: creating a fresh SQLite MLflow store costs seconds."""
    return tmp_path_factory.mktemp("presets")


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_validates_and_trains(preset: str, shared_root: Path) -> None:
    cfg = compose(
        tiny(
            shared_root,
            f"experiment={preset}",
            "trainer.max_epochs=1",
            "data.n_train=16",
            "trainer.num_samples=0",
        )
    )
    assert cfg.variant == preset
    validate_train_config(cfg)
    result = train(cfg)
    assert math.isfinite(result.best["abs_rel"]) and math.isfinite(result.last["train/loss"])
    weights = {k for k, v in cfg.loss.weights.items() if v > 0}
    run = client_for(shared_root).get_run(result.run_id)
    assert run.data.tags["variant"] == preset
    assert {k for k in run.data.metrics if k.startswith("train/loss_")} == {
        f"train/loss_{t}" for t in weights
    }


def test_short_run_is_fully_tracked(root: Path) -> None:
    cfg = compose(tiny(root, "experiment=grad_a", "seed=3"))
    result = train(cfg)
    client, run = only_run(root)
    assert run.info.run_id == result.run_id and run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["variant"] == "grad_a" and tags["seed"] == "3"
    assert len(tags["config_hash"]) == 10 and tags["git_commit"]
    params = run.data.params
    assert params["loss.weights.rgrad"] == "0.2" and params["loss.weights.ssi"] == "0.4"
    metrics = run.data.metrics
    for term in ("ssi", "silog", "rgrad"):
        assert f"train/loss_{term}" in metrics and f"val/loss_{term}" in metrics
    for key in ("delta1", "delta2", "delta3", "abs_rel", "rmse", "edge_rmse", "dbe_acc"):
        assert f"val/{key}" in metrics and f"best/{key}" in metrics
    assert "train/lr" in metrics and "train/loss_adepth" not in metrics
    # 32 samples / batch 8 = 4 steps an epoch, logged every 2 steps, over 2 epochs
    assert steps(client, run.info.run_id, "train/loss") == [2, 4, 6, 8]
    assert steps(client, run.info.run_id, "val/delta1") == [4, 8]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "checkpoints", "samples"} <= artifacts
    # tracking.log_checkpoints=best (the default): only the selected checkpoint is uploaded
    assert {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")} == {
        "checkpoints/best.pt",
    }
    samples = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
    assert {"samples/epoch_001.png", "samples/epoch_002.png", "samples/best_predictions.npz"} <= samples
    state = load(result.run_dir / "last.pt")  # weights_only load: plain data only
    assert state["mlflow_run_id"] == result.run_id and state["step"] == 8 and state["epoch"] == 1
    assert state["config"]["loss"]["weights"]["rgrad"] == 0.2


def test_public_hooks_see_every_phase_and_every_step(root: Path) -> None:
    entered: list[str] = []
    batches: list[int] = []

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        entered.append(name)
        yield

    cfg = compose(tiny(root, "trainer.max_epochs=1"))
    train(cfg, TrainHooks(phase=phase, on_batch=batches.append))
    assert batches == [0, 1, 2, 3]  # 32 samples / batch 8, called before each step with the steps done
    assert set(entered) == set(Phase)
    assert entered.count(Phase.STEP_LOOP) == 1 and entered.count(Phase.CHECKPOINTS) == 2  # best.pt, last.pt


def test_disparity_alignment_logs_the_clamped_share(root: Path) -> None:
    cfg = compose(tiny(root, "trainer.align=scale_shift_disparity", "trainer.max_epochs=1"))
    result = train(cfg)
    _, run = only_run(root)
    share = run.data.metrics[metric_key(VAL, ALIGN_CLAMPED)]
    assert 0.0 <= share <= 1.0
    assert ALIGN_CLAMPED not in result.best and math.isfinite(result.best["abs_rel"])
    # The mean-depth reference is a param of the run, not one of its metrics (issue 14: out of the charts).
    assert math.isfinite(float(run.data.params[ref_param("abs_rel")]))
    assert not [k for k in run.data.metrics if split_of(k) == REF]


def test_the_selected_checkpoint_is_evaluated_once_on_the_test_split(root: Path) -> None:
    """test/* come from best.pt (not the last weights) on the held-out split, with a per-image table that
    averages to them: what a report pairs variants on."""
    import numpy as np
    import pandas as pd

    from g2core.data import build_datasets
    from g2core.metrics import DepthMetrics
    from g2core.models import build_model
    from g2core.names import ALL_METRIC_KEYS, IMAGE_COLUMN, TEST, per_image_artifact
    from g2core.train.evaluate import evaluate_per_image

    cfg = compose(tiny(root, "trainer.max_epochs=3", "optim.lr=3e-3"))
    result = train(cfg)
    client, run = only_run(root)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "eval")} == {per_image_artifact(TEST)}
    table = pd.read_csv(result.run_dir / per_image_artifact(TEST))
    assert list(table.columns) == [IMAGE_COLUMN, *ALL_METRIC_KEYS]
    assert table[IMAGE_COLUMN].tolist() == list(range(8))  # data.n_test=8, each image once
    for key in ALL_METRIC_KEYS:
        assert run.data.metrics[metric_key(TEST, key)] == pytest.approx(table[key].mean(), rel=1e-6), key
    assert len(client.get_metric_history(run.info.run_id, metric_key(TEST, "abs_rel"))) == 1

    # the same numbers from best.pt's weights, evaluated independently
    model = build_model(cfg.model.name, features=8, levels=3, in_channels=3)
    model.load_state_dict(load(result.run_dir / "best.pt")["model"])
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    test_set = build_datasets(data_cfg, seed=0, sparse_input=False)[2]
    loader = torch.utils.data.DataLoader(test_set, batch_size=8)
    rows, _ = evaluate_per_image(
        model,
        loader,
        DepthMetrics(),
        device=torch.device("cpu"),
        in_channels=3,
        align_mode="none",
        amp_dtype=None,
    )
    np.testing.assert_allclose(rows, table[list(ALL_METRIC_KEYS)].to_numpy(), rtol=1e-5, atol=1e-6)


def test_same_command_again_does_not_train_twice(root: Path) -> None:
    cfg = compose(tiny(root))
    first = train(cfg)
    again = train(compose(tiny(root)))
    assert again.already_finished and again.run_id == first.run_id
    assert again.best["abs_rel"] == pytest.approx(first.best["abs_rel"])
    only_run(root)


def test_nan_loss_stops_the_run_and_marks_it_failed(root: Path) -> None:
    from g2core.train import NonFiniteLoss

    cfg = compose(tiny(root, "optim.lr=1e30", "trainer.max_epochs=3"))
    with pytest.raises(NonFiniteLoss, match="non-finite loss"):
        train(cfg)
    _, run = only_run(root)
    assert run.info.status == "FAILED" and "non-finite" in run.data.tags["g2.failure"]


def _train_cmd(root: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "experiments" / "train.py"), *tiny(root, *extra)]


def test_kill_and_resume_gives_the_uninterrupted_result(root: Path, tmp_path: Path) -> None:
    extra = ("trainer.max_epochs=4", "data.n_train=64")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference_root = tmp_path / "reference"
    subprocess.run(_train_cmd(reference_root, *extra), check=True, env=env, capture_output=True)
    ref_client, reference = only_run(reference_root)

    proc = subprocess.Popen(
        _train_cmd(root, *extra), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    cfg = compose(tiny(root, *extra))
    last = default_run_dir(cfg) / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert last.exists(), "the run never wrote a checkpoint"
    assert load(last)["epoch"] < 3, "killed too late to test resume"

    done = subprocess.run(_train_cmd(root, *extra), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    client, run = only_run(root)
    assert run.info.status == "FINISHED"
    for key in ("train/loss", "val/abs_rel"):
        logged = steps(client, run.info.run_id, key)
        assert len(logged) == len(set(logged)), f"{key} logged a step twice: {logged}"
    assert steps(client, run.info.run_id, "train/loss") == steps(
        ref_client, reference.info.run_id, "train/loss"
    )
    for key in ("best/abs_rel", "best/delta1", "val/rmse"):
        assert run.data.metrics[key] == pytest.approx(reference.data.metrics[key], rel=1e-5)


def test_two_process_ddp_matches_one_process(root: Path, tmp_path: Path) -> None:
    # G2 seed-variant terms average per image, so two half batches average to the full batch exactly.
    extra = (
        "experiment=g2_no_rgrad",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "trainer.num_samples=0",
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = tmp_path / "single"
    subprocess.run(_train_cmd(single, *extra), check=True, env=env, capture_output=True)
    ddp = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        str(REPO / "experiments" / "train.py"),
        *tiny(root, *extra),
    ]
    out = subprocess.run(ddp, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    c1, r1 = only_run(single)
    c2, r2 = only_run(root)
    one = [m.value for m in c1.get_metric_history(r1.info.run_id, "train/loss")]
    two = [m.value for m in c2.get_metric_history(r2.info.run_id, "train/loss")]
    assert len(one) == len(two) == 4
    assert two == pytest.approx(one, rel=1e-4)
    assert r2.data.metrics["val/abs_rel"] == pytest.approx(r1.data.metrics["val/abs_rel"], rel=1e-4)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("experiment=nope", "experiment"),
        ("loss.weights.foo=1.0", "loss.weights.foo"),
        ("loss.weights.ssi=-1", "loss.weights.ssi"),
        ("experiment=ssi_only loss.weights.ssi=0", "loss.weights"),
        ("optim.lr=0", "optim.lr"),
        ("data.height=30", "data.height"),
        ("model.name=resnet", "model.name"),
        ("trainer.precision=fp8", "trainer.precision"),
    ],
)
def test_bad_config_is_one_clear_line(override: str, key: str, root: Path) -> None:
    out = subprocess.run(_train_cmd(root, *override.split()), capture_output=True, text=True)
    assert out.returncode != 0
    assert key in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    if (root / "mlflow.db").exists():  # the store is left as it was: no run was created
        experiment = client_for(root).get_experiment_by_name("g2/train")
        assert experiment is None or not client_for(root).search_runs([experiment.experiment_id])


def test_validation_names_the_key_before_training(root: Path) -> None:
    cfg = compose(tiny(root, "loss.weights.ssi=-0.5"))
    with pytest.raises(ConfigError, match=r"loss\.weights\.ssi"):
        validate_train_config(cfg)
    assert not (root / "data").exists()


def test_checkpoint_loads_with_weights_only(root: Path) -> None:
    result = train(compose(tiny(root, "trainer.max_epochs=1")))
    state = torch.load(result.run_dir / "best.pt", weights_only=True)
    assert "model" in state


def test_trains_on_real_frames_with_finite_metrics(root: Path) -> None:
    from tests.conftest import REAL_FRAMES

    frames = REAL_FRAMES  # vendored: three PCL Kinect frames (tests/data/README.md)
    cfg = compose(
        [
            f"paths.root={root}",
            "data=h5",
            f"data.root={frames}",
            "trainer.max_epochs=1",
            "trainer.progress=false",
            "model.features=8",
            "model.levels=3",
        ]
    )
    result = train(cfg)
    assert all(math.isfinite(result.best[k]) for k in ("abs_rel", "rmse", "delta1", "edge_rmse"))


def test_grad_shares_are_logged_on_logging_steps_and_sum_to_one(root: Path) -> None:
    from g2core.names import grad_share_key

    cfg = compose(tiny(root, "experiment=grad_a"))  # rgrad 0.2, ssi 0.4, silog 0.4
    train(cfg)
    client, run = only_run(root)
    terms = ("rgrad", "ssi", "silog")
    assert {k for k in run.data.metrics if k.startswith(grad_share_key(""))} == {
        grad_share_key(t) for t in terms
    }
    history = {t: client.get_metric_history(run.info.run_id, grad_share_key(t)) for t in terms}
    for t in terms:  # every logging step (2 of 4 steps an epoch), not the end-of-epoch window
        assert sorted(m.step for m in history[t]) == [2, 4, 6, 8]
    for i in range(4):
        shares = [history[t][i].value for t in terms]
        assert all(0 <= s <= 1 for s in shares) and math.isclose(sum(shares), 1.0, rel_tol=1e-5)


def test_grad_norms_are_the_weighted_terms_gradients_on_the_prediction() -> None:
    from g2core.losses import create_loss
    from g2core.train.grad_share import grad_norms, per_term_norms, shares

    torch.manual_seed(0)
    pred = (torch.rand(2, 1, 16, 16) + 0.5).requires_grad_()
    gt, mask = torch.rand(2, 1, 16, 16) + 0.5, torch.ones(2, 1, 16, 16, dtype=torch.bool)
    loss_fn = create_loss(weights={"ssi": 0.4, "silog": 2.0}, variant="seed", adepth_mask="gt")
    total, values = loss_fn(pred, gt, mask)
    norms = grad_norms(pred, values, loss_fn.weights, loss_fn.active_terms)
    for i, term in enumerate(loss_fn.active_terms):
        (expected,) = torch.autograd.grad(values[term] * loss_fn.weights[term], pred, retain_graph=True)
        assert torch.allclose(norms[i], expected.norm(), rtol=1e-5)
    assert math.isclose(float(shares(norms).sum()), 1.0, rel_tol=1e-6)
    weighted = torch.stack([values[t] * loss_fn.weights[t] for t in loss_fn.active_terms])
    assert torch.allclose(per_term_norms(pred, weighted), norms, rtol=1e-5)  # the fallback says the same
    total.backward()  # the graph is still there for the step's own backward
    assert pred.grad is not None


def test_epoch_line_has_loss_metric_time_and_etas(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from g2core.train.progress import QUEUE_NOTE_ENV, EpochProgress, QueueNote

    cfg = compose(tiny(root, "trainer.max_epochs=10"))
    progress = EpochProgress(cfg, first_epoch=0)
    last = {"train/loss": 0.5, cfg.trainer.best_metric: 0.25}
    line = progress.line(1, last, now=progress.started + 20)  # 2 epochs in 20 s: 8 left, 80 s
    assert line == f"epoch 2/10: loss 0.5000, {cfg.trainer.best_metric} 0.2500, 10s/epoch; ETA 1m20s"
    note = root / "note.json"
    QueueNote(waiting=4, workers=2, mean_trial_s=60.0).write(note)
    monkeypatch.setenv(QUEUE_NOTE_ENV, str(note))
    line = progress.line(1, last, now=progress.started + 20)  # 80 s + 4 trials x 60 s / 2 workers
    assert line.endswith("10s/epoch; trial ETA 1m20s, study ETA 3m20s"), line
