"""The config contract (g2core.schema): every shipped config validates against it without building a model,
every key of conf/ is in it, and what it refuses is named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from g2core import models
from g2core.config import ConfigError, compose, redact, redact_url
from g2core.names import ALIGN_MODES
from g2core.schema import (
    DataConfig,
    H5Data,
    LocalLauncher,
    OptimConfig,
    RayResources,
    StudyConfig,
    SyntheticData,
    TrainConfig,
    TrainerConfig,
)
from g2core.study.spec import StudySpec, load_spec
from g2core.validate import validate_train_config
from tests.conftest import REPO, tiny

PRESETS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
GROUPS = [
    ["data=h5", "data.root=/frames"],
    ["optim=adamw"],
    ["model=g2_official", "data.height=64", "data.width=64"],
    ["scale=paper"],
]


@pytest.fixture
def no_model_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("validation built a model")

    for cls in (models.G2UNet, models.G2Official):
        monkeypatch.setattr(cls, "__init__", refuse)


@pytest.mark.parametrize("overrides", [[f"experiment={p}"] for p in PRESETS] + GROUPS, ids=str)
def test_shipped_configs_validate_without_building_a_model(
    overrides: list[str], no_model_built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretrained weights are found on disk or refused before anything runs (nothing downloads): with an
    # empty Hugging Face cache a preset that names them says how to get them; without them it validates.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = compose(overrides)
    if cfg.model.get("pretrained"):
        with pytest.raises(ConfigError, match="model.pretrained=.*hf download"):
            validate_train_config(cfg)
        cfg = compose([*overrides, "model.pretrained=null"])
    validate_train_config(cfg)


@pytest.mark.parametrize("mode", ALIGN_MODES)
def test_every_align_mode_is_accepted(mode: str) -> None:
    validate_train_config(compose([f"trainer.align={mode}"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+trainer.max_epoch=3"], "trainer.max_epoch: unknown key (no file in conf/ defines it); did you mean "
         "trainer.max_epochs?"),
        (["+model.depth=3"], "model.depth: unknown key"),  # g2_unet takes no `depth` argument
        (["model=g2_official", "+model.levels=3"], "model.levels: unknown key"),
        (["+data.val_root=/x"], "data.val_root: unknown key"),  # an h5 key, not a synthetic one
        (["data=h5"], "data.root: required for data=h5; pass data.root=/path/to/h5/folder"),
        (["trainer.compile=3"], "trainer.compile=3: expected true or false"),
        (["optim.betas=[a,0.9]"], "optim.betas[0]='a': expected a number"),
        (["trainer.threads=0"], "trainer.threads=0: must be >= 1"),
        (["model=g2_official"], "H and W must be multiples of 64 for g2_official"),
        (["loss.variant=paper"], "loss.variant='paper': expected one of seed, official"),
    ],
    ids=str,
)  # fmt: skip
def test_refusals_are_one_line(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_train_config(compose(overrides))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_tracking_tags_stay_a_free_mapping() -> None:
    validate_train_config(compose(["+tracking.tags.team=depth", "+tracking.tags.ticket=42"]))


def test_user_presets_from_g2_conf_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(
        "# @package _global_\nvariant: mine\nloss:\n  weights: {ssi: 1.0, rgrad: 0.3}\n"
    )
    (tmp_path / "experiment" / "typo.yaml").write_text("# @package _global_\ntrainer:\n  max_epoch: 3\n")
    monkeypatch.setenv("G2_CONF_PATH", str(tmp_path))
    validate_train_config(compose(tiny(tmp_path, "experiment=mine")))
    with pytest.raises(ConfigError, match="did you mean trainer.max_epochs"):
        validate_train_config(compose(["experiment=typo"]))


def test_input_size_rule_matches_the_built_model() -> None:
    for name, kwargs in [("g2_unet", {"levels": 3, "features": 8}), ("g2_official", {"in_channels": 3})]:
        assert models.input_multiple(name, **kwargs) == models.build_model(name, **kwargs).size_multiple


def test_study_spec_is_the_study_schema() -> None:
    spec = load_spec(compose(["+study=loss_terms", "study.workers=2"], config_name="ablate"))
    assert spec.workers == 2 and spec.heartbeat_s == StudySpec.heartbeat_s
    with pytest.raises(ConfigError, match="study.variant: unknown key .*did you mean study.variants"):
        load_spec(compose(["+study=loss_terms", "+study.variant=[a]"], config_name="ablate"))
    with pytest.raises(ConfigError, match="study.search_space.edge: unknown loss term"):
        load_spec(compose(["+study=weight_search", "+study.search_space.edge=[0,1]"], config_name="ablate"))


def test_schema_is_in_hydras_config_store() -> None:
    assert "train.yaml" in ConfigStore.instance().list("g2_schema")


def test_one_redactor() -> None:
    assert (
        redact_url("postgresql+psycopg://g2:s3cret@db:5432/mlflow")
        == "postgresql+psycopg://g2:***@db:5432/mlflow"
    )
    assert redact_url("http://u:p@host:5000/?token=tok&x=1") == "http://u:***@host:5000/?token=***&x=1"
    assert redact_url("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
    assert redact("tracking.tags.api_token", "abc") == "***"
    assert redact("study.storage", "postgresql://me:pw@db/o") == "postgresql://me:***@db/o"


def test_compose_merges_the_schema() -> None:
    """The dataclasses are in the defaults lists: compose types and defaults every key (issue 25)."""
    cfg = compose()
    assert OmegaConf.get_type(cfg) is TrainConfig
    for node, schema in [("trainer", TrainerConfig), ("optim", OptimConfig), ("data", SyntheticData)]:
        assert OmegaConf.get_type(cfg, node) is schema, node
    assert (cfg.data.min_depth, cfg.data.max_depth) == (DataConfig.min_depth, DataConfig.max_depth)
    assert cfg.optim.head_lr_mult == 1.0  # a default no conf/optim file writes
    assert OmegaConf.get_type(compose(["data=nyu"]), "data") is H5Data
    assert compose(["+optim.head_lr_mult=10"]).optim.head_lr_mult == 10  # `+` on a defaulted key, as before


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=abc", "trainer.max_epochs='abc': expected an integer"),
        ("data.min_depth=far", "data.min_depth='far': expected a number"),
        ("study.max_failures=x", "study.max_failures='x': expected an integer"),
    ],
)
def test_a_wrong_type_fails_at_compose_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        compose(["+study=loss_terms", override], config_name="ablate")
    assert str(info.value) == message


def test_a_presets_wrong_type_fails_at_compose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "bad.yaml").write_text("# @package _global_\ntrainer:\n  max_epochs: many\n")
    monkeypatch.setenv("G2_CONF_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"^trainer.max_epochs='many': expected an integer$"):
        compose(["experiment=bad"])


def test_a_study_composes_with_its_base_keys_typed() -> None:
    """The keys every study shares are written once (StudyConfig, conf/ablate.yaml), not in each study."""
    for name in ("g2_terms", "weight_search"):
        cfg = compose([f"+study={name}"], config_name="ablate")
        assert OmegaConf.get_type(cfg, "study") is StudyConfig
        assert OmegaConf.get_type(cfg.study, "launcher") is LocalLauncher
        study = cfg.study
        assert (study.metric, study.direction, study.max_failures) == ("val/abs_rel", "minimize", 3)
        assert "max_failures" not in (REPO / "conf" / "study" / f"{name}.yaml").read_text()
    ray = compose(["+study=g2_terms", "study/launcher=ray"], config_name="ablate").study.launcher
    assert OmegaConf.get_type(ray, "resources") is RayResources and ray.resources.cpu == 1
