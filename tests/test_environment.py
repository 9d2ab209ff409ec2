"""Every run records the environment that made its numbers (issue 24, point 8): torch build, MKL, oneDNN,
the CPU kernel path, the CPU and the thread layout the run trained with, as `env.*` tags."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy
import torch
from mlflow import MlflowClient

from g2core.config import compose
from g2core.tracking.environment import (
    ENV_CPU,
    ENV_CPU_CAPABILITY,
    ENV_INTEROP_THREADS,
    ENV_MKL,
    ENV_MLFLOW,
    ENV_NUMPY,
    ENV_ONEDNN,
    ENV_PYTHON,
    ENV_THREADS,
    ENV_TORCH,
)
from g2core.train import train
from tests.conftest import tiny


def test_a_run_records_its_environment(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:  # trainer.threads=1: the tag must say what the run trained with, not the process's default
        result = train(compose(tiny(tmp_path, "trainer.max_epochs=1", "trainer.threads=1")))
    finally:
        torch.set_num_threads(threads)
    tags = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(result.run_id).data.tags
    assert tags[ENV_TORCH] == torch.__version__
    assert tags[ENV_NUMPY] == numpy.__version__ and tags[ENV_MLFLOW] == mlflow.__version__
    assert tags[ENV_PYTHON].count(".") == 2
    assert tags[ENV_CPU_CAPABILITY] == torch.backends.cpu.get_cpu_capability()
    assert tags[ENV_THREADS] == "1" and int(tags[ENV_INTEROP_THREADS]) >= 1
    assert tags[ENV_CPU] and tags[ENV_CPU] != "unknown"
    # This CPU build of torch ships both; the version is what changes kernels between builds.
    assert tags[ENV_MKL][:2] == "20" if torch.backends.mkl.is_available() else tags[ENV_MKL] == "none"
    assert (
        tags[ENV_ONEDNN][0].isdigit() if torch.backends.mkldnn.is_available() else tags[ENV_ONEDNN] == "none"
    )
