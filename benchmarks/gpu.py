"""Section 7: the paper scale on a GPU: images/s, peak memory and model FLOPs utilisation (MFU).

`python -m benchmarks.gpu [--steps N] [--peak-tflops T] [--json PATH]` (or `python -m benchmarks --only gpu`).
Model g2_unet features 64, 7 levels, 5 input channels, batch 8, at 320x320 and 448x640 (the largest size
near 480x640 that 7 levels take), a full training step (forward, g2_full loss, backward, fused Adam) under
bf16 autocast, with and without `torch.compile` and `channels_last`. FLOPs of one step are counted with
`torch.utils.flop_counter.FlopCounterMode` (matmul/conv FLOPs, forward + backward); MFU = FLOPs/s over the
GPU's dense bf16 peak. Without CUDA it prints "no CUDA device: skipped".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks._common import Section, Settings
from g2core.losses import create_loss
from g2core.models import build_model

SIZES = ((320, 320), (448, 640))
BATCH = 8
# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, by substring of torch.cuda.get_device_name().
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "V100": 125.0,
}


def bf16_peak_tflops(name: str) -> float | None:
    for key, peak in BF16_PEAK_TFLOPS.items():  # dict order: the more specific names first
        if key in name:
            return peak
    return None


def _step_fn(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]):
    loss_fn = create_loss(weights={"adepth": 1.0, "rdepth": 1.0, "rgrad": 0.5})

    def step() -> None:
        with torch.autocast("cuda", torch.bfloat16):
            pred = model(batch["x"])
        total, _ = loss_fn(pred.float(), batch["depth"], batch["mask"])
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    return step


def step_flops(height: int, width: int) -> int:
    """Forward + backward FLOPs of one batch (counted in fp32 on whatever device there is; dtype-independent)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build_model("g2_unet", features=64, levels=7, in_channels=5).to(device)
    x = torch.randn(BATCH, 5, height, width, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x).mean().backward()
    return int(counter.get_total_flops())


def measure(
    height: int,
    width: int,
    compile_model: bool,
    channels_last: bool,
    steps: int,
    flops: int,
    peak: float | None,
) -> dict[str, Any]:
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = build_model("g2_unet", features=64, levels=7, in_channels=5).to(device)
    x = torch.randn(BATCH, 5, height, width, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net = torch.compile(model) if compile_model else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    batch = {
        "x": x,
        "depth": 0.5 + 9 * torch.rand(BATCH, 1, height, width, device=device),
        "mask": torch.rand(BATCH, 1, height, width, device=device) > 0.1,
    }
    step = _step_fn(net, optimizer, batch)
    warmup_start = time.perf_counter()
    for _ in range(3):  # compilation (when on) and cuDNN autotuning happen here
        step()
    torch.cuda.synchronize()
    warmup = time.perf_counter() - warmup_start
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    achieved = flops / seconds / 1e12
    return {
        "size": f"{height}x{width}",
        "compile": compile_model,
        "channels_last": channels_last,
        "ms_per_step": 1000 * seconds,
        "images_per_s": BATCH / seconds,
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
        "tflops_achieved": achieved,
        "mfu": achieved / peak if peak else None,
        "warmup_s": warmup,
    }


def run(settings: Settings, peak_tflops: float | None = None) -> Section:
    section = Section("gpu", "GPU, paper scale (features 64, 7 levels, batch 8), bf16 autocast")
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        section.skipped = "no CUDA device: skipped (run `python -m benchmarks.gpu` on a GPU machine)"
        return section
    name = torch.cuda.get_device_name()
    peak = peak_tflops or bf16_peak_tflops(name)
    torch.backends.cudnn.benchmark = True
    steps = settings.pick(3, 20)
    results = []
    for height, width in SIZES:
        flops = step_flops(height, width)
        for compile_model in (False, True):
            for channels_last in (False, True):
                result = measure(height, width, compile_model, channels_last, steps, flops, peak)
                result["gflops_per_step"] = flops / 1e9
                results.append(result)
                print(json.dumps(result), flush=True)
                torch.cuda.empty_cache()
    section.extra.update(device=name, bf16_peak_tflops=peak, torch=torch.__version__, results=results)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 timed steps per configuration instead of 20")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, if not known"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    section = run(Settings(quick=args.quick), args.peak_tflops)
    if args.json and not section.skipped:
        args.json.write_text(json.dumps(section.to_json(), indent=2) + "\n")
    for result in section.extra.get("results", []):
        mfu = f"{result['mfu']:.1%}" if result["mfu"] is not None else "n/a"
        print(
            f"| {result['size']} | compile={result['compile']} | channels_last={result['channels_last']} | "
            f"{result['images_per_s']:.1f} img/s | {result['peak_mem_gib']:.1f} GiB | MFU {mfu} |"
        )


if __name__ == "__main__":
    main()
