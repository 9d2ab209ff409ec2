"""Where every number comes from: links to each run and its selected checkpoint, config hashes, git commits,
the environments (torch build, CPU, threads) that ran them.

A tracking server (http[s]://) gets links into its UI; a file or database store gets the artifact's own URI
(file://, s3://, ...) and MLflow's `runs:/<run_id>` for the run, which `mlflow.artifacts` resolves anywhere.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import quote

import pandas as pd

from g2core.config import redact
from g2core.names import (
    ALIGN_PARAM,
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    RUNS_TABLE_QUERY,
    TAG_CONFIG_HASH,
    TAG_GIT_COMMIT,
    weight_param,
)

from .collect import ChildRun, StudyInfo
from .columns import weight_column
from .environment import MIXED, environment_section

CHECKPOINT = f"{CHECKPOINTS_DIR}/{BEST_CHECKPOINT}"  # the selected checkpoint: best by the validation metric


def _ui(uri: str) -> str | None:
    return redact("uri", uri).rstrip("/") if uri.startswith(("http://", "https://")) else None


def run_url(uri: str, experiment_id: str, run_id: str) -> str:
    ui = _ui(uri)
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}" if ui else f"runs:/{run_id}"


def checkpoint_url(uri: str, experiment_id: str, run_id: str, artifact_uri: str) -> str:
    ui = _ui(uri)
    if ui:
        return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/{CHECKPOINT}"
    return f"{artifact_uri.rstrip('/')}/{CHECKPOINT}" if artifact_uri else f"runs:/{run_id}/{CHECKPOINT}"


def _seed_runs(values: pd.DataFrame, group: str) -> list[tuple[str, pd.Series]]:
    """A table row's runs, each with its link label: `s<seed>` (the run's name when it has no seed)."""
    rows = values[values["group"] == group] if not values.empty else values
    return [
        (f"s{int(r['seed'])}" if pd.notna(r["seed"]) else str(r["run_name"]), r) for _, r in rows.iterrows()
    ]


def group_links(uri: str, info: StudyInfo, values: pd.DataFrame, group: str) -> list[tuple[str, str]]:
    """(label, url) pairs of a table row: each seed's run, then its selected checkpoint."""
    links = []
    for label, r in _seed_runs(values, group):
        checkpoint = checkpoint_url(uri, info.experiment_id, r["run_id"], r["artifact_uri"])
        links += [(label, run_url(uri, info.experiment_id, r["run_id"])), (BEST_CHECKPOINT, checkpoint)]
    return links


def artifact_route(run_id: str, path: str) -> str:
    """A run's file through the artifact route of the MLflow server that shows the link (relative: it resolves
    against that server wherever it runs; `runs:/` and `file://` are no browser addresses)."""
    return f"get-artifact?path={quote(path, safe='')}&run_uuid={run_id}"


def run_route(experiment_id: str, run_id: str) -> str:
    """A run's page as an MLflow UI route (relative: for markdown the UI itself renders), in the classic runs
    view: MLflow opens a run description's links in a new tab, which would otherwise show the GenAI pages."""
    return f"#/experiments/{experiment_id}/runs/{run_id}{RUNS_TABLE_QUERY}"


def artifact_page_route(experiment_id: str, run_id: str, path: str) -> str:
    """A run's file selected in its Artifacts tab, as an address of the server's root: the UI previews an
    image there, where the artifact route (`get-artifact`) only downloads it. Root-relative, not `#/...`:
    MLflow's markdown view opens it in a new tab, which loads that file, where a `#` link followed from the
    same run's Artifacts tab changes the address but keeps showing the README."""
    return f"/#/experiments/{experiment_id}/runs/{run_id}/artifacts/{path}{RUNS_TABLE_QUERY}"


def route_links(info: StudyInfo, values: pd.DataFrame, group: str) -> list[tuple[str, str]]:
    """group_links for copies read inside MLflow (the parent's description): each seed's run as a UI route,
    its selected checkpoint through the artifact route."""
    links = []
    for label, r in _seed_runs(values, group):
        links += [
            (label, run_route(info.experiment_id, r["run_id"])),
            (BEST_CHECKPOINT, artifact_route(r["run_id"], CHECKPOINT)),
        ]
    return links


def _weights(child: ChildRun) -> tuple[tuple[str, str], ...]:
    """The run's loss weights as logged (its `loss.weights.<term>` params): what a search trial varies."""
    prefix = weight_param("")
    return tuple(sorted((k, v) for k, v in child.params.items() if k.startswith(prefix)))


def mixes(values: pd.DataFrame, children: list[ChildRun]) -> list[str]:
    """What does not match across the study's runs: each a sentence for the README (flagged ⚠)."""
    out = []
    if values.empty:
        return out
    commits = sorted({c for c in values[TAG_GIT_COMMIT] if c})
    if len(commits) > 1:
        out.append(
            f"{MIXED} Mixed `{TAG_GIT_COMMIT}`: the counted runs come from {len(commits)} commits "
            f"({', '.join(commits)}); a difference may be the code's, not the recipe's."
        )
    aligns = sorted({a for a in values[ALIGN_PARAM] if a})
    if len(aligns) > 1:
        out.append(f"{MIXED} Mixed `{ALIGN_PARAM}`: {', '.join(aligns)}; the metrics are not comparable.")
    # The hash covers the whole run config, variant, seed and loss weights included: one trial (variant,
    # seed and weights) trained under two hashes means the settings changed while the study ran. The
    # weights belong to the key because a search's trials share variant and seed and differ in weights
    # by design; keyed on (variant, seed) alone every search would be flagged.
    search = any(str(col).startswith(weight_column("")) for col in values.columns)
    hashes: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for c in children:
        if c.variant and c.tags.get(TAG_CONFIG_HASH):
            hashes[(c.variant, c.seed, _weights(c))][c.tags[TAG_CONFIG_HASH]].append(c.name or c.run_id)
    for (variant, seed, _), by_hash in sorted(hashes.items(), key=lambda kv: str(kv[0])):
        if len(by_hash) > 1:
            runs = "; ".join(f"{h}: {', '.join(names)}" for h, names in sorted(by_hash.items()))
            # An ablation counts one run per (variant, seed), a search every finished trial (values.py).
            counted = (
                "every finished trial is counted" if search else "the newest finished run is the one counted"
            )
            what = f"{variant}, seed {seed}" + (", the same loss weights" if search else "")
            out.append(
                f"{MIXED} Mixed `{TAG_CONFIG_HASH}` for {what} ({runs}): its settings "
                f"changed during the study; {counted}."
            )
    missing = [
        str(r["run_name"]) for _, r in values.iterrows() if not r[TAG_CONFIG_HASH] or not r[TAG_GIT_COMMIT]
    ]
    if missing:
        out.append(
            f"{MIXED} Runs without a `{TAG_CONFIG_HASH}` or `{TAG_GIT_COMMIT}` tag: {', '.join(missing)}."
        )
    return out


def provenance_section(values: pd.DataFrame, children: list[ChildRun]) -> str:
    """The counted runs' config hash, git commit and alignment, then every mix found."""
    if values.empty:
        return "No counted runs.\n"
    lines = [
        f"| run | variant | seed | run id | {TAG_CONFIG_HASH} | {TAG_GIT_COMMIT} | {ALIGN_PARAM} |",
        "|---|---|---:|---|---|---|---|",
    ]
    for _, r in values.iterrows():
        seed = int(r["seed"]) if pd.notna(r["seed"]) else ""
        lines.append(
            f"| {r['run_name']} | {r['variant']} | {seed} | `{r['run_id']}` | {r[TAG_CONFIG_HASH]} | "
            f"{r[TAG_GIT_COMMIT]} | {r[ALIGN_PARAM]} |"
        )
    flags = mixes(values, children)
    lines += (
        ["", *flags] if flags else ["", f"One `{TAG_GIT_COMMIT}` for every counted run; no settings changed."]
    )
    return "\n".join(lines) + "\n\n" + environment_section(values, children)
