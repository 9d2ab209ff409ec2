"""evaluate.py on real 480x640 frames scores each frame whole by default and says what it scored; a size
given on the command line is scored as before, and said so (issue 24, point 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from g2core import names
from g2core.config import compose
from g2core.evaluation.command import evaluate_checkpoint
from g2core.evaluation.frame_size import scored_frames
from g2core.models import build_model
from tests.conftest import REAL_FRAMES, REPO, tiny

FRAMES = REAL_FRAMES / "pcl_kinect"  # three vendored 480x640 Kinect frames (tests/data/README.md)
DATA = ["data=h5", f"data.root={FRAMES}"]


@pytest.fixture(scope="module")
def best(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of one tiny training run (32x32 scenes, a 3-level UNet: it takes multiples of 4)."""
    from g2core.train import train

    root = tmp_path_factory.mktemp("frame") / "root"
    result = train(compose(tiny(root, "trainer.max_epochs=1", "data.n_train=8", "tracking.uri=null")))
    return result.run_dir / names.BEST_CHECKPOINT


def _evaluate(best: Path, tmp_path: Path, *extra: str) -> str:
    """experiments/evaluate.py as a user runs it; its printed table."""
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "evaluate.py"),
        f"ckpt={best}",
        f"paths.root={tmp_path}",
    ]
    run = subprocess.run([*cmd, *DATA, *extra], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _abs_rel_row(printed: str) -> str:
    return next(line for line in printed.splitlines() if line.startswith("| abs_rel "))


def test_a_480x640_frame_is_scored_whole_and_said_so(best: Path, tmp_path: Path) -> None:
    whole = _evaluate(best, tmp_path)
    assert "dataset: pcl_kinect (3 images" in whole
    assert "\nscored: each 480x640 frame whole (eval.size=frame)\n" in whole
    # eval.size=data (what evaluate.py picks when the command line sets data.height / data.width): that
    # size is scored, and the line says what it covers of the frame.
    cfg = compose(
        [
            f"ckpt={best}",
            f"paths.root={tmp_path}",
            *DATA,
            "data.height=32",
            "data.width=32",
            "eval.size=data",
        ],
        config_name="evaluate",
    )
    small = evaluate_checkpoint(cfg, "h5")
    assert small.scored.startswith("the centre 480x480 region of each 480x640 frame, resized to 32x32")
    assert f"| abs_rel ↓ | {small.scores.values['abs_rel']:.4f} |" != _abs_rel_row(whole)  # other pixels


def test_a_model_that_takes_multiples_gets_the_largest_centre_crop(tmp_path: Path) -> None:
    model = build_model("g2_unet", levels=7, features=4, in_channels=3)  # H, W multiples of 64
    data = dict(compose([f"paths.root={tmp_path}", *DATA], config_name="evaluate").data)
    sized, line = scored_frames(data, "all", model, "frame")
    assert (sized["height"], sized["width"]) == (448, 640)
    assert line.startswith("a centre 448x640 crop of each 480x640 frame") and "multiples of 64" in line
    # the test / val splits are made at the data config's size, as training made them
    same, line = scored_frames(data, "test", model, "frame")
    assert (same["height"], same["width"]) == (data["height"], data["width"]) and "as the data config" in line
