"""The one vocabulary: loss terms, metric keys, MLflow tags, params, artifact paths and experiment names.

Every layer (trainer, tracking, study, report, tests) imports these names; no MLflow key is spelled as a
literal anywhere else (tests/test_names.py greps for it). Plain Python only: importing this module must not
import torch, so a report or a config check can read the vocabulary cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

# --- loss terms (DESIGN: Vocabulary), in the order tables and figures show them -------------------------
LOSS_TERMS: tuple[str, ...] = ("adepth", "rdepth", "rgrad", "ssi", "gm", "silog")
LOSS_VARIANTS: tuple[str, ...] = ("seed", "official")  # G2 terms as documented / as published
ADEPTH_MASKS: tuple[str, ...] = ("gt", "sparse")

# --- metrics ---------------------------------------------------------------------------------------------
METRIC_KEYS: tuple[str, ...] = ("rmse", "mae", "abs_rel", "sq_rel", "rmse_log", "log10", "silog", "delta1", "delta2",
                                "delta3")  # fmt: skip
EDGE_METRIC_KEYS: tuple[str, ...] = ("edge_rmse", "edge_abs_rel", "dbe_acc", "dbe_comp")
ALL_METRIC_KEYS: tuple[str, ...] = METRIC_KEYS + EDGE_METRIC_KEYS
# Only the delta accuracies grow with quality; every other key is an error.
LOWER_IS_BETTER: dict[str, bool] = {key: not key.startswith("delta") for key in ALL_METRIC_KEYS}
ALIGN_MODES: tuple[str, ...] = ("none", "median", "scale_shift", "scale_shift_disparity")
# Share of the evaluated pixels that scale_shift_disparity clamped into [min_depth, max_depth] (`val/...`).
ALIGN_CLAMPED = "align_clamped"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    lower_is_better: bool
    unit: str  # axis label unit; "" for unitless ratios

    @property
    def arrow(self) -> str:
        return "↓" if self.lower_is_better else "↑"


_UNITS = {"sq_rel": "m", "rmse": "m", "mae": "m", "rmse_log": "log m", "log10": "log10 m", "silog": "log m",
          "delta1": "fraction of pixels", "delta2": "fraction of pixels", "delta3": "fraction of pixels",
          "edge_rmse": "m", "dbe_acc": "px", "dbe_comp": "px"}  # fmt: skip
# Report order: the error metrics the field leads with, then accuracies, then the edge metrics.
_REPORT_ORDER = ("abs_rel", "sq_rel", "rmse", "mae", "rmse_log", "log10", "silog", "delta1", "delta2",
                 "delta3", "edge_rmse", "edge_abs_rel", "dbe_acc", "dbe_comp")  # fmt: skip
METRICS: dict[str, MetricSpec] = {
    k: MetricSpec(k, LOWER_IS_BETTER[k], _UNITS.get(k, "")) for k in _REPORT_ORDER
}


def metric_spec(name: str, lower_is_better: bool | None = None) -> MetricSpec:
    """Spec of a metric; an unknown one (a custom deciding metric) takes the study's direction."""
    if name in METRICS:
        return METRICS[name]
    return MetricSpec(name, True if lower_is_better is None else lower_is_better, "")


# --- MLflow metric keys: <split>/<metric>, <split>/loss, <split>/loss_<term> -----------------------------
TRAIN, VAL, TEST, BEST, REF = "train", "val", "test", "best", "ref"
SPLITS: tuple[str, ...] = (TRAIN, VAL, TEST, BEST, REF)
LOSS = "loss"
LR_KEY = f"{TRAIN}/lr"
BEST_EPOCH_KEY = f"{BEST}/epoch"
VAL_EPOCH_KEY = f"{VAL}/epoch"  # the epoch a validation step belongs to


def metric_key(split: str, name: str) -> str:
    """`val/abs_rel`, `test/delta1`, `train/loss`: the MLflow key of one metric of one split."""
    return f"{split}/{name}"


def term_name(term: str) -> str:
    """Name of a loss term's value among a split's metrics (and the report's column): `loss_<term>`."""
    return f"{LOSS}_{term}"


def term_key(split: str, term: str) -> str:
    """`train/loss_ssi`: the MLflow key of one loss term's value."""
    return metric_key(split, term_name(term))


# The user's own terms (`loss.custom_terms`, g2core.losses.custom) take any name of this form: it is part
# of their keys (train/loss_<term>, train/grad_share_<term>, loss.weights.<term>) like a built-in's.
_TERM_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def is_term_name(term: str) -> bool:
    """A name fit for a user's loss term: lower-case letters, digits and '_', starting with a letter."""
    return 0 < len(term) <= 50 and term[0].isalpha() and set(term) <= _TERM_NAME_CHARS


def ordered_terms(terms: Iterable[str]) -> list[str]:
    """Terms as tables show them: built-ins in LOSS_TERMS order, then the user's own, sorted."""
    present = set(terms)
    return [t for t in LOSS_TERMS if t in present] + sorted(present - set(LOSS_TERMS))


def terms_of(names: Iterable[str], prefix: str = f"{LOSS}_") -> list[str]:
    """The loss terms among metric names (`loss_ssi`, `loss_edge`; a report's columns), built-in and user's."""
    suffixes = (n[len(prefix) :] for n in names if n.startswith(prefix))
    return ordered_terms(t for t in suffixes if is_term_name(t))


def logged_terms(metric_keys: Iterable[str]) -> list[str]:
    """The loss terms a run logged (`train/loss_<term>` among its metric keys), built-in and user's."""
    return terms_of(metric_keys, prefix=term_key(TRAIN, ""))


GRAD_SHARE = "grad_share"


def grad_share_key(term: str) -> str:
    """`train/grad_share_rgrad`: a term's share of the gradient on the prediction (g2core.train.grad_share)."""
    return metric_key(TRAIN, f"{GRAD_SHARE}_{term}")


def split_of(key: str) -> str:
    """`val/abs_rel` -> `val`."""
    return key.split("/", 1)[0]


def strip_split(key: str) -> str:
    """`val/abs_rel` -> `abs_rel`."""
    return key.split("/", 1)[-1]


# --- MLflow tags ----------------------------------------------------------------------------------------
TAG_ROLE = "g2.role"  # parent | child
ROLE_PARENT, ROLE_CHILD = "parent", "child"
TAG_RUN_KEY = "g2.run_key"  # the checkpoint folder's name: the same command finds the same run
TAG_FAILURE = "g2.failure"
TAG_STUDY = "study"
TAG_VARIANT = "variant"
TAG_SEED = "seed"
TAG_TRIAL = "trial"
TAG_CONFIG_HASH = "config_hash"
TAG_GIT_COMMIT = "git_commit"
# A search's child runs: `search` (a trial the sampler proposed) or `confirm` (a candidate's or the base preset's
# run over seeds, g2core.study.confirm); the report counts each stage apart.
TAG_STAGE = "stage"
STAGE_SEARCH, STAGE_CONFIRM = "search", "confirm"
TAG_PARENT_RUN_ID = "mlflow.parentRunId"  # MLflow's own nesting tag
TAG_MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"  # MLflow's own source-version tag
# --- MLflow's own conventions (issue 14): the tags its UI reads, the experiment kind, run inputs ------------
TAG_MLFLOW_USER = "mlflow.user"
TAG_MLFLOW_SOURCE_NAME = "mlflow.source.name"
TAG_MLFLOW_SOURCE_TYPE = "mlflow.source.type"
SOURCE_TYPE_LOCAL = "LOCAL"  # mlflow.entities.SourceType.LOCAL, as MLflow spells it in the tag
TAG_MLFLOW_NOTE = "mlflow.note.content"  # the run's description (markdown) in the UI
# MLflow 3's experiment kind: without it the UI opens an experiment in its GenAI pages.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"  # the classic runs/training view
# MLflow 3 opens an experiment (and a run) in its GenAI pages; this query of a UI route selects the classic
# runs view: every address printed for a browser carries it.
RUNS_TABLE_QUERY = "?workflowType=machine_learning"
DATASET_CONTEXT_TAG = "mlflow.data.context"  # mlflow.utils.mlflow_tags.MLFLOW_DATASET_CONTEXT
DATASET_CONTEXT_TRAIN = "train"
# Every split a number comes from is a logged input (issue 24): training, checkpoint selection, the report.
DATASET_CONTEXTS: dict[str, str] = {TRAIN: DATASET_CONTEXT_TRAIN, VAL: "validation", TEST: "test"}
DATASET_SOURCE_PROCEDURAL = "procedural"  # data.name=synthetic: generated, no folder it was read from
REF_PARAM_PREFIX = "ref."  # the mean-depth reference: per-run params, out of the metric namespace


def ref_param(metric: str) -> str:
    """`ref.abs_rel`: what predicting the mean depth everywhere scores, a child's param (not a metric)."""
    return f"{REF_PARAM_PREFIX}{metric}"


def study_tag(field: str) -> str:
    """Tags of a study's parent run: `study.kind`, `study.metric`, `study.variants`, ..."""
    return f"{TAG_STUDY}.{field}"


STUDY_PARAM_PREFIX = f"{TAG_STUDY}."  # the parent's params: the flattened study config
# The parent's summary, written by the report from the statistics behind its verdict (never one run's value).
TAG_VERDICT = study_tag("verdict")  # the report's verdict sentence
# A child's own tag: its variant's primary verdict against the baseline (better | worse | equivalent |
# undecided; the baseline's runs: baseline), so the runs table groups and filters children by the answer.
TAG_CHILD_VERDICT = "verdict"
VERDICT_BASELINE = "baseline"
TAG_REPORT_SPLIT = study_tag("report_split")  # the split the report's numbers come from: test | val
TAG_BEST_TRIAL = study_tag("best_trial")  # a search's best trial by its validation objective: one trial
BEST_TRIAL = "best_trial"
# The parent's headline metrics (step 0): each variant's relative Δ on the deciding metric and its CI, in %.
# `vs_baseline/` sorts after test/, train/ and val/ in the UI's column and chart lists.
VS_BASELINE = "vs_baseline"
HEADLINE_STATS: tuple[str, ...] = ("delta_pct", "ci_low_pct", "ci_high_pct")
ALIGN_PARAM = "trainer.align"  # the run's alignment mode, as its (flattened) param
ROOT_PARAM = "paths.root"  # every path param is logged relative to it (g2core.tracking.params)
# The G2 terms as the design documents write them (`seed`) or as the published code computes them
# (`official`): config key loss.variant, logged under a name that says so beside the run's own `variant`.
LOSS_FORM_PARAM = "loss.g2_terms_as"
PARAM_NAMES: dict[str, str] = {"loss.variant": LOSS_FORM_PARAM}  # config key -> the param MLflow shows
# The data settings the metrics evaluate with (flattened params): the report aligns saved samples by them.
MIN_DEPTH_PARAM, MAX_DEPTH_PARAM, EIGEN_CROP_PARAM = "data.min_depth", "data.max_depth", "data.eigen_crop"


# The parent's status tag: running until every trial is done, interrupted by Ctrl-C; unknown when missing.
TAG_STUDY_STATUS = study_tag("status")
STATUS_RUNNING, STATUS_FINISHED, STATUS_INTERRUPTED = "running", "finished", "interrupted"
STATUS_UNKNOWN = "unknown"


@dataclass(frozen=True)
class StudyTags:
    """A study's settings as its parent run's `study.<field>` tags: the runner encodes them, the report decodes
    them (a missing or empty tag, as on a parent of an older version, decodes to the default)."""

    kind: str = "ablation"
    metric: str = metric_key(VAL, "abs_rel")  # the deciding metric of a parent without study.metric
    direction: str = "minimize"
    baseline: str = ""
    variants: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    status: str = STATUS_UNKNOWN
    storage: str = ""
    design: str = ""  # the decision rule as JSON (g2core.design.Design), "" = the default
    objectives: tuple[str, ...] = ()  # a multi-objective search's metrics (study.objectives)

    def encode(self) -> dict[str, str]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {study_tag(k): ",".join(map(str, v)) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> StudyTags:
        raw = {f.name: tags.get(study_tag(f.name)) for f in fields(cls)}
        items = {
            k: tuple(x.strip() for x in (raw.pop(k) or "").split(",") if x.strip())
            for k in ("variants", "seeds", "objectives")
        }
        items["seeds"] = tuple(int(x) for x in items["seeds"] if x.lstrip("-").isdigit())
        return cls(**{k: v for k, v in raw.items() if v}, **items)


def verdict_tag(variant: str) -> str:
    """`study.verdict.<variant>`: the verdict word of a variant against the baseline on the deciding metric."""
    return f"{TAG_VERDICT}.{variant}"


def headline_key(variant: str, stat: str) -> str:
    """`vs_baseline/<variant>/delta_pct`: a parent metric, one of HEADLINE_STATS on the deciding metric."""
    return f"{VS_BASELINE}/{variant}/{stat}"


def best_trial_key(metric: str) -> str:
    """`best_trial/<metric>`: a search's best trial (by the validation objective), mean over its runs."""
    return f"{BEST_TRIAL}/{metric}"


def weight_param(term: str) -> str:
    """`loss.weights.ssi`: a loss term's weight, as config key and as the run's (flattened) param."""
    return f"loss.weights.{term}"


# --- Optuna user attributes of a study and its trials ---------------------------------------------------
ATTR_KEY = "g2.key"  # the trial's run key (<variant>-s<seed> or w-<hash>)
ATTR_WORKER = "g2.worker"  # {"host", "pid"} of the process training it
ATTR_HEARTBEAT = "g2.heartbeat"
ATTR_FAILURE = "g2.failure"
ATTR_RETRY_OF = "g2.retry_of"
ATTR_IDLE = "g2.idle"
ATTR_PARENT_RUN_ID = "mlflow_parent_run_id"  # study attribute: the MLflow parent run
ATTR_RUN_ID = "mlflow_run_id"  # the trial's MLflow child run
ATTR_FINGERPRINT = "g2.fingerprint"  # study attribute: hash of the settings every trial shares
ATTR_SETTINGS = "g2.settings"  # study attribute: those settings, flattened (to name what differs)

# --- experiments, run names, artifact paths -------------------------------------------------------------
TRAIN_EXPERIMENT = "g2/train"


def study_experiment(study: str) -> str:
    """Default MLflow experiment of a study."""
    return f"g2/{study}"


def parent_run_name(study: str) -> str:
    return f"study-{study}"


def trial_key(variant: str, seed: int) -> str:
    """Run name and checkpoint folder of one (variant, seed) of a study."""
    return f"{variant}-s{seed}"


CONFIG_ARTIFACT = "config.yaml"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
SAMPLES_DIR = "samples"
# The per-epoch sample grid as an MLflow image (log_image, step = epoch index): the UI's image grid compares runs.
SAMPLES_IMAGE_KEY = "val_samples"
BEST_PREDICTIONS = "best_predictions.npz"
SAMPLES_PATH = f"{SAMPLES_DIR}/{BEST_PREDICTIONS}"
REPORT_DIR = "report"
REPORTS_DIR = "reports"  # paths.root/reports/<study>/: where a study's report is written on disk
REPORT_README = "README.md"  # the report's front page, on disk and under the parent run's report/
EVAL_DIR = "eval"
REPORT_HTML = "report.html"  # the self-contained report the MLflow artifact viewer renders
REPORT_TABLE = "tables/results.json"  # the parent's main table, as mlflow.log_table writes it
SUMMARY_TABLE = "summary.json"  # the parent's Δ / CI / p / verdict table (mlflow.log_table)
IMAGE_COLUMN = "image"  # the per-image tables' first column: the image's index in its split


def per_image_artifact(split: str, align: str = "") -> str:
    """`eval/test_per_image.csv`: one row per image of a split (IMAGE_COLUMN, then ALL_METRIC_KEYS), aligned
    as the run's trainer.align; `eval/test_per_image_<align>.csv`: the same checkpoint under another
    alignment (ROBUSTNESS_ALIGNS: a relative-depth verdict must not depend on the protocol)."""
    return f"{EVAL_DIR}/{split}_per_image{'_' + align if align else ''}.csv"


# The two relative-depth protocols of the field: least squares in depth (the space this project's ssi term is
# invariant in) and in disparity (MiDaS / Depth Anything's evaluation, the space their losses are invariant
# in). A run aligned by one also writes its test table under the other, from the same checkpoint.
ROBUSTNESS_ALIGNS: tuple[str, ...] = ("scale_shift", "scale_shift_disparity")


# --- a checkpoint evaluated on a named dataset (experiments/evaluate.py, study.test_sets) -------------------
# Metrics `eval/<dataset>/<metric>`; the per-image table `eval/<dataset>/per_image.csv` (a folder per dataset,
# so a dataset named `test` never meets the test split's `eval/test_per_image.csv`).
ROLE_EVAL = "eval"  # TAG_ROLE of a run that evaluated a checkpoint (nested under the run that made it)
TAG_EVAL_DATASET = "g2.eval.dataset"
TAG_EVAL_CHECKPOINT = "g2.eval.checkpoint"  # what the command was given: a path or a runs:/ URI
RUNS_URI_SCHEME = "runs:/"  # MLflow's artifact URI of a run: runs:/<run_id>/<artifact path>
BEST_CHECKPOINT_ARTIFACT = f"{CHECKPOINTS_DIR}/{BEST_CHECKPOINT}"  # tracking.log_checkpoints uploads it
# The field of last.pt that names its MLflow run (g2core.train.checkpoint).
CHECKPOINT_RUN_ID = "mlflow_run_id"


def eval_key(dataset: str, metric: str) -> str:
    """`eval/nyu/abs_rel`: one metric of a checkpoint on a named dataset."""
    return f"{EVAL_DIR}/{dataset}/{metric}"


def eval_dataset_of(key: str) -> str | None:
    """`eval/nyu/abs_rel` -> `nyu`; None for any other key."""
    parts = key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == EVAL_DIR and parts[1] else None


def eval_per_image_artifact(dataset: str) -> str:
    """`eval/nyu/per_image.csv`: IMAGE_COLUMN, then ALL_METRIC_KEYS, one row per image of the dataset."""
    return f"{EVAL_DIR}/{dataset}/per_image.csv"


def eval_run_name(dataset: str) -> str:
    return f"eval-{dataset}"
