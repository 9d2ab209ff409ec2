"""The user's own parts, from a package outside g2core: a loss term, a model and a data source by `_target_`,
and presets (experiment/, study/) in a G2_CONF_PATH folder, exactly as the README's "Add your own loss term"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from g2core import names
from g2core.config import ConfigError, compose, conf_dirs
from g2core.data import build_datasets
from g2core.data.errors import DataError
from g2core.data.plugin import PluginDataset
from g2core.losses import create_loss
from g2core.models import build_model
from g2core.validate import validate_train_config
from tests.conftest import REPO, tiny

# The README's files, word for word in spirit: one function, one yaml line declaring it, one weighting it.
USER_FILES = {
    "mypkg/__init__.py": "",
    "mypkg/losses.py": '''
        import torch


        def edge(pred, gt, mask):
            """L1 between the horizontal depth steps of prediction and ground truth, where both pixels are valid."""
            both = mask[..., 1:] & mask[..., :-1]
            diff = (pred[..., 1:] - pred[..., :-1]) - (gt[..., 1:] - gt[..., :-1])
            return (diff.abs() * both).sum() / both.sum().clamp_min(1)
        ''',
    "mypkg/models.py": '''
        from torch import nn


        class TinyNet(nn.Module):
            """Two convolutions and a softplus: a depth map [B, 1, H, W] from [B, in_channels, H, W]."""

            def __init__(self, in_channels: int, width: int = 8):
                super().__init__()
                self.in_channels = in_channels
                self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                                          nn.Conv2d(width, 1, 3, padding=1), nn.Softplus())

            def forward(self, x):
                return self.body(x)
        ''',
    "mypkg/data.py": '''
        import torch
        from torch.utils.data import Dataset


        class Planes(Dataset):
            """Tilted planes: depth grows from left to right, the image is its grey-level picture."""

            def __init__(self, n, height, width, offset):
                self.n, self.h, self.w, self.offset = n, height, width, offset

            def __len__(self):
                return self.n

            def __getitem__(self, i):
                ramp = torch.linspace(1.0, 3.0 + i + self.offset, self.w).expand(1, self.h, self.w)
                return {"rgb": (ramp / ramp.max()).expand(3, -1, -1).clone(), "depth": ramp.clone()}


        def planes(height, width, n_train=16, seed=0):
            """Tilted planes as (train, val, test)."""
            return Planes(n_train, height, width, 0), Planes(8, height, width, 100), None
        ''',
    "conf/model/tiny.yaml": """
        # My two-convolution net (mypkg.models.TinyNet).
        _target_: mypkg.models.TinyNet
        name: tiny
        in_channels: 3
        width: 4
        """,
    "conf/data/planes.yaml": """
        # Tilted planes from mypkg.data.planes.
        _target_: mypkg.data.planes
        name: planes
        n_train: 4
        height: 32
        width: 32
        batch_size: 2
        num_workers: 0
        min_depth: 1.0e-3
        max_depth: 10.0
        """,
    "conf/experiment/edge_off.yaml": """
        # @package _global_
        # SSI + SiLog, my edge term declared but off (the study's baseline).
        variant: edge_off
        loss:
          custom_terms: {edge: {_target_: mypkg.losses.edge}}
          weights: {ssi: 0.5, silog: 0.5, edge: 0.0}
        """,
    "conf/experiment/edge_on.yaml": """
        # @package _global_
        # SSI + SiLog + my edge term.
        variant: edge_on
        loss:
          custom_terms: {edge: {_target_: mypkg.losses.edge}}
          weights: {ssi: 0.5, silog: 0.5, edge: 0.5}
        """,
    "conf/study/edge.yaml": """
        # @package study
        # Does my edge term help SSI + SiLog?
        name: edge
        kind: ablation
        variants: [edge_off, edge_on]
        baseline: edge_off
        seeds: [0]
        metric: val/abs_rel
        direction: minimize
        """,
}


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package and a conf folder outside the repository, on PYTHONPATH and G2_CONF_PATH."""
    home = tmp_path / "user"
    for rel, text in USER_FILES.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(home))
    monkeypatch.setenv("G2_CONF_PATH", str(home / "conf"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(home), os.environ.get("PYTHONPATH", "")]))
    return home


def test_user_preset_composes_validates_and_the_term_is_computed(user: Path, root: Path) -> None:
    cfg = compose(["experiment=edge_on", *tiny(root)])
    validate_train_config(cfg)
    loss = create_loss(cfg.loss)
    assert loss.active_terms == ("ssi", "silog", "edge")  # built-ins first, then the user's
    pred, gt = torch.rand(2, 1, 8, 8) + 0.5, torch.rand(2, 1, 8, 8) + 0.5
    total, values = loss(pred, gt, torch.ones(2, 1, 8, 8, dtype=torch.bool))
    assert set(values) == {"ssi", "silog", "edge"} and values["edge"] > 0
    assert total == pytest.approx(float(0.5 * values["ssi"] + 0.5 * values["silog"] + 0.5 * values["edge"]))
    assert create_loss(compose(["experiment=edge_off", *tiny(root)]).loss).active_terms == (
        "ssi",
        "silog",
    )
    assert names.term_key(names.TRAIN, "edge") == "train/loss_edge"
    assert names.terms_of(["loss", "loss_edge", "loss_ssi", "abs_rel"]) == ["ssi", "edge"]


def test_several_conf_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G2_CONF_PATH", os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")]))
    assert conf_dirs()[1:] == [tmp_path / "a", tmp_path / "b"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+loss.weights.edge=0.5"], "loss.weights.edge: unknown loss term 'edge'; known terms: adepth"),
        (
            ["+loss.custom_terms.edge._target_=mypkg.nothere.edge", "+loss.weights.edge=0.5"],
            "loss.custom_terms.edge._target_='mypkg.nothere.edge': cannot import it (ModuleNotFoundError",
        ),
        (["+loss.custom_terms.ssi._target_=mypkg.losses.edge"], "loss.custom_terms.ssi: 'ssi' is a built-in"),
        (["+loss.custom_terms.Edge._target_=mypkg.losses.edge"], "loss.custom_terms.Edge: use lower-case"),
        (["+loss.custom_terms.edge.fn=mypkg.losses.edge"], "loss.custom_terms.edge._target_: missing"),
        (["+model._target_=mypkg.models.Nope"], "model._target_='mypkg.models.Nope': cannot import it"),
        (["+model._target_=mypkg.models.TinyNet", "model.name=a/b"], "model.name='a/b': use letters"),
        (["+data._target_=mypkg.data.nothing"], "data._target_='mypkg.data.nothing': cannot import it"),
        (["data=planes", "+data.rooot=x"], "data.rooot: unknown key"),
        (["model=tiny", "+model.depth=3"], "model.depth: unknown key"),
    ],
)
def test_bad_user_parts_fail_before_training_in_one_line(
    user: Path, root: Path, overrides: list[str], message: str
) -> None:
    cfg = compose([f"paths.root={root}", *overrides])
    with pytest.raises(ConfigError) as err:
        validate_train_config(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_user_model_and_data_by_target(user: Path, root: Path) -> None:
    cfg = compose([f"paths.root={root}", "model=tiny", "data=planes"])
    validate_train_config(cfg)
    kwargs = {k: v for k, v in cfg.model.items() if k != "name"}
    model = build_model(cfg.model.name, **kwargs)
    assert type(model).__name__ == "TinyNet" and model.model_name == "tiny"
    train, val, test = build_datasets(dict(cfg.data), seed=0, sparse_input=False)
    assert (len(train), len(val), test) == (4, 8, None)
    item = train[0]
    assert item["mask"].dtype == torch.bool and item["sparse"].shape == (1, 32, 32)
    assert model(item["rgb"][None]).shape == (1, 1, 32, 32)
    with pytest.raises(DataError, match="model.in_channels=5 needs 'sparse'"):
        build_datasets(dict(cfg.data), seed=0, sparse_input=True)
    from mypkg.data import Planes  # the user's class, built at a size other than data.height x data.width

    with pytest.raises(
        DataError,
        match=r"train item 0: 'rgb' must be a tensor of shape \[3, 16, 16\] \(data.height=16, data.width=16\)",
    ):
        PluginDataset(Planes(2, 8, 8, 0), "train", 16, 16, sparse_input=False)


def test_catalog_lists_user_presets_and_terms(user: Path) -> None:
    from g2core.catalog import catalog

    text = catalog()
    for name, description in (
        ("edge", "Does my edge term help SSI + SiLog?"),  # the user's study: its first comment line
        ("loss_terms", "Which loss terms help?"),
        ("edge_on", "SSI + SiLog + my edge term."),
        ("tiny", "My two-convolution net"),
        ("planes", "Tilted planes from mypkg.data.planes."),
        ("silog", "sqrt(mean(d^2) - 0.5 mean(d)^2)"),  # a built-in term: its docstring's first line
        ("edge", "L1 between the horizontal depth steps of prediction and ground truth"),  # the user's term
    ):
        assert re.search(rf"^  {name} +{re.escape(description)}", text, re.MULTILINE), (name, text)


@pytest.mark.slow
def test_readme_recipe_trains_logs_and_ablates_the_users_term(user: Path, root: Path) -> None:
    """The README's steps as a user runs them: train.py logs train/loss_edge, a 2-variant study reports it."""
    env = {**os.environ}
    small = [*tiny(root, "trainer.max_epochs=1"), "data.n_train=16", "data.n_val=8", "data.n_test=8"]
    train = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "train.py"), "experiment=edge_on", *small],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name(names.TRAIN_EXPERIMENT).experiment_id])[0]
    assert names.term_key(names.TRAIN, "edge") in run.data.metrics
    assert names.grad_share_key("edge") in run.data.metrics
    assert run.data.params[names.weight_param("edge")] == "0.5"

    listing = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "ablate.py"), "--list"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert listing.returncode == 0 and "Does my edge term help SSI + SiLog?" in listing.stdout

    study = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "ablate.py"), "+study=edge", *small],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert study.returncode == 0, study.stderr[-3000:]
    report = (root / "reports" / "edge" / "README.md").read_text()
    assert "edge_on" in report and "edge_off" in report
    # The user's term is a column like a built-in's: its training loss in the main table, its gradient share.
    assert "| loss_edge ↓ |" in report and "| grad share edge |" in report
    kids = client.search_runs([client.get_experiment_by_name(names.study_experiment("edge")).experiment_id])
    on = [r for r in kids if r.data.tags.get(names.TAG_VARIANT) == "edge_on"]
    assert on and names.term_key(names.TRAIN, "edge") in on[0].data.metrics
