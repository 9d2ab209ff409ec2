"""The software and CPU environment that made a run's numbers, as `env.*` tags on every run.

Training on a CPU is bit-identical only with the same torch build, the same CPU kernel path (the SIMD level
torch dispatches to: AVX512, AVX2, ...) and the same thread layout; change any of them and the float sums
round differently (1e-8..1e-6 a step, amplified over epochs). Config hashes cannot see this, so two runs
whose numbers differ under one config hash are told apart by these tags (the report's provenance section
groups its runs by them).

torch, numpy and mlflow are imported inside `environment_tags`, not here: the report reads the names
below without importing torch.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path

ENV_PREFIX = "env."
ENV_PYTHON = "env.python"
ENV_NUMPY = "env.numpy"
ENV_TORCH = "env.torch"
ENV_MLFLOW = "env.mlflow"
ENV_MKL = "env.mkl"  # Intel MKL (BLAS/LAPACK) that torch was built with, or "none"
ENV_ONEDNN = "env.onednn"  # oneDNN, formerly MKL-DNN (torch.backends.mkldnn): convolutions on CPU
ENV_CPU_CAPABILITY = "env.cpu_capability"  # torch.backends.cpu.get_cpu_capability(): the kernel path
ENV_CPU = "env.cpu"  # the CPU model
ENV_CPUS = "env.cpus"  # CPUs this process may run on
ENV_THREADS = "env.threads"  # torch.get_num_threads(): intra-op threads, the split of every reduction
ENV_INTEROP_THREADS = "env.interop_threads"
ENV_OS = "env.os"
ENV_GPU = "env.gpu"  # only where torch sees a CUDA device: its name, CUDA and cuDNN versions

# The order the report lists them in: what decides bit-exactness first.
ENV_KEYS = (
    ENV_TORCH,
    ENV_MKL,
    ENV_ONEDNN,
    ENV_CPU_CAPABILITY,
    ENV_CPU,
    ENV_THREADS,
    ENV_INTEROP_THREADS,
    ENV_CPUS,
    ENV_GPU,
    ENV_PYTHON,
    ENV_NUMPY,
    ENV_MLFLOW,
    ENV_OS,
)
NONE = "none"


def _cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux; platform's answer elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith(("model name", "Model")) and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # a container or taskset may allow fewer than the machine has
    except (AttributeError, OSError):
        return os.cpu_count() or 0


def _build_versions(config: str) -> tuple[str, str]:
    """(MKL, oneDNN) versions from torch.__config__.show(): torch exposes no other way to read them."""
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", config)
    onednn = re.search(r"(?:MKL-DNN|oneDNN) v([\w.]+)", config)
    return (mkl.group(1) if mkl else NONE), (onednn.group(1) if onednn else NONE)


@functools.cache
def _static() -> dict[str, str]:
    """What cannot change while the process runs (the thread counts can: read each time)."""
    import mlflow
    import numpy
    import torch

    mkl, onednn = _build_versions(torch.__config__.show())
    return {
        ENV_PYTHON: platform.python_version(),
        ENV_NUMPY: numpy.__version__,
        ENV_TORCH: torch.__version__,
        ENV_MLFLOW: mlflow.__version__,
        ENV_MKL: mkl if torch.backends.mkl.is_available() else NONE,
        ENV_ONEDNN: onednn if torch.backends.mkldnn.is_available() else NONE,
        ENV_CPU_CAPABILITY: torch.backends.cpu.get_cpu_capability(),
        ENV_CPU: _cpu_model(),
        ENV_CPUS: str(_cpus()),
        ENV_OS: platform.platform(),
    }


def _gpu() -> dict[str, str]:
    """The visible GPU, named only once this process has initialised CUDA: asking for the name would
    initialise it, and a study's driver that did so could no longer fork its workers."""
    import torch

    if not torch.cuda.is_available():
        return {}
    cuda = f"CUDA {torch.version.cuda}"
    if not torch.cuda.is_initialized():
        return {ENV_GPU: f"{torch.cuda.device_count()} visible, {cuda}"}
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {ENV_GPU: f"{torch.cuda.get_device_name()}, {cuda}, cuDNN {cudnn or NONE}"}


def environment_tags() -> dict[str, str]:
    """The `env.*` tags of this process: library versions, CPU model and kernel path, thread layout.

    Called when a run is opened, after the trainer set its thread count (trainer.threads).
    """
    import torch

    return {
        **_static(),
        **_gpu(),
        ENV_THREADS: str(torch.get_num_threads()),
        ENV_INTEROP_THREADS: str(torch.get_num_interop_threads()),
    }
