"""Bad input: command-line overrides, study definitions and data folders a user gets wrong, and security.

Each mistake gives one clear line that names the key or file and how to fix it (exit status 2 through
the entry points, no traceback unless HYDRA_FULL_ERROR=1), and leaves the MLflow store and the study
storage as they were. Most cases run in this process through the code the entry points call
(`compose` -> `train` / `run_study`), a few through the real entry points to check what a user sees.
Every case is recorded for the README's Reliability table (test-artifacts/faults.jsonl).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hydra.errors import HydraException

from g2core.checks import validate_name
from g2core.cli import user_errors
from g2core.config import ConfigError, compose
from tests.conftest import REPO, tiny
from tests.faults._util import injected
from tests.faults.record import record
from tests.net_helpers import free_port

pytestmark = pytest.mark.timeout(180)  # a case not refused would train: fail it, do not wait
CLOSED_PORT = free_port()  # nothing listens there
STUDY = ("+study=loss_terms",)


# --- the store every case must leave as it was ----------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root holding one MLflow run and one Optuna study journal, as a user's would."""
    import optuna
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("bad-input")
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("g2/train"), run_name="earlier-run")
    client.log_metric(run.info.run_id, "val/abs_rel", 0.3, step=1)
    journal = root / "studies" / "loss_terms" / "optuna.journal"
    journal.parent.mkdir(parents=True)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    optuna.create_study(study_name="loss_terms", storage=storage).enqueue_trial(
        {"variant": "ssi_only", "seed": 0}
    )
    return root


def snapshot(root: Path) -> dict[str, object]:
    """What must not change: the MLflow store's bytes and run count, the journal's bytes, the run folders."""
    with sqlite3.connect(f"file:{root / 'mlflow.db'}?mode=ro", uri=True) as db:
        runs = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "data" not in p.relative_to(root).parts[:1]
    }
    return {"runs": runs, "files": files}


def refuse(root: Path, fn, *keys: str, hint: str) -> str:
    """fn() must raise a user error naming every key and giving the fix; the store stays as it was."""
    before = snapshot(root)
    with pytest.raises(user_errors()) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    for key in keys:
        assert key in message, f"{key!r} not named in: {message}"
    assert hint in message, f"no fix ({hint!r}) in: {message}"
    assert snapshot(root) == before, "the MLflow store or the study storage changed"
    return message


def train_config(root: Path, *overrides: str):
    return compose(tiny(root, "trainer.num_samples=0", "trainer.max_epochs=1", *overrides))


def run_train(root: Path, *overrides: str):
    from g2core.train import train

    return lambda: train(train_config(root, *overrides))


def run_ablate(root: Path, *overrides: str):
    """As experiments/ablate.py runs a study: every override that is not study.* applies to each trial."""
    from g2core.study import run_study

    every = [*tiny(root, "trainer.max_epochs=1", "trainer.num_samples=0"), *overrides]
    trial_overrides = [o for o in every if not o.lstrip("+").startswith("study")]
    return lambda: run_study(compose([*STUDY, *every], config_name="ablate"), trial_overrides)


# --- command-line overrides of a training run -----------------------------------------------------

TRAIN_CASES = [
    # (overrides, keys the message names, a piece of the fix it gives)
    ("+trainer.max_epoch=3", ["trainer.max_epoch"], "did you mean trainer.max_epochs"),
    ("+epochs=3", ["epochs"], "known here"),
    ("+optim.scheduler.warmup=10", ["optim.scheduler.warmup"], "did you mean optim.scheduler.warmup_steps"),
    ("+loss.weights.edge=0.5", ["loss.weights.edge"], "known terms: adepth"),
    ("loss.weights.ssi=-1", ["loss.weights.ssi"], "must be >= 0"),
    ("loss.weights.ssi=lots", ["loss.weights.ssi"], "expected a number"),
    ("loss.weights.silog=nan", ["loss.weights.silog"], "expected a number"),
    ("experiment=ssi_only loss.weights.ssi=0", ["loss.weights"], "give at least one"),
    ("optim.lr=0", ["optim.lr"], "must be > 0"),
    ("optim.lr=fast", ["optim.lr"], "expected a number"),
    ("trainer.max_epochs=1.5", ["trainer.max_epochs"], "expected an integer"),
    ("data.height=30", ["data.height"], "multiples of"),
    ("data.width=0", ["data.width"], "must be >= 1"),
    ("data.batch_size=-8", ["data.batch_size"], "must be >= 1"),
    ("data.max_depth=0", ["data.max_depth"], "must be a number > data.min_depth"),
    ("data.n_train=0", ["data.n_train"], "at least 1"),
    ("seed=-1", ["seed"], "must be >= 0"),
    ("model.name=resnet", ["model.name"], "available: depth_anything_v2, g2_official, g2_unet"),
    ("model.levels=1", ["model.levels"], "integer >= 2"),
    ("trainer.precision=fp8", ["trainer.precision"], "expected one of fp32, bf16, fp16"),
    ("trainer.precision=fp16 trainer.device=cpu", ["trainer.precision=fp16"], "use trainer.precision=bf16"),
    ("trainer.device=tpu", ["trainer.device"], "expected auto, cpu, cuda or cuda:N"),
    ("trainer.best_metric=abs_rel", ["trainer.best_metric"], "such as val/abs_rel"),
    ("variant=../evil", ["variant"], "no '..'"),
    ("variant=a/b", ["variant"], "no '/'"),
    ("tracking.experiment=../../etc", ["tracking.experiment"], "no '..'"),
    (f"tracking.uri=http://127.0.0.1:{CLOSED_PORT}", ["tracking.uri", str(CLOSED_PORT)], "start one"),
    ("tracking.uri=ftp://example.org/store", ["tracking.uri"], "use sqlite:///"),
]
if not __import__("torch").cuda.is_available():
    TRAIN_CASES.append(("trainer.device=cuda", ["trainer.device=cuda"], "use trainer.device=cpu"))

# Refused by Hydra while composing, before any of our code runs: its own message (the first line names
# the key, then the options), exit status 1, no traceback.
HYDRA_CASES = [
    ("experiment=nope", "experiment/nope", "Available options"),
    ("model=resnet", "model/resnet", "Available options"),
    ("scale=huge", "scale/huge", "Available options"),
    ("trainer.nosuch=1", "trainer.nosuch", "Key 'nosuch' is not in struct"),
]


def case_id(overrides: str) -> str:
    """Stable test ids and record names: the free port changes every session."""
    return overrides.replace(f":{CLOSED_PORT}", ":<closed port>")


@pytest.mark.parametrize(("overrides", "keys", "hint"), TRAIN_CASES, ids=[case_id(c[0]) for c in TRAIN_CASES])
def test_bad_train_override(request, store: Path, overrides: str, keys: list[str], hint: str) -> None:
    with injected(request, "command-line overrides (train)", kind="bad_input", case=case_id(overrides)):
        refuse(store, run_train(store, *overrides.split()), *keys, hint=hint)


@pytest.mark.parametrize(("overrides", "key", "hint"), HYDRA_CASES, ids=[c[0] for c in HYDRA_CASES])
def test_override_refused_by_hydra(request, store: Path, overrides: str, key: str, hint: str) -> None:
    with injected(
        request,
        "command-line overrides refused by Hydra (its own few-line message)",
        kind="bad_input",
        case=case_id(overrides),
    ):
        before = snapshot(store)
        with pytest.raises(HydraException) as info:
            train_config(store, overrides)
        first = str(info.value).strip().splitlines()[0]
        assert key in first, first
        assert snapshot(store) == before


# --- studies -------------------------------------------------------------------------------------

STUDY_CASES = [
    ("study.variants=[]", ["study.variants"], "at least one variant"),
    ("study.variants=[nope]", ["study.variants", "nope"], "available: baseline"),
    ("study.variants=[ssi_only,ssi_only]", ["study.variants"], "lists a variant twice"),
    ("study.baseline=grad_a", ["study.baseline"], "must be one of study.variants"),
    ("study.seeds=[]", ["study.seeds"], "e.g. [0,1]"),
    ("study.seeds=[-1]", ["study.seeds"], "integers >= 0"),
    ("study.name=../evil", ["study.name"], "no '..'"),
    ("study.name=a/b", ["study.name"], "no '/'"),
    ("study.workers=0", ["study.workers"], "integer >= 1"),
    ("study.kind=grid", ["study.kind"], "expected ablation or search"),
    ("study.metric=abs_rel", ["study.metric"], "such as val/abs_rel"),
    (
        "study.storage=postgresql+psycopg://u:pw@127.0.0.1:1/optuna",
        ["study.storage"],
        "database server is running",
    ),
    (f"tracking.uri=http://127.0.0.1:{CLOSED_PORT}", ["tracking.uri"], "start one"),
    ("loss.weights.ssi=-1", ["loss.weights.ssi"], "must be >= 0"),
]


@pytest.mark.parametrize(("overrides", "keys", "hint"), STUDY_CASES, ids=[case_id(c[0]) for c in STUDY_CASES])
def test_bad_study_override(request, store: Path, overrides: str, keys: list[str], hint: str) -> None:
    with injected(request, "command-line overrides (study)", kind="bad_input", case=case_id(overrides)):
        message = refuse(store, run_ablate(store, *overrides.split()), *keys, hint=hint)
        assert ":pw@" not in message  # a password in a storage URL is never shown
        assert not (store / "studies" / "loss_terms" / "runs").exists()


def test_unknown_study_is_refused_by_hydra(request, store: Path) -> None:
    with injected(
        request,
        "command-line overrides refused by Hydra (its own few-line message)",
        kind="bad_input",
        case="+study=nope",
    ):
        with pytest.raises(HydraException, match="study/nope"):
            compose(["+study=nope", *tiny(store)], config_name="ablate")


# --- data folders and files ----------------------------------------------------------------------


_DEFAULT = object()


def frame(path: Path, rgb=_DEFAULT, depth=_DEFAULT) -> Path:
    """One NYU-layout frame; pass an array to replace a dataset, None to leave it out."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (3, 40, 48), dtype=np.uint8) if rgb is _DEFAULT else rgb
    depth = rng.uniform(0.5, 5.0, (40, 48)).astype(np.float32) if depth is _DEFAULT else depth
    with h5py.File(path, "w") as f:
        for key, value in {"rgb": rgb, "depth": depth}.items():
            if value is not None:
                f[key] = value
    return path


def good_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        frame(folder / f"good_{i}.h5")
    return folder


def _missing(folder: Path) -> tuple[list[str], str]:
    return [f"data.root={folder / 'nowhere'}"], "does not exist"


def _empty(folder: Path) -> tuple[list[str], str]:
    folder.mkdir()
    return [f"data.root={folder}"], "holds no .h5 files"


def _bad_file(**datasets):
    def make(folder: Path) -> tuple[list[str], str]:
        frame(good_folder(folder) / "bad.h5", **datasets)
        return [f"data.root={folder}"], ""

    return make


def _truncated(folder: Path) -> tuple[list[str], str]:
    bad = frame(good_folder(folder) / "bad.h5")
    bad.write_bytes(bad.read_bytes()[:1000])
    return [f"data.root={folder}"], "truncated"


def _not_hdf5(folder: Path) -> tuple[list[str], str]:
    (good_folder(folder) / "bad.h5").write_text("rgb,depth\n1,2\n")
    return [f"data.root={folder}"], "not an h5 file"


def _one_frame(folder: Path) -> tuple[list[str], str]:
    return [f"data.root={good_folder(folder, n=1)}"], "splitting needs at least 3 (train, val and test)"


def _missing_val(folder: Path) -> tuple[list[str], str]:
    return [f"data.root={good_folder(folder)}", f"+data.val_root={folder / 'no_val'}"], "does not exist"


rng = np.random.default_rng(1)
nan_depth = rng.uniform(0.5, 5, (40, 48)).astype(np.float32)
nan_depth[3, 4] = np.nan
DATA_CASES = {
    "missing folder": (_missing, "data.root", "point data.root at"),
    "empty folder": (_empty, "data.root", "it needs files with rgb uint8"),
    "missing depth key": (_bad_file(depth=None), "bad.h5", "has no dataset depth"),
    "rgb not uint8": (
        _bad_file(rgb=rng.uniform(0, 1, (3, 40, 48)).astype(np.float32)),
        "bad.h5",
        "convert with",
    ),
    "depth not float": (_bad_file(depth=np.ones((40, 48), np.uint16)), "bad.h5", "depth / 1000"),
    "depth shape": (_bad_file(depth=np.ones((20, 48), np.float32)), "bad.h5", "depth must be [40,48]"),
    "rgb channels last": (_bad_file(rgb=np.zeros((40, 48, 3), np.uint8)), "bad.h5", "channels first"),
    "NaN depth": (_bad_file(depth=nan_depth), "bad.h5", "store invalid pixels as 0"),
    "negative depth": (_bad_file(depth=-np.ones((40, 48), np.float32)), "bad.h5", "0 = invalid"),
    "truncated file": (_truncated, "bad.h5", "re-create or remove it"),
    "not an HDF5 file": (_not_hdf5, "bad.h5", "re-create or remove it"),
    "one frame only": (_one_frame, "data.root", "or set data.val_root"),
    "missing val folder": (_missing_val, "data.val_root", "point data.val_root at"),
}
H5 = ["data=h5", "data.height=32", "data.width=32", "data.batch_size=2", "model.features=8", "model.levels=3",
      "trainer.max_epochs=1", "trainer.num_samples=0", "trainer.progress=false"]  # fmt: skip


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data(request, store: Path, tmp_path: Path, case: str) -> None:
    from g2core.train import train

    make, key, hint = DATA_CASES[case]
    overrides, reason = make(tmp_path / "frames")
    with injected(request, "data folders and files", kind="bad_input", case=case):
        cfg = compose([f"paths.root={store}", *H5, *overrides])
        message = refuse(store, lambda: train(cfg), key, hint=hint)
        assert reason in message
        assert not (store / "runs").exists()


# --- the real entry points: exit status, one line, no traceback ----------------------------------


def test_entry_points_one_line_no_traceback(request, store: Path, tmp_path: Path) -> None:
    nan_folder = tmp_path / "nan"
    frame(good_folder(nan_folder) / "bad.h5", depth=nan_depth)
    train_py, ablate_py = str(REPO / "experiments" / "train.py"), str(REPO / "experiments" / "ablate.py")
    cases = {  # name: (command, expected status, text the message holds)
        "negative weight": (
            [train_py, *tiny(store), "loss.weights.ssi=-1"],
            2,
            "loss.weights.ssi=-1: must be >= 0",
        ),
        "unknown key": (
            [train_py, *tiny(store), "+trainer.max_epoch=3"],
            2,
            "did you mean trainer.max_epochs?",
        ),
        "NaN depth file": (
            [train_py, f"paths.root={store}", *H5, f"data.root={nan_folder}"],
            2,
            "bad.h5: depth holds NaN",
        ),
        "study without variants": (
            [ablate_py, *STUDY, *tiny(store), "study.variants=[]"],
            2,
            "study.variants:",
        ),
        "unknown preset": (
            [train_py, *tiny(store), "experiment=nope"],
            1,
            "Could not find 'experiment/nope'",
        ),
    }
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["OMP_NUM_THREADS"] = "1"
    full = [train_py, *tiny(store), "trainer.device=tpu"]
    before = snapshot(store)
    procs = {name: subprocess.Popen([sys.executable, *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for name, (cmd, _, _) in cases.items()}  # fmt: skip
    procs["HYDRA_FULL_ERROR=1"] = subprocess.Popen(
        [sys.executable, *full],
        env={**env, "HYDRA_FULL_ERROR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outputs = {name: (proc.wait(timeout=300), *proc.communicate()) for name, proc in procs.items()}
    failures = []
    for name, (_, status, text) in cases.items():
        rc, _, err = outputs[name]
        errors = [line for line in err.splitlines() if line.startswith("g2-ablate: error:")]
        good = rc == status and text in err and "Traceback" not in err
        if status == 2:  # ours: exactly one line, the last one
            good = (
                good and len(errors) == 1 and err.strip().splitlines()[-1] == errors[0] and text in errors[0]
            )
        if not good:
            failures.append(f"{name}: status {rc}, stderr:\n{err[-1500:]}")
    rc, _, err = outputs["HYDRA_FULL_ERROR=1"]
    if not (rc == 1 and "Traceback" in err and "ConfigError: trainer.device='tpu'" in err):
        failures.append(f"HYDRA_FULL_ERROR=1 shows no traceback: status {rc}\n{err[-1500:]}")
    unchanged = snapshot(store) == before
    record(
        "through the entry points (exit status, one line, no traceback)",
        test=request.node.nodeid,
        kind="bad_input",
        injected=len(procs),
        survived=not failures and unchanged,
    )
    assert not failures, "\n\n".join(failures)
    assert unchanged


# --- security --------------------------------------------------------------------------------------


def test_secrets_are_redacted_from_params_tags_and_config(request, store: Path, tmp_path: Path) -> None:
    from g2core.study.runner import _parent_run
    from g2core.study.spec import load_spec
    from g2core.study.storage import open_storage
    from g2core.train.run import open_run

    token, password = "tok-SECRET-4217", "pw-SECRET-9053"
    root = tmp_path / "root"
    with injected(request, "secrets redacted from MLflow params, tags and config.yaml", kind="security"):
        cfg = train_config(
            root,
            f"+tracking.tags.api_token={token}",
            f"+tracking.tags.database=postgresql://me:{password}@db.example:5432/optuna",
        )
        run_dir = root / "runs" / "secret-check"
        run = open_run(cfg, run_dir, None)
        run.tracker.finish("FINISHED")
        acfg = compose(
            [*STUDY, *tiny(root), f"study.storage=postgresql+psycopg://me:{password}@127.0.0.1:1/o"],
            config_name="ablate",
        )
        import optuna

        study = optuna.create_study(
            storage=open_storage(str(tmp_path / "j.journal")), study_name="loss_terms"
        )
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
        parent = _parent_run(client, load_spec(acfg), study, acfg)
        logged = []
        for run_id in (run.run_id, parent):
            data = client.get_run(run_id).data
            logged += [*data.params.values(), *data.tags.values()]
            assert data.params.get("tracking.tags.api_token", "***") == "***"
        config_yaml = (run_dir / "config.yaml").read_text()
        artifact = Path(
            client.download_artifacts(run.run_id, "config.yaml", str(tmp_path / "dl"))
        ).read_text()
        for secret in (token, password):
            assert not [v for v in logged if secret in v], f"{secret} logged to MLflow"
            assert secret not in config_yaml and secret not in artifact, f"{secret} in config.yaml"
        assert "me:***@db.example" in config_yaml  # the URL stays readable, without its password


def _torch_loads(path: Path) -> list[tuple[int, bool]]:
    """(line, weights_only=True?) of each torch.load call in a file."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "torch":
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)  # fmt: skip
                calls.append((node.lineno, safe))
    return calls


def test_every_checkpoint_load_is_weights_only(request) -> None:
    with injected(
        request, "torch.load(weights_only=True) for every checkpoint (source scan)", kind="security"
    ):
        calls = {p: _torch_loads(p) for p in sorted((REPO / "g2core").rglob("*.py"))}
        unsafe = [
            f"{p.relative_to(REPO)}:{line}" for p, found in calls.items() for line, safe in found if not safe
        ]
        assert sum(len(c) for c in calls.values()) >= 1
        assert not unsafe, f"torch.load without weights_only=True: {unsafe}"
        pickles = [str(p.relative_to(REPO)) for p in calls if "pickle.load" in p.read_text()
                   or "allow_pickle=True" in p.read_text()]  # fmt: skip
        assert not pickles, pickles


BAD_NAMES = ["..", "../x", "a/b", "a\\b", ".hidden", "", "x" * 101, "a b", "~root", "a/../../b"]


def test_names_that_become_paths_are_validated(request, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from g2core.checks import validate_experiment_name
    from g2core.tracking import RunTracker, get_or_create_experiment

    with injected(
        request,
        "names and artifact paths that become paths are validated",
        kind="security",
        names=len(BAD_NAMES),
    ):
        for name in BAD_NAMES:
            with pytest.raises(ConfigError, match="no '..'"):
                validate_name(name, "study.name")
        for name in ("..", "g2/../x", "/abs", "a//b", ""):
            with pytest.raises(ConfigError):
                validate_experiment_name(name)
        # An experiment's artifact folder stays under paths.root/mlartifacts, whatever its '/'s.
        client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        experiment = client.get_experiment(get_or_create_experiment(client, "g2/a/b", tmp_path))
        location = Path(experiment.artifact_location.removeprefix("file://")).resolve()
        assert location.parent == (tmp_path / "mlartifacts").resolve()
        # Artifact paths stay inside their run: MLflow refuses a path that climbs out.
        run_id = client.create_run(experiment.experiment_id).info.run_id
        (tmp_path / "f.txt").write_text("x")
        for climb in ("../../escape", "/abs", "a/../../b"):
            with pytest.raises(Exception, match="Invalid artifact path"):
                RunTracker(client, run_id).log_artifact(tmp_path / "f.txt", climb, deferrable=True)
        assert not list(tmp_path.rglob("escape")) and not list(tmp_path.parent.rglob("escape"))


SECRET_ASSIGNMENT = re.compile(
    r"(?i)^\s*-?\s*[\w.]*(password|secret|token)\w*\s*[:=]\s*[\"']?(?P<value>[^\"'\s#]*)"
)
URL_PASSWORD = re.compile(r"://[^/\s:@]+:(?P<value>[^@\s/]+)@")


def test_config_files_hold_no_credentials(request) -> None:
    """Credentials come from the environment or .env, never from the repository's configs."""
    with injected(request, "no credentials in the repository's configs", kind="security"):
        found = []
        for path in [
            *sorted((REPO / "conf").rglob("*.yaml")),
            REPO / "docker-compose.yml",
            REPO / ".env.example",
        ]:
            if not path.exists():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for pattern in (SECRET_ASSIGNMENT, URL_PASSWORD):
                    match = pattern.search(line)
                    value = match.group("value") if match else ""
                    if (
                        value and not value.startswith("$") and value != "change-me"
                    ):  # .env.example's placeholder
                        found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
        assert not found, found
