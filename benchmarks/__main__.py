"""`python -m benchmarks [--quick] [--only NAME ...] [--json PATH]`: run the suite, print a markdown table, write JSON.

Sections (one module each): trainer, lightning, logging, loss_cost, data, study, study_design, test_split, trial_costs,
flop_bound, levers, gpu.
Every comparison runs both sides in this process (or this invocation), alternating, and reports the median of the
per-round ratios with their min-max. `--quick` is a smoke run (a few steps each; what the test runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks import (
    data_throughput,
    flop_bound,
    gpu,
    lightning_cmp,
    logging_cost,
    loss_cost,
    speed_levers,
    study_design,
    study_throughput,
    test_split_cost,
    trainer_overhead,
    trial_costs,
)
from benchmarks._common import Section, Settings, fmt

SECTIONS: dict[str, Callable[[Settings], Section]] = {
    "trainer": trainer_overhead.run,
    "lightning": lightning_cmp.run,
    "logging": logging_cost.run,
    "loss_cost": loss_cost.run,
    "data": data_throughput.run,
    "study": study_throughput.run,
    "study_design": study_design.run,
    "test_split": test_split_cost.run,
    "trial_costs": trial_costs.run,
    "flop_bound": flop_bound.run,
    "levers": speed_levers.run,
    "gpu": gpu.run,
}
DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def markdown(sections: dict[str, Section]) -> str:
    lines = [
        "| section | measure | A | B | A median | B median | unit | ratio (median) | min-max | rounds | goal |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, section in sections.items():
        if section.skipped or section.error:
            lines.append(f"| {name} | {section.error or section.skipped} | | | | | | | | | |")
            continue
        for row in section.rows:
            s = row.summary()
            goal = f"{row.goal} {'met' if row.met else 'NOT met'}" if row.goal else ""
            lines.append(
                f"| {name} | {row.measure} | {row.a_label} | {row.b_label} | {fmt(s['a_median'])} | "
                f"{fmt(s['b_median'])} | {row.unit} | {fmt(s['ratio_median'])} ({row.ratio_label}) | "
                f"{fmt(s['ratio_min'])}-{fmt(s['ratio_max'])} | {s['rounds']} | {goal} |"
            )
    return "\n".join(lines)


def _finite(data: Any) -> Any:
    """JSON has no NaN/Infinity: such values become null (the test then flags them)."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps each (a smoke run, < 1 minute)")
    parser.add_argument(
        "--only", nargs="+", choices=list(SECTIONS), default=None, help="run these sections only"
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where to write results (default {DEFAULT_JSON})"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the in-process sections (default: torch's own, as the trainer)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(quick=args.quick)
    names = args.only or list(SECTIONS)
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "load_avg_before": [round(v, 2) for v in os.getloadavg()],
        "command": "python -m benchmarks"
        + (" --quick" if args.quick else "")
        + (f" --only {' '.join(args.only)}" if args.only else "")
        + (f" --threads {args.threads}" if args.threads else ""),
    }
    sections: dict[str, Section] = {}
    for name in names:
        print(f"== {name} ...", flush=True)
        sections[name] = _run_section(name, settings, sections)
        print(f"== {name}: {sections[name].seconds:.0f}s", flush=True)
        # Written after every section: a long run interrupted late keeps what it measured.
        result = _write(args.json, meta, sections, complete=name == names[-1])
    print(result["table_markdown"])
    print(f"wrote {args.json}")
    return result


def _run_section(name: str, settings: Settings, earlier: dict[str, Section]) -> Section:
    start = time.perf_counter()
    load = os.getloadavg()[0]
    try:
        # flop_bound sets the study section's measured wall time against its FLOP limit when both ran
        section = flop_bound.run(settings, earlier) if name == "flop_bound" else SECTIONS[name](settings)
    except Exception as exc:  # one broken comparison must not cost the others' numbers
        traceback.print_exc()
        section = Section(name, name, error=f"{type(exc).__name__}: {exc}"[:2000])
    section.seconds = time.perf_counter() - start
    section.extra.setdefault("load_avg_1min_at_start", round(load, 2))
    section.extra.setdefault("load_avg_1min_at_end", round(os.getloadavg()[0], 2))
    return section


def _write(path: Path, meta: dict[str, Any], sections: dict[str, Section], complete: bool) -> dict[str, Any]:
    table = markdown(sections)
    result = {
        "meta": {**meta, "complete": complete, "load_avg_after": [round(v, 2) for v in os.getloadavg()]},
        "sections": {name: section.to_json() for name, section in sections.items()},
        "table_markdown": table,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(result), indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
