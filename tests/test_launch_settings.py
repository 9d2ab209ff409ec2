"""study/launcher: the config group composes with +study=<name>, and a bad setting is one line naming the key."""

from __future__ import annotations

import pytest

from g2core.config import ConfigError, compose
from g2core.study.launch import settings
from g2core.study.spec import load_spec


def spec(*overrides: str):
    return load_spec(compose(["+study=loss_terms", "paths.root=/tmp/g2", *overrides], "ablate"))


def test_auto_workers_fill_this_machine_locally_and_are_refused_on_a_scheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.delenv("G2_STUDY_WORKERS", raising=False)  # the tests' one-worker default (conftest)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert spec().workers == 2  # loss_terms: workers auto, 8 trials, 2 cores: one 1-thread worker per core
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert spec().workers == 8  # never more workers than the study's 4 variants x 2 seeds
    assert spec("study.variants=[baseline]", "study.baseline=baseline", "study.seeds=[0]").workers == 1
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert spec().workers == 4 and spec("+study.procs_per_trial=2").workers == 2  # one per GPU (group)
    with pytest.raises(
        ConfigError, match="study.workers=auto: with study/launcher=ray, say how many Ray tasks"
    ):
        spec("study/launcher=ray")


def test_local_by_default_and_each_launcher_with_its_defaults() -> None:
    assert spec().launcher == {"name": "local"}
    ray = spec(
        "study/launcher=ray",
        "study.launcher.address=auto",
        "study.launcher.resources.gpu=1",
        "study.workers=2",
    )
    assert ray.launcher["address"] == "auto" and ray.launcher["resources"] == {"cpu": 1, "gpu": 1}
    slurm = spec("study/launcher=slurm", "study.launcher.partition=gpu", "study.workers=4")
    assert slurm.launcher["partition"] == "gpu" and slurm.workers == 4
    assert slurm.launcher["folder"] == "/tmp/g2/studies/loss_terms/slurm"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("study.launcher.name=k8s",), "study.launcher.name='k8s': expected one of local, ray, slurm"),
        (("study/launcher=ray", "study.launcher.address=somewhere"), "study.launcher.address='somewhere'"),
        (("study/launcher=ray", "study.launcher.resources.cpu=0"), "study.launcher.resources.cpu=0"),
        (("study/launcher=slurm", "study.launcher.cluster=pbs"), "study.launcher.cluster='pbs'"),
        (("study/launcher=slurm", "study.launcher.time_min=0"), "study.launcher.time_min=0"),
        (("study/launcher=slurm", "+study.launcher.time=10"), "study.launcher.time: unknown key"),
    ],
)
def test_bad_launcher_setting_names_the_key(overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as info:
        spec(*overrides)
    assert "\n" not in str(info.value)


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(settings.PACKAGES, "ray", ("g2_no_such_package", "ray"))
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[ray\]'"):
        spec("study/launcher=ray")
