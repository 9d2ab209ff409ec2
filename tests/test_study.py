"""Studies through the real entry point: Optuna journal storage, a SQLite MLflow store, real training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from g2core import names
from g2core.design import Design
from tests.conftest import REPO, tiny

pytestmark = pytest.mark.slow

TWO_BY_TWO = ("study.variants=[ssi_only,ssi_silog]", "study.baseline=ssi_silog", "study.seeds=[0,1]")


def ablate(root: Path, *extra: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "experiments" / "ablate.py"), "+study=loss_terms", *tiny(root), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, **kwargs)


def children(root: Path, study: str = "loss_terms"):
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"g2/{study}")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("g2.role") == "parent"]
    kids = [r for r in runs if r.data.tags.get("g2.role") == "child"]
    return client, parents, kids


def finished_pairs(kids) -> Counter:
    return Counter((r.data.tags["variant"], r.data.tags["seed"]) for r in kids if r.info.status == "FINISHED")


def test_study_parent_children_tags_and_report(root: Path) -> None:
    out = ablate(root, *TWO_BY_TWO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trial 0 start" in out.stdout and "report:" in out.stdout
    client, parents, kids = children(root)
    assert len(parents) == 1 and len(kids) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.tags["study.status"] == "finished"
    assert parent.data.tags["study.baseline"] == "ssi_silog"
    for kid in kids:
        assert kid.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert kid.data.tags["study"] == "loss_terms" and kid.data.tags["trial"].isdigit()
        assert kid.info.run_name == f"{kid.data.tags['variant']}-s{kid.data.tags['seed']}"
    assert finished_pairs(kids) == Counter({(v, s): 1 for v in ("ssi_only", "ssi_silog") for s in ("0", "1")})
    # the parent says what the report says (its statistics), never one run's best/* values
    assert names.TAG_VERDICT in parent.data.tags
    assert not any(k.startswith("best/") for k in parent.data.metrics)
    assert (root / "reports" / "loss_terms" / "README.md").exists()
    assert any(a.path == "report" for a in client.list_artifacts(parent.info.run_id))
    # the same command again trains nothing
    again = ablate(root, *TWO_BY_TWO)
    assert again.returncode == 0 and "start" not in again.stdout
    assert len(children(root)[2]) == 4


def test_seeds_until_decided_adds_seeds_to_the_undecided_and_resumes(root: Path) -> None:
    """study.seeds=auto: a first round of 2 seeds, a look, a third seed for the undecided variants and the
    baseline only, the design on the parent; the same command again trains nothing and says the same."""
    auto = ("study.variants=[ssi_only,ssi_silog]", "study.baseline=ssi_silog", "study.seeds=auto",
            "study.first_seeds=2", "study.max_seeds=3", "study.equivalence_margin=0.001")  # fmt: skip
    out = ablate(root, *auto)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "4 to 6 trials" in out.stdout and "look at 2 seeds" in out.stdout
    client, parents, kids = children(root)
    pairs = finished_pairs(kids)
    assert set(pairs.values()) == {1}  # nothing trained twice
    first_look = out.stdout.split("look at 2 seeds: ", 1)[1].split("\n", 1)[0]
    if "undecided: ssi_only" in first_look:  # a 0.1% margin and 2 seeds of 8 images decide nothing here
        assert set(pairs) == {(v, s) for v in ("ssi_only", "ssi_silog") for s in ("0", "1", "2")}
        assert "look at 3 seeds" in out.stdout
    else:
        assert set(pairs) == {(v, s) for v in ("ssi_only", "ssi_silog") for s in ("0", "1")}
    parent = parents[0]
    design = Design.from_json(parent.data.tags["study.design"])
    assert design.sequential and design.looks() == [2, 3] and design.margin == 0.001
    verdict = parent.data.tags[names.TAG_VERDICT]
    # each run's checkpoint is also scored under the other relative alignment; the report decides under both
    eval_files = {a.path for a in client.list_artifacts(kids[0].info.run_id, "eval")}
    assert names.per_image_artifact("test", "scale_shift") in eval_files
    readme = (root / "reports" / "loss_terms" / "README.md").read_text()
    assert "Under each alignment, from the same checkpoints" in readme and "seeds until decided" in readme
    again = ablate(root, *auto)
    assert again.returncode == 0 and "start" not in again.stdout, again.stdout[-2000:]
    assert finished_pairs(children(root)[2]) == pairs
    assert children(root)[1][0].data.tags[names.TAG_VERDICT] == verdict
    # Optuna keeps the seed choices a study was run with: another list is one clear line, nothing trained
    other = ablate(root, *auto[:2], "study.seeds=[0,1]")
    assert (
        other.returncode != 0
        and "study.seeds: the stored study 'loss_terms' was run with seeds [0, 1, 2]" in other.stderr
    )


def test_kill_9_mid_study_then_same_command_finishes_without_duplicates(root: Path) -> None:
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        "+study=loss_terms",
        *tiny(root, "trainer.max_epochs=3"),
        *TWO_BY_TWO,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    seen = ""
    deadline = time.time() + 180
    while time.time() < deadline:  # kill inside the second trial, after its first checkpoint
        line = proc.stdout.readline()
        seen += line
        if "trial 1 start" in seen:
            time.sleep(2.0)
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "trial 1 start" in seen, seen
    out = ablate(root, "trainer.max_epochs=3", *TWO_BY_TWO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trial 0 start" not in out.stdout  # the finished trial is not trained again
    _, parents, kids = children(root)
    assert len(parents) == 1
    pairs = finished_pairs(kids)
    assert len(pairs) == 4 and set(pairs.values()) == {1}
    assert len(kids) == 4, [(k.info.run_name, k.info.status) for k in kids]


def test_two_workers_train_each_pair_exactly_once(root: Path) -> None:
    out = ablate(root, *TWO_BY_TWO, "study.workers=2")
    assert out.returncode == 0, out.stderr[-3000:]
    _, _, kids = children(root)
    pairs = finished_pairs(kids)
    assert len(pairs) == 4 and set(pairs.values()) == {1} and len(kids) == 4
    study = optuna.load_study(
        study_name="loss_terms",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(
                str(root / "studies" / "loss_terms" / "optuna.journal")
            )
        ),
    )
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert Counter((t.params["variant"], t.params["seed"]) for t in complete) == Counter(
        {(v, s): 1 for v in ("ssi_only", "ssi_silog") for s in (0, 1)}
    )


def test_weight_search_with_pruning(root: Path) -> None:
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        "+study=weight_search",
        *tiny(root, "trainer.max_epochs=3"),
        "study.n_trials=5",
        "study.pruner_warmup_epochs=1",  # the shipped default (6) never prunes at the default 6 epochs
        "study.confirm=false",  # the search alone (tests/test_confirm.py: its confirmation)
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    client, parents, kids = children(root, "weight_search")
    assert len(kids) == 5
    assert {k.data.params["loss.weights.ssi"] for k in kids}.__len__() == 5  # TPE sampled distinct weights
    assert parents[0].data.tags["study.kind"] == "search"
    tags = parents[0].data.tags
    assert "not a tested difference" in tags[names.TAG_BEST_TRIAL]  # the best trial stays one trial
    for term in ("ssi", "silog", "rgrad"):  # with the weights it was trained with
        assert f"{names.TAG_BEST_TRIAL}.{names.weight_param(term)}" in tags
    report = root / "reports" / "weight_search"
    assert (report / "search_history.png").exists() and (report / "README.md").exists()


def test_a_failing_trial_does_not_stop_the_study(root: Path, tmp_path: Path) -> None:
    presets = tmp_path / "conf" / "experiment"
    presets.mkdir(parents=True)
    (presets / "diverges.yaml").write_text(
        "# @package _global_\nvariant: diverges\noptim:\n  lr: 1.0e30\n"
        "loss:\n  weights: {adepth: 0, rdepth: 0, rgrad: 0, ssi: 0.5, gm: 0, silog: 0.5}\n"
    )
    out = ablate(
        root,
        "study.variants=[diverges,ssi_silog]",
        "study.baseline=ssi_silog",
        "study.seeds=[0]",
        env={"G2_CONF_PATH": str(tmp_path / "conf")},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "FAILED: diverges-s0" in out.stdout
    _, parents, kids = children(root)
    status = {k.info.run_name: k.info.status for k in kids}
    assert status == {"diverges-s0": "FAILED", "ssi_silog-s0": "FINISHED"}
    failed = next(k for k in kids if k.info.run_name == "diverges-s0")
    assert "non-finite" in failed.data.tags["g2.failure"]
    assert parents[0].data.tags["study.status"] == "running"  # a gap remains, and the report says so
    assert "diverges" in (root / "reports" / "loss_terms" / "README.md").read_text()


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (("study.variants=[]",), "study.variants"),
        (("study.variants=[nope]",), "study.variants"),
        (("study.baseline=grad_a",), "study.baseline"),
        (("study.seeds=[]",), "study.seeds"),
        (("study.name=../evil",), "study.name"),
        (("study.storage=postgresql+psycopg://u:pw@127.0.0.1:1/optuna",), "study.storage"),
        (("tracking.uri=http://127.0.0.1:9",), "tracking.uri"),
    ],
)
def test_bad_study_is_one_clear_line_and_trains_nothing(extra: tuple[str, ...], key: str, root: Path) -> None:
    out = ablate(root, *extra)
    assert out.returncode != 0 and key in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "pw@" not in out.stderr
    assert not (root / "runs").exists() and not (root / "studies" / "loss_terms" / "runs").exists()


def _store(root: Path) -> dict[str, bytes]:
    """Every byte of the MLflow store and the Optuna journal (read without opening either)."""
    files = [root / "mlflow.db", root / "studies" / "loss_terms" / "optuna.journal"]
    return {str(f): f.read_bytes() for f in files}


def test_a_study_keeps_one_set_of_settings(root: Path) -> None:
    one = ("study.variants=[ssi_only]", "study.baseline=ssi_only", "study.seeds=[0]", "trainer.max_epochs=1")
    first = ablate(root, *one)
    assert first.returncode == 0, first.stderr[-3000:]
    # Keys that do not change what a trial learns resume the study: nothing trains again.
    same = ablate(root, *one, "study.max_failures=5", "trainer.progress=true")
    assert same.returncode == 0 and " start: " not in same.stdout, same.stdout + same.stderr[-3000:]
    before = _store(root)
    # The command as a user types it: one line, exit status 2, nothing trained or written.
    out = ablate(root, *one, "trainer.max_epochs=2")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "trainer.max_epochs (1 then, 2 now)" in lines[0] and "study.name=loss_terms_" in lines[0]
    assert " start: " not in out.stdout and _store(root) == before
    # The other refusals through run_study itself (the entry point's one-line rendering is checked above).
    from g2core.config import ConfigError, compose
    from g2core.study import run_study

    refused = {"seed=3": "study.seeds", "experiment=midas": "study.variants", "variant=x": "study.variants"}
    for extra, says in refused.items():
        overrides = [*tiny(root), *one, extra]
        cfg = compose(["+study=loss_terms", *overrides], config_name="ablate")
        with pytest.raises(ConfigError, match=says):
            run_study(cfg, [o for o in overrides if not o.startswith("study.")])
        assert _store(root) == before, extra
    _, parents, kids = children(root)
    assert len(parents) == 1 and [k.info.run_name for k in kids] == ["ssi_only-s0"]
    # The suggested study is a separate one, trained with the new settings beside the first.
    name = lines[0].split("study.name=")[-1].strip()
    assert name == "loss_terms_max_epochs2", name
    other = ablate(root, *one, "trainer.max_epochs=2", f"study.name={name}")
    assert other.returncode == 0 and "trial 0 start" in other.stdout, other.stderr[-3000:]


def _trial(state, started: float, ended: float | None = None, idle: bool = False):
    from datetime import datetime

    from optuna.trial import FrozenTrial

    return FrozenTrial(
        number=0,
        state=state,
        value=0.1 if state == optuna.trial.TrialState.COMPLETE else None,
        datetime_start=datetime.fromtimestamp(started),
        datetime_complete=datetime.fromtimestamp(ended) if ended else None,
        params={},
        distributions={},
        user_attrs={names.ATTR_IDLE: True} if idle else {},
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )


def test_study_eta_comes_from_measured_trial_times() -> None:
    from optuna.trial import TrialState

    from g2core.study.progress import study_eta

    now = 1000.0
    done = _trial(TrialState.COMPLETE, now - 200, now - 145)  # one 55-second trial
    idle = _trial(
        TrialState.PRUNED, now - 1, now - 0.5, idle=True
    )  # nothing left to take: not a trial's time
    running = _trial(TrialState.RUNNING, now - 15)
    eta = study_eta([done, idle, running], total=8, workers=1, now=now)
    # 7 trials left at 55 s, the running one 15 s in: 7 x 55 - 15 = 370 s (tqdm said 2 s/trial here)
    assert (eta.done, eta.mean_trial_s, eta.waiting) == (1, 55.0, 6) and eta.eta_s == pytest.approx(370.0)
    assert study_eta([done, running], total=8, workers=2, now=now).eta_s == pytest.approx(185.0)
    assert study_eta([running], total=8, workers=1, now=now).eta_s is None  # before the first trial ends


def test_study_summary_prints_the_comparison_verdict_report_and_ui(tmp_path: Path) -> None:
    import pandas as pd

    from g2core.report.build import ReportResult
    from g2core.study.runner import StudyResult
    from g2core.study.terminal import study_summary
    from g2core.tracking.store import default_tracking_uri

    def comparison_row(variant: str, metric: str, pct: float, mark: str) -> dict:
        base = 0.25
        return {"variant": variant, "metric": metric, "n_seeds": 2, "baseline_mean": base,
                "delta_pct": pct, "ci_low": base * (pct - 1) / 100, "ci_high": base * (pct + 1) / 100, "mark": mark}  # fmt: skip

    comparison = pd.DataFrame(
        [comparison_row("ssi_only", "abs_rel", 14.1, "▼"), comparison_row("ssi_only", "delta1", -3.0, "")]
    )
    from g2core.report.summary import Summary

    def frame(abs_rel: float, delta1: float) -> pd.DataFrame:
        return pd.DataFrame({"abs_rel": [abs_rel], "delta1": [delta1]}, index=["ssi_silog"])

    stats = Summary(
        ["ssi_silog"], frame(0.2538, 0.57), frame(0.005, 0.01), frame(2, 2), pd.Series(), pd.DataFrame()
    )
    report = ReportResult(
        tmp_path, [], "", "p1", verdict="No variant beats ssi_silog.", comparison=comparison, summary=stats
    )
    uri = default_tracking_uri(tmp_path)
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.create_experiment("g2/loss_terms")
    parent = client.create_run(experiment).info.run_id
    result = StudyResult(
        "loss_terms", parent, 4, 4, {}, tmp_path / "reports", uri, report, "val/abs_rel", True, "ssi_silog"
    )
    text = "\n".join(study_summary(result, tmp_path))
    assert "study loss_terms: 4/4 trials complete" in text
    assert "ssi_silog (baseline)" in text and "0.2538 ± 0.0050" in text
    assert "+14.1% [+13.1%, +15.1%] ▼" in text and "-3.0% [-4.0%, -2.0%]" in text
    assert "verdict: No variant beats ssi_silog." in text
    assert f"report: {tmp_path / 'reports' / 'README.md'}" in text
    assert f"MLflow UI: python -m g2core.stack ui --root {tmp_path}" in text
    # Issue 24: the parent run's page and the report as browser addresses, in the classic runs view.
    page = f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{parent}"
    assert f"MLflow parent run: {page}?workflowType=machine_learning" in text
    assert f"MLflow report: {page}/artifacts/report/report.html?workflowType=machine_learning" in text
