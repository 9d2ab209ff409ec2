"""Does the weight search earn its keep against a full grid? (issue 13, goal 5)

`python -m benchmarks.search_vs_grid [--json PATH] [--cache PATH] [--seeds N] [--quick]` trains a grid over
the weight_search space (ssi and silog at 4 levels, rgrad at 3, ranges from conf/study/weight_search.yaml),
each point as a search trial is trained (base variant, the study's overrides, seed 0, the default scale, every
epoch), two at a time with one torch thread each, caching every finished point (--cache: a rerun skips it).
Then it replays Optuna searches on the grid, --seeds search seeds per sampler + pruner setting: a trial
proposes a grid point (an ordered integer per term), reports its recorded val/abs_rel after each epoch and
stops when pruned; a pruned trial costs the epochs it ran. It prints:
- the target: test abs_rel of the point the grid selects by val/abs_rel; the grid's minimum; the Spearman
  agreement of val and test over the grid; proportional-weight twins (noise); the grid's wall time;
- per setting and tolerance (2%: the goal; 5%: the noise): trial-epochs until the search's own val-selected
  trial is within it of the target, as a share of the grid's (median, p25-p75 over all seeds, "not
  reached" counting as infinite), how many seeds get there by 40% and by 48 trials, and with the study's
  n_trials (12) how often the final pick is within it.
Not part of `make bench`: the grid takes about 40 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
from omegaconf import DictConfig
from scipy.stats import spearmanr

from benchmarks._search_replay import TOLERANCES, evaluate, point_key, settings, table
from g2core.config import compose
from g2core.names import TEST, metric_key, strip_split
from g2core.study.plan import TrialPlan, trial_config
from g2core.study.spec import StudySpec, load_spec

STUDY = "weight_search"
LEVELS = {"ssi": 4, "silog": 4, "rgrad": 3}
QUICK_LEVELS = {"ssi": 2, "silog": 2, "rgrad": 1}
QUICK = ["trainer.max_epochs=2", "data.n_train=32", "data.n_val=8", "data.n_test=8"]
QUICK += ["model.features=8", "model.levels=3"]


def study_spec() -> StudySpec:
    return load_spec(compose([f"+study={STUDY}"], config_name="ablate"))


def lattice(spec: StudySpec, quick: bool) -> dict[str, list[float]]:
    """Grid values per searched term: linspace over the study's range."""
    levels = QUICK_LEVELS if quick else LEVELS
    return {
        t: [round(float(v), 4) for v in np.linspace(lo, hi, levels[t])]
        for t, (lo, hi) in spec.search_space.items()
    }


def point_config(spec: StudySpec, weights: dict[str, float], root: Path, quick: bool) -> DictConfig:
    """A grid point's run: a weight_search trial's config (`trial_config`) in its own root, one thread."""
    local = [f"paths.root={root}", f"tracking.uri=sqlite:///{root / 'mlflow.db'}", "trainer.resume=false"]
    plan = TrialPlan(spec, (*local, *(QUICK if quick else [])), parent_run_id="", storage_url="", threads=1)
    return trial_config(plan, spec.variants[0], spec.seeds[0], "grid-point", None, weights)


def scale_of(cfg: DictConfig) -> dict:
    """What a grid point's numbers depend on besides its weights: one cache never mixes two of these."""
    model, data = cfg.model, cfg.data
    return {
        "model": [model.features, model.levels],
        "size": [data.height, data.width, data.n_train],
        "batch_size": data.batch_size,
        "epochs": cfg.trainer.max_epochs,
        "lr": cfg.optim.lr,
    }


def train_point(job: tuple[dict[str, float], bool]) -> dict:
    """One grid point, trained in a fresh root as a weight_search trial would be: val per epoch, test of best."""
    from mlflow import MlflowClient

    from g2core.train import TrainHooks, train

    weights, quick = job
    spec = study_spec()
    vals: list[float] = []
    with tempfile.TemporaryDirectory(prefix="g2-grid-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        hooks = TrainHooks(on_validation=lambda epoch, m: vals.append(float(m[spec.metric])))
        result = train(point_config(spec, weights, root, quick), hooks)
        wall = time.perf_counter() - start
        test = MlflowClient(f"sqlite:///{root / 'mlflow.db'}").get_run(result.run_id).data.metrics
    return {
        "weights": weights,
        "val": vals,
        "best_val": result.best[strip_split(spec.metric)],
        "test_abs_rel": test[metric_key(TEST, "abs_rel")],
        "test_delta1": test[metric_key(TEST, "delta1")],
        "wall_s": wall,
    }


def train_grid(spec: StudySpec, cache: Path, quick: bool) -> dict:
    """Every grid point's record, trained two at a time; the cache is rewritten after each point."""
    grid = lattice(spec, quick)
    scale = scale_of(point_config(spec, {}, Path(tempfile.gettempdir()), quick))
    fresh = {"grid": grid, "scale": scale, "points": {}, "elapsed_s": 0.0}
    data = json.loads(cache.read_text()) if cache.exists() else fresh
    if data["grid"] != grid:
        raise SystemExit(f"{cache} holds another grid ({data['grid']}); pass another --cache")
    todo = {
        point_key(ix): {t: grid[t][i] for t, i in zip(grid, ix, strict=True)}
        for ix in np.ndindex(*map(len, grid.values()))
    }
    todo = {k: w for k, w in todo.items() if k not in data["points"]}
    if not todo:
        return data
    if data["scale"] != scale:
        raise SystemExit(
            f"{cache} was trained at {data['scale']}, today's default scale is {scale}: one grid must not mix "
            "the two; pass --cache NEW.json to train a grid at today's scale"
        )
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.imap(train_point, [(w, quick) for w in todo.values()])
        for n, (key, record) in enumerate(zip(todo, results, strict=True), 1):
            data["points"][key] = record
            data["elapsed_s"] += time.perf_counter() - start
            start = time.perf_counter()
            cache.write_text(json.dumps(data, indent=1))
            print(
                f"[{time.strftime('%H:%M:%S')}] point {key} ({n}/{len(todo)}): val {record['best_val']:.4f} test {record['test_abs_rel']:.4f} in {record['wall_s']:.0f}s",
                flush=True,
            )
    return data


def scale_twins(points: dict) -> list[dict]:
    """Grid points whose weights are proportional: the same recipe up to the loss's scale, which Adam (no weight
    decay, no clipping: the default optimiser) all but ignores, so their spread is run-to-run noise."""
    groups: dict[tuple, list[dict]] = {}
    for r in points.values():
        w = np.array(list(r["weights"].values()))
        groups.setdefault(tuple(np.round(w / w.sum(), 2)), []).append(r)
    return [
        {"weights": [g["weights"] for g in rs], "test_abs_rel": [g["test_abs_rel"] for g in rs]}
        for rs in groups.values()
        if len(rs) > 1
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache", type=Path, help="finished grid points (default: beside this file)")
    parser.add_argument("--seeds", type=int, default=50, help="search seeds per setting")
    parser.add_argument("--quick", action="store_true", help="a 2x2x1 grid of tiny 2-epoch runs (smoke test)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    spec = study_spec()
    shipped, tmp = Path(__file__).with_name("search_vs_grid-cache.json"), Path(tempfile.gettempdir())
    cache = args.cache or (tmp / "search_vs_grid-quick.json" if args.quick else shipped)
    data = train_grid(spec, cache, args.quick)
    points, sizes = data["points"], [len(v) for v in data["grid"].values()]
    epochs = len(next(iter(points.values()))["val"])
    chosen = min(points.values(), key=lambda r: r["best_val"])
    target = chosen["test_abs_rel"]
    val, test = zip(*((r["best_val"], r["test_abs_rel"]) for r in points.values()), strict=True)
    summary = {
        "grid": data["grid"],
        "scale": data["scale"],
        "points": len(points),
        "epochs": epochs,
        "grid_trial_epochs": len(points) * epochs,
        "grid_wall_s": data["elapsed_s"],
        "point_wall_s_median": statistics.median(r["wall_s"] for r in points.values()),
        "target_test_abs_rel": target,
        "target_weights": chosen["weights"],
        "target_val_abs_rel": chosen["best_val"],
        "grid_min_test_abs_rel": min(test),
        "spearman_val_test": float(spearmanr(val, test).statistic),
        "spearman_epoch_vs_final_val": [
            float(spearmanr([min(r["val"][: e + 1]) for r in points.values()], val).statistic)
            for e in range(epochs)
        ],
        "points_within": {f"{t - 1:.0%}": sum(v <= t * target for v in test) for t in TOLERANCES},
        "scale_twins": scale_twins(points),
        "metric": spec.metric + " (search) / " + metric_key(TEST, "abs_rel") + " (target)",
    }
    print(json.dumps(summary, indent=1), flush=True)
    rows = []
    for setting in settings(spec, epochs):
        rows.append(evaluate(setting, points, sizes, args.seeds, epochs, target, spec.n_trials))
        print(json.dumps(rows[-1]), flush=True)
    for tol in TOLERANCES:
        print(table(rows, tol))
    if args.json:
        args.json.write_text(json.dumps({**summary, "settings": rows, "n_seeds": args.seeds}, indent=2))


if __name__ == "__main__":
    main()
