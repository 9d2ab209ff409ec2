"""Which default scale separates the recipes best for the time it takes (issue 13, goal 4).

`python -m benchmarks.scale_choice [--json PATH] [--only NAME ...]` runs the default study
(conf/study/loss_terms.yaml, 4 variants x 2 seeds) once per candidate (resolution, epochs) setting, each in its
own temporary root, exactly as `make run` would with those overrides, and reads the finished runs back from
MLflow. Per setting it prints:
- wall: the whole study's wall time on this machine (process start to report);
- F: between-variant spread of the test abs_rel over seed noise (one-way ANOVA F over variants, seeds as
  replicates): how well the study tells the recipes apart at this n;
- δ1 gain: mean test δ1 of all runs minus the mean-depth reference's δ1 (what the runs learned beyond
  predicting the mean depth);
- F per minute: separation bought per minute of wall time.
It takes about as long as the studies it runs (several minutes each on a 2-core CPU): not part of `make bench`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from g2core.names import (
    ROLE_CHILD,
    TAG_ROLE,
    TAG_VARIANT,
    TEST,
    metric_key,
    ref_param,
    study_experiment,
)

REPO = Path(__file__).resolve().parents[1]
STUDY = "loss_terms"


@dataclass(frozen=True)
class Candidate:
    name: str
    height: int
    epochs: int
    batch_size: int = 8
    lr: float = 1.0e-3  # batch 8's; larger batches get sqrt(batch / 8) of it

    @property
    def overrides(self) -> list[str]:
        return [
            f"data.height={self.height}",
            f"data.width={self.height}",
            f"trainer.max_epochs={self.epochs}",
            f"data.batch_size={self.batch_size}",
            f"optim.lr={self.lr}",
        ]


CANDIDATES = (
    Candidate("32x32, batch 8, 5 epochs, lr 1e-3 (the default until 2026-12-03)", 32, 5),
    Candidate("48x48, batch 8, 3 epochs, lr 1e-3", 48, 3),
    Candidate("64x64, batch 8, 2 epochs, lr 1e-3", 64, 2),
    # Fewer, fuller steps: a 32x32 image costs 0.83x as much at batch 16 as at batch 8 on a 2-core CPU
    # (0.63x at batch 32), so the same wall time buys more epochs.
    Candidate("32x32, batch 16, 6 epochs, lr 1.4e-3 (conf/scale/default.yaml)", 32, 6, 16, 1.4e-3),
    Candidate("32x32, batch 32, 8 epochs, lr 2e-3", 32, 8, 32, 2.0e-3),
)


def anova_f(groups: list[list[float]]) -> float:
    """One-way ANOVA F: between-group mean square over within-group mean square."""
    k, n = len(groups), sum(len(g) for g in groups)
    grand = statistics.fmean(v for g in groups for v in g)
    between = sum(len(g) * (statistics.fmean(g) - grand) ** 2 for g in groups) / (k - 1)
    within = sum((v - statistics.fmean(g)) ** 2 for g in groups for v in g) / (n - k)
    return between / within if within > 0 else float("inf")


def measure(candidate: Candidate, root: Path, extra: list[str]) -> dict:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    cmd = [
        sys.executable,
        "experiments/ablate.py",
        f"+study={STUDY}",
        f"paths.root={root}",
        f"tracking.uri={uri}",
        "trainer.progress=false",
        *candidate.overrides,
        *extra,
    ]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(study_experiment(STUDY))
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_ROLE}` = '{ROLE_CHILD}'")
    abs_rel: dict[str, list[float]] = {}
    delta1, ref_delta1 = [], []
    for run in runs:
        variant = run.data.tags[TAG_VARIANT]
        abs_rel.setdefault(variant, []).append(run.data.metrics[metric_key(TEST, "abs_rel")])
        delta1.append(run.data.metrics[metric_key(TEST, "delta1")])
        ref_delta1.append(float(run.data.params[ref_param("delta1")]))  # on the test split
    f = anova_f(list(abs_rel.values()))
    return {
        "setting": candidate.name,
        "wall_s": wall,
        "runs": len(runs),
        "test_abs_rel": {v: statistics.fmean(x) for v, x in sorted(abs_rel.items())},
        "F": f,
        "delta1_gain": statistics.fmean(delta1) - statistics.fmean(ref_delta1),
        "F_per_minute": f / (wall / 60),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| setting | wall (s) | F (variants over seeds, test abs_rel) | δ1 gain over mean depth | F per minute |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['wall_s']:.0f} | {r['F']:.1f} | {r['delta1_gain']:+.3f} | {r['F_per_minute']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", nargs="*", type=int, help="indices into the candidates (0-based)")
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        help="overrides for every candidate, e.g. study.seeds=[2,3] (a replicate)",
    )
    args = parser.parse_args()
    chosen = [CANDIDATES[i] for i in args.only] if args.only else list(CANDIDATES)
    rows = []
    for candidate in chosen:
        with tempfile.TemporaryDirectory(prefix="g2-scale-") as tmp:
            rows.append(measure(candidate, Path(tmp), args.extra))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
