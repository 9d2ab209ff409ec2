"""study/launcher: the config group composes with +study=<name>, and a bad setting is one line naming the key."""

from __future__ import annotations

import pytest

from g2core.config import ConfigError, compose
from g2core.study.launch import settings
from g2core.study.spec import load_spec


def spec(*overrides: str):
    return load_spec(compose(["+study=loss_terms", "paths.root=/tmp/g2", *overrides], "ablate"))


def test_local_by_default_and_each_launcher_with_its_defaults() -> None:
    assert spec().launcher == {"name": "local"}
    ray = spec("study/launcher=ray", "study.launcher.address=auto", "study.launcher.resources.gpu=1")
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
