"""The report's provenance section on MLflow runs shaped as the trainer logs them (issue 24, point 8):
a weight search is not flagged as "settings changed", and the environment that made the numbers is named.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from g2core.names import (
    ALIGN_PARAM,
    ALL_METRIC_KEYS,
    BEST,
    ROLE_CHILD,
    ROLE_PARENT,
    TAG_CONFIG_HASH,
    TAG_GIT_COMMIT,
    TAG_PARENT_RUN_ID,
    TAG_ROLE,
    TAG_SEED,
    TAG_STUDY,
    TAG_TRIAL,
    TAG_VARIANT,
    VAL,
    metric_key,
    study_experiment,
    study_tag,
    weight_param,
)
from g2core.report import write_report
from g2core.tracking.environment import (
    ENV_CPU_CAPABILITY,
    ENV_MKL,
    ENV_THREADS,
    ENV_TORCH,
    environment_tags,
)


def _parent(client: MlflowClient, study: str, kind: str) -> tuple[str, str]:
    exp_id = client.create_experiment(study_experiment(study))
    tags = {TAG_ROLE: ROLE_PARENT, TAG_STUDY: study, study_tag("kind"): kind,
            study_tag("metric"): metric_key(VAL, "abs_rel"), study_tag("direction"): "minimize",
            study_tag("baseline"): "" if kind == "search" else "base", study_tag("variants"): "ssi_silog_grad",
            study_tag("seeds"): "0", study_tag("status"): "finished"}  # fmt: skip
    return exp_id, client.create_run(exp_id, tags=tags, run_name=study).info.run_id


def _child(client: MlflowClient, exp_id: str, parent: str, study: str, trial: int, weights: dict[str, float],
           config_hash: str, extra_tags: dict[str, str] | None = None) -> str:  # fmt: skip
    """A finished search trial as the trainer leaves it: tags, flattened params, best/* metrics."""
    tags = {TAG_PARENT_RUN_ID: parent, TAG_ROLE: ROLE_CHILD, TAG_STUDY: study, TAG_VARIANT: "ssi_silog_grad",
            TAG_SEED: "0", TAG_TRIAL: str(trial), TAG_CONFIG_HASH: config_hash, TAG_GIT_COMMIT: "deadbeef",
            **(extra_tags or {})}  # fmt: skip
    run_id = client.create_run(exp_id, tags=tags, run_name=f"trial-{trial}").info.run_id
    params = [Param(weight_param(t), str(w)) for t, w in weights.items()] + [Param(ALIGN_PARAM, "none")]
    level = 0.1 + 0.05 * trial
    metrics = [Metric(metric_key(VAL, m), level, 0, 10) for m in ALL_METRIC_KEYS]
    metrics += [Metric(metric_key(BEST, m), level, 0, 10) for m in ALL_METRIC_KEYS]
    client.log_batch(run_id, metrics=metrics, params=params)
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite store for the module: creating its schema is most of a test's time."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def _search(uri: str, tmp_path: Path, study: str, hashes_weights: list[tuple[str, dict[str, float]]]) -> str:
    client = MlflowClient(tracking_uri=uri)
    exp_id, parent = _parent(client, study, "search")
    for trial, (h, weights) in enumerate(hashes_weights):
        _child(client, exp_id, parent, study, trial, weights, h)
    return write_report(uri, study, tmp_path / "out", log_to_parent=False, figures=False, split=VAL).markdown


def _provenance(markdown: str) -> str:
    return markdown.split("## Provenance", 1)[1]


def test_weight_search_is_not_flagged_as_changed_settings(uri: str, tmp_path: Path) -> None:
    # Each trial of a search has its own weights, so its own config hash: by design, not a change.
    trials = [(f"h{i}", {"ssi": 1.0, "silog": 0.5, "rgrad": 0.1 * (i + 1)}) for i in range(3)]
    text = _provenance(_search(uri, tmp_path, "wsearch", trials))
    assert "⚠" not in text, text
    assert "no settings changed" in text


def test_search_trial_retrained_under_new_settings_is_flagged(uri: str, tmp_path: Path) -> None:
    weights = {"ssi": 1.0, "silog": 0.5, "rgrad": 0.2}
    trials = [("old", weights), ("new", weights), ("h2", {**weights, "rgrad": 0.7})]
    text = _provenance(_search(uri, tmp_path, "wsearch2", trials))
    assert f"⚠ Mixed `{TAG_CONFIG_HASH}` for ssi_silog_grad, seed 0, the same loss weights" in text
    assert "new: trial-1; old: trial-0" in text
    # A search counts every finished trial: the ablation's "newest run counted" would be false here.
    assert "every finished trial is counted" in text and "newest" not in text
    assert text.count("⚠ Mixed") == 1


def test_report_names_the_environments_that_made_the_numbers(uri: str, tmp_path: Path) -> None:
    here = environment_tags()
    one_thread = {**here, ENV_THREADS: "1"}
    client = MlflowClient(tracking_uri=uri)
    exp_id, parent = _parent(client, "envs", "search")
    for trial, env in enumerate([here, here, one_thread]):
        _child(client, exp_id, parent, "envs", trial, {"ssi": 1.0, "rgrad": 0.1 * trial}, f"h{trial}", env)
    text = _provenance(
        write_report(uri, "envs", tmp_path, log_to_parent=False, figures=False, split=VAL).markdown
    )
    assert f"| `{ENV_TORCH}` | {torch.__version__} | {torch.__version__} |" in text
    assert f"| `{ENV_CPU_CAPABILITY}` | {torch.backends.cpu.get_cpu_capability()} |" in text
    assert "A (2 runs) | B (1 run)" in text
    assert (
        f"⚠ Mixed environments: the counted runs come from 2 environments, which differ in `{ENV_THREADS}`;"
        in text
    )
    assert "- A: trial-0, trial-1" in text and "- B: trial-2" in text


def test_one_environment_is_named_without_a_warning(uri: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=uri)
    exp_id, parent = _parent(client, "oneenv", "search")
    for trial in range(2):
        _child(client, exp_id, parent, "oneenv", trial, {"ssi": 1.0, "rgrad": 0.1 * trial}, f"h{trial}",
               environment_tags())  # fmt: skip
    text = _provenance(
        write_report(uri, "oneenv", tmp_path, log_to_parent=False, figures=False, split=VAL).markdown
    )
    assert "A (2 runs)" in text and f"| `{ENV_MKL}` |" in text and "⚠" not in text
