"""What a run trained on, as MLflow records a run's inputs (mlflow.log_input): the dataset's name, a digest
that changes when the data would, and where it came from. The UI shows it in the run's Datasets column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag

from g2core.names import DATASET_CONTEXT_TAG, DATASET_CONTEXT_TRAIN, DATASET_SOURCE_PROCEDURAL

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


def dataset_input(data: Mapping[str, Any]) -> DatasetInput:
    """The run's training data as an MLflow dataset input (context `train`)."""
    if data.get("name") == PROCEDURAL:
        source_type, source = "code", DATASET_SOURCE_PROCEDURAL
    else:  # MLflow's local source: {"uri": <folder>}, which the UI shows
        source_type, source = "local", json.dumps({"uri": str(data.get("root", ""))})
    dataset = Dataset(
        name=str(data.get("name", "data")), digest=data_digest(data), source_type=source_type, source=source
    )
    return DatasetInput(dataset, tags=[InputTag(DATASET_CONTEXT_TAG, DATASET_CONTEXT_TRAIN)])


def log_dataset(client: MlflowClient, run_id: str, data: Mapping[str, Any]) -> None:
    """Record the run's dataset once (a resumed run that already has it logs nothing)."""
    entry = dataset_input(data)
    logged = client.get_run(run_id).inputs
    if any(
        d.dataset.name == entry.dataset.name and d.dataset.digest == entry.dataset.digest
        for d in (logged.dataset_inputs if logged else [])
    ):
        return
    client.log_inputs(run_id, datasets=[entry])
