"""What a run's numbers come from, as MLflow records a run's inputs (mlflow.log_input): one dataset per split
(context train / validation / test: the data it trained on, the split that selected its checkpoint, the
split every reported number comes from), each with a digest that changes when the data would, where it came
from, and a profile (rows, size, the scene seed or a hash of the file list). The UI shows them in the run's
Datasets column.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.exceptions import MlflowException

from g2core.names import DATASET_CONTEXT_TAG, DATASET_CONTEXTS, DATASET_SOURCE_PROCEDURAL, TRAIN

# Loader settings: how the data are read, not which data. The synthetic root moves with paths.root.
NOT_DIGESTED = ("batch_size", "num_workers", "pin_memory", "persistent_workers", "augment")
PROCEDURAL = "synthetic"  # data.name whose frames are generated, not read from a folder


def data_digest(data: Mapping[str, Any]) -> str:
    """A short hash of the data config that decides the frames (split sizes, seed, resolution, roots)."""
    decisive = {k: v for k, v in data.items() if k not in NOT_DIGESTED}
    if data.get("name") == PROCEDURAL:
        decisive.pop("root", None)  # the generated cache's folder, not its content
    blob = json.dumps(decisive, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def split_digest(data: Mapping[str, Any], split: str, profile: Mapping[str, Any] | None = None) -> str:
    """The train split keeps data_digest (runs logged before the other splits find it again); the others
    hash it with their name and profile, so that MLflow keeps them apart (it stores a dataset once per digest)."""
    base = data_digest(data)
    if split == TRAIN:
        return base
    blob = json.dumps([base, split, dict(profile or {})], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def dataset_input(
    data: Mapping[str, Any], split: str = TRAIN, profile: Mapping[str, Any] | None = None
) -> DatasetInput:
    """One split of the run's data as an MLflow dataset input (context: DATASET_CONTEXTS[split])."""
    if data.get("name") == PROCEDURAL:
        source_type, source = "code", DATASET_SOURCE_PROCEDURAL
    else:  # MLflow's local source: {"uri": <folder>}, which the UI shows
        root = data.get(f"{split}_root") or data.get("root", "")
        source_type, source = "local", json.dumps({"uri": str(root)})
    dataset = Dataset(
        name=str(data.get("name", "data")),
        digest=split_digest(data, split, profile),
        source_type=source_type,
        source=source,
        profile=json.dumps(dict(profile), sort_keys=True, default=str) if profile else None,
    )
    return DatasetInput(dataset, tags=[InputTag(DATASET_CONTEXT_TAG, DATASET_CONTEXTS[split])])


def log_datasets(
    client: MlflowClient,
    run_id: str,
    data: Mapping[str, Any],
    profiles: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> None:
    """Record each split once (train, and every split in `profiles`: split -> its profile); a resumed run
    that already has one logs it again no more."""
    entries = [dataset_input(data, s, p) for s, p in (profiles or {TRAIN: None}).items()]
    logged = client.get_run(run_id).inputs
    have = {(d.dataset.name, d.dataset.digest) for d in (logged.dataset_inputs if logged else [])}
    fresh = [e for e in entries if (e.dataset.name, e.dataset.digest) not in have]
    if not fresh:
        return
    for attempt in range(3):
        try:
            client.log_inputs(run_id, datasets=fresh)
            return
        except MlflowException as error:
            # A study's workers start runs of one experiment at once: two find the same dataset missing and
            # the second insert breaks the store's unique key (SQLite: UNIQUE constraint, PostgreSQL:
            # duplicate key). Again, the store finds the dataset there and only links it to this run.
            if "unique" not in str(error).lower() or attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))
