"""Shared fixtures: a private project root per test (data cache, MLflow store, studies, reports) and the
small scale that keeps CPU tests fast."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Everything the tests read is vendored in tests/data (its README says where each file comes from).
DATA = REPO / "tests" / "data"
REFERENCE = DATA / "reference"
REAL_FRAMES = DATA / "real"
# Optional extra source: a shared/ folder beside the checkout adds its larger real-frame sample.
SHARED = REPO.parent / "shared"
SHARED_REAL_FRAMES = SHARED / "data" / "real"


def tiny(root: Path | str, *extra: str) -> list[str]:
    """Overrides for a run that takes seconds on a 2-core CPU: 32x32 scenes, a 3-level UNet, 2 epochs."""
    return [
        f"paths.root={root}",
        "data.n_train=32",
        "data.n_val=8",
        "data.n_test=8",
        "data.height=32",
        "data.width=32",
        "data.batch_size=8",
        "model.features=8",
        "model.levels=3",
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=2",
        "trainer.num_samples=2",
        "trainer.progress=false",
        *extra,
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # A user's environment must never redirect a test's files or runs.
    for name in ("G2_ROOT", "G2_CONF_PATH", "G2_STUDY_STORAGE", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
