"""model=depth_anything_v2 and experiment=da2_finetune on a tiny randomly initialised Depth Anything V2
(no download): the forward contract, weights from a local folder only, the recipe's optimiser (head at 10x,
poly decay), its training mask, a short run through the real trainer and a two-variant study on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from g2core.config import ConfigError, compose
from g2core.data.h5 import H5DepthDataset
from g2core.models import build_model
from g2core.names import TEST, metric_key
from g2core.train import train
from g2core.train.setup import build_optimizer, build_scheduler, lr_factor
from g2core.validate import validate_train_config
from tests.conftest import REPO

pytest.importorskip("transformers", reason="model=depth_anything_v2 needs the extra .[hf]")

TINY = ("model.encoder=tiny", "model.pretrained=null")


def tiny_da2(root: Path, *extra: str) -> list[str]:
    """experiment=da2_finetune on 28x28 procedural scenes with the 4-layer, 32-wide encoder."""
    return [
        f"paths.root={root}",
        "experiment=da2_finetune",
        "data=synthetic",
        *TINY,
        "data.height=28",
        "data.width=28",
        "data.n_train=16",
        "data.n_val=4",
        "data.n_test=4",
        "data.batch_size=4",
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=2",
        "trainer.num_samples=1",
        "trainer.progress=false",
        *extra,
    ]


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    return build_model("depth_anything_v2", encoder="tiny", max_depth=10.0)


def test_rgb_in_metric_depth_out(tiny_model: torch.nn.Module) -> None:
    depth = tiny_model(torch.rand(2, 3, 28, 42))
    assert depth.shape == (2, 1, 28, 42)  # the input's size, one channel
    assert (depth > 0).all() and (depth < 10.0).all()  # the metric head: (0, max_depth)
    with pytest.raises(ValueError, match="multiples of 14"):
        tiny_model(torch.rand(1, 3, 28, 30))
    with pytest.raises(ValueError, match="RGB only"):
        build_model("depth_anything_v2", encoder="tiny", in_channels=5)


def test_weights_load_from_a_local_folder_only(tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    tiny_model.net.save_pretrained(tmp_path)
    whole = build_model("depth_anything_v2", encoder="tiny", pretrained=str(tmp_path), pretrained_scope="all")
    encoder = build_model("depth_anything_v2", encoder="tiny", pretrained=str(tmp_path))
    ref = tiny_model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in whole.state_dict().items())
    # scope encoder (the DA2 recipe): the encoder's weights, a fresh neck and head
    got = encoder.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in got.items() if k.startswith("net.backbone."))
    assert any(not torch.equal(v, ref[k]) for k, v in got.items() if k.startswith("net.head."))
    with pytest.raises(ConfigError, match="not in the Hugging Face cache .*hf download g2-tests/absent"):
        build_model("depth_anything_v2", encoder="tiny", pretrained="g2-tests/absent")
    with pytest.raises(ConfigError, match="32-wide encoder, not model.encoder=vits"):
        build_model("depth_anything_v2", encoder="vits", pretrained=str(tmp_path))


def test_the_recipe_trains_the_head_at_ten_times_the_encoder_lr_with_poly_decay(
    tiny_model: torch.nn.Module,
) -> None:
    cfg = compose(["experiment=da2_finetune", *TINY])
    validate_train_config(cfg)
    optim = cfg.optim
    assert (optim.name, optim.lr, optim.weight_decay, optim.scheduler.name) == ("adamw", 5e-6, 0.01, "poly")
    opt = build_optimizer(tiny_model, optim, torch.device("cpu"))
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {"encoder": 5e-6, "head": 5e-5}
    encoder = sum(p.numel() for p in tiny_model.net.backbone.parameters())
    assert sum(p.numel() for p in opt.param_groups[0]["params"]) == encoder
    # DA2's schedule: lr * (1 - iters / total_iters) ** 0.9 for both groups, no warm-up
    total = 100
    sched = build_scheduler(opt, optim, steps_per_epoch=10, total_steps=total)
    for _ in range(40):
        opt.step()
        sched.step()
    factor = (1 - 40 / total) ** 0.9
    assert lr_factor(40, optim, 10, total) == pytest.approx(factor)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([5e-6 * factor, 5e-5 * factor])


def test_a_head_lr_needs_a_model_that_names_its_encoder() -> None:
    cfg = compose(["optim=adamw", "+optim.head_lr_mult=10"])  # a schema default, absent from conf/optim
    validate_train_config(cfg)
    model = build_model("g2_unet", levels=2, features=4, in_channels=3)
    with pytest.raises(ConfigError, match="optim.head_lr_mult=10: model g2_unet .* set optim.head_lr_mult=1"):
        build_optimizer(model, cfg.optim, torch.device("cpu"))


def test_the_training_mask_drops_gt_beyond_max_depth(tmp_path: Path) -> None:
    import h5py

    depth = np.full((8, 8), 5.0, np.float32)
    depth[:, :4] = 12.0  # beyond 10 m
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["rgb"], f["depth"] = np.zeros((3, 8, 8), np.uint8), depth
    kw = {"height": 8, "width": 8, "max_depth": 10.0}
    assert H5DepthDataset([tmp_path / "f.h5"], **kw)[0]["mask"].all()
    masked = H5DepthDataset([tmp_path / "f.h5"], mask_depth_range=True, **kw)[0]["mask"]
    assert masked.sum() == 32 and not masked[..., :4].any()


@pytest.mark.slow
def test_da2_finetune_runs_through_the_trainer_and_is_tracked(root: Path) -> None:
    cfg = compose(tiny_da2(root, "optim.lr=1e-3"))
    validate_train_config(cfg)
    result = train(cfg)
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["variant"] == "da2_finetune"
    assert (
        run.data.params["model.name"] == "depth_anything_v2"
        and run.data.params["optim.head_lr_mult"] == "10.0"
    )
    losses = [m.value for m in client.get_metric_history(result.run_id, "train/loss_silog")]
    assert len(losses) == 4 and all(np.isfinite(losses))  # 4 steps an epoch, logged every 2, 2 epochs
    assert np.isfinite(result.best["abs_rel"])
    # train/lr is the encoder's; the poly decay brings it to 0 at the last step
    lrs = [m.value for m in client.get_metric_history(result.run_id, "train/lr")]
    assert lrs[0] < 1e-3 and lrs == sorted(lrs, reverse=True)


@pytest.mark.slow
def test_a_loss_terms_study_on_depth_anything(root: Path) -> None:
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        "+study=loss_terms",
        "study.variants=[silog_only,ssi_silog]",
        "study.baseline=ssi_silog",
        "study.seeds=[0]",
        "model=depth_anything_v2",
        # the same tiny DA2 (default optimiser), each variant's own loss
        *(o for o in tiny_da2(root, "trainer.max_epochs=1") if not o.startswith("experiment=")),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("g2/loss_terms")
    kids = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("g2.role") == "child"]
    assert sorted(r.data.tags["variant"] for r in kids) == ["silog_only", "ssi_silog"]
    assert all(r.data.params["model.name"] == "depth_anything_v2" for r in kids)
    assert all(metric_key(TEST, "abs_rel") in r.data.metrics for r in kids)
    assert (root / "reports" / "loss_terms" / "README.md").exists()
