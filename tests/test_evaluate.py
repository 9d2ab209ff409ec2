"""experiments/evaluate.py on a real checkpoint of a tiny real training: a file and its runs:/ URI, the printed
table, the MLflow run nested under the checkpoint's run, and one clear line for a bad checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from g2core import names
from g2core.config import ConfigError, compose
from tests.conftest import REAL_FRAMES, REPO, tiny

FRAMES = REAL_FRAMES / "pcl_kinect"  # three vendored Kinect frames (tests/data/README.md)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """(paths.root, run id, best.pt) of one tiny training run with the default local store."""
    from g2core.train import train

    root = tmp_path_factory.mktemp("evaluate") / "root"
    result = train(compose(tiny(root, "trainer.max_epochs=1", "data.n_train=16", "trainer.align=median")))
    return root, result.run_id, result.run_dir / names.BEST_CHECKPOINT


def evaluate(root: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "experiments" / "evaluate.py"), f"paths.root={root}", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def eval_runs(client: MlflowClient, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], f"tags.`{names.TAG_ROLE}` = '{names.ROLE_EVAL}'")
    return sorted(runs, key=lambda r: r.info.start_time)


@pytest.mark.slow
def test_a_file_and_its_runs_uri_give_the_same_numbers_in_nested_runs(trained) -> None:
    root, run_id, best = trained
    data = ["data=h5", f"data.root={FRAMES}", "data.height=32", "data.width=32"]
    by_path = evaluate(root, f"ckpt={best}", *data)
    assert by_path.returncode == 0, by_path.stderr[-3000:]
    # the table: every metric with its direction, the dataset named after its folder, the checkpoint's alignment
    assert "| abs_rel ↓ |" in by_path.stdout and "| delta1 ↑ |" in by_path.stdout
    assert "dataset: pcl_kinect (3 images" in by_path.stdout and "trainer.align=median" in by_path.stdout
    assert f"nested under {run_id}" in by_path.stdout

    uri = f"sqlite:///{root / 'mlflow.db'}"
    by_uri = evaluate(
        root, f"ckpt={names.RUNS_URI_SCHEME}{run_id}/{names.BEST_CHECKPOINT_ARTIFACT}", *data,
        f"tracking.uri={uri}", "eval.dataset=kinect",
    )  # fmt: skip
    assert by_uri.returncode == 0, by_uri.stderr[-3000:]

    client = MlflowClient(uri)
    first, second = eval_runs(client, names.TRAIN_EXPERIMENT)  # the checkpoint's run's experiment
    for run, dataset in ((first, "pcl_kinect"), (second, "kinect")):
        assert run.info.status == "FINISHED"
        assert run.data.tags[names.TAG_PARENT_RUN_ID] == run_id  # nested under the run that made it
        assert run.data.tags[names.TAG_EVAL_DATASET] == dataset
        assert run.data.tags[names.TAG_MLFLOW_SOURCE_NAME] and run.data.tags[names.TAG_MLFLOW_USER]
        assert run.data.params[names.ALIGN_PARAM] == "median"
        assert {names.eval_key(dataset, m) for m in names.ALL_METRIC_KEYS} <= set(run.data.metrics)
        table = pd.read_csv(
            client.download_artifacts(run.info.run_id, names.eval_per_image_artifact(dataset))
        )
        assert list(table.columns) == [names.IMAGE_COLUMN, *names.ALL_METRIC_KEYS] and len(table) == 3
        assert table["abs_rel"].mean() == pytest.approx(run.data.metrics[names.eval_key(dataset, "abs_rel")])
    # the downloaded best.pt is the file: the same weights, frames and alignment give the same numbers
    for metric in ("abs_rel", "rmse", "delta1"):
        a = first.data.metrics[names.eval_key("pcl_kinect", metric)]
        assert a == pytest.approx(second.data.metrics[names.eval_key("kinect", metric)], rel=1e-6)
    # the training run itself gained no eval metrics: they live in the nested runs
    assert not any(names.eval_dataset_of(k) for k in client.get_run(run_id).data.metrics)


@pytest.mark.slow
def test_bad_checkpoints_and_names_are_one_clear_line(trained, tmp_path: Path) -> None:
    from g2core.evaluation.command import evaluate_checkpoint

    root, _, best = trained
    garbage = tmp_path / "best.pt"
    garbage.write_bytes(b"not a checkpoint")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    data = ["data=h5", f"data.root={FRAMES}", "data.height=32", "data.width=32", f"paths.root={root}"]
    cases = {
        f"ckpt={tmp_path / 'missing.pt'}": "no such file",
        f"ckpt={garbage}": "not a readable checkpoint",
        "ckpt=runs:/0123456789abcdef/checkpoints/best.pt": "has no run '0123456789abcdef'",
        f"ckpt={best} eval.dataset=../up": "eval.dataset='../up'",
        f"ckpt={best} trainer.align=sideways": "trainer.align='sideways'",
    }
    for given, expected in cases.items():
        cfg = compose([*given.split(" "), *data, f"tracking.uri={uri}"], config_name="evaluate")
        with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
            evaluate_checkpoint(cfg)
    # through the entry point: exit status 2, one line, no traceback
    out = evaluate(root, f"ckpt={tmp_path / 'missing.pt'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"g2-ablate: error: ckpt={tmp_path / 'missing.pt'}: no such file; pass a checkpoint file "
        f"(.../best.pt) or {names.RUNS_URI_SCHEME}<run_id>/{names.BEST_CHECKPOINT_ARTIFACT}"
    ]


def test_eval_keys_name_the_dataset_and_nothing_else() -> None:
    assert names.eval_key("nyu", "abs_rel") == "eval/nyu/abs_rel"
    assert names.eval_dataset_of("eval/nyu/abs_rel") == "nyu"
    # the test split's per-image table and other splits' metrics are no dataset
    for key in (names.per_image_artifact(names.TEST), "test/abs_rel", "eval//abs_rel", "eval/nyu"):
        assert names.eval_dataset_of(key) is None
    # a dataset named like the test split keeps its own table
    assert names.eval_per_image_artifact("test") != names.per_image_artifact(names.TEST)


def test_the_dataset_is_named_by_eval_dataset_the_preset_or_its_folder(tmp_path: Path) -> None:
    from g2core.evaluation import dataset_name

    h5 = {"name": "h5", "root": str(FRAMES)}
    assert dataset_name(h5, None) == "pcl_kinect"
    assert dataset_name({**h5, "test_root": str(tmp_path / "val")}, None) == "val"
    assert dataset_name(h5, None, preset="nyu") == "nyu"  # data=nyu: the preset names it
    assert dataset_name(h5, "mine") == "mine"
    assert dataset_name({"name": "synthetic", "root": str(tmp_path)}, None, preset="synthetic") == "synthetic"
    with pytest.raises(ConfigError, match="eval.dataset"):
        dataset_name({"name": "h5", "root": str(tmp_path / "a b")}, None)
