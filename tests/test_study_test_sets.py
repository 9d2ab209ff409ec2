"""study.test_sets: every trial's selected checkpoint evaluated on the vendored real Kinect frames after it
trains, logged into its own child run, and the report's cross-dataset table; bad test sets refused before
anything trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from g2core import names
from g2core.config import ConfigError, compose
from tests.conftest import REAL_FRAMES, REPO, tiny

FRAMES = REAL_FRAMES / "pcl_kinect"  # three real frames, BSD-3-Clause (tests/data/README.md)
TEST_SETS = f"study.test_sets={{real:{{root:'{FRAMES}',height:32,width:32}}}}"
TWO_BY_TWO = ("study.variants=[ssi_only,ssi_silog]", "study.baseline=ssi_silog", "study.seeds=[0,1]")


@pytest.mark.slow
def test_every_trial_is_evaluated_on_the_test_sets_and_the_report_compares_across_datasets(
    root: Path,
) -> None:
    cmd = [
        sys.executable, str(REPO / "experiments" / "ablate.py"), "+study=loss_terms",
        *tiny(root, "trainer.max_epochs=1", "data.n_train=16"), *TWO_BY_TWO, TEST_SETS,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("on test set real:") == 4

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(names.study_experiment("loss_terms"))
    kids = client.search_runs([exp.experiment_id], f"tags.`{names.TAG_ROLE}` = '{names.ROLE_CHILD}'")
    assert len(kids) == 4
    for kid in kids:  # in the trial's own run, beside its test/* metrics
        assert {names.eval_key("real", m) for m in names.ALL_METRIC_KEYS} <= set(kid.data.metrics)
        table = pd.read_csv(client.download_artifacts(kid.info.run_id, names.eval_per_image_artifact("real")))
        assert len(table) == 3 and table[names.IMAGE_COLUMN].tolist() == [0, 1, 2]

    report = root / "reports" / "loss_terms"
    readme = (report / "README.md").read_text()
    section = readme[readme.index("## Across datasets") : readme.index("## Provenance")]
    assert (
        "| variant | own test split: abs_rel ↓ | own test split: delta1 ↑ | real: abs_rel ↓ | real: delta1 ↑ |"
        in section
    )
    assert "| ssi_silog (baseline) |" in section and "| ssi_only |" in section and "95% CI" in section
    cross = pd.read_csv(report / "cross_dataset.csv")
    assert set(cross["dataset"]) == {"real"} and set(cross["metric"]) == {"abs_rel", "delta1"}
    assert (cross["n_seeds"] == 2).all() and (cross["n_images"] == 3).all()
    assert cross["p_holm"].between(0, 1).all()  # Holm over this table's whole family
    assert "cross_dataset.csv" in {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(
        kids[0].data.tags[names.TAG_PARENT_RUN_ID], names.REPORT_DIR)}  # fmt: skip

    # a resumed trial whose run has the metrics is not evaluated again
    from g2core.study.test_sets import evaluate_test_sets, parse_test_sets

    kid = kids[0]
    cfg = compose(tiny(root, "trainer.max_epochs=1", "data.n_train=16"))
    sets = parse_test_sets(
        OmegaConf.create({"real": {"root": str(FRAMES), "height": 32, "width": 32}}), str(root)
    )
    run_dir = root / "studies" / "loss_terms" / "runs" / kid.info.run_name
    assert evaluate_test_sets(cfg, sets, kid.info.run_id, run_dir) == []
    assert len(client.get_metric_history(kid.info.run_id, names.eval_key("real", "abs_rel"))) == 1


@pytest.mark.parametrize(
    "test_sets, message",
    [
        ("{real:{root:/no/such/folder}}", "study.test_sets.real: data.root: /no/such/folder does not exist"),
        ("{real:{rot:/x}}", "study.test_sets.real.rot: unknown key"),
        ("{real:{name:kitti,root:/x}}", "study.test_sets.real.name='kitti': no data preset of that name"),
        ("{re/al:{root:/x}}", "study.test_sets='re/al'"),
        ("[real]", "study.test_sets=['real']: expected a mapping"),
        ("{real:{root:/x,height:abc}}", "study.test_sets.real.height='abc': expected an integer"),
    ],
)
def test_bad_test_sets_are_one_line_before_anything_trains(test_sets: str, message: str, root: Path) -> None:
    from g2core.study.spec import load_spec

    cfg = compose(
        [f"paths.root={root}", "+study=loss_terms", f"study.test_sets={test_sets}"], config_name="ablate"
    )
    with pytest.raises(ConfigError) as err:
        load_spec(cfg)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert not any(root.iterdir())  # nothing written


def test_a_test_set_starts_from_its_preset(root: Path) -> None:
    from g2core.study.spec import load_spec

    given = f"study.test_sets={{real:{{root:'{FRAMES}',height:48,width:48,eigen_crop:true}}}}"
    spec = load_spec(compose([f"paths.root={root}", "+study=loss_terms", given], config_name="ablate"))
    real = spec.test_sets["real"]
    assert real["name"] == "h5" and real["root"] == str(
        FRAMES
    )  # conf/data/h5.yaml with the given keys on top
    assert (real["height"], real["width"], real["eigen_crop"], real["max_depth"]) == (48, 48, True, 10.0)
    assert (
        load_spec(compose([f"paths.root={root}", "+study=loss_terms"], config_name="ablate")).test_sets == {}
    )
